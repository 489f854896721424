// The timeline's time axis (static/js/layout.js): node --test tests/js
import assert from "node:assert/strict";
import { test } from "node:test";

import {
  HOUR_MS, axisRange, axisTicks, barSpan, chainEnd, pct, plannedWindows, predictedWindow, stepEnd, typicalBand,
} from "../../plugins/batch_monitor/api/static/js/layout.js";

const at = (hhmm, day = "2024-03-12") => `${day}T${hhmm}:00Z`;
const ms = (iso) => Date.parse(iso);

function step(fields) {
  return { status: "pending", runs: [], ...fields };
}

function timeline(steps, fields) {
  return { steps, window_start: at("00:00"), window_end: at("00:00", "2024-03-13"), ...fields };
}

test("the axis spans whole hours around every time shown", () => {
  const tl = timeline([
    step({ expected_start: at("06:10"), expected_end: at("07:00"), finish_by: at("09:20") }),
    step({ start: at("06:40"), runs: [{ start: at("06:40"), end: at("08:05") }] }),
  ], { as_of: at("08:30") });
  assert.deepEqual(axisRange(tl), { lo: ms(at("06:00")), hi: ms(at("10:00")) });
});

test("the axis is at least four hours wide, and falls back to the business day's window", () => {
  const short = timeline([step({ start: at("06:10"), end: at("06:50") })]);
  assert.deepEqual(axisRange(short), { lo: ms(at("06:00")), hi: ms(at("10:00")) });
  const empty = timeline([]);
  assert.deepEqual(axisRange(empty), { lo: ms(at("00:00")), hi: ms(at("00:00", "2024-03-13")) });
  const late = timeline([step({ expected_start: at("06:00") })], { chain_finish_by: at("18:30") });
  assert.deepEqual(axisRange(late), { lo: ms(at("06:00")), hi: ms(at("19:00")) });
});

test("bars are placed in percent of the axis and clipped to it", () => {
  const range = { lo: ms(at("06:00")), hi: ms(at("10:00")) };
  assert.equal(pct(range, at("07:00")), 25);
  assert.equal(pct(range, ms(at("08:00"))), 50);
  assert.equal(pct(range, at("11:00")), 125);
  assert.deepEqual(barSpan(range, at("07:00"), at("08:00")), { left: 25, width: 25 });
  assert.deepEqual(barSpan(range, at("05:00"), at("07:00")), { left: 0, width: 25 });
  assert.deepEqual(barSpan(range, at("09:00"), at("12:00")), { left: 75, width: 25 });
  assert.equal(barSpan(range, at("11:00"), at("12:00")), null); // wholly after the axis
  assert.equal(barSpan(range, at("08:00"), at("08:00")), null); // no length
  assert.equal(barSpan(range, at("08:00"), null), null); // not ended, no as-of
});

test("ticks fall every hour up to 8 hours, then every 2, 3 or 6", () => {
  const ticks = (hours) => axisTicks({ lo: 0, hi: hours * HOUR_MS }).map((t) => t / HOUR_MS);
  assert.deepEqual(ticks(4), [0, 1, 2, 3, 4]);
  assert.deepEqual(ticks(8), [0, 1, 2, 3, 4, 5, 6, 7, 8]);
  assert.deepEqual(ticks(12), [0, 2, 4, 6, 8, 10, 12]);
  assert.deepEqual(ticks(24), [0, 3, 6, 9, 12, 15, 18, 21, 24]);
  assert.deepEqual(ticks(36), [0, 6, 12, 18, 24, 30, 36]);
});

test("the plan applies to each run: a rerun after a failed run gets its own window", () => {
  const cfg = { expected_duration_s: 3600 };
  const failedThenRerun = step({
    expected_start: at("06:00"),
    expected_end: at("07:00"),
    runs: [
      { start: at("06:05"), end: at("06:20"), status: "error" },
      { start: at("08:00"), end: at("09:10"), status: "complete" },
    ],
  });
  assert.deepEqual(plannedWindows(failedThenRerun, cfg), [
    [at("06:00"), ms(at("07:00"))],
    [at("08:00"), ms(at("09:00"))],
  ]);
  // a repeat after a completed run is not a rerun: no second window
  const repeats = step({
    expected_start: at("06:00"),
    runs: [{ start: at("06:00"), status: "complete" }, { start: at("07:30"), status: "complete" }],
  });
  assert.equal(plannedWindows(repeats, cfg).length, 1);
  // without an expected duration: the expected start to the expected end
  assert.deepEqual(plannedWindows(failedThenRerun, {}), [[at("06:00"), at("07:00")]]);
  assert.deepEqual(plannedWindows(step({}), null), []);
});

