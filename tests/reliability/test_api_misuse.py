"""The plugin's API against fuzzing, SQL injection and misuse, on the real `airflow api-server`
(tests/api's session server over the simulated store, users viewer1/op1/admin1)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import threading
import time
from collections import Counter
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import FailureGroup, not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from tests.support.monitor_env import AS_OF, MonitorEnv, workflow

from batch_monitor import pipeline
from batch_monitor.store import schema

from .conftest import Case
from .support import store_digest

pytestmark = pytest.mark.e2e

AREA = "Misuse: API fuzzing, SQL injection, authentication, secrets"
API = "/batch-monitor/api/v1"
EXAMPLES = 60  # per operation and generation mode (positive, negative): bounded, deterministic


def spec(monitor: MonitorEnv) -> dict[str, Any]:
    response = httpx.get(f"{monitor.server.base_url}{API}/openapi.json", timeout=30)
    assert response.status_code == 200
    return dict(response.json())


def operations(monitor: MonitorEnv) -> list[tuple[str, str]]:
    """(method, path) of every operation the plugin's OpenAPI lists."""
    return [(m.upper(), p) for p, ops in spec(monitor)["paths"].items() for m in ops]


def concrete(path: str, alert_id: int = 1) -> str:
    return path.replace("{alert_id}", str(alert_id)).removeprefix("/api/v1/")


def test_fuzzing_every_operation_from_its_openapi_gives_no_server_error_and_schema_conforming_answers(
    clean_monitor: MonitorEnv, reliability: Case
) -> None:
    import schemathesis

    monitor = clean_monitor
    base = f"{monitor.server.base_url}/batch-monitor"
    auth = {"Authorization": f"Bearer {monitor.server.token('op1')}"}
    # dates from the whole calendar, its first and last days (which overflowed a window) often
    edges = st.sampled_from([dt.date.min, dt.date.max, dt.date(1969, 12, 31), dt.date(3000, 1, 1)])
    schemathesis.openapi.format("date", st.one_of(edges, st.dates()).map(dt.date.isoformat))
    loaded = schemathesis.openapi.from_url(f"{base}/api/v1/openapi.json", timeout=30)
    reliability.tried(
        f"schemathesis {schemathesis.__version__}: {EXAMPLES} generated requests per operation and mode "
        "(valid and invalid data: paths, queries, bodies, content types; dates anywhere in 0001–9999, its first "
        "and last days often) as op1, for every operation of the served OpenAPI; checks: no 5xx, status code "
        "documented, content type and body match the schema"
    )
    checks = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
    statuses: dict[str, Counter[int]] = {}
    failures: list[str] = []
    for result in loaded.get_all_operations():
        operation = result.ok()
        seen = statuses.setdefault(f"{operation.method.upper()} {operation.path}", Counter())
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            fuzz(operation.as_strategy(generation_mode=mode), base, auth, checks, seen, failures)
    assert failures == [], "\n".join(failures[:8])
    assert all(code < 500 for seen in statuses.values() for code in seen)
    total = sum(sum(c.values()) for c in statuses.values())
    reliability.observed(
        f"{total} requests over {len(statuses)} operations, 0 server errors, 0 schema violations; statuses: "
        + "; ".join(f"{op} {dict(sorted(c.items()))}" for op, c in statuses.items())
    )


def fuzz(
    strategy: Any, base: str, auth: dict[str, str], checks: list[Any], seen: Counter[int], failures: list[str]
) -> None:
    """Send EXAMPLES cases drawn from ``strategy``; count the statuses and collect check failures."""

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def call(case: Any) -> None:
        response = case.call(base_url=base, headers=auth, timeout=30)
        seen[response.status_code] += 1
        try:
            case.validate_response(response, checks=checks)
        except FailureGroup as exc:  # collected, reported below with the request that caused it
            failures.append(f"{case.method} {case.formatted_path} {case.query}: {exc}"[:800])

    call()


INJECTIONS = [
    "' OR '1'='1",
    "'; DROP TABLE batch_monitoring_alerts; --",
    "1; SELECT pg_sleep(5) --",
    "x' UNION SELECT NULL, version() --",
    '" OR ""="',
    "%' OR 1=1 --",
    "\\'; DELETE FROM batch_execution_logs; --",
]


