/* The timeline: the chain's steps as rows, each with its Gantt bars and, expanded, its details. */

import { openAlert } from "./alerts.js";
import { $, detailPair, h } from "./dom.js";
import {
  chainMarkerText, clockTime, fmtDuration, fmtInt, fmtRps, noRunText, progressBasisText, statusText as describeStatus,
  stepDisplayStatus, typicalDurationText, typicalRecordsText, typicalStartText, zoneLabel,
} from "./format.js";
import {
  axisRange, axisTicks, barSpan, chainEnd, pct, plannedWindows, predictedWindow, stepEnd, typicalBand,
} from "./layout.js";
import { fmtTime, kindLabel, labels, state, tz } from "./state.js";

const STATUS_ICONS = {
  complete: "\u2713", // check mark
  running: "\u25B6", // play
  repeating: "\u21BB", // clockwise arrow
  failed: "\u2715", // multiplication x
  stuck: "!",
  late: "!",
  pending: "\u25CB", // white circle
  waiting: "\u2026", // ellipsis
  skipped: "\u2013", // en dash
};

const statusText = (step) => describeStatus(step, labels.statuses);

function stepConfig(stepId) {
  const wf = state.workflow;
  return wf ? wf.steps.find((s) => s.step_id === stepId) : null;
}

function bar(range, cls, from, to, title) {
  const span = barSpan(range, from, to);
  if (!span) return null;
  return h("div", { class: `bar ${cls}`, title, style: { left: `${span.left}%`, width: `${span.width}%` } });
}

function renderAxis(range) {
  const axis = h("div", { class: "axis" });
  for (const t of axisTicks(range)) {
    axis.append(h("span", { class: "tick", text: clockTime(t, tz()), style: { left: `${pct(range, t)}%` } }));
  }
  return h("div", { class: "axis-row", "aria-hidden": "true" }, h("div"), h("div"), axis);
}

/** The day's maintenance windows that cover ``stepId`` (a window without steps covers them all). */
function maintenanceOf(tl, stepId) {
  return (tl.maintenance || []).filter((w) => !w.steps.length || w.steps.includes(stepId));
}

function renderGantt(step, tl, range) {
  const gantt = h("div", { class: "gantt", "aria-hidden": "true" });
  for (const w of maintenanceOf(tl, step.step_id)) {
    const title = `Maintenance ${fmtTime(w.starts_at)} – ${fmtTime(w.ends_at)}${w.comment ? `: ${w.comment}` : ""} (alerts not mailed)`;
    const band = bar(range, "maintenance", w.starts_at, w.ends_at, title);
    if (band) gantt.append(band);
  }
  const band = typicalBand(step);
  if (band) {
    const b = step.baseline;
    const title = `Typically ends ${fmtTime(band.from)} – ${fmtTime(band.to)} (median ${fmtDuration(b.duration_p50_s)}, p90 ${fmtDuration(b.duration_p90_s)} from its ${step.start ? "" : "predicted "}start; ${b.sample_days} day${b.sample_days === 1 ? "" : "s"})`;
    // a band as narrow as a minute when the median and p90 agree, so it still shows
    const el = bar(range, "typical", band.from, Math.max(band.to, band.from + 60 * 1000), title);
    if (el) gantt.append(el);
  }
  for (const [from, to] of plannedWindows(step, stepConfig(step.step_id))) {
    const plan = bar(range, "plan", from, to, `Planned ${fmtTime(from)} – ${fmtTime(to)}`);
    if (plan) gantt.append(plan);
  }
  const runs = step.runs.length ? step.runs : step.start ? [{ start: step.start, end: step.end, status: step.status }] : [];
  for (const run of runs) {
    const end = run.end || tl.as_of;
    const title = `Run ${run.batch_nbr !== undefined ? `${run.batch_nbr}.${run.rerun_nbr}` : ""} (${run.status}): ${fmtTime(run.start)} – ${run.end ? fmtTime(run.end) : "running"}`;
    // each bar in its own run's colour: a failed run stays red after its rerun completed
    const el = bar(range, `actual run-${run.status}`, run.start, end, title);
    if (el) gantt.append(el);
  }
  const active = step.status === "running" || step.status === "stuck";
  if (active && step.predicted_end && tl.as_of && Date.parse(step.predicted_end) > Date.parse(tl.as_of)) {
    const el = bar(range, "predicted", tl.as_of, step.predicted_end, `Predicted to finish ${fmtTime(step.predicted_end)}`);
    if (el) gantt.append(el);
  }
  const ahead = predictedWindow(step);
  if (ahead) {
    const el = bar(range, "predicted not-started", ahead[0], ahead[1], `Predicted ${fmtTime(ahead[0])} – ${fmtTime(ahead[1])}`);
    if (el) gantt.append(el);
  }
  if (step.finish_by) {
    const at = pct(range, step.finish_by);
    if (at >= 0 && at <= 100) gantt.append(h("div", { class: "deadline", title: `Must finish by ${fmtTime(step.finish_by)}`, style: { left: `${at}%` } }));
  }
  if (tl.as_of) {
    const at = pct(range, tl.as_of);
    if (at >= 0 && at <= 100) gantt.append(h("div", { class: "now", title: `As of ${fmtTime(tl.as_of)}`, style: { left: `${at}%` } }));
  }
  return gantt;
}

