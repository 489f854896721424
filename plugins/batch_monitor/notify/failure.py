"""Tell on-call when the monitor itself fails: an Airflow notifier for ``on_failure_callback``.

:class:`BatchMonitorFailureNotifier` is an Airflow ``BaseNotifier``; the monitor's DAGs use it, and
any DAG can too::

    from batch_monitor.notify.failure import BatchMonitorFailureNotifier

    @dag(..., default_args={"on_failure_callback": BatchMonitorFailureNotifier(to="etl-oncall@example.com")})

The mail goes straight through :class:`SmtpChannel` (the Airflow connection ``smtp_default``),
not through the outbox: the store may be what is down. Recipients, first found wins:

0. the notifier's ``to`` (when given);
1. the Airflow Variable ``batch_monitor_email_to`` (addresses separated by commas, semicolons or spaces);
2. the DAG's params ``on_call`` (the DAG factory puts the workflow's ``on_call`` there);
3. the task's ``email`` (``default_args["email"]``).

Times are shown in ``params["timezone"]`` (the workflow's zone) when the DAG has it, else UTC.
Passwords and connection URIs in the exception text are masked. The callback never raises: a
callback that raises hides the task's own error, so problems are logged and swallowed.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from typing import Any

from airflow.sdk import BaseNotifier, Context

from batch_monitor.notify.channels import SmtpChannel
from batch_monitor.notify.render import render_monitor_failure
from batch_monitor.settings import EMAIL_TO, SMTP_CONN_ID
from batch_monitor.text import parse_recipients

log = logging.getLogger(__name__)

_MAX_CAUSES = 3


class BatchMonitorFailureNotifier(BaseNotifier):
    """Mails that a task failed: the error (credentials masked, causes listed), the try, the log link.

    ``to``: addresses (a list, or one string separated by commas, semicolons or spaces); without it,
    the Variable ``batch_monitor_email_to``, the DAG's params ``on_call``, then the task's ``email``.
    ``timezone``: the zone times are shown in; without it ``params["timezone"]``, else UTC.
    Never raises: a callback that raises hides the task's own error, so problems are logged.
    """

    def __init__(
        self,
        *,
        to: str | list[str] | None = None,
        smtp_conn_id: str = SMTP_CONN_ID,
        timezone: str | None = None,
    ) -> None:
        super().__init__()
        self.to = parse_recipients(to)
        self.smtp_conn_id = smtp_conn_id
        self.timezone = timezone

    def notify(self, context: Context) -> None:
        """Send the mail; log, never raise, when it cannot go."""
        _send_or_log(context, to=self.to, smtp_conn_id=self.smtp_conn_id, timezone=self.timezone)


def monitor_failure_callback(context: Mapping[str, Any]) -> None:
    """The notifier with its defaults, as a plain function (for callbacks that call it themselves)."""
    _send_or_log(context)


def _send_or_log(context: Mapping[str, Any], **options: Any) -> None:
    try:
        _notify(context, **options)
    except Exception:
        log.exception("batch_monitor: could not send the monitor-failure mail")


def _notify(
    context: Mapping[str, Any],
    *,
    to: list[str] | None = None,
    smtp_conn_id: str = SMTP_CONN_ID,
    timezone: str | None = None,
) -> None:
    ti = context.get("ti") or context.get("task_instance")
    dag = context.get("dag")
    dag_id = str(getattr(ti, "dag_id", None) or getattr(dag, "dag_id", "unknown DAG"))
    task_id = str(getattr(ti, "task_id", None) or "unknown task")
    to = to or recipients(context)
    if not to:
        log.error(
            "batch_monitor: %s.%s failed but nobody can be told: set the Airflow Variable %s or the workflow's on_call",
            dag_id,
            task_id,
            EMAIL_TO.name,
        )
        return
    params = context.get("params") or {}
    content = render_monitor_failure(
        dag_id=dag_id,
        task_id=task_id,
        error=describe_exception(context.get("exception")),
        try_number=getattr(ti, "try_number", None),
        logical_date=_aware(context.get("logical_date")),
        data_interval_end=_aware(context.get("data_interval_end")),
        log_url=_log_url(ti),
        timezone=timezone or str(params.get("timezone") or "UTC"),
    )
    SmtpChannel(smtp_conn_id=smtp_conn_id).send(recipients=to, content=content)
    log.info("batch_monitor: sent the monitor-failure mail for %s.%s to %s", dag_id, task_id, to)


def recipients(context: Mapping[str, Any]) -> list[str]:
    """Who is told: the Variable ``batch_monitor_email_to``, else params ``on_call``, else the task's email.

    Read with the same parser as the alert mails, so one Variable value gives one list everywhere.
    """
    try:
        from batch_monitor.airflow_io import variable_recipients

        configured = variable_recipients()
    except Exception:  # the API server may be what failed; fall back to the DAG's own list
        log.warning("batch_monitor: could not read Variable %s", EMAIL_TO.name, exc_info=True)
        configured = []
    if configured:
        return configured
    params = context.get("params") or {}
    if addresses := parse_recipients(params.get("on_call")):
        return addresses
    ti = context.get("ti") or context.get("task_instance")
    return parse_recipients(getattr(getattr(ti, "task", None), "email", None))


def describe_exception(exc: object) -> str:
    """'Type: message', with up to three causes below it. Not masked here (the renderer masks)."""
    if exc is None:
        return "No exception was passed to the callback (the task may have been killed or timed out)."
    if not isinstance(exc, BaseException):
        return str(exc)
    lines = [_one(exc)]
    seen = {id(exc)}
    cause = _cause(exc)
    while cause is not None and id(cause) not in seen and len(lines) <= _MAX_CAUSES:
        seen.add(id(cause))
        lines.append(f"caused by {_one(cause)}")
        cause = _cause(cause)
    return "\n".join(lines)


def _cause(exc: BaseException) -> BaseException | None:
    """The exception's cause, or the one it was raised while handling unless ``from None`` hid it."""
    return exc.__cause__ or (None if exc.__suppress_context__ else exc.__context__)


def _one(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _aware(value: object) -> dt.datetime | None:
    if isinstance(value, dt.datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)
    return None


def _log_url(ti: Any) -> str | None:
    try:
        url = getattr(ti, "log_url", None)
    except Exception:  # the property reads Airflow config; a missing URL is no reason to not mail
        return None
    return str(url) if url else None
