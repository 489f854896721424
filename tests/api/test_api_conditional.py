"""batch-timeline, batch-health and active-alerts are kept per store revision and sent with an ETag: a page that
asks again with If-None-Match gets 304 while nothing changed, and the new body as soon as a tick
or an operator changed what it shows."""

from __future__ import annotations

import datetime as dt

import httpx
import pytest
import sqlalchemy as sa
from tests.support.monitor_env import MonitorEnv

from batch_monitor.api.schemas import HealthResponse
from batch_monitor.store import repository
from batch_monitor.store.schema import alerts, evaluations, workflow_config

pytestmark = pytest.mark.e2e

DAY = {"workflow": "dpdc_ami", "date": "2024-03-12"}


def failed_alert(monitor: MonitorEnv) -> int:
    with monitor.store.connect() as conn:
        query = sa.select(alerts.c.id).where(alerts.c.kind == "FAILED", alerts.c.business_date == DAY["date"])
        return int(conn.execute(query).scalar_one())


def the_failure(body: dict) -> dict:  # type: ignore[type-arg]
    prepay = next(s for s in body["steps"] if s["step_id"] == "C1-PPBTR")
    return next(a for a in prepay["alerts"] if a["kind"] == "FAILED")  # type: ignore[no-any-return]


def again(client: httpx.Client, path: str, etag: str, **params: str) -> httpx.Response:
    return client.get(path, params=params, headers={"If-None-Match": etag})


@pytest.mark.parametrize("path", ["batch-timeline", "batch-health"])
def test_an_unchanged_day_answers_304_without_a_body_to_its_etag(viewer: httpx.Client, path: str) -> None:
    first = viewer.get(path, params=DAY)
    assert first.status_code == 200
    etag = first.headers["etag"]
    assert etag.startswith('"') and etag.endswith('"')
    assert first.headers["cache-control"] == "private, no-cache"
    assert first.headers["content-type"] == "application/json"

    unchanged = again(viewer, path, etag, **DAY)
    assert (unchanged.status_code, unchanged.content, unchanged.headers["etag"]) == (304, b"", etag)
    assert again(viewer, path, f'W/{etag}, "other"', **DAY).status_code == 304  # a list, a weak tag
    assert again(viewer, path, '"not-this-one"', **DAY).json() == first.json()
    assert viewer.get(path, params=DAY).headers["etag"] == etag  # the same body has the same tag


def test_another_day_or_workflow_has_its_own_tag(viewer: httpx.Client) -> None:
    day = viewer.get("batch-timeline", params=DAY)
    other = again(viewer, "batch-timeline", day.headers["etag"], workflow="dpdc_ami", date="2024-03-11")
    assert other.status_code == 200
    assert other.json()["business_date"] == "2024-03-11"


def test_an_acknowledgement_changes_the_timeline_at_once(monitor: MonitorEnv, op: httpx.Client) -> None:
    before = op.get("batch-timeline", params=DAY)
    assert the_failure(before.json())["state"] == "open"
    failed = failed_alert(monitor)
    assert op.post(f"acknowledge-alert/{failed}", json={"comment": "on it"}).status_code == 200

    after = again(op, "batch-timeline", before.headers["etag"], **DAY)
    assert after.status_code == 200
    alert = the_failure(after.json())
    assert (alert["state"], alert["acknowledged_by"], alert["ack_comment"]) == ("acknowledged", "op1", "on it")
    assert after.headers["etag"] != before.headers["etag"]
    assert again(op, "batch-timeline", after.headers["etag"], **DAY).status_code == 304


def test_a_resolution_changes_the_health_s_active_alerts(monitor: MonitorEnv, admin: httpx.Client) -> None:
    before = admin.get("batch-health", params=DAY)
    active = before.json()["active_alerts"]
    assert active >= 1
    assert admin.post(f"alerts/{failed_alert(monitor)}/resolve", json={}).status_code == 200

    after = again(admin, "batch-health", before.headers["etag"], **DAY)
    assert after.status_code == 200
    assert after.json()["active_alerts"] == active - 1


def test_a_silence_marks_the_kept_timeline_and_its_end_unmarks_it(op: httpx.Client) -> None:
    plain = op.get("batch-timeline", params=DAY)
    assert the_failure(plain.json())["silenced"] is None
    ends = dt.datetime.now(dt.UTC) + dt.timedelta(hours=2)
    body = {"workflow": "dpdc_ami", "step": "C1-PPBTR", "ends_at": ends.isoformat(), "comment": "planned rerun"}
    created = op.post("silences", json=body).json()["silence"]

    silenced = again(op, "batch-timeline", plain.headers["etag"], **DAY)
    assert silenced.status_code == 200
    assert the_failure(silenced.json())["silence_id"] == created["id"]
    assert "by op1: planned rerun" in the_failure(silenced.json())["silenced"]

    assert op.delete(f"silences/{created['id']}").status_code == 200
    ended = again(op, "batch-timeline", silenced.headers["etag"], **DAY)
    assert ended.status_code == 200
    assert ended.json() == plain.json() and ended.headers["etag"] == plain.headers["etag"]


