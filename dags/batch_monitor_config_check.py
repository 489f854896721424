"""Fails to import while any workflow file in include/workflows/ is invalid.

Its import error (Airflow UI → DAG import errors, `airflow dags list-import-errors`) names the
file, the step and the field of every problem. The valid workflows keep their DAGs: those are
built by dags/batch_monitor_workflows.py. This file defines no DAG of its own.
"""

from __future__ import annotations

from batch_monitor.config import load_workflows
from batch_monitor.exceptions import WorkflowConfigError
from batch_monitor.settings import workflows_dir

WORKFLOWS_DIR = workflows_dir()

_errors = load_workflows(WORKFLOWS_DIR).errors
if _errors:
    raise WorkflowConfigError(
        WORKFLOWS_DIR,
        [f"{len(_errors)} invalid workflow file(s); the other workflows still run"] + [str(error) for error in _errors],
    )
