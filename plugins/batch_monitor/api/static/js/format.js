/*
 * Formatting: times, durations, numbers and status text. Pure functions (no DOM, no page state),
 * unit-tested with `node --test tests/js`.
 */

// Building an Intl.DateTimeFormat costs far more than using one, and a 500-step timeline
// formats thousands of times: each locale + options pair is built once.
const formatters = new Map();
export function dateFormat(locale, options) {
  const key = `${locale} ${JSON.stringify(options)}`;
  let f = formatters.get(key);
  if (!f) {
    f = new Intl.DateTimeFormat(locale, options);
    formatters.set(key, f);
  }
  return f;
}

const HOUR_MINUTE = { hour: "2-digit", minute: "2-digit", hourCycle: "h23" };

/** "HH:MM" of an instant (ISO string or epoch ms) in a time zone. */
export function clockTime(at, zone) {
  return dateFormat("en-GB", { timeZone: zone, ...HOUR_MINUTE }).format(new Date(at));
}

/** The calendar day ("YYYY-MM-DD") an instant falls on in a time zone. */
export function localDate(iso, zone) {
  const f = dateFormat("en-US", { timeZone: zone, year: "numeric", month: "2-digit", day: "2-digit" });
  const p = {};
  for (const part of f.formatToParts(new Date(iso))) p[part.type] = part.value;
  return `${p.year}-${p.month}-${p.day}`;
}

/** "HH:MM" in the zone, with the day ("Mar 13, 01:30") when it falls outside the business day. */
export function fmtTime(iso, zone, businessDay) {
  if (!iso) return "–";
  const time = clockTime(iso, zone);
  if (businessDay && localDate(iso, zone) !== businessDay) {
    const label = dateFormat("en-US", { timeZone: zone, month: "short", day: "numeric" }).format(new Date(iso));
    return `${label}, ${time}`;
  }
  return time;
}

export function fmtDateTime(iso, zone) {
  if (!iso) return "–";
  const day = dateFormat("en-US", { timeZone: zone, month: "short", day: "numeric" }).format(new Date(iso));
  return `${day}, ${clockTime(iso, zone)}`;
}

/**
 * The dead man's switch banner: "monitor not running since 14:45" in the workflow's zone, with the
 * day ("Mar 12, 14:45") when the last tick finished on another day than ``nowIso``'s; null when alive.
 */
export function staleText(health, zone, nowIso) {
  if (!health || !health.monitor_stale) return null;
  if (!health.last_tick_at) return "monitor not running: no monitoring tick has finished yet";
  return `monitor not running since ${fmtTime(health.last_tick_at, zone, localDate(nowIso, zone))}`;
}

/** "Asia/Dhaka (GMT+6)": the zone with its offset at that instant (now without one). */
export function zoneLabel(zone, atIso) {
  try {
    const name = dateFormat("en-US", { timeZone: zone, timeZoneName: "shortOffset" })
      .formatToParts(atIso ? new Date(atIso) : new Date())
      .find((p) => p.type === "timeZoneName");
    return name ? `${zone} (${name.value})` : zone;
  } catch (e) {
    return zone;
  }
}

export function fmtDuration(seconds) {
  if (seconds === null || seconds === undefined) return "–";
  const s = Math.max(0, Math.round(seconds));
  const hours = Math.floor(s / 3600);
  const minutes = Math.floor((s % 3600) / 60);
  if (hours) return minutes ? `${hours}h ${minutes}m` : `${hours}h`;
  if (minutes) return `${minutes}m`;
  return `${s}s`;
}

const intFormat = new Intl.NumberFormat("en-US");
export const fmtInt = (n) => (n === null || n === undefined ? "–" : intFormat.format(Number(n)));
export const fmtRps = (n) => (n === null || n === undefined ? "–" : Number(n).toFixed(1));
export const fmtPct = (x) => (x === null || x === undefined ? "–" : `${(x * 100).toFixed(1)}%`);

/** The countdown: "m:ss" under an hour, "h:mm:ss" above. */
export function fmtClock(seconds) {
  const s = Math.max(0, Math.ceil(seconds));
  const hh = Math.floor(s / 3600);
  const mm = String(Math.floor((s % 3600) / 60)).padStart(hh ? 2 : 1, "0");
  const ss = String(s % 60).padStart(2, "0");
  return hh ? `${hh}:${mm}:${ss}` : `${mm}:${ss}`;
}