function metaItem(label, value) {
  return h("span", null, `${label} `, h("b", { text: value }));
}

function runsText(step) {
  // every run, as the details' "Runs (n)" counts them; completed ones against a fixed count
  const cfg = stepConfig(step.step_id);
  const fixed = cfg && cfg.repeat_rule && cfg.repeat_rule.runs;
  const all = step.runs.length;
  return fixed ? `${all} (${step.runs_done} of ${fixed} complete)` : String(all);
}

function durationText(step) {
  const own = fmtDuration(step.duration_s);
  if (step.total_duration_s === null || step.total_duration_s === undefined) return own;
  return `${own} (${step.runs.length} runs, ${fmtDuration(step.total_duration_s)} in all)`;
}

function stepTimes(step) {
  const end = stepEnd(step);
  if (step.start) return `${fmtTime(step.start)} – ${end ? fmtTime(end) : "now"}`;
  if (step.expected_start) return `expected ${fmtTime(step.expected_start)}`;
  return "not started";
}

function renderProgress(step) {
  const p = step.progress === null || step.progress === undefined ? null : Math.max(0, Math.min(1, step.progress));
  return h("div", { class: "progress" },
    h("div", { class: "bar", role: "progressbar", "aria-valuemin": "0", "aria-valuemax": "100", "aria-valuenow": p === null ? null : String(Math.round(p * 100)), "aria-label": `${step.name} progress` },
      h("div", { class: "fill", style: { width: `${p === null ? 0 : p * 100}%` } })),
    h("span", { text: p === null ? "progress unknown" : `${Math.round(p * 100)}%` }),
    step.predicted_end ? h("span", { class: "muted", text: `predicted end ${fmtTime(step.predicted_end)}` }) : null,
  );
}

function renderStepMain(step, index, steps) {
  const shown = stepDisplayStatus(step);
  const previous = index > 0 ? steps[index - 1].step_id : null;
  const deps = step.depends_on || [];
  const unusualDeps = deps.length && !(deps.length === 1 && deps[0] === previous);
  const threadsRunning = step.runs.reduce((n, r) => n + (r.threads_running || 0), 0);

  const title = h("div", { class: "step-title" },
    h("strong", { text: step.name }),
    h("span", { class: "mono muted", text: step.batch_code }),
    h("span", { class: `chip st-${shown}`, text: statusText(step) }),
    step.on_critical_path
      ? h("span", { class: "cp-tag", title: "Its delay moves the chain's predicted finish", text: "critical path" }) : null,
    step.alerts.filter((a) => a.state !== "resolved").map((a) =>
      h("span", { class: `sev sev-${a.severity}`, title: a.title, text: `\u26A0 ${kindLabel(a.kind)}` })),
  );
  const meta = h("div", { class: "step-meta" },
    h("span", { text: stepTimes(step) }),
    metaItem("Duration", durationText(step)),
    metaItem("RPS", fmtRps(step.rps)),
    metaItem("Threads", step.threads_total ? `${step.threads_done}/${step.threads_total}${threadsRunning ? ` (${threadsRunning} running)` : ""}` : "–"),
    metaItem("Records", fmtInt(step.records)),
    step.runs_required > 1 || step.runs.length > 1 ? metaItem("Runs", runsText(step)) : null,
  );
  const main = h("div", { class: "step-main" }, title, meta);
  if (unusualDeps) main.append(h("div", { class: "dep", text: `\u2190 after ${deps.join(", ")}` }));
  if (step.status === "running" || step.status === "stuck") main.append(renderProgress(step));
  return main;
}

function renderStepRow(step, index, steps, tl, range) {
  const shown = stepDisplayStatus(step);
  const expanded = state.expanded.has(step.step_id);
  const rail = h("div", { class: "rail" }, h("div", { class: "node", title: statusText(step), text: STATUS_ICONS[shown] || "?" }));
  if (index < steps.length - 1) rail.append(h("span", { class: "arrow" }));

  const row = h("div", {
    class: `step-row st-${shown}${index === 0 ? " first" : ""}${index === steps.length - 1 ? " last" : ""}${step.on_critical_path ? " critical-path" : ""}`,
    role: "button",
    tabindex: "0",
    "aria-expanded": expanded ? "true" : "false",
    dataset: { step: step.step_id, status: step.status },
  }, rail, renderStepMain(step, index, steps), renderGantt(step, tl, range));
  const toggle = (event) => {
    if (event.target.closest(".step-detail")) return;
    if (state.expanded.has(step.step_id)) state.expanded.delete(step.step_id);
    else state.expanded.add(step.step_id);
    renderTimeline();
  };
  row.addEventListener("click", toggle);
  row.addEventListener("keydown", (event) => {
    if ((event.key === "Enter" || event.key === " ") && event.target === row) {
      event.preventDefault();
      toggle(event);
    }
  });
  if (expanded) row.append(renderStepDetail(step));
  return row;
}

