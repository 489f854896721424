// The page's formatting (static/js/format.js): node --test tests/js
import assert from "node:assert/strict";
import { test } from "node:test";

import {
  chainMarkerText, progressBasisText, typicalDurationText, typicalRecordsText, typicalStartText,
  fmtClock, fmtDateTime, fmtDuration, fmtInt, fmtPct, fmtRps, fmtTime, localDate, noRunText, prettyDate, statusText,
  staleText, stepDisplayStatus, zoneLabel,
} from "../../plugins/batch_monitor/api/static/js/format.js";

const STATUS_LABELS = { running: "Running", repeating: "Repeating", complete: "Complete", failed: "Failed" };

test("a duration reads in the largest whole units, never negative", () => {
  assert.equal(fmtDuration(null), "–");
  assert.equal(fmtDuration(undefined), "–");
  assert.equal(fmtDuration(0), "0s");
  assert.equal(fmtDuration(42), "42s");
  assert.equal(fmtDuration(59.6), "1m");
  assert.equal(fmtDuration(125), "2m");
  assert.equal(fmtDuration(3600), "1h");
  assert.equal(fmtDuration(2 * 3600 + 45 * 60 + 10), "2h 45m");
  assert.equal(fmtDuration(-30), "0s");
});

test("the countdown rounds up and shows hours only past an hour", () => {
  assert.equal(fmtClock(0.2), "0:01");
  assert.equal(fmtClock(65), "1:05");
  assert.equal(fmtClock(1800), "30:00");
  assert.equal(fmtClock(3605), "1:00:05");
  assert.equal(fmtClock(-5), "0:00");
});

test("a time shows in the workflow's zone, with the day when it falls outside the business day", () => {
  assert.equal(fmtTime("2024-03-12T06:30:00Z", "Asia/Dhaka", "2024-03-12"), "12:30");
  assert.equal(fmtTime("2024-03-12T19:30:00Z", "Asia/Dhaka", "2024-03-12"), "Mar 13, 01:30");
  assert.equal(fmtTime("2024-03-12T19:30:00Z", "Asia/Dhaka", null), "01:30");
  assert.equal(fmtTime(null, "Asia/Dhaka", "2024-03-12"), "–");
  assert.equal(localDate("2024-03-12T19:30:00Z", "Asia/Dhaka"), "2024-03-13");
  assert.equal(localDate("2024-03-12T03:30:00Z", "America/New_York"), "2024-03-11");
});

test("a date and time carries the day, across a DST change too", () => {
  assert.equal(fmtDateTime("2024-03-12T06:30:00Z", "America/New_York"), "Mar 12, 02:30");
  assert.equal(fmtDateTime("2024-03-09T06:30:00Z", "America/New_York"), "Mar 9, 01:30");
  assert.equal(fmtDateTime(null, "UTC"), "–");
});

test("a zone is named with its offset at the instant, and an unknown zone as given", () => {
  assert.equal(zoneLabel("Asia/Dhaka", "2024-03-12T00:00:00Z"), "Asia/Dhaka (GMT+6)");
  assert.equal(zoneLabel("America/New_York", "2024-01-15T12:00:00Z"), "America/New_York (GMT-5)");
  assert.equal(zoneLabel("America/New_York", "2024-07-15T12:00:00Z"), "America/New_York (GMT-4)");
  assert.equal(zoneLabel("Not/AZone", "2024-07-15T12:00:00Z"), "Not/AZone");
});

test("numbers: thousands separated, RPS to one decimal, rates as percent", () => {
  assert.equal(fmtInt(1234567), "1,234,567");
  assert.equal(fmtInt(null), "–");
  assert.equal(fmtRps(12.345), "12.3");
  assert.equal(fmtRps(0), "0.0");
  assert.equal(fmtPct(0.9876), "98.8%");
  assert.equal(fmtPct(null), "–");
  assert.equal(prettyDate("2024-03-12"), "Tue, Mar 12, 2024");
});

test("a step's status text counts runs of a multi-run step and marks an unsettled late step", () => {
  assert.equal(statusText({ status: "repeating", runs_done: 1, runs_required: 3 }, STATUS_LABELS), "Repeating (1 of 3 runs)");
  assert.equal(statusText({ status: "complete", runs_done: 3, runs_required: 3 }, STATUS_LABELS), "Complete");
  assert.equal(statusText({ status: "running", runs_required: 1, late: true }, STATUS_LABELS), "Running \u00B7 late");
  assert.equal(statusText({ status: "failed", runs_required: 1, late: true }, STATUS_LABELS), "Failed");
  assert.equal(statusText({ status: "brand_new", runs_required: 1 }, STATUS_LABELS), "brand_new");
  assert.equal(stepDisplayStatus({ status: "pending", late: true }), "late");
  assert.equal(stepDisplayStatus({ status: "stuck", late: true }), "stuck");
  assert.equal(stepDisplayStatus({ status: "running", late: false }), "running");
});

