"""The Airflow plugin: mounts the Batch Monitor app and adds "Browse → Batch Monitor" to the UI.

The page and its API live at /batch-monitor/ on the api-server (keep the trailing slash: the page
fetches relative paths). The UI shows the page in an iframe under /plugin/<url_route>/ and mirrors
the iframe's own path and query after it, so the address bar reads /plugin/ops/batch-monitor/?date=…
(a url_route equal to the page's path would show that segment twice).
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from batch_monitor.api.app import create_app
from batch_monitor.constants import PAGE_URL_PREFIX, PAGE_URL_ROUTE

PAGE_NAME = "Batch Monitor"
URL_PREFIX = PAGE_URL_PREFIX


class BatchMonitorPlugin(AirflowPlugin):
    """Batch Monitor: CC&B batch chains against their SLAs."""

    name = "batch_monitor"
    fastapi_apps = [{"app": create_app(), "url_prefix": URL_PREFIX, "name": PAGE_NAME}]
    external_views = [
        {
            "name": PAGE_NAME,
            "href": f"{URL_PREFIX}/",
            "url_route": PAGE_URL_ROUTE,
            "destination": "nav",
            "category": "browse",
        }
    ]