/** "Tue, Mar 12, 2024" for "2024-03-12". */
export function prettyDate(isoDate) {
  const [y, m, d] = isoDate.split("-").map(Number);
  return dateFormat("en-US", { timeZone: "UTC", weekday: "short", month: "short", day: "numeric", year: "numeric" })
    .format(new Date(Date.UTC(y, m - 1, d)));
}

const SETTLED = ["failed", "stuck", "complete", "skipped"];

/** The status a step is drawn with: "late" for an unsettled step past its time. */
export function stepDisplayStatus(step) {
  if (step.late && !SETTLED.includes(step.status)) return "late";
  return step.status;
}

/** "Repeating (2 of 3 runs) · late": the step's status in words, labels from the API. */
export function statusText(step, statusLabels) {
  let text = (statusLabels && statusLabels[step.status]) || step.status;
  if (step.status === "repeating" || (step.runs_required > 1 && step.status !== "complete")) {
    text += ` (${step.runs_done} of ${step.runs_required} runs)`;
  }
  if (step.late && !SETTLED.includes(step.status)) text += " \u00B7 late";
  return text;
}

// A day the workflow's calendar expects no run on (batch-timeline's run_expected false): the
// sentence the timeline shows above the steps; null on a run day.
export function noRunText(timeline) {
  if (!timeline || timeline.run_expected !== false) return null;
  return timeline.no_run_reason ? `No run expected today (${timeline.no_run_reason})` : "No run expected today";
}

/**
 * The chain's predicted finish against its deadline, in the zone's business time:
 * "at risk: predicted 23:10, deadline 22:00" when the prediction is past the deadline, else
 * "predicted 21:40, deadline 22:00" ("predicted 21:40" without a deadline); null without a
 * prediction. businessDay ("YYYY-MM-DD") adds the day to a time that falls on another one.
 */
export function chainMarkerText(timeline, zone, businessDay) {
  if (!timeline || !timeline.predicted_finish) return null;
  const predicted = `predicted ${fmtTime(timeline.predicted_finish, zone, businessDay)}`;
  if (!timeline.chain_finish_by) return predicted;
  const deadline = `deadline ${fmtTime(timeline.chain_finish_by, zone, businessDay)}`;
  const late = Date.parse(timeline.predicted_finish) > Date.parse(timeline.chain_finish_by);
  return `${late ? "at risk: " : ""}${predicted}, ${deadline}`;
}

const PROGRESS_BASIS = { records: "by records", threads: "by threads", elapsed: "by elapsed time" };

/** What a running step's progress rests on, in words ("by records"); "–" when it has none. */
export function progressBasisText(basis) {
  if (!basis) return "–";
  return PROGRESS_BASIS[basis] || `by ${basis}`;
}

/** "1h 10m (typical 45m, p90 1h)": an actual duration against the learned ones. */
export function typicalDurationText(actualSeconds, baseline) {
  const actual = fmtDuration(actualSeconds);
  if (!baseline || baseline.duration_p50_s === null || baseline.duration_p50_s === undefined) return actual;
  const p90 = baseline.duration_p90_s === null || baseline.duration_p90_s === undefined
    ? "" : `, p90 ${fmtDuration(baseline.duration_p90_s)}`;
  return `${actual} (typical ${fmtDuration(baseline.duration_p50_s)}${p90})`;
}

/** "12,000 (typical 10,000)": records against the learned median. */
export function typicalRecordsText(records, baseline) {
  const actual = fmtInt(records);
  if (!baseline || baseline.records_p50 === null || baseline.records_p50 === undefined) return actual;
  return `${actual} (typical ${fmtInt(Math.round(baseline.records_p50))})`;
}

/** "05:03 (typical 05:00)": the first start against the learned median start, in the zone. */
export function typicalStartText(startIso, baseline, zone, businessDay) {
  const actual = startIso ? fmtTime(startIso, zone, businessDay) : "not started";
  if (!baseline) return actual;
  const typical = baseline.start_p50_at ? fmtTime(baseline.start_p50_at, zone, businessDay) : baseline.start_p50;
  return typical ? `${actual} (typical ${typical})` : actual;
}
