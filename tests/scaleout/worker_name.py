"""The ``[core] hostname_callable`` of the scale-out test's Celery workers.

Both workers run on this one machine, where Airflow's default (the FQDN) would give them the same
name; in a deployment each worker is its own host or pod. Each worker process is started with
``BATCH_MONITOR_SCALEOUT_WORKER`` set, and the task instances it runs record that name in the
metadata database's ``task_instance.hostname`` column, which the test reads.
"""

from __future__ import annotations

import os

ENV_VAR = "BATCH_MONITOR_SCALEOUT_WORKER"


def hostname() -> str:
    """This worker's name (the environment variable the test set for it)."""
    return os.environ[ENV_VAR]
