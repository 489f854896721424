# Two commands matter: `make demo` (set up everything and run the demo) and `make test`.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: venv demo demo-clean screenshots test lint unit bench time-to-alert reliability-report clean

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -r requirements-dev.txt 2>$(VENV)/pip.log || (cat $(VENV)/pip.log; exit 1)
	$(PY) -c "import airflow, pendulum, sqlalchemy, aiosmtpd, playwright"
	touch $(STAMP)

venv: $(STAMP)

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

unit: venv
	$(PY) -m pytest tests/unit -q

test: venv lint
	node --test tests/js/*.test.mjs
	$(PY) -m pytest -q

demo: venv
	$(PY) scripts/demo.py

# the reliability suite alone, writing its results to docs/RELIABILITY.md (make test writes no tracked file)
reliability-report: venv
	BATCH_MONITOR_RELIABILITY_REPORT=docs/RELIABILITY.md $(PY) -m pytest -q tests/reliability

# stops an embedded PostgreSQL a crashed demo left running and removes .demo/ (each demo starts clean anyway)
demo-clean:
	test ! -x $(PY) || $(PY) scripts/demo.py clean
	rm -rf .demo

# refreshes docs/screenshots/ from the browser tests (a plain `make test` leaves them alone)
screenshots: venv
	BATCH_MONITOR_SCREENSHOTS=1 $(PY) -m pytest -q tests/browser -k "sees_the_business_day or dark_theme or narrow_screen"

bench: venv
	$(PY) benchmarks/run_all.py

# the fast path: a CC&B failure to the mail, through a real scheduler, dag-processor and triggerer
# (12 failures, about 20 minutes); writes the "time to alert" row of benchmarks/RESULTS.md
time-to-alert: venv
	$(PY) benchmarks/time_to_alert.py --failures 12 --write-results

clean:
	rm -rf $(VENV) .demo .pytest_cache .mypy_cache .ruff_cache
