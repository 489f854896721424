"""One Variable value, one recipient list: the alert mails and the monitor-failure mail read it alike."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from batch_monitor import airflow_io
from batch_monitor.config import parse_workflow
from batch_monitor.notify import failure

WORKFLOW = """
workflow_id: mail_test
timezone: Asia/Dhaka
on_call: [yaml-oncall@dpdc.example]
steps:
  - batch_code: A-ONE
    expected_start: "05:00"
"""


@pytest.mark.parametrize(
    "value",
    [
        "noc@dpdc.example; duty@dpdc.example",
        "noc@dpdc.example, duty@dpdc.example",
        "noc@dpdc.example duty@dpdc.example",
        "noc@dpdc.example\nduty@dpdc.example; noc@dpdc.example",
    ],
)
def test_the_same_variable_gives_the_alert_mails_and_the_failure_mail_the_same_list(
    value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW_VAR_BATCH_MONITOR_EMAIL_TO", value)
    workflow = parse_workflow(textwrap.dedent(WORKFLOW), Path("mail_test.yaml"))
    alert_list = airflow_io.recipients(workflow)
    failure_list = failure.recipients({"params": {"on_call": ["params-oncall@dpdc.example"]}})
    assert alert_list == failure_list == ["noc@dpdc.example", "duty@dpdc.example"]


def test_without_the_variable_each_path_falls_back_to_its_own_on_call(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIRFLOW_VAR_BATCH_MONITOR_EMAIL_TO", raising=False)
    workflow = parse_workflow(textwrap.dedent(WORKFLOW), Path("mail_test.yaml"))
    assert airflow_io.recipients(workflow) == ["yaml-oncall@dpdc.example"]
    assert failure.recipients({"params": {"on_call": ["params-oncall@dpdc.example"]}}) == ["params-oncall@dpdc.example"]


def test_the_escalation_variable_replaces_the_yaml_escalate_to(monkeypatch: pytest.MonkeyPatch) -> None:
    text = textwrap.dedent(WORKFLOW).replace("on_call:", "escalate_to: [yaml-boss@dpdc.example]\non_call:")
    workflow = parse_workflow(text, Path("mail_test.yaml"))
    monkeypatch.delenv("AIRFLOW_VAR_BATCH_MONITOR_ESCALATE_TO", raising=False)
    assert airflow_io.escalate_recipients(workflow) == ["yaml-boss@dpdc.example"]
    monkeypatch.setenv("AIRFLOW_VAR_BATCH_MONITOR_ESCALATE_TO", "ops-manager@dpdc.example; cto@dpdc.example")
    assert airflow_io.escalate_recipients(workflow) == ["ops-manager@dpdc.example", "cto@dpdc.example"]
