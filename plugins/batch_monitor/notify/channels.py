"""Where messages go: one small interface per kind and their implementations.

:class:`EmailChannel` delivers a rendered mail to recipients (:class:`SmtpChannel`, below).
:class:`MessageChannel` is what the outbox's sender calls for every channel: it delivers one
queued message and returns what the channel said about it (Slack's ``ts``, to thread replies on).
:class:`MailDelivery` wraps an :class:`EmailChannel` as one; ``notify/slack.py`` and
``notify/apprise_channel.py`` are the others, built on the Airflow providers' hooks.
:func:`build_channels` makes the channels a workflow's ``channels:`` names.

:class:`SmtpChannel` sends a multipart/alternative message (plain text + HTML) through the
Airflow SMTP provider's ``SmtpHook``, which reads the Airflow connection (host, port, login,
TLS/SSL switches, ``from_email``, ``timeout`` in its extra). Airflow is imported only when a
mail is sent, so this module is importable without Airflow. Every failure surfaces as a
:class:`~batch_monitor.exceptions.NotificationError`; when the server could not be reached at
all it is the subclass :class:`ChannelUnavailableError`, and the sender stops trying the rest.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import email.policy
import logging
import re
import smtplib
from collections.abc import Iterable, Mapping
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any, Protocol

from batch_monitor.exceptions import NotificationError
from batch_monitor.models import EmailContent
from batch_monitor.settings import SMTP_CONN_ID

log = logging.getLogger(__name__)


class ChannelUnavailableError(NotificationError):
    """The channel could not be reached at all (refused, timed out, bad login): no mail can go now."""


class RetryLaterError(ChannelUnavailableError):
    """The channel asked us to wait (a rate limit: HTTP 429 with Retry-After): try again after ``retry_after``."""

    def __init__(self, message: str, retry_after: dt.timedelta) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class EmailChannel(Protocol):
    """Delivers one rendered mail, or raises :class:`NotificationError`."""

    def send(self, *, recipients: list[str], content: EmailContent) -> None: ...


class MessageChannel(Protocol):
    """Delivers one queued message, or raises :class:`NotificationError`.

    ``thread``: what this channel returned for the message this one follows up (None: nothing).
    Returns what the channel says about the delivered message (e.g. Slack's ``ts``), or None.
    """

    def deliver(
        self, *, recipients: list[str], content: EmailContent, thread: Mapping[str, Any] | None
    ) -> dict[str, Any] | None: ...


class MailDelivery:
    """An :class:`EmailChannel` as a :class:`MessageChannel` (mail has no threads to return)."""

    def __init__(self, channel: EmailChannel) -> None:
        self.channel = channel

    def __repr__(self) -> str:
        return f"MailDelivery({self.channel!r})"

    def deliver(
        self, *, recipients: list[str], content: EmailContent, thread: Mapping[str, Any] | None
    ) -> dict[str, Any] | None:
        """Send the mail."""
        self.channel.send(recipients=recipients, content=content)
        return None


def build_channels(names: Iterable[str]) -> dict[str, MessageChannel]:
    """The channels for ``names`` (a workflow's ``channels:``), on their default Airflow connections."""
    from batch_monitor.notify.apprise_channel import AppriseChannel
    from batch_monitor.notify.slack import SlackChannel

    makers: dict[str, Any] = {
        "email": lambda: MailDelivery(SmtpChannel()),
        "slack": SlackChannel,
        "apprise": AppriseChannel,
    }
    unknown = [name for name in names if name not in makers]
    if unknown:
        raise ValueError(f"unknown channel(s) {unknown}; use {', '.join(makers)}")
    return {name: makers[name]() for name in dict.fromkeys(names)}


def build_message(*, from_email: str, recipients: list[str], content: EmailContent) -> EmailMessage:
    """A multipart/alternative message: the plain-text part first, the HTML part preferred."""
    msg = EmailMessage(policy=email.policy.SMTP)
    msg["Subject"] = content.subject
    msg["From"] = from_email
    msg["To"] = ", ".join(recipients)
    msg["Date"] = formatdate(usegmt=True)
    domain = from_email.rpartition("@")[2] or None
    key = re.sub(r"[^A-Za-z0-9.\-]", "-", content.message_key or "")
    msg["Message-ID"] = f"<{key}@{domain or 'batch-monitor.invalid'}>" if key else make_msgid(domain=domain)
    msg["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation auto-replies
    msg.set_content(content.text)
    msg.add_alternative(content.html, subtype="html")
    return msg


class SmtpChannel:
    """Sends mail through the Airflow connection ``smtp_conn_id`` (one SMTP session per mail)."""

    def __init__(self, smtp_conn_id: str = SMTP_CONN_ID, from_email: str | None = None) -> None:
        self.smtp_conn_id = smtp_conn_id
        self.from_email = from_email

    def __repr__(self) -> str:
        return f"SmtpChannel(smtp_conn_id={self.smtp_conn_id!r})"

    def send(self, *, recipients: list[str], content: EmailContent) -> None:
        """Send one mail; raise NotificationError (ChannelUnavailableError if unreachable)."""
        addresses = [r.strip() for r in recipients if r and r.strip()]
        if not addresses:
            raise NotificationError(f"{content.subject!r}: no recipients")
        from airflow.providers.smtp.hooks.smtp import SmtpHook

        where = f"SMTP connection {self.smtp_conn_id!r}"
        stage = "connect"
        try:
            with SmtpHook(smtp_conn_id=self.smtp_conn_id) as hook:
                stage = "send"
                self._send_in_session(hook, addresses, content, where)
        except NotificationError:
            raise
        except Exception as exc:
            if stage == "connect":  # refused, timeout, TLS, login, unknown connection
                raise ChannelUnavailableError(f"{where}: cannot connect: {_describe(exc)}") from exc
            if isinstance(exc, smtplib.SMTPServerDisconnected | TimeoutError | ConnectionError):
                raise ChannelUnavailableError(f"{where}: connection lost: {_describe(exc)}") from exc
            raise NotificationError(f"{where}: mail refused: {_describe(exc)}") from exc  # 4xx/5xx replies

    def _send_in_session(self, hook: Any, addresses: list[str], content: EmailContent, where: str) -> None:
        sender = self.from_email or hook.from_email
        if not sender:
            raise NotificationError(
                f"{where}: no sender address; set from_email in the connection's extra "
                "or pass SmtpChannel(from_email=...)"
            )
        message = build_message(from_email=sender, recipients=addresses, content=content)
        # The hook's send_email_smtp builds an HTML-only message and retries on any error (a
        # refused mail would go out retry_limit times); we send our multipart message once,
        # through the session the hook opened (connection, TLS, login and timeout are the hook's).
        client = hook._smtp_client
        if client is None:
            raise ChannelUnavailableError(f"{where}: the hook opened no SMTP session")
        refused = client.sendmail(sender, addresses, message.as_bytes())
        if refused:  # accepted for some recipients: it is sent, resending would duplicate it
            log.warning("%s: recipients refused %r: %s", where, content.subject, refused)
        with contextlib.suppress(smtplib.SMTPException, OSError):
            client.quit()  # the message is accepted; a clean QUIT is best effort


def _describe(exc: BaseException) -> str:
    if isinstance(exc, smtplib.SMTPResponseException):
        message = exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) else exc.smtp_error
        return f"{type(exc).__name__}: {exc.smtp_code} {message}"
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        parts = [f"{rcpt}: {code} {msg.decode(errors='replace')}" for rcpt, (code, msg) in exc.recipients.items()]
        return f"{type(exc).__name__}: " + "; ".join(parts)
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