test("a step ends at its own end, or its last run's; a running step has not ended", () => {
  assert.equal(stepEnd(step({ status: "complete", end: at("09:00") })), at("09:00"));
  assert.equal(stepEnd(step({ status: "running", end: null, runs: [{ end: at("07:00") }] })), null);
  const failed = step({ status: "failed", end: null, runs: [{ end: at("07:00") }, { end: at("08:30") }, { end: null }] });
  assert.equal(stepEnd(failed), at("08:30"));
  assert.equal(stepEnd(step({ status: "pending" })), null);
});

test("only a complete chain has ended, at its last step's end", () => {
  const steps = [step({ status: "complete", end: at("09:00") }), step({ status: "complete", end: at("11:15") })];
  assert.equal(chainEnd(timeline(steps, { chain_status: "complete" })), at("11:15"));
  assert.equal(chainEnd(timeline(steps, { chain_status: "running" })), null);
});

const baseline = (fields) => ({ segment: "all", sample_days: 20, duration_p50_s: 1800, duration_p90_s: 2700, ...fields });

test("the typical band runs from the start plus the median duration to the start plus the p90", () => {
  const started = step({ start: at("06:00"), predicted_start: at("06:00"), baseline: baseline() });
  assert.deepEqual(typicalBand(started), { from: ms(at("06:30")), to: ms(at("06:45")) });
  // not started: from its predicted start
  const ahead = step({ predicted_start: at("09:10"), baseline: baseline() });
  assert.deepEqual(typicalBand(ahead), { from: ms(at("09:40")), to: ms(at("09:55")) });
  // no p90 (or one below the median): a band of the median alone
  const noP90 = step({ start: at("06:00"), baseline: baseline({ duration_p90_s: null }) });
  assert.deepEqual(typicalBand(noP90), { from: ms(at("06:30")), to: ms(at("06:30")) });
});

test("a step without a learned duration or any start has no typical band", () => {
  assert.equal(typicalBand(step({ start: at("06:00") })), null);
  assert.equal(typicalBand(step({ start: at("06:00"), baseline: baseline({ duration_p50_s: null }) })), null);
  assert.equal(typicalBand(step({ baseline: baseline() })), null);
});

test("only a step not started gets a predicted bar, from its predicted start to its predicted end", () => {
  const ahead = step({ predicted_start: at("09:10"), predicted_end: at("10:00") });
  assert.deepEqual(predictedWindow(ahead), [at("09:10"), at("10:00")]);
  const running = step({ status: "running", start: at("08:00"), predicted_start: at("08:00"), predicted_end: at("09:00") });
  assert.equal(predictedWindow(running), null);
  const rerunWaiting = step({ runs: [{ start: at("07:00"), end: at("07:30"), status: "error" }], predicted_start: at("09:00"), predicted_end: at("10:00") });
  assert.equal(predictedWindow(rerunWaiting), null);
  assert.equal(predictedWindow(step({ predicted_start: at("09:10") })), null);
  assert.equal(predictedWindow(step({ predicted_start: at("09:10"), predicted_end: at("09:10") })), null);
});

test("the axis reaches the predicted starts, the typical bands and the chain's predicted finish", () => {
  const tl = timeline([
    step({ start: at("06:10"), end: at("06:50"), runs: [{ start: at("06:10"), end: at("06:50") }], baseline: baseline({ duration_p90_s: 4 * 3600 }) }),
    step({ predicted_start: at("11:20"), predicted_end: at("11:40") }),
  ], { as_of: at("07:00"), predicted_finish: at("12:05") });
  assert.deepEqual(axisRange(tl), { lo: ms(at("06:00")), hi: ms(at("13:00")) }); // the chain's predicted finish
  tl.steps[0].baseline.duration_p90_s = 8 * 3600;
  assert.deepEqual(axisRange(tl), { lo: ms(at("06:00")), hi: ms(at("15:00")) }); // 06:10 + p90 8h
  tl.steps[0].baseline = null;
  tl.predicted_finish = null;
  assert.deepEqual(axisRange(tl), { lo: ms(at("06:00")), hi: ms(at("12:00")) }); // the predicted bar's end
});
