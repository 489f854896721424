"""The Airflow plugin: mounts the Batch Monitor app and adds "Browse → Batch Monitor" to the UI.

The UI shows the page in an iframe at /plugin/batch-monitor; the page and its API live at
/batch-monitor/ on the api-server (keep the trailing slash: the page fetches relative paths).
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from batch_monitor.api.app import create_app

PAGE_NAME = "Batch Monitor"
URL_PREFIX = "/batch-monitor"


class BatchMonitorPlugin(AirflowPlugin):
    """Batch Monitor: CC&B batch chains against their SLAs."""

    name = "batch_monitor"
    fastapi_apps = [{"app": create_app(), "url_prefix": URL_PREFIX, "name": PAGE_NAME}]
    external_views = [
        {
            "name": PAGE_NAME,
            "href": f"{URL_PREFIX}/",
            "url_route": "batch-monitor",
            "destination": "nav",
            "category": "browse",
        }
    ]