function renderRunsTable(step) {
  const table = h("table", { class: "data-table" },
    h("thead", null, h("tr", null,
      ["Run", "Status", "Start", "End", "Duration", "Records", "Errors", "RPS", "Threads", "Error"].map((c, i) =>
        h("th", { class: i >= 4 && i <= 8 ? "num" : null, text: c })))),
    h("tbody", null, step.runs.map((r) => h("tr", null,
      h("td", { class: "mono", text: `${r.batch_nbr}${r.rerun_nbr ? ` (rerun ${r.rerun_nbr})` : ""}` }),
      h("td", null, h("span", { class: `chip st-${r.status === "error" ? "failed" : r.status}`, text: r.status })),
      h("td", { text: fmtTime(r.start) }),
      h("td", { text: r.end ? fmtTime(r.end) : "–" }),
      h("td", { class: "num", text: fmtDuration(r.duration_s) }),
      h("td", { class: "num", text: fmtInt(r.records) }),
      h("td", { class: "num", text: fmtInt(r.errors) }),
      h("td", { class: "num", text: fmtRps(r.rps) }),
      h("td", { class: "num", text: r.threads_total ? `${r.threads_done}/${r.threads_total}${r.threads_running ? ` (${r.threads_running} running)` : ""}` : "–" }),
      h("td", { class: "err", title: r.error_text || null, text: r.error_text || "" }),
    ))));
  return h("div", { class: "detail-block" }, h("h3", { text: `Runs (${step.runs.length})` }), h("div", { class: "table-wrap" }, table));
}

function renderStepDetail(step) {
  const cfg = stepConfig(step.step_id) || {};
  const endLate = stepEnd(step) && step.finish_by && Date.parse(stepEnd(step)) > Date.parse(step.finish_by);
  const startLate = step.start && step.expected_start && Date.parse(step.start) > Date.parse(step.expected_start) + 15 * 60 * 1000;
  // max_duration applies to each run, not to failed run + gap + rerun (or to repeats together)
  const durationOver = cfg.max_duration_s && step.runs.some((r) => r.duration_s && r.duration_s > cfg.max_duration_s);
  const grid = h("dl", { class: "detail-grid" },
    detailPair("Expected start", fmtTime(step.expected_start)),
    detailPair("Actual start", fmtTime(step.start), startLate),
    detailPair("Expected end", fmtTime(step.expected_end)),
    detailPair("Actual end", stepEnd(step) ? fmtTime(stepEnd(step)) : step.start ? "still running" : "–", endLate),
    detailPair("Predicted end", fmtTime(step.predicted_end)),
    detailPair("Finish by", fmtTime(step.finish_by)),
    detailPair("Duration (expected / max per run)", `${durationText(step)} (${fmtDuration(cfg.expected_duration_s)} / ${fmtDuration(cfg.max_duration_s)})`, durationOver),
    detailPair("RPS (minimum)", `${fmtRps(step.rps)} (${cfg.min_rps === null || cfg.min_rps === undefined ? "none" : fmtRps(cfg.min_rps)})`,
      step.rps !== null && cfg.min_rps && step.rps < cfg.min_rps),
    detailPair("Records / errors", `${fmtInt(step.records)} / ${fmtInt(step.errors)}`, step.errors > 0),
    detailPair("Threads done", step.threads_total ? `${step.threads_done} of ${step.threads_total}` : "–"),
    detailPair("Last progress", fmtTime(step.last_progress_at)),
    step.pending_count !== null && step.pending_count !== undefined ? detailPair("Pending items", fmtInt(step.pending_count)) : null,
    detailPair("Depends on", (step.depends_on || []).join(", ") || "nothing (first step)"),
  );
  const detail = h("div", { class: "step-detail" }, grid, renderTypical(step));
  if (step.error_text) detail.append(h("pre", { class: "error-text", text: step.error_text }));
  if (step.runs.length) detail.append(renderRunsTable(step));
  if (step.alerts.length) {
    detail.append(h("div", { class: "detail-block" }, h("h3", { text: "Alerts of this step" }),
      h("ul", null, step.alerts.map((a) => h("li", null,
        h("span", { class: `sev sev-${a.severity}`, text: a.severity }), " ",
        h("span", { text: a.title }), " ",
        h("span", { class: "muted", text: `(${a.state})` }), " ",
        h("button", { type: "button", class: "secondary", text: "View details", onclick: () => openAlert(a.id) }),
      )))));
  }
  if (cfg.runbook) detail.append(h("div", { class: "detail-block" }, h("h3", { text: "Runbook" }), h("p", { text: cfg.runbook })));
  return detail;
}

