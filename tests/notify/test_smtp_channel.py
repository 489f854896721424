"""SmtpChannel against a real SMTP server (aiosmtpd) through the Airflow SMTP provider's hook."""

from __future__ import annotations

import pytest
from tests.support.mail import MailServer

from batch_monitor.exceptions import NotificationError
from batch_monitor.models import EmailContent
from batch_monitor.notify.channels import ChannelUnavailableError, SmtpChannel

MAIL = EmailContent(
    subject="[CRITICAL] C1-PPBTR failed — dpdc_ami business day 2026-11-24",
    text="C1-PPBTR failed at 14:30 +06 (Asia/Dhaka)\n",
    html="<p>C1-PPBTR failed at <b>14:30 +06</b> (Asia/Dhaka)</p>\n",
)


def test_it_sends_one_multipart_alternative_mail_with_text_and_html(mail_server: MailServer) -> None:
    SmtpChannel().send(recipients=["oncall@example.com", "lead@example.com"], content=MAIL)

    (got,) = mail_server.received
    assert got.mail_from == "monitor@example.com"  # from_email in the connection's extra
    assert got.rcpt_tos == ["oncall@example.com", "lead@example.com"]
    msg = got.message
    assert msg.get_content_type() == "multipart/alternative"
    assert msg["Subject"] == MAIL.subject
    assert msg["From"] == "monitor@example.com"
    assert msg["To"] == "oncall@example.com, lead@example.com"
    assert msg["Message-ID"]
    parts = list(msg.iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"]
    assert parts[0].get_content() == MAIL.text
    assert parts[1].get_content() == MAIL.html


def test_a_sender_given_to_the_channel_wins_over_the_connection(mail_server: MailServer) -> None:
    SmtpChannel(from_email="batch-monitor@dpdc.example").send(recipients=["oncall@example.com"], content=MAIL)
    (got,) = mail_server.received
    assert got.mail_from == "batch-monitor@dpdc.example"
    assert got.message["From"] == "batch-monitor@dpdc.example"


def test_a_server_that_is_down_makes_the_channel_unavailable(mail_server: MailServer) -> None:
    mail_server.stop()
    with pytest.raises(ChannelUnavailableError, match=r"smtp_default.*cannot connect.*ConnectionRefused"):
        SmtpChannel().send(recipients=["oncall@example.com"], content=MAIL)


def test_a_refused_mail_raises_a_notification_error_with_the_reply(mail_server: MailServer) -> None:
    mail_server.handler.refuse_data = "550 5.7.1 Message rejected as spam"
    with pytest.raises(NotificationError, match=r"550 5\.7\.1 Message rejected as spam") as caught:
        SmtpChannel().send(recipients=["oncall@example.com"], content=MAIL)
    assert not isinstance(caught.value, ChannelUnavailableError)
    assert mail_server.received == []


def test_a_refused_recipient_raises_a_notification_error(mail_server: MailServer) -> None:
    mail_server.handler.bounce.add("gone@example.com")
    with pytest.raises(NotificationError, match=r"gone@example.com: 550"):
        SmtpChannel().send(recipients=["gone@example.com"], content=MAIL)


def test_an_unknown_connection_id_is_named_in_the_error(mail_server: MailServer) -> None:
    with pytest.raises(ChannelUnavailableError, match="'no_such_smtp'"):
        SmtpChannel(smtp_conn_id="no_such_smtp").send(recipients=["oncall@example.com"], content=MAIL)


def test_a_connection_without_a_sender_address_is_refused_clearly(
    mail_server: MailServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", mail_server.connection_json(from_email=None))
    with pytest.raises(NotificationError, match="from_email"):
        SmtpChannel().send(recipients=["oncall@example.com"], content=MAIL)
    assert mail_server.received == []
