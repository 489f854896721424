// Alerts grouped by incident, badges and the banner's count (static/js/incidents.js): node --test tests/js
import assert from "node:assert/strict";
import { test } from "node:test";

import {
  badges, consequenceText, endable, groupByIncident, incidentCounts, incidentText, localInputValue, scopeText,
} from "../../plugins/batch_monitor/api/static/js/incidents.js";

function alert(id, fields) {
  return { id, caused_by: null, reminders: 0, escalated_at: null, silenced: null, mail_held: false, ...fields };
}

test("a cause comes first with its consequences folded under it, in the API's order", () => {
  const failed = alert(1);
  const missed = alert(2, { caused_by: 1 });
  const chain = alert(3, { caused_by: 1 });
  const other = alert(4);
  const groups = groupByIncident([failed, other, missed, chain]);
  assert.deepEqual(groups.map((g) => [g.cause.id, g.consequences.map((c) => c.id)]), [[1, [2, 3]], [4, []]]);
});

test("a consequence listed before its cause still goes under it", () => {
  const groups = groupByIncident([alert(2, { caused_by: 1 }), alert(1)]);
  assert.deepEqual(groups.map((g) => [g.cause.id, g.consequences.map((c) => c.id)]), [[1, [2]]]);
});

test("a consequence whose cause is not shown (resolved) heads its own incident", () => {
  const groups = groupByIncident([alert(5, { caused_by: 1 }), alert(6, { caused_by: 1 })]);
  assert.deepEqual(groups.map((g) => g.cause.id), [5, 6]);
});

test("the banner counts incidents with the alerts in brackets", () => {
  const alerts = [alert(1), alert(2, { caused_by: 1 }), alert(3, { caused_by: 1 }), alert(4)];
  assert.deepEqual(incidentCounts(alerts), { incidents: 2, alerts: 4 });
  assert.equal(incidentText(incidentCounts(alerts)), "2 active incidents (4 alerts)");
  assert.equal(incidentText({ incidents: 1, alerts: 1 }), "1 active incident (1 alert)");
  assert.equal(consequenceText(1), "1 consequence");
  assert.equal(consequenceText(5), "5 consequences");
});

test("badges say silenced, how often it was reminded and whether it escalated", () => {
  assert.deepEqual(badges(alert(1)), []);
  const loud = alert(1, { reminders: 2, escalated_at: "2026-11-24T10:30:00Z" });
  assert.deepEqual(badges(loud).map((b) => b.text), ["reminded 2\u00D7", "escalated"]);
  const quiet = alert(1, { silenced: "silenced until 11:00 by op1: planned rerun", mail_held: true });
  const [badge, ...rest] = badges(quiet);
  assert.equal(badge.text, "silenced");
  assert.equal(badge.title, "silenced until 11:00 by op1: planned rerun");
  assert.deepEqual(rest, []); // the held mail is part of being silenced
  assert.deepEqual(badges(alert(1, { mail_held: true })).map((b) => b.text), ["mail due"]);
});

test("the end-time input shows the workflow's business time, not the browser's", () => {
  const moment = new Date("2026-11-24T05:00:00Z");
  assert.equal(localInputValue(moment, "Asia/Dhaka"), "2026-11-24T11:00");
  assert.equal(localInputValue(moment, "America/New_York"), "2026-11-24T00:00");
  assert.equal(localInputValue(new Date("2026-11-24T18:30:00Z"), "Asia/Dhaka"), "2026-11-25T00:30");
});

test("a silence can be ended while in effect or yet to come, not once over or ended", () => {
  const future = new Date(Date.now() + 3600e3).toISOString();
  const past = new Date(Date.now() - 3600e3).toISOString();
  assert.equal(endable({ ended_at: null, ends_at: future }), true);
  assert.equal(endable({ ended_at: past, ends_at: future }), false);
  assert.equal(endable({ ended_at: null, ends_at: past }), false);
});

test("a silence's scope reads as workflow, step and kinds, or the one alert", () => {
  const label = (k) => ({ FAILED: "failed", STUCK: "stuck" })[k];
  assert.equal(scopeText({ workflow_id: "dpdc_ami", step_id: null, kinds: null, alert_id: null }), "dpdc_ami: whole workflow");
  assert.equal(
    scopeText({ workflow_id: "dpdc_ami", step_id: "C1-PPBTR", kinds: ["FAILED", "STUCK"], alert_id: null }, label),
    "dpdc_ami: C1-PPBTR, failed, stuck only",
  );
  assert.equal(scopeText({ workflow_id: "dpdc_ami", step_id: "C1-PPBTR", kinds: ["FAILED"], alert_id: 7 }), "alert 7 (C1-PPBTR)");
});
