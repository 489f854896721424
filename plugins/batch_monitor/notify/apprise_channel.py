"""Apprise: any Apprise URL (SMS gateways, Teams, e-mail, a JSON endpoint, ...) through the Airflow
Apprise provider.

The Airflow connection ``batch_monitor_apprise`` (type ``apprise``) holds the targets in its extra
``config``: ``{"path": "msteams://...", "tag": "alerts"}`` or a list of them. The provider's
``AppriseHook`` reads the connection and adds them to an ``apprise.Apprise`` object; the message
is sent through that object itself, because the hook's ``notify()`` drops Apprise's answer and a
failed delivery would look sent. Apprise reports only success or failure, so a failure raises
:class:`NotificationError` and the message stays queued for the next call.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from batch_monitor.exceptions import NotificationError
from batch_monitor.models import EmailContent
from batch_monitor.notify.channels import ChannelUnavailableError
from batch_monitor.notify.messages import APPRISE_TYPES, notice_of, plain_message
from batch_monitor.settings import APPRISE_CONN_ID


class AppriseChannel:
    """Sends through the Apprise targets of the Airflow connection ``apprise_conn_id``."""

    def __init__(self, apprise_conn_id: str = APPRISE_CONN_ID) -> None:
        self.apprise_conn_id = apprise_conn_id

    def __repr__(self) -> str:
        return f"AppriseChannel(apprise_conn_id={self.apprise_conn_id!r})"

    def deliver(
        self, *, recipients: list[str], content: EmailContent, thread: Mapping[str, Any] | None
    ) -> dict[str, Any] | None:
        """Send the message to every target of the connection; raise if Apprise says it failed."""
        import apprise
        from airflow.providers.apprise.hooks.apprise import AppriseHook

        where = f"Apprise connection {self.apprise_conn_id!r}"
        hook = AppriseHook(apprise_conn_id=self.apprise_conn_id)
        targets = apprise.Apprise()
        try:
            hook.set_config_from_conn(conn=hook.get_connection(self.apprise_conn_id), apprise_obj=targets)
        except Exception as exc:  # no connection, or no usable "config" in its extra
            raise ChannelUnavailableError(f"{where}: {type(exc).__name__}: {exc}") from exc
        if len(targets) == 0:
            raise ChannelUnavailableError(f"{where}: its extra 'config' names no Apprise URL that Apprise accepts")
        notice = notice_of(content)
        title, body = plain_message(notice)
        notify_type = APPRISE_TYPES.get(notice.severity, "info")
        if not targets.notify(body=body, title=title, notify_type=notify_type):
            raise NotificationError(f"{where}: Apprise could not deliver {title!r} to every target")
        return None
