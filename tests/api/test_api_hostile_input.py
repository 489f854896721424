"""Hostile input on the real api-server: every refused value is a JSON 422 naming its field, never
a 500, and its reply holds only a short escaped excerpt of what was sent. Bodies are bounded (413)
and read only after the token and the permission were checked (401, 403 first)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.support.monitor_env import MonitorEnv

from batch_monitor.store.schema import alert_events, alerts

pytestmark = pytest.mark.e2e

BODY_LIMIT = 64 * 1024
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


def test_a_body_over_64_kib_is_refused_with_413_before_it_is_parsed(monitor: MonitorEnv, op: httpx.Client) -> None:
    alert_id = open_alert_id(monitor)
    for size in (BODY_LIMIT + 1, 5 * 1024 * 1024):
        text = json.dumps({"comment": "x" * size})
        response = post_json_text(op, f"acknowledge-alert/{alert_id}", text)
        assert response.status_code == 413, response.text[:300]
        assert "64 KiB" in response.json()["detail"]
        assert len(response.content) < SHORT_REPLY
    not_json = "{" * (BODY_LIMIT + 10)
    assert post_json_text(op, f"alerts/{alert_id}/resolve", not_json).status_code == 413
    # no alert to check the permission on: the body is never read, the id is what is wrong
    assert_422_naming(post_json_text(op, "acknowledge-alert/abc", not_json), ["path", "alert_id"])
    assert post_json_text(op, "alerts/999999/resolve", not_json).status_code == 404


def test_a_body_sent_in_chunks_without_a_length_is_still_cut_at_64_kib(monitor: MonitorEnv, op: httpx.Client) -> None:
    alert_id = open_alert_id(monitor)

    def chunks() -> Any:
        yield b'{"comment": "'
        for _ in range(100):
            yield b"x" * 4096
        yield b'"}'

    response = op.post(f"acknowledge-alert/{alert_id}", content=chunks(), headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    with monitor.store.connect() as conn:
        assert conn.execute(sa.select(alerts.c.state).where(alerts.c.id == alert_id)).scalar_one() == "open"


def test_a_comment_over_2000_characters_is_a_422_that_echoes_only_an_excerpt(
    monitor: MonitorEnv, op: httpx.Client
) -> None:
    alert_id = open_alert_id(monitor)
    response = op.post(f"acknowledge-alert/{alert_id}", json={"comment": "y" * 60_000})
    error = assert_422_naming(response, ["body", "comment"])
    assert error["input"].startswith("yyyy") and "60,000 characters" in error["input"]
    assert op.post(f"acknowledge-alert/{alert_id}", json={"comment": "z" * 2000}).status_code == 200


def test_bad_json_is_a_short_422_naming_the_body(monitor: MonitorEnv, op: httpx.Client) -> None:
    alert_id = open_alert_id(monitor)
    for text in ('{"comment": "unterminated', "[" * 50_000, '{"comment": 1' + "0" * 5000 + "}", "\udcff"):
        response = op.post(
            f"acknowledge-alert/{alert_id}",
            content=text.encode("utf-8", "surrogateescape"),
            headers={"Content-Type": "application/json"},
        )
        assert response.status_code == 422, (text[:20], response.text[:300])
        assert response.json()["detail"][0]["loc"][0] == "body"
        assert len(response.content) < SHORT_REPLY


def test_a_viewer_is_told_403_before_the_body_is_looked_at(monitor: MonitorEnv, viewer: httpx.Client) -> None:
    alert_id = open_alert_id(monitor)
    for text in ('{"comment": "x", "user": "admin1"}', "not json", json.dumps({"comment": "x" * 3000})):
        response = post_json_text(viewer, f"acknowledge-alert/{alert_id}", text)
        assert response.status_code == 403, response.text[:300]
    big = post_json_text(viewer, f"alerts/{alert_id}/resolve", json.dumps({"comment": "x" * 200_000}))
    assert big.status_code == 403


def test_without_a_token_bad_or_huge_json_is_a_401_first(monitor: MonitorEnv, anonymous: httpx.Client) -> None:
    alert_id = open_alert_id(monitor)
    for text in ("not json", '{"comment": "x\\u0000"}', json.dumps({"comment": "x" * 200_000})):
        for path in (f"acknowledge-alert/{alert_id}", f"alerts/{alert_id}/resolve"):
            response = post_json_text(anonymous, path, text)
            assert response.status_code == 401, (path, text[:20], response.text[:300])


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


BODY_VALUE = st.one_of(
    HOSTILE_TEXT,
    EXTREME_INTS,
    st.floats(allow_nan=True, allow_infinity=True),
    st.none(),
    st.lists(st.text(max_size=5), max_size=3),
    st.just("c" * (1024 * 1024)),  # a megabyte
)


@settings(max_examples=80, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(
    action=st.sampled_from(["acknowledge-alert/{id}", "alerts/{id}/resolve"]),
    user=st.sampled_from(["op1", "viewer1", None]),
    body=st.one_of(
        st.dictionaries(st.sampled_from(["comment", "user", "\x00", "x\ud800"]), BODY_VALUE, max_size=2),
        BODY_VALUE,
    ),
)
def test_no_action_body_gives_a_server_error_and_none_is_echoed_at_length(
    monitor_session: MonitorEnv, action: str, user: str | None, body: object
) -> None:
    monitor_session.reset()
    alert_id = open_alert_id(monitor_session)
    text = json.dumps(body)  # ensure_ascii: NUL as \\u0000, lone surrogates as \\ud800
    with monitor_session.server.client(user) as client:
        response = post_json_text(client, action.format(id=alert_id), text)
    assert response.status_code < 500, (action, user, text[:200], response.text[:300])
    if user is None:
        assert response.status_code == 401
    elif user == "viewer1":
        assert response.status_code == 403
    if response.status_code >= 400:
        assert len(response.content) < SHORT_REPLY