def test_the_active_alerts_answer_304_until_a_silence_or_an_acknowledgement_changes_them(op: httpx.Client) -> None:
    only = {"workflow": "dpdc_ami"}
    first = op.get("active-alerts", params=only)
    assert first.status_code == 200 and first.headers["cache-control"] == "private, no-cache"
    unchanged = again(op, "active-alerts", first.headers["etag"], **only)
    assert (unchanged.status_code, unchanged.content) == (304, b"")

    target = next(a for a in first.json()["alerts"] if a["state"] == "open" and a["step_id"] != "_chain")
    ends = dt.datetime.now(dt.UTC) + dt.timedelta(hours=2)
    body = {"workflow": "dpdc_ami", "step": target["step_id"], "ends_at": ends.isoformat(), "comment": "rerun"}
    created = op.post("silences", json=body).json()["silence"]
    silenced = again(op, "active-alerts", first.headers["etag"], **only)
    assert silenced.status_code == 200
    marked = next(a for a in silenced.json()["alerts"] if a["id"] == target["id"])
    assert marked["silence_id"] == created["id"] and "by op1: rerun" in marked["silenced"]
    assert op.delete(f"silences/{created['id']}").status_code == 200
    unmarked = again(op, "active-alerts", silenced.headers["etag"], **only)
    assert unmarked.json() == first.json() and unmarked.headers["etag"] == first.headers["etag"]

    assert op.post(f"acknowledge-alert/{target['id']}", json={"comment": "seen"}).status_code == 200
    acknowledged = again(op, "active-alerts", first.headers["etag"], **only)
    assert acknowledged.status_code == 200
    assert acknowledged.json()["acknowledged"] == first.json()["acknowledged"] + 1
    assert next(a for a in acknowledged.json()["alerts"] if a["id"] == target["id"])["state"] == "acknowledged"


def test_a_tick_that_judges_the_day_again_is_shown_at_once(monitor: MonitorEnv, viewer: httpx.Client) -> None:
    before = viewer.get("batch-timeline", params=DAY)
    e = evaluations
    with monitor.store.begin() as conn:  # as persist does: the day's evaluation saved again, newer
        where = (e.c.workflow_id == DAY["workflow"], e.c.business_date == dt.date.fromisoformat(DAY["date"]))
        stored = repository.load_evaluation(conn, DAY["workflow"], dt.date.fromisoformat(DAY["date"]))
        assert stored is not None
        again_judged = stored.model_copy(update={"no_run_reason": "judged again"})
        conn.execute(sa.update(e).where(*where).values(**repository.evaluation_values(again_judged)))

    after = again(viewer, "batch-timeline", before.headers["etag"], **DAY)
    assert after.status_code == 200
    assert after.json()["no_run_reason"] == "judged again"


def test_a_re_deploy_that_renames_the_workflow_is_shown_at_once(monitor: MonitorEnv, viewer: httpx.Client) -> None:
    before = viewer.get("batch-timeline", params=DAY)
    assert before.json()["workflow_name"] != "DPDC renamed"
    w = workflow_config
    with monitor.store.begin() as conn:  # as a deploy's config sync does: the name is the YAML's
        old = conn.execute(sa.select(w.c.workflow_name).where(w.c.workflow_id == DAY["workflow"])).scalars().first()
        conn.execute(sa.update(w).where(w.c.workflow_id == DAY["workflow"]).values(workflow_name="DPDC renamed"))
    try:
        after = again(viewer, "batch-timeline", before.headers["etag"], **DAY)
        assert after.status_code == 200
        assert after.json()["workflow_name"] == "DPDC renamed"
    finally:
        with monitor.store.begin() as conn:
            conn.execute(sa.update(w).where(w.c.workflow_id == DAY["workflow"]).values(workflow_name=old))
    assert viewer.get("batch-timeline", params=DAY).json() == before.json()


def test_an_unknown_workflow_is_still_422_whatever_the_tag(viewer: httpx.Client) -> None:
    response = viewer.get("batch-timeline", params={"workflow": "nope"}, headers={"If-None-Match": "*"})
    assert response.status_code == 422


def test_the_timeline_comes_gzip_encoded_to_a_client_that_accepts_it_and_plain_otherwise(viewer: httpx.Client) -> None:
    zipped = viewer.get("batch-timeline", params=DAY, headers={"Accept-Encoding": "gzip"})
    plain = viewer.get("batch-timeline", params=DAY, headers={"Accept-Encoding": "identity"})
    assert zipped.headers["content-encoding"] == "gzip" and "content-encoding" not in plain.headers
    assert zipped.headers["vary"] == plain.headers["vary"] == "Accept-Encoding"  # said once
    assert zipped.json() == plain.json()
    assert zipped.headers["etag"] != plain.headers["etag"]
    for tag in (zipped.headers["etag"], plain.headers["etag"]):  # the same content either way
        assert again(viewer, "batch-timeline", tag, **DAY).status_code == 304


def test_today_s_health_comes_gzip_encoded_with_the_clock_s_fields_of_each_request(viewer: httpx.Client) -> None:
    zipped = viewer.get("batch-health", params={"workflow": "dpdc_ami"}, headers={"Accept-Encoding": "gzip"})
    plain = viewer.get("batch-health", params={"workflow": "dpdc_ami"}, headers={"Accept-Encoding": "identity"})
    assert zipped.headers["content-encoding"] == "gzip" and "content-encoding" not in plain.headers
    first, second = zipped.json(), plain.json()
    assert first["reference_time"] < second["reference_time"]  # today: the reference is the request's now
    assert {k: v for k, v in first.items() if k != "reference_time"} == {
        k: v for k, v in second.items() if k != "reference_time"
    }
    assert list(first) == list(second) == list(HealthResponse.model_fields)  # the schema's order, both ways