def test_sql_injection_in_every_filter_is_only_ever_data(clean_monitor: MonitorEnv, reliability: Case) -> None:
    monitor = clean_monitor
    gets = [(m, p) for m, p in operations(monitor) if m == "GET"]
    params = {
        p: [x["name"] for x in spec(monitor)["paths"][p]["get"].get("parameters", []) if x["in"] == "query"]
        for _, p in gets
    }
    reliability.tried(
        f"{len(INJECTIONS)} injection strings (quote breaking, stacked DROP/DELETE, UNION, pg_sleep) in every query "
        f"parameter of every GET operation ({sum(map(len, params.values()))} parameters), as the alert id in "
        "the path, and as an acknowledgement comment"
    )
    before = store_digest(monitor.store)
    statuses: Counter[int] = Counter()
    slowest = 0.0
    with monitor.server.client("op1") as client:
        for path, names in params.items():
            for name in names:
                for payload in INJECTIONS:
                    began = time.monotonic()
                    response = client.get(concrete(path), params={name: payload})
                    slowest = max(slowest, time.monotonic() - began)
                    statuses[response.status_code] += 1
                    assert response.status_code in (200, 422), (path, name, payload, response.text)
                    if response.status_code == 200 and name == "q":
                        assert response.json()["total"] == 0  # searched for as text: no run's error has it
        for payload in INJECTIONS:
            response = client.get(f"alerts/{payload}")
            statuses[response.status_code] += 1
            assert response.status_code in (404, 422)
        assert store_digest(monitor.store) == before
        with monitor.store.connect() as conn:
            alert_id = (
                conn.execute(
                    sa.select(schema.alerts.c.id).where(schema.alerts.c.state == "open").order_by(schema.alerts.c.id)
                )
                .scalars()
                .first()
            )
        response = client.post(f"acknowledge-alert/{alert_id}", json={"comment": INJECTIONS[1]})
        assert response.status_code == 200
        events = client.get(f"alerts/{alert_id}").json()["events"]
    assert events[-1]["comment"] == INJECTIONS[1]
    assert slowest < 5
    with monitor.store.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(schema.alerts)).scalar_one() > 0
    reliability.observed(
        f"{sum(statuses.values())} requests answered {dict(sorted(statuses.items()))} (422 where the value is not "
        f"valid for its parameter, else 200 with no match); slowest {slowest * 1000:.0f} ms (pg_sleep never ran); "
        "every table unchanged (fingerprint of all rows equal); the comment was stored and shown verbatim"
    )


def test_every_operation_refuses_a_request_without_a_token_with_401(
    clean_monitor: MonitorEnv, reliability: Case
) -> None:
    monitor = clean_monitor
    ops = operations(monitor)
    reliability.tried(f"every operation of the OpenAPI ({len(ops)}) without a token, and with a forged one")
    missing: Counter[int] = Counter()
    forged: Counter[int] = Counter()
    with monitor.server.client(None) as anonymous:
        for method, path in ops:
            response = anonymous.request(method, concrete(path), json={})
            missing[response.status_code] += 1
            assert response.status_code == 401, (method, path, response.text)
            response = anonymous.request(method, concrete(path), json={}, headers={"Authorization": "Bearer x.y.z"})
            forged[response.status_code] += 1
            assert response.status_code in (401, 403) and "user" not in response.text, response.text
    reliability.observed(
        f"without a token: {missing[401]} × 401 ({', '.join(f'{m} {p}' for m, p in ops)}); with a forged token: "
        f"{dict(forged)} (Airflow's own JWT check answers 403 “Invalid JWT token”), no data in any answer"
    )


def test_a_viewer_cannot_acknowledge_or_resolve_and_nothing_changes(
    clean_monitor: MonitorEnv, reliability: Case
) -> None:
    monitor = clean_monitor
    posts = [(m, p) for m, p in operations(monitor) if m == "POST"]
    reliability.tried(f"viewer1 (role viewer) calls every state-changing operation ({len(posts)}) on an open alert")
    with monitor.store.connect() as conn:
        alert_id = (
            conn.execute(
                sa.select(schema.alerts.c.id).where(schema.alerts.c.state == "open").order_by(schema.alerts.c.id)
            )
            .scalars()
            .first()
        )
    before = store_digest(monitor.store)
    details = []
    with monitor.server.client("viewer1") as viewer:
        for method, path in posts:
            response = viewer.request(method, concrete(path, alert_id), json={"comment": "mine now"})
            assert response.status_code == 403
            details.append(response.json()["detail"])
    assert store_digest(monitor.store) == before
    reliability.observed(f"all 403, store unchanged; e.g. “{details[0]}”")


