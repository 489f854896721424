"""docs/prometheus-rules.yml passes promtool, and a real Prometheus scrapes the real api-server.

Needs Debian's ``prometheus`` package (/usr/bin/prometheus, /usr/bin/promtool; .ci/run installs it).
The rules' behaviour is checked by ``promtool test rules`` on tests/data/prometheus/rules_test.yml.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import yaml
from tests.support.monitor_env import METRICS_TOKEN, MonitorEnv

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "docs" / "prometheus-rules.yml"
RULES_TEST = ROOT / "tests" / "data" / "prometheus" / "rules_test.yml"
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"
PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"

pytestmark = pytest.mark.e2e


def _need(binary: str) -> None:
    if not os.access(binary, os.X_OK):
        pytest.skip(f"{binary} is not installed (Debian package 'prometheus': apt-get install prometheus)")


def test_the_rules_file_passes_promtool_check_rules() -> None:
    _need(PROMTOOL)
    result = subprocess.run([PROMTOOL, "check", "rules", str(RULES)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 5 rules found" in result.stdout


def test_the_rules_fire_when_they_should_and_not_before() -> None:
    _need(PROMTOOL)
    result = subprocess.run(
        [PROMTOOL, "test", "rules", str(RULES_TEST)], capture_output=True, text=True, timeout=60, cwd=RULES_TEST.parent
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def prometheus(monitor: MonitorEnv, tmp_path: Path) -> Iterator[str]:
    """A real Prometheus scraping the api-server's /batch-monitor/metrics every second with the scraper token."""
    _need(PROMETHEUS)
    token_file = tmp_path / "scraper-token"
    token_file.write_text(METRICS_TOKEN + "\n")
    token_file.chmod(0o600)
    target = urlsplit(monitor.server.base_url).netloc
    config: dict[str, Any] = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(RULES)],
        "scrape_configs": [
            {
                "job_name": "batch_monitor",
                "metrics_path": "/batch-monitor/metrics",
                "authorization": {"type": "Bearer", "credentials_file": str(token_file)},
                "static_configs": [{"targets": [target]}],
            }
        ],
    }
    config_file = tmp_path / "prometheus.yml"
    config_file.write_text(yaml.safe_dump(config))
    port = _free_port()
    log_path = tmp_path / "prometheus.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                PROMETHEUS,
                f"--config.file={config_file}",
                f"--storage.tsdb.path={tmp_path / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)


def _query(base: str, expr: str) -> list[dict[str, Any]]:
    try:
        response = httpx.get(f"{base}/api/v1/query", params={"query": expr}, timeout=5)
    except httpx.TransportError:
        return []  # not listening yet
    if response.status_code != 200:
        return []
    result: list[dict[str, Any]] = response.json()["data"]["result"]
    return result


def _wait_for(base: str, expr: str, seconds: float = 25) -> list[dict[str, Any]]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        result = _query(base, expr)
        if result:
            return result
        time.sleep(0.5)
    raise AssertionError(f"Prometheus had no result for {expr!r} within {seconds:.0f} s")


def test_a_real_prometheus_scrapes_the_endpoint_with_the_scraper_token(prometheus: str) -> None:
    up = _wait_for(prometheus, 'up{job="batch_monitor"} == 1')
    assert [r["value"][1] for r in up] == ["1"]
    failed = _wait_for(prometheus, 'batch_monitor_step_state{workflow="dpdc_ami",step="C1-PPBTR",state="failed"}')
    assert failed[0]["value"][1] == "1"
    # the simulated days' ticks are old: the shipped rule sees the monitor stale (pending for its 2 minutes)
    stale = _wait_for(prometheus, 'ALERTS{alertname="BatchMonitorStale"}')
    assert {r["metric"]["workflow"] for r in stale} == {"dpdc_ami", "us_east_settlement"}
