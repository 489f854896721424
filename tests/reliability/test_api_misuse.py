"""The plugin's API against fuzzing, SQL injection and misuse, on the real `airflow api-server`
(tests/api's session server over the simulated store, users viewer1/op1/admin1)."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections import Counter
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import FailureGroup, not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from tests.api.monitor_env import AS_OF, MonitorEnv, workflow

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
    loaded = schemathesis.openapi.from_url(f"{base}/api/v1/openapi.json", timeout=30)
    reliability.tried(
        f"schemathesis {schemathesis.__version__}: {EXAMPLES} generated requests per operation and mode "
        "(valid and invalid data: paths, queries, bodies, content types) as op1, for every operation of the "
        "served OpenAPI; checks: no 5xx, status code documented, content type and body match the schema"
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
        "CC&B (Airflow connection 'ccb_oracle') did not answer for 9 min: OperationalError: Connection refused",
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
