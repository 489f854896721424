"""Fixtures for the store tests: the DPDC workflow and the moments the tests tick at. Evaluations,
findings and runs are built with tests/support/evaluations.py. The migrated database is the shared
``store`` fixture of tests/conftest.py."""

from __future__ import annotations

import datetime as dt

import pytest
from tests.support.workflows import load_test_workflow

from batch_monitor.config import WorkflowConfig
from batch_monitor.notify.alert_mail import renderer

T0 = dt.datetime(2026, 11, 24, 1, 0, tzinfo=dt.UTC)  # 07:00 in Dhaka
PAGE = "https://airflow.example"
ONCALL = ["ccb-oncall@dpdc.example"]
RENDER = renderer(PAGE)  # the alert mails' content, as the pipeline hands it to the store


def tick(n: int) -> dt.datetime:
    """The as-of time of the n-th 15-minute tick after T0."""
    return T0 + dt.timedelta(minutes=15 * n)


@pytest.fixture(scope="session")
def dpdc() -> WorkflowConfig:
    """The DPDC AMI chain (the tests' copy: CRITICAL alerts are mailed, warnings are not)."""
    return load_test_workflow("dpdc_ami")
