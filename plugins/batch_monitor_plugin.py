"""Entry point Airflow's plugin loader finds: registers the Batch Monitor plugin.

The plugin itself lives in batch_monitor/plugin.py (the package is ignored by the loader, see
plugins/.airflowignore, and imported as a normal package).
"""

from __future__ import annotations

from batch_monitor.plugin import BatchMonitorPlugin

__all__ = ["BatchMonitorPlugin"]