@pytest.mark.parametrize(
    ("content_type", "content"),
    [
        ("application/x-www-form-urlencoded", "comment=from+a+cross-site+form"),
        ("multipart/form-data; boundary=x", '--x\r\nContent-Disposition: form-data; name="comment"\r\n\r\nhi\r\n--x--'),
        ("text/plain", '{"comment": "text/plain needs no CORS preflight"}'),
        (None, ""),
    ],
    ids=["form-urlencoded", "multipart", "text-plain", "no-content-type"],
)
def test_a_state_changing_post_that_is_not_json_is_refused_even_with_the_session_cookie(
    content_type: str | None, content: str, clean_monitor: MonitorEnv, reliability: Case
) -> None:
    monitor = clean_monitor
    posts = [(m, p) for m, p in operations(monitor) if m == "POST"]
    reliability.tried(
        f"every state-changing operation ({len(posts)}) with the UI's _token cookie of op1 and Content-Type "
        f"{content_type or '(none)'}, as a cross-site form or fetch would send it"
    )
    with monitor.store.connect() as conn:
        alert_id = (
            conn.execute(
                sa.select(schema.alerts.c.id).where(schema.alerts.c.state == "open").order_by(schema.alerts.c.id)
            )
            .scalars()
            .first()
        )
    before = store_digest(monitor.store)
    codes = []
    with httpx.Client(base_url=f"{monitor.server.base_url}{API}/", timeout=30) as browser:
        browser.cookies.set("_token", monitor.server.token("op1"))
        for method, path in posts:
            headers = {"Content-Type": content_type} if content_type else {}
            response = browser.request(method, concrete(path, alert_id), content=content, headers=headers)
            codes.append(response.status_code)
    assert set(codes) == {415}, codes
    assert store_digest(monitor.store) == before
    reliability.observed(f"{len(codes)} × 415 Unsupported Media Type; store unchanged")


def test_a_source_outage_shows_as_an_active_alert_through_the_api(clean_monitor: MonitorEnv, reliability: Case) -> None:
    monitor = clean_monitor
    dpdc = workflow("dpdc_ami")
    as_of = AS_OF + dt.timedelta(minutes=15)
    reliability.tried(
        "the DAG's failure callback records that CC&B did not answer (pipeline.record_source_unavailable) in "
        "the store the api-server reads; GET active-alerts as viewer1"
    )
    pipeline.record_source_unavailable(
        monitor.store,
        dpdc,
        as_of,
        "CC&B (Airflow connection 'ccb_oracle') did not answer for 9m: OperationalError: Connection refused",
        recipients=[],
        page_url_base="http://airflow.test",
        now=as_of,
    )
    with monitor.server.client("viewer1") as viewer:
        body = viewer.get("active-alerts", params={"workflow": "dpdc_ami"}).json()
    [outage] = [a for a in body["alerts"] if a["kind"] == "SOURCE_UNAVAILABLE"]
    assert (outage["severity"], outage["step_id"], outage["state"]) == ("CRITICAL", "_chain", "open")
    assert body["by_kind"]["SOURCE_UNAVAILABLE"] == 1
    reliability.observed(
        f"active-alerts lists it: {outage['severity']} {outage['kind']} “{outage['title']}” "
        f"({body['total']} active alerts in all)"
    )


