/*
 * The timeline's time axis: where bars, ticks and markers sit, in percent of the axis.
 * Pure functions over the API's timeline (no DOM), unit-tested with `node --test tests/js`.
 */

export const HOUR_MS = 3600 * 1000;

/** The axis: whole hours around every time the day shows, at least four hours wide. */
export function axisRange(tl) {
  const points = [];
  for (const s of tl.steps) {
    for (const v of [s.expected_start, s.expected_end, s.start, s.end, s.predicted_start, s.predicted_end, s.finish_by]) {
      if (v) points.push(Date.parse(v));
    }
    for (const r of s.runs) for (const v of [r.start, r.end]) if (v) points.push(Date.parse(v));
    const band = typicalBand(s);
    if (band) points.push(band.to);
  }
  if (tl.as_of) points.push(Date.parse(tl.as_of));
  if (tl.predicted_finish) points.push(Date.parse(tl.predicted_finish));
  if (tl.chain_finish_by) points.push(Date.parse(tl.chain_finish_by));
  let lo = points.length ? Math.min(...points) : Date.parse(tl.window_start);
  let hi = points.length ? Math.max(...points) : Date.parse(tl.window_end);
  lo = Math.floor(lo / HOUR_MS) * HOUR_MS;
  hi = Math.ceil(hi / HOUR_MS) * HOUR_MS;
  if (hi - lo < 4 * HOUR_MS) hi = lo + 4 * HOUR_MS;
  return { lo, hi };
}

/** Where an instant (ISO string or epoch ms) sits on the axis, in percent (may fall outside 0–100). */
export function pct(range, at) {
  const t = typeof at === "number" ? at : Date.parse(at);
  return ((t - range.lo) / (range.hi - range.lo)) * 100;
}

/** A bar from one instant to another, clipped to the axis: { left, width } in percent, or null. */
export function barSpan(range, from, to) {
  if (!from || !to) return null;
  const left = Math.max(0, pct(range, from));
  const right = Math.min(100, pct(range, to));
  if (right <= left) return null;
  return { left, width: right - left };
}

/** The tick instants (epoch ms): every hour up to 8 hours, then every 2, 3 or 6. */
export function axisTicks(range) {
  const span = (range.hi - range.lo) / HOUR_MS;
  const step = span <= 8 ? 1 : span <= 16 ? 2 : span <= 30 ? 3 : 6;
  const ticks = [];
  for (let t = range.lo; t <= range.hi; t += step * HOUR_MS) ticks.push(t);
  return ticks;
}

/**
 * The planned windows of a step: [from, to] pairs. The plan applies to each run: the first from
 * its expected start, a rerun after a failed run from its own start, each for the expected
 * duration (never failed run + gap + rerun). cfg is the step's configuration (WorkflowInfo.steps).
 */
export function plannedWindows(step, cfg) {
  const span = cfg && cfg.expected_duration_s ? cfg.expected_duration_s * 1000 : null;
  if (!span) return step.expected_start && step.expected_end ? [[step.expected_start, step.expected_end]] : [];
  const windows = step.expected_start ? [[step.expected_start, Date.parse(step.expected_start) + span]] : [];
  step.runs.forEach((run, i) => {
    if (i > 0 && run.start && step.runs[i - 1].status === "error") windows.push([run.start, Date.parse(run.start) + span]);
  });
  return windows;
}

/** When a step ended: its own end, or (settled, without one) its last run's; null while it runs. */
export function stepEnd(step) {
  if (step.end || step.status === "running" || step.status === "stuck") return step.end;
  const ends = step.runs.map((r) => r.end).filter(Boolean).sort();
  return ends.length ? ends[ends.length - 1] : null;
}

/** A completed chain has ended: its last step's actual end, not a prediction. */
export function chainEnd(tl) {
  if (tl.chain_status !== "complete") return null;
  const ends = tl.steps.map(stepEnd).filter(Boolean).sort((a, b) => Date.parse(a) - Date.parse(b));
  return ends.length ? ends[ends.length - 1] : null;
}

/**
 * The step's typical band: where it usually ends, from its start (actual, else predicted) plus its
 * learned median duration to that start plus its p90 duration (the p50 when no p90 is known), as
 * { from, to } in epoch ms; null without a learned duration or a start.
 */
export function typicalBand(step) {
  const b = step.baseline;
  if (!b || b.duration_p50_s === null || b.duration_p50_s === undefined) return null;
  const start = step.start || step.predicted_start;
  if (!start) return null;
  const t0 = Date.parse(start);
  const p90 = b.duration_p90_s === null || b.duration_p90_s === undefined ? b.duration_p50_s : b.duration_p90_s;
  return { from: t0 + b.duration_p50_s * 1000, to: t0 + Math.max(p90, b.duration_p50_s) * 1000 };
}

/** A step not started yet, drawn from its predicted start to its predicted end: [from, to] or null. */
export function predictedWindow(step) {
  if (step.start || step.runs.length || !step.predicted_start || !step.predicted_end) return null;
  return Date.parse(step.predicted_end) > Date.parse(step.predicted_start) ? [step.predicted_start, step.predicted_end] : null;
}
