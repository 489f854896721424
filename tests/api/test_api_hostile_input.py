"""Hostile input on the real api-server: every refused value is a JSON 422 naming its field, never
a 500, and its reply holds only a short escaped excerpt of what was sent."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.api.monitor_env import MonitorEnv

from batch_monitor.store.schema import alert_events, alerts

pytestmark = pytest.mark.e2e

SHORT_REPLY = 2_000  # bytes: an error reply holds at most a short excerpt of what was sent


def open_alert_id(monitor: MonitorEnv) -> int:
    with monitor.store.connect() as conn:
        return int(
            conn.execute(sa.select(alerts.c.id).where(alerts.c.kind == "FAILED", alerts.c.state == "open")).scalar_one()
        )


def event_count(monitor: MonitorEnv, alert_id: int) -> int:
    with monitor.store.connect() as conn:
        query = sa.select(sa.func.count()).select_from(alert_events).where(alert_events.c.alert_id == alert_id)
        return int(conn.execute(query).scalar_one())


def raw_query(client: httpx.Client, path: str, query: str) -> httpx.Response:
    """GET with a query string sent byte for byte (percent-encoded by the caller)."""
    return client.get(httpx.URL(str(client.base_url.join(path)), query=query.encode("ascii")))


def post_json_text(client: httpx.Client, path: str, text: str) -> httpx.Response:
    return client.post(path, content=text.encode("utf-8"), headers={"Content-Type": "application/json"})


def assert_422_naming(response: httpx.Response, loc: list[str]) -> dict[str, Any]:
    assert response.status_code == 422, response.text[:500]
    assert len(response.content) < SHORT_REPLY
    [error] = [e for e in response.json()["detail"] if e["loc"] == loc]
    return dict(error)


@pytest.mark.parametrize(
    ("path", "query", "field"),
    [
        ("batch-timeline", "workflow=dpdc_ami&date=9999-12-31", "date"),
        ("batch-timeline", "workflow=dpdc_ami&date=0001-01-01", "date"),
        ("batch-health", "workflow=dpdc_ami&date=9999-12-31", "date"),
        ("batch-health", "workflow=dpdc_ami&date=0001-01-01", "date"),
        ("batch-logs", "date_from=0001-01-01", "date_from"),
        ("batch-logs", "date_to=9999-12-31", "date_to"),
        ("batch-logs", "offset=9223372036854775808", "offset"),
        ("batch-logs", "offset=9223372036854775807", "offset"),
        ("batch-logs", "q=ORA%00", "q"),
        ("batch-logs", "batch_code=C1-PPBTR%00", "batch_code"),
        ("batch-logs", "workflow=dpdc_ami%00", "workflow"),
        ("active-alerts", "workflow=%00", "workflow"),
        ("batch-timeline", f"workflow={'w' * 5000}", "workflow"),
    ],
)
def test_an_out_of_range_or_nul_parameter_is_a_422_naming_it_not_a_500(
    viewer: httpx.Client, path: str, query: str, field: str
) -> None:
    assert_422_naming(raw_query(viewer, path, query), ["query", field])


def test_an_alert_id_beyond_bigint_is_a_422_not_a_500(op: httpx.Client) -> None:
    for response in (
        op.get("alerts/9223372036854775808"),
        op.post("acknowledge-alert/9223372036854775808", json={}),
        op.post("alerts/99999999999999999999999/resolve", json={}),
    ):
        assert_422_naming(response, ["path", "alert_id"])


@pytest.mark.parametrize(
    ("comment", "what"),
    [("x\x00y", "NUL"), ("x\ud800y", "lone surrogate")],
    ids=["nul", "lone-surrogate"],
)
def test_a_comment_the_store_cannot_keep_is_a_422_with_an_escaped_excerpt(
    monitor: MonitorEnv, op: httpx.Client, comment: str, what: str
) -> None:
    alert_id = open_alert_id(monitor)
    before = event_count(monitor, alert_id)
    response = post_json_text(op, f"acknowledge-alert/{alert_id}", json.dumps({"comment": comment}))
    error = assert_422_naming(response, ["body", "comment"])
    assert error["input"] == repr(comment)[1:-1]  # "x\\x00y", "x\\ud800y": escaped, encodable
    assert what.split()[-1].lower() in error["msg"].lower()
    assert event_count(monitor, alert_id) == before
    with monitor.store.connect() as conn:
        assert conn.execute(sa.select(alerts.c.state).where(alerts.c.id == alert_id)).scalar_one() == "open"


# --------------------------------------------------------------------------- property-based

EXTREME_INTS = st.sampled_from([-(2**63) - 1, -(2**63), -1, 0, 2**31, 2**63 - 1, 2**63, 10**30])
EXTREME_DATES = st.sampled_from(["0001-01-01", "1969-12-31", "9999-12-31", "10000-01-01", "2024-02-30", "0000-00-00"])
HOSTILE_TEXT = st.one_of(
    st.text(st.characters(exclude_categories=()), max_size=40),  # any code point, NUL and lone surrogates too
    st.sampled_from(["\x00", "a\x00b", "x\ud800y", "\udfff", "%", "_", "\\", "' OR 1=1 --", "=1", "\u202e"]),
    st.integers(min_value=1_000, max_value=12_000).map(lambda n: "m" * n),  # beyond the URL line limit
)
PARAM_VALUE = st.one_of(HOSTILE_TEXT, EXTREME_INTS.map(str), EXTREME_DATES)
GET_PARAMS = {
    "active-alerts": ["workflow"],
    "batch-timeline": ["workflow", "date"],
    "batch-health": ["workflow", "date", "days"],
    "batch-logs": ["workflow", "batch_code", "status", "date_from", "date_to", "q", "sort", "order", "limit", "offset"],
}


def encode_query(values: dict[str, str]) -> str:
    """Percent-encode each value's UTF-8 bytes, lone surrogates as the bytes a careless client sends."""
    return "&".join(f"{k}={quote(v.encode('utf-8', 'surrogatepass'), safe='')}" for k, v in values.items())


@settings(max_examples=150, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_no_query_of_any_read_endpoint_gives_a_server_error(monitor_session: MonitorEnv, data: st.DataObject) -> None:
    path = data.draw(st.sampled_from([*GET_PARAMS, "alerts/{id}", "batch-logs?format=csv"]))
    if path == "alerts/{id}":
        target, query = f"alerts/{quote(data.draw(PARAM_VALUE).encode('utf-8', 'surrogatepass'), safe='')}", ""
    else:
        names = GET_PARAMS[path.split("?")[0]]
        picked = data.draw(st.lists(st.sampled_from(names), min_size=1, max_size=3, unique=True))
        target, query = path, encode_query({n: data.draw(PARAM_VALUE) for n in picked})
    with monitor_session.server.client("op1") as client:
        response = raw_query(client, target, query) if query else client.get(target)
    assert response.status_code < 500, (target, query[:200], response.status_code, response.text[:300])
    if response.status_code == 422:
        assert len(response.content) < SHORT_REPLY
        assert all(e["loc"] for e in response.json()["detail"])