def test_the_api_never_shows_the_store_connection_even_when_the_store_is_down(
    clean_monitor: MonitorEnv, pg_admin_url: str, reliability: Case
) -> None:
    monitor = clean_monitor
    url = sa.make_url(monitor.store_url)
    secrets = [
        url.render_as_string(hide_password=False),
        url.set(drivername="postgresql").render_as_string(hide_password=False),
        str(url.database),
        f"{url.username}@",
    ]
    reliability.tried(
        "every GET operation as op1, then the same with the store database refusing connections (open ones "
        "killed); answers and the api-server's log searched for the store's connection URI, database name "
        "and login"
    )
    answers: list[httpx.Response] = []
    gets = [p for m, p in operations(monitor) if m == "GET"]
    with monitor.server.client("op1") as client:
        answers += [client.get(concrete(p)) for p in gets]
        name = url.database
        admin = sa.create_engine(pg_admin_url, isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as conn:
                conn.execute(sa.text(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false'))
                conn.execute(
                    sa.text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"), {"n": name}
                )
            down = [client.get(concrete(p)) for p in gets]
        finally:
            with admin.connect() as conn:
                conn.execute(sa.text(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true'))
            admin.dispose()
        monitor.store.dispose()  # its pooled connections were killed with the others
        back = client.get("workflows")
    assert {r.status_code for r in answers} == {200}
    assert {r.status_code for r in down} == {503} and back.status_code == 200
    seen = "".join(r.text + str(r.headers) for r in [*answers, *down]) + monitor.server.log_path.read_text(
        errors="replace"
    )
    leaks = [s for s in secrets if s in seen]
    assert leaks == []
    reliability.observed(
        f"{len(answers)} answers 200, then {len(down)} × 503 “{down[0].json()['detail']}”, then 200 again; the "
        f"URI, database name and login appear in none of them nor in {len(seen):,} characters of answers and "
        "api-server log"
    )


def test_two_people_acknowledging_one_alert_at_once_one_wins_the_other_is_told_and_both_are_recorded(
    clean_monitor: MonitorEnv, reliability: Case
) -> None:
    monitor = clean_monitor
    rounds = 5
    reliability.tried(
        f"op1 and admin1 post acknowledge-alert for the same open alert at the same instant (threads released "
        f"by one barrier), {rounds} rounds (the alert put back to open between rounds)"
    )
    with monitor.store.connect() as conn:
        alert_id = (
            conn.execute(
                sa.select(schema.alerts.c.id).where(schema.alerts.c.state == "open").order_by(schema.alerts.c.id)
            )
            .scalars()
            .first()
        )
    winners: Counter[str] = Counter()
    told: list[str] = []
    for _ in range(rounds):
        monitor.reset()
        barrier = threading.Barrier(2)
        results: dict[str, httpx.Response] = {}

        def ack(user: str, barrier: threading.Barrier = barrier, results: dict[str, httpx.Response] = results) -> None:
            with monitor.server.client(user) as client:
                barrier.wait()
                results[user] = client.post(f"acknowledge-alert/{alert_id}", json={"comment": f"mine ({user})"})

        threads = [threading.Thread(target=ack, args=(u,)) for u in ("op1", "admin1")]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert {r.status_code for r in results.values()} == {200}
        changed = [u for u, r in results.items() if r.json()["changed"]]
        assert len(changed) == 1
        loser = next(u for u in results if u not in changed)
        assert f"already acknowledged by {changed[0]}" in results[loser].json()["message"]
        with monitor.server.client("viewer1") as viewer:
            events = viewer.get(f"alerts/{alert_id}").json()["events"]
        tail = [(e["event"], e["actor"]) for e in events[-2:]]
        assert tail == [("acknowledged", changed[0]), ("ack_rejected", loser)]
        winners[changed[0]] += 1
        told.append(results[loser].json()["message"])
    reliability.observed(
        f"each round exactly one 'changed: true' (winners {dict(winners)}); the other got 200 'changed: false' "
        f"and “{told[0]}”; the alert's history shows 'acknowledged' by the winner then 'ack_rejected' by the other"
    )


# --------------------------------------------------------------------------- hostile input (issue 15)

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
SHORT_REPLY = 2_000  # bytes: a refusal holds at most a short excerpt of what was sent
BIG = 2**63  # one past PostgreSQL's bigint


def open_alert(monitor: MonitorEnv) -> int:
    with monitor.store.connect() as conn:
        return int(
            conn.execute(
                sa.select(schema.alerts.c.id).where(schema.alerts.c.state == "open").order_by(schema.alerts.c.id)
            )
            .scalars()
            .first()
            or 0
        )


def send_json_text(client: httpx.Client, path: str, text: str) -> httpx.Response:
    return client.post(path, content=text.encode("utf-8"), headers={"Content-Type": "application/json"})


def test_the_inputs_that_gave_500_are_each_a_short_422_naming_the_field(
    clean_monitor: MonitorEnv, reliability: Case
) -> None:
    monitor = clean_monitor
    alert_id = open_alert(monitor)
    gets = [
        ("batch-timeline", "workflow=dpdc_ami&date=9999-12-31", ["query", "date"]),
        ("batch-timeline", "workflow=dpdc_ami&date=0001-01-01", ["query", "date"]),
        ("batch-health", "workflow=dpdc_ami&date=9999-12-31", ["query", "date"]),
        ("batch-health", "workflow=dpdc_ami&date=0001-01-01", ["query", "date"]),
        ("batch-logs", "date_from=0001-01-01", ["query", "date_from"]),
        ("batch-logs", "date_to=9999-12-31", ["query", "date_to"]),
        ("batch-logs", f"offset={BIG}", ["query", "offset"]),
        ("batch-logs", "q=ORA%00", ["query", "q"]),
        ("batch-logs", "batch_code=C1-PPBTR%00", ["query", "batch_code"]),
        ("batch-logs", "workflow=dpdc_ami%00", ["query", "workflow"]),
        (f"alerts/{BIG}", "", ["path", "alert_id"]),
    ]
    posts = [
        (f"acknowledge-alert/{BIG}", "{}", ["path", "alert_id"]),
        (f"alerts/{BIG}/resolve", "{}", ["path", "alert_id"]),
        *[
            (path.format(alert_id), json.dumps({"comment": comment}), ["body", "comment"])
            for path in ("acknowledge-alert/{}", "alerts/{}/resolve")
            for comment in ("x\x00y", "x\ud800y")
        ],
    ]
    reliability.tried(
        f"{len(gets) + len(posts)} inputs as op1 that answered 500 before: dates 0001-01-01 and 9999-12-31 in "
        "batch-timeline, batch-health and batch-logs; offset and alert ids of 2^63; %00 in q, batch_code and "
        'workflow; a comment holding "\\u0000" or a lone surrogate "\\ud800" on acknowledge and resolve'
    )
    before = store_digest(monitor.store)
    answers: list[tuple[httpx.Response, list[str]]] = []
    with monitor.server.client("op1") as client:
        for path, query, loc in gets:
            url = httpx.URL(str(client.base_url.join(path)), query=query.encode("ascii"))
            answers.append((client.get(url), loc))
        for path, text, loc in posts:
            answers.append((send_json_text(client, path, text), loc))
    assert [r.status_code for r, _ in answers] == [422] * len(answers), [r.text[:200] for r, _ in answers]
    assert all(loc in [e["loc"] for e in r.json()["detail"]] for r, loc in answers)
    assert max(len(r.content) for r, _ in answers) < SHORT_REPLY
    assert store_digest(monitor.store) == before
    surrogate = next(r for r, _ in answers if "ud800" in r.text).json()["detail"][0]
    reliability.observed(
        f"{len(answers)} × 422, each naming its field ({', '.join(sorted({'.'.join(loc) for _, loc in answers}))}); "
        f"largest reply {max(len(r.content) for r, _ in answers)} bytes; store unchanged; e.g. the surrogate comment: "
        f"“{surrogate['msg']}”, input shown as {json.dumps(surrogate['input'])}"
    )


def test_a_50_mb_comment_is_refused_with_413_before_it_is_read_and_nothing_is_echoed(
    clean_monitor: MonitorEnv, reliability: Case
) -> None:
    import psutil

    monitor = clean_monitor
    alert_id = open_alert(monitor)
    size = 50 * 1024 * 1024
    reliability.tried(
        "op1 posts a 50 MB comment to acknowledge-alert, then one that is 70 KB and one of 60,000 characters "
        "(over the 2,000-character limit, under the 64 KiB body limit); the api-server's memory (RSS of its "
        "process tree) read before and after"
    )

    def rss() -> int:
        root = psutil.Process(monitor.server.process.pid)
        return sum(p.memory_info().rss for p in [root, *root.children(recursive=True)])

    before = rss()
    with monitor.server.client("op1") as client:
        huge = send_json_text(client, f"acknowledge-alert/{alert_id}", json.dumps({"comment": "x" * size}))
        over = send_json_text(client, f"acknowledge-alert/{alert_id}", json.dumps({"comment": "x" * 70_000}))
        long = client.post(f"acknowledge-alert/{alert_id}", json={"comment": "y" * 60_000})
    grown = rss() - before
    assert (huge.status_code, over.status_code, long.status_code) == (413, 413, 422)
    assert max(len(huge.content), len(over.content), len(long.content)) < SHORT_REPLY
    assert long.json()["detail"][0]["loc"] == ["body", "comment"]
    assert grown < size // 2  # the body was never held in memory
    with monitor.store.connect() as conn:
        state = conn.execute(sa.select(schema.alerts.c.state).where(schema.alerts.c.id == alert_id)).scalar_one()
    assert state == "open"
    reliability.observed(
        f"413 “{huge.json()['detail']}” ({len(huge.content)} bytes back) for 50 MB and for 70 KB; the 60,000-character "
        f"comment: 422 naming body.comment, {len(long.content)} bytes back (input shown as "
        f"“{long.json()['detail'][0]['input']}”); api-server memory {grown / 2**20:+.1f} MB; alert still open"
    )


def test_token_and_permission_are_checked_before_the_body_is_read(clean_monitor: MonitorEnv, reliability: Case) -> None:
    monitor = clean_monitor
    alert_id = open_alert(monitor)
    bodies = {
        "not JSON": "not json",
        "a forged user": '{"comment": "x", "user": "admin1"}',
        "a NUL": '{"comment": "x\\u0000"}',
        "200 KB": json.dumps({"comment": "x" * 200_000}),
    }
    paths = [f"acknowledge-alert/{alert_id}", f"alerts/{alert_id}/resolve"]
    reliability.tried(
        f"both state-changing operations with bad bodies ({', '.join(bodies)}): without a token, and as viewer1"
    )
    before = store_digest(monitor.store)
    seen: dict[str, Counter[int]] = {"anonymous": Counter(), "viewer1": Counter()}
    for who in seen:
        with monitor.server.client(None if who == "anonymous" else who) as client:
            for path in paths:
                for text in bodies.values():
                    seen[who][send_json_text(client, path, text).status_code] += 1
    assert seen == {"anonymous": Counter({401: 8}), "viewer1": Counter({403: 8})}
    assert store_digest(monitor.store) == before
    reliability.observed("without a token: 8 × 401; viewer1: 8 × 403 (no 413 or 422 first); store unchanged")


def test_csv_export_quotes_every_text_cell_that_starts_like_a_formula(
    clean_monitor: MonitorEnv, reliability: Case
) -> None:
    monitor = clean_monitor
    codes = ["=1", "@S", "-2", "+3"]
    reliability.tried(
        f"four stored runs get RUN_STATUS {', '.join(codes)} and an error text '=HYPERLINK(...)'; viewer1 "
        "exports batch-logs as CSV"
    )
    with monitor.store.connect() as conn:
        runs = conn.execute(
            sa.select(
                schema.execution_logs.c.id, schema.execution_logs.c.status_code, schema.execution_logs.c.error_text
            )
            .order_by(schema.execution_logs.c.id)
            .limit(len(codes))
        ).all()
    try:
        with monitor.store.begin() as conn:
            for (run_id, _code, _text), code in zip(runs, codes, strict=True):
                conn.execute(
                    sa.update(schema.execution_logs)
                    .where(schema.execution_logs.c.id == run_id)
                    .values(status_code=code, error_text='=HYPERLINK("http://evil.test")')
                )
        with monitor.server.client("viewer1") as viewer:
            response = viewer.get("batch-logs", params={"format": "csv"})
    finally:
        with monitor.store.begin() as conn:
            for run_id, code, text in runs:
                conn.execute(
                    sa.update(schema.execution_logs)
                    .where(schema.execution_logs.c.id == run_id)
                    .values(status_code=code, error_text=text)
                )
    assert response.status_code == 200
    rows = list(csv.DictReader(io.StringIO(response.text, newline="")))
    text_columns = ["workflow_id", "step_id", "batch_cd", "status", "status_code", "timezone", "error_text"]
    risky = [(r["batch_nbr"], c, r[c]) for r in rows for c in text_columns if r[c].startswith(FORMULA_START)]
    assert risky == []
    assert sorted(r["status_code"] for r in rows if r["status_code"].startswith("'")) == sorted(f"'{c}" for c in codes)
    reliability.observed(
        f"{len(rows)} rows: status codes written as {', '.join(sorted(f'{c!r}' for c in codes))} prefixed with ', "
        "the error text too; no text cell starts with = + - @ tab or CR"
    )


HOSTILE_EXAMPLES = 100  # per operation
HOSTILE_TEXT = st.one_of(
    st.text(st.characters(exclude_categories=()), max_size=30),  # any code point: NUL, lone surrogates, RTL marks
    st.sampled_from(["\x00", "x\ud800y", "\udfff", "' OR 1=1 --", "%", "\\", "=1", "1e400", "NaN", "-0"]),
    st.integers(-(2**70), 2**70).map(str),
    st.dates().map(dt.date.isoformat),  # 0001-01-01 .. 9999-12-31
    st.sampled_from(["10000-01-01", "2024-02-30", "0000-00-00"]),
    st.integers(1_000, 12_000).map(lambda n: "m" * n),  # up to the URL line limit
)
HOSTILE_BODY = st.one_of(
    HOSTILE_TEXT.map(lambda t: json.dumps({"comment": t})),
    st.dictionaries(HOSTILE_TEXT, HOSTILE_TEXT | st.integers() | st.floats() | st.none(), max_size=3).map(json.dumps),
    st.sampled_from(["", "null", "[]", "{", "[" * 30_000, '{"comment": 1' + "0" * 5_000 + "}"]),
    st.just(json.dumps({"comment": "c" * 1024 * 1024})),  # a megabyte
    HOSTILE_TEXT,
)


def test_hypothesis_hostile_values_in_every_parameter_and_body_give_no_server_error(
    clean_monitor: MonitorEnv, reliability: Case
) -> None:
    monitor = clean_monitor
    paths = spec(monitor)["paths"]
    reliability.tried(
        f"hypothesis {HOSTILE_EXAMPLES} requests per operation as op1, every operation of the OpenAPI: any subset of "
        "its parameters set to hostile values (NUL, lone surrogates, any Unicode, integers to ±2^70, dates 0001–9999 "
        "and impossible ones, strings up to 12,000 characters) and, for the POSTs, hostile JSON bodies (bad JSON, "
        "30,000-deep nesting, 5,000-digit numbers, extra keys, a 1 MB comment)"
    )
    statuses: dict[str, Counter[int]] = {}
    largest_refusal = 0
    with monitor.server.client("op1") as client:
        for path, ops in paths.items():
            for method, op in ops.items():
                seen = statuses.setdefault(f"{method.upper()} {path}", Counter())
                names = [p["name"] for p in op.get("parameters", []) if p["in"] == "query"]
                largest_refusal = max(largest_refusal, hostile_requests(client, method, path, names, seen))
    total = sum(sum(c.values()) for c in statuses.values())
    errors = sum(n for c in statuses.values() for code, n in c.items() if code >= 500)
    assert errors == 0, statuses
    assert largest_refusal < 4 * SHORT_REPLY
    reliability.observed(
        f"{total} requests over {len(statuses)} operations, {errors} responses ≥ 500; largest refusal "
        f"{largest_refusal} bytes; statuses: "
        + "; ".join(f"{op} {dict(sorted(c.items()))}" for op, c in statuses.items())
    )


def hostile_requests(client: httpx.Client, method: str, path: str, names: list[str], seen: Counter[int]) -> int:
    """Send HOSTILE_EXAMPLES requests drawn for one operation; count statuses; return the largest refusal."""
    largest = [0]

    @settings(
        max_examples=HOSTILE_EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(data=st.data())
    def call(data: st.DataObject) -> None:
        alert = data.draw(st.one_of(st.just("1"), HOSTILE_TEXT))
        target = path.removeprefix("/api/v1/").replace(
            "{alert_id}", quote(alert.encode("utf-8", "surrogatepass"), safe="")
        )
        picked = data.draw(st.lists(st.sampled_from(names), unique=True, max_size=3)) if names else []
        query = "&".join(
            f"{n}={quote(data.draw(HOSTILE_TEXT).encode('utf-8', 'surrogatepass'), safe='')}" for n in picked
        )
        url = httpx.URL(str(client.base_url.join(target)), query=query.encode("ascii"))
        if method == "post":
            body = data.draw(HOSTILE_BODY).encode("utf-8", "surrogatepass")
            response = client.post(url, content=body, headers={"Content-Type": "application/json"})
        else:
            response = client.get(url)
        seen[response.status_code] += 1
        assert response.status_code < 500, (method, target[:80], query[:200], response.text[:300])
        if response.status_code >= 400:
            largest[0] = max(largest[0], len(response.content))

    call()
    return largest[0]