/** Typical vs actual: the learned baseline beside what the step did today. */
function renderTypical(step) {
  const b = step.baseline;
  const zone = tz();
  const day = state.timeline ? state.timeline.business_date : null;
  const pairs = b
    ? [
      detailPair("Duration (actual vs typical)", typicalDurationText(step.duration_s, b)),
      detailPair("Records (actual vs typical)", typicalRecordsText(step.start ? step.records : null, b)),
      detailPair("Start (actual vs typical)", typicalStartText(step.start, b, zone, day)),
      detailPair("Sample days", `${b.sample_days} (${b.segment === "all" ? "all days" : b.segment.replace("_", "-")})`),
    ]
    : [detailPair("Baseline", "no history learned yet")];
  pairs.push(detailPair("Progress basis", progressBasisText(step.progress_basis)));
  if (!step.start && step.predicted_start) {
    pairs.push(detailPair("Predicted", `${fmtTime(step.predicted_start)} – ${fmtTime(step.predicted_end)}`));
  }
  pairs.push(detailPair("Critical path", step.on_critical_path ? "yes: its delay moves the chain's finish" : "no"));
  return h("div", { class: "detail-block typical-vs-actual" }, h("h3", { text: "Typical vs actual" }),
    h("dl", { class: "detail-grid" }, pairs));
}

function renderLegend() {
  const legend = $("legend");
  const items = [
    h("span", null, h("span", { class: "swatch plan" }), "planned window"),
    h("span", null, h("span", { class: "swatch actual" }), "actual run"),
    h("span", null, h("span", { class: "swatch actual run-error" }), "failed run"),
    h("span", null, h("span", { class: "swatch predicted" }), "predicted (remainder, or not started)"),
    h("span", null, h("span", { class: "swatch typical" }), "typical end (p50–p90)"),
    h("span", null, h("span", { class: "swatch critical-path" }), "critical path"),
    h("span", null, h("span", { class: "swatch deadline" }), "finish by"),
    h("span", null, h("span", { class: "swatch now" }), "as of"),
    state.timeline && (state.timeline.maintenance || []).length
      ? h("span", null, h("span", { class: "swatch maintenance" }), "maintenance window") : null,
    h("span", null, `Times in ${zoneLabel(tz(), state.timeline && (state.timeline.as_of || state.timeline.window_start))}`),
  ];
  legend.replaceChildren(...items.filter(Boolean));
}

function renderChainSummary(tl) {
  const summary = $("chain-summary");
  summary.replaceChildren();
  if (!tl.evaluated) {
    summary.append(h("span", { text: "The monitor has no record of this business day." }));
    return;
  }
  const ended = chainEnd(tl);
  const noRun = noRunText(tl);
  if (noRun) summary.append(h("span", { class: "no-run", text: noRun }), " \u00B7 ");
  const marker = ended ? null : chainMarkerText(tl, tz(), tl.business_date);
  const atRisk = marker !== null && marker.startsWith("at risk");
  summary.append(h("span", null,
    h("span", { class: `chip st-${tl.chain_status}`, text: `Chain ${labels.statuses[tl.chain_status] || tl.chain_status}` }),
    ` as of ${fmtTime(tl.as_of)}`,
    ended ? ` \u00B7 ended ${fmtTime(ended)}` : null,
    marker ? " \u00B7 " : null,
    marker ? h("span", { id: "chain-marker", class: `chain-marker${atRisk ? " at-risk" : ""}`, text: marker }) : null,
    !marker && tl.chain_finish_by ? ` \u00B7 must finish by ${fmtTime(tl.chain_finish_by)}` : null,
  ));
}

export function renderTimeline() {
  const tl = state.timeline;
  const box = $("timeline");
  if (!tl) {
    box.replaceChildren();
    return;
  }
  box.dataset.date = tl.business_date;
  box.dataset.workflow = tl.workflow_id;
  renderLegend();
  renderChainSummary(tl);
  const range = axisRange(tl);
  const rows = tl.steps.map((s, i) => renderStepRow(s, i, tl.steps, tl, range));
  const chain = tl.chain_alerts.filter((a) => a.state !== "resolved");
  box.replaceChildren(renderAxis(range), ...rows);
  if (chain.length) box.append(h("p", { class: "muted", text: `Whole chain: ${chain.map((a) => a.title).join(" \u00B7 ")}` }));
}
