"""The monitor's own failure callback: a real Airflow task fails and on-call gets one mail."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from tests.conftest import copy_airflow_db
from tests.support.mail import MailServer

from batch_monitor.notify.failure import describe_exception, monitor_failure_callback

ROOT = Path(__file__).resolve().parents[2]

DAG_FILE = """
import datetime as dt

from airflow.sdk import dag, task

from batch_monitor.notify.failure import BatchMonitorFailureNotifier, monitor_failure_callback


@dag(
    dag_id="batch_monitor_dpdc_ami",
    schedule=None,
    start_date=dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc),
    params={"on_call": ["ccb-oncall@dpdc.example"], "timezone": "Asia/Dhaka"},
    default_args={"retries": 0, "on_failure_callback": monitor_failure_callback},
)
def monitor():
    @task
    def extract():
        try:
            raise ConnectionRefusedError("connection refused by postgresql://bm:s3cret@store.example:5432/bm")
        except ConnectionRefusedError as exc:
            raise RuntimeError("store unavailable (password=s3cret)") from exc

    extract()


monitor_dag = monitor()


@dag(
    dag_id="nightly_etl",
    schedule=None,
    start_date=dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc),
    default_args={
        "retries": 0,
        "on_failure_callback": BatchMonitorFailureNotifier(to="etl-team@dpdc.example; etl-lead@dpdc.example"),
    },
)
def nightly_etl():
    @task
    def load():
        raise ValueError("ORA-00001: unique constraint violated")

    load()


user_dag = nightly_etl()
"""

RUNNER = """
import os, sys
sys.path.insert(0, os.path.join(os.environ["AIRFLOW_HOME"], "dags"))
import monitor_failure_dag

monitor_failure_dag.monitor_dag.test()  # on-call from the DAG's params
os.environ["AIRFLOW_VAR_BATCH_MONITOR_EMAIL_TO"] = "noc@dpdc.example; duty@dpdc.example"
monitor_failure_dag.monitor_dag.test()  # the Variable wins
monitor_failure_dag.user_dag.test()  # a user's DAG: the notifier's own list wins over the Variable
"""


def airflow_env(home: Path, mail_server: MailServer) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env.update(
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__DAGS_FOLDER=str(home / "dags"),
        AIRFLOW__API__BASE_URL="http://airflow.example:8080",
        AIRFLOW_CONN_SMTP_DEFAULT=mail_server.connection_json(),
        PYTHONPATH=os.pathsep.join([str(ROOT / "plugins"), env.get("PYTHONPATH", "")]),
    )
    return env


@pytest.mark.e2e
def test_a_failed_monitor_task_mails_on_call_once_with_credentials_masked(
    tmp_path: Path, mail_server: MailServer, migrated_airflow_db: Path
) -> None:
    home = tmp_path / "airflow"
    (home / "dags").mkdir(parents=True)
    (home / "dags" / "monitor_failure_dag.py").write_text(DAG_FILE)
    env = airflow_env(home, mail_server)
    copy_airflow_db(migrated_airflow_db, home / "airflow.db")  # a fresh metadata DB of its own
    run = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(RUNNER)], env=env, capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 0, run.stderr[-4000:]

    assert len(mail_server.received) == 3, run.stderr[-4000:]
    from_params, from_variable, from_user_dag = mail_server.received
    assert from_params.rcpt_tos == ["ccb-oncall@dpdc.example"]
    assert from_variable.rcpt_tos == ["noc@dpdc.example", "duty@dpdc.example"]
    assert from_user_dag.rcpt_tos == ["etl-team@dpdc.example", "etl-lead@dpdc.example"]
    assert from_user_dag.message["Subject"].endswith("nightly_etl: load failed")
    user_text = from_user_dag.message.get_body(preferencelist=("plain",))
    assert user_text is not None and "ValueError: ORA-00001: unique constraint violated" in user_text.get_content()

    msg = from_params.message
    assert msg["Subject"] == "[MONITOR DOWN] batch_monitor_dpdc_ami: extract failed"
    text = msg.get_body(preferencelist=("plain",))
    html = msg.get_body(preferencelist=("html",))
    assert text is not None and html is not None
    for body in (text.get_content(), html.get_content()):
        assert "s3cret" not in body
        assert "batch_monitor_dpdc_ami" in body
        assert "extract" in body
        assert "(Asia/Dhaka)" in body
    plain = text.get_content()
    assert "RuntimeError: store unavailable (password=***)" in plain
    assert "caused by ConnectionRefusedError: connection refused by postgresql://***@store.example:5432/bm" in plain
    assert "Try:                1" in plain
    assert "http://airflow.example:8080/dags/batch_monitor_dpdc_ami/runs/" in plain


def test_the_callback_never_raises_even_when_smtp_is_down(
    mail_server: MailServer, caplog: pytest.LogCaptureFixture
) -> None:
    mail_server.stop()
    context = {"params": {"on_call": ["ccb-oncall@dpdc.example"]}, "exception": RuntimeError("boom")}
    with caplog.at_level(logging.ERROR, logger="batch_monitor.notify.failure"):
        monitor_failure_callback(context)
    assert "could not send the monitor-failure mail" in caplog.text
    assert "ConnectionRefused" in caplog.text


def test_the_callback_logs_when_nobody_can_be_told(mail_server: MailServer, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="batch_monitor.notify.failure"):
        monitor_failure_callback({"exception": RuntimeError("boom")})
    assert "nobody can be told" in caplog.text
    assert mail_server.received == []


def test_an_exception_is_described_with_its_causes() -> None:
    try:
        try:
            raise TimeoutError("ORA-12170: TNS:Connect timeout occurred")
        except TimeoutError as inner:
            raise ConnectionError("CC&B unreachable") from inner
    except ConnectionError as exc:
        described = describe_exception(exc)
    assert described == (
        "ConnectionError: CC&B unreachable\ncaused by TimeoutError: ORA-12170: TNS:Connect timeout occurred"
    )