test("a day the calendar expects no run on says so, with the reason", () => {
  assert.equal(noRunText({ run_expected: false, no_run_reason: "holiday: Victory Day" }),
    "No run expected today (holiday: Victory Day)");
  assert.equal(noRunText({ run_expected: false, no_run_reason: null }), "No run expected today");
  assert.equal(noRunText({ run_expected: true, no_run_reason: null }), null);
  assert.equal(noRunText({}), null); // an older store's answer without the field: a run day
});

test("the stale banner says since when the monitor has not run, in the workflow's zone", () => {
  const lastTick = "2024-03-12T08:45:00+00:00"; // 14:45 in Dhaka
  assert.equal(staleText({ monitor_stale: false, last_tick_at: lastTick }, "Asia/Dhaka", "2024-03-12T09:30:00Z"), null);
  assert.equal(staleText(null, "Asia/Dhaka", "2024-03-12T09:30:00Z"), null);
  assert.equal(
    staleText({ monitor_stale: true, last_tick_at: lastTick }, "Asia/Dhaka", "2024-03-12T09:30:00Z"),
    "monitor not running since 14:45",
  );
  assert.equal(
    staleText({ monitor_stale: true, last_tick_at: lastTick }, "Asia/Dhaka", "2024-03-13T09:30:00Z"),
    "monitor not running since Mar 12, 14:45",
  );
  assert.equal(
    staleText({ monitor_stale: true, last_tick_at: null }, "Asia/Dhaka", "2024-03-13T09:30:00Z"),
    "monitor not running: no monitoring tick has finished yet",
  );
});

const DHAKA = "Asia/Dhaka";

test("the chain marker says the predicted finish against the deadline, in business time", () => {
  const day = "2024-03-12";
  const deadline = "2024-03-12T16:00:00Z"; // 22:00 in Dhaka
  const late = { predicted_finish: "2024-03-12T17:10:00Z", chain_finish_by: deadline };
  assert.equal(chainMarkerText(late, DHAKA, day), "at risk: predicted 23:10, deadline 22:00");
  const inside = { predicted_finish: "2024-03-12T15:40:00Z", chain_finish_by: deadline };
  assert.equal(chainMarkerText(inside, DHAKA, day), "predicted 21:40, deadline 22:00");
  const onTheDot = { predicted_finish: deadline, chain_finish_by: deadline };
  assert.equal(chainMarkerText(onTheDot, DHAKA, day), "predicted 22:00, deadline 22:00");
  // past midnight: the day is named
  const nextDay = { predicted_finish: "2024-03-12T18:30:00Z", chain_finish_by: deadline };
  assert.equal(chainMarkerText(nextDay, DHAKA, day), "at risk: predicted Mar 13, 00:30, deadline 22:00");
  assert.equal(chainMarkerText({ predicted_finish: "2024-03-12T15:40:00Z" }, DHAKA, day), "predicted 21:40");
  assert.equal(chainMarkerText({ predicted_finish: null, chain_finish_by: deadline }, DHAKA, day), null);
  assert.equal(chainMarkerText(null, DHAKA, day), null);
});

test("the progress basis reads in words", () => {
  assert.equal(progressBasisText("records"), "by records");
  assert.equal(progressBasisText("threads"), "by threads");
  assert.equal(progressBasisText("elapsed"), "by elapsed time");
  assert.equal(progressBasisText(null), "–");
});

test("typical vs actual: duration, records and start against the learned baseline", () => {
  const b = { duration_p50_s: 2700, duration_p90_s: 3600, records_p50: 10000.4, start_p50: "05:00", start_p50_at: "2024-03-11T23:00:00Z" };
  assert.equal(typicalDurationText(4200, b), "1h 10m (typical 45m, p90 1h)");
  assert.equal(typicalDurationText(null, b), "– (typical 45m, p90 1h)");
  assert.equal(typicalDurationText(4200, { ...b, duration_p90_s: null }), "1h 10m (typical 45m)");
  assert.equal(typicalDurationText(4200, null), "1h 10m");
  assert.equal(typicalRecordsText(12000, b), "12,000 (typical 10,000)");
  assert.equal(typicalRecordsText(12000, { ...b, records_p50: null }), "12,000");
  assert.equal(typicalStartText("2024-03-11T23:03:00Z", b, DHAKA, "2024-03-12"), "05:03 (typical 05:00)");
  assert.equal(typicalStartText(null, b, DHAKA, "2024-03-12"), "not started (typical 05:00)");
  assert.equal(typicalStartText("2024-03-11T23:03:00Z", { ...b, start_p50_at: null }, DHAKA, "2024-03-12"), "05:03 (typical 05:00)");
  assert.equal(typicalStartText("2024-03-11T23:03:00Z", null, DHAKA, "2024-03-12"), "05:03");
});
