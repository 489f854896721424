"""One Airflow monitoring DAG per workflow file in include/workflows/ (batch_monitor_<workflow_id>).

Adding or changing a workflow is a YAML edit. A file that does not validate is skipped here so
the other workflows keep running; dags/batch_monitor_config_check.py reports it as an import error.
"""

from __future__ import annotations

import logging

from batch_monitor.config import load_workflows
from batch_monitor.dag_factory import build_dag
from batch_monitor.settings import workflows_dir

WORKFLOWS_DIR = workflows_dir()

_loaded = load_workflows(WORKFLOWS_DIR)
for _error in _loaded.errors:
    logging.getLogger(__name__).error("skipping invalid workflow file: %s", _error)
for _workflow in _loaded.workflows:
    globals()[_workflow.dag_id] = build_dag(_workflow)
