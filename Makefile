# Two commands matter: `make demo` (set up everything and run the demo) and `make test`.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: venv demo test lint unit bench clean

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip 2>&1 | grep -v "is ignored" || true
	$(PY) -m pip install --quiet -r requirements-dev.txt 2>&1 | grep -v "is ignored" || true
	$(PY) -c "import airflow, batch_monitor" 2>/dev/null || $(PY) -c "import airflow"
	touch $(STAMP)

venv: $(STAMP)

lint: venv
	$(VENV)/bin/ruff check plugins dags tests benchmarks scripts
	$(VENV)/bin/mypy

unit: venv
	$(PY) -m pytest tests/unit -q

test: venv lint
	$(PY) -m pytest -q

demo: venv
	$(PY) scripts/demo.py

bench: venv
	$(PY) benchmarks/run_all.py

clean:
	rm -rf $(VENV) .demo .pytest_cache .mypy_cache .ruff_cache
