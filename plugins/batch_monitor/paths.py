"""Where the project's data files live (include/ beside plugins/), with environment overrides.

In an Astro image the project sits in /usr/local/airflow; anywhere else the folders are found
relative to this package. Set BATCH_MONITOR_INCLUDE_DIR to move all of them at once, or the
more specific variables below to move one.
"""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent.parent


def include_dir() -> Path:
    return Path(os.environ.get("BATCH_MONITOR_INCLUDE_DIR", PROJECT_ROOT / "include"))


def workflows_dir() -> Path:
    return Path(os.environ.get("BATCH_MONITOR_WORKFLOWS_DIR", include_dir() / "workflows"))


def sql_dir() -> Path:
    return Path(os.environ.get("BATCH_MONITOR_SQL_DIR", include_dir() / "sql"))


def scenarios_dir() -> Path:
    return include_dir() / "scenarios"
