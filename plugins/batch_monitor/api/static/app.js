/*
 * Batch Monitor page. Plain JavaScript, no build step, no third-party code.
 *
 * Data comes only from the JSON API beside this page (relative paths: api/v1/...). The browser
 * sends Airflow's session cookie with each request. Every piece of data reaches the page through
 * textContent or element properties, never through innerHTML, so error text that contains HTML
 * or script is shown as text.
 */
"use strict";

(function () {
  const API = "api/v1/";

  const KIND_LABELS = {
    FAILED: "failed",
    STUCK: "stuck",
    LONG_RUNNING: "long running",
    LOW_THROUGHPUT: "low throughput",
    LATE_START: "late start",
    MISSED_DEADLINE: "missed deadline",
    OUT_OF_ORDER: "out of order",
    EMPTY_RUN: "empty run",
    DATA_QUALITY: "data quality",
    SOURCE_UNAVAILABLE: "source unavailable",
  };
  const STATUS_LABELS = {
    complete: "Complete",
    running: "Running",
    repeating: "Repeating",
    failed: "Failed",
    stuck: "Stuck",
    pending: "Pending",
    waiting: "Waiting",
    skipped: "Skipped",
  };
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
  const EVENT_LABELS = {
    opened: "Opened",
    reopened: "Re-opened",
    escalated: "Escalated",
    seen: "Seen again",
    emailed: "E-mailed",
    email_failed: "E-mail failed",
    acknowledged: "Acknowledged",
    ack_repeated: "Acknowledged again",
    ack_rejected: "Acknowledge refused",
    resolved: "Resolved",
  };

  const state = {
    user: "",
    refreshSeconds: 1800,
    workflows: [],
    workflow: null, // WorkflowInfo
    date: null, // "YYYY-MM-DD"
    timeline: null,
    active: null,
    health: null,
    expanded: new Set(),
    openForms: new Set(),
    nextRefreshAt: 0,
    refreshPending: false,
    loading: false,
    again: false,
    knownCritical: null, // Set of alert ids seen as CRITICAL (null before the first load)
    allWorkflows: false, // the banner, the card and the list count every workflow's alerts
    history: { filters: {}, sort: "start_time", order: "desc", offset: 0, limit: 50, total: 0 },
  };

  const $ = (id) => document.getElementById(id);

  /* ------------------------------------------------------------------ DOM helper (no innerHTML) */

  function h(tag, props, ...children) {
    const el = document.createElement(tag);
    if (props) {
      for (const [key, value] of Object.entries(props)) {
        if (value === null || value === undefined || value === false) continue;
        if (key === "class") el.className = value;
        else if (key === "text") el.textContent = value;
        else if (key === "style") Object.assign(el.style, value);
        else if (key === "dataset") Object.assign(el.dataset, value);
        else if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
        else if (key in el && typeof value !== "string") el[key] = value;
        else el.setAttribute(key, value === true ? "" : String(value));
      }
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      el.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return el;
  }

  /* ------------------------------------------------------------------ formatting */

  const tz = () => (state.timeline && state.timeline.timezone) || (state.workflow && state.workflow.timezone) || "UTC";

  // Building an Intl.DateTimeFormat costs far more than using one, and a 500-step timeline
  // formats thousands of times: each locale + options pair is built once.
  const formatters = new Map();
  function dateFormat(locale, options) {
    const key = `${locale} ${JSON.stringify(options)}`;
    let f = formatters.get(key);
    if (!f) {
      f = new Intl.DateTimeFormat(locale, options);
      formatters.set(key, f);
    }
    return f;
  }

  function parts(iso, zone) {
    const f = dateFormat("en-US", { timeZone: zone, year: "numeric", month: "2-digit", day: "2-digit" });
    const out = {};
    for (const p of f.formatToParts(new Date(iso))) out[p.type] = p.value;
    return out;
  }

  function localDate(iso, zone) {
    const p = parts(iso, zone || tz());
    return `${p.year}-${p.month}-${p.day}`;
  }

  function fmtTime(iso, zone) {
    if (!iso) return "–";
    const z = zone || tz();
    const time = dateFormat("en-GB", { timeZone: z, hour: "2-digit", minute: "2-digit", hourCycle: "h23" }).format(new Date(iso));
    const day = localDate(iso, z);
    const businessDay = state.timeline ? state.timeline.business_date : null;
    if (businessDay && day !== businessDay) {
      const label = dateFormat("en-US", { timeZone: z, month: "short", day: "numeric" }).format(new Date(iso));
      return `${label}, ${time}`;
    }
    return time;
  }

  function fmtDateTime(iso, zone) {
    if (!iso) return "–";
    const z = zone || tz();
    const day = dateFormat("en-US", { timeZone: z, month: "short", day: "numeric" }).format(new Date(iso));
    const time = dateFormat("en-GB", { timeZone: z, hour: "2-digit", minute: "2-digit", hourCycle: "h23" }).format(new Date(iso));
    return `${day}, ${time}`;
  }

  function zoneLabel(zone, atIso) {
    try {
      const name = dateFormat("en-US", { timeZone: zone, timeZoneName: "shortOffset" })
        .formatToParts(atIso ? new Date(atIso) : new Date())
        .find((p) => p.type === "timeZoneName");
      return name ? `${zone} (${name.value})` : zone;
    } catch (e) {
      return zone;
    }
  }

  function fmtDuration(seconds) {
    if (seconds === null || seconds === undefined) return "–";
    const s = Math.max(0, Math.round(seconds));
    const hours = Math.floor(s / 3600);
    const minutes = Math.floor((s % 3600) / 60);
    if (hours) return minutes ? `${hours}h ${minutes}m` : `${hours}h`;
    if (minutes) return `${minutes}m`;
    return `${s}s`;
  }

  const intFormat = new Intl.NumberFormat("en-US");
  const fmtInt = (n) => (n === null || n === undefined ? "–" : intFormat.format(Number(n)));
  const fmtRps = (n) => (n === null || n === undefined ? "–" : Number(n).toFixed(1));
  const fmtPct = (x) => (x === null || x === undefined ? "–" : `${(x * 100).toFixed(1)}%`);

  function fmtClock(seconds) {
    const s = Math.max(0, Math.ceil(seconds));
    const hh = Math.floor(s / 3600);
    const mm = String(Math.floor((s % 3600) / 60)).padStart(hh ? 2 : 1, "0");
    const ss = String(s % 60).padStart(2, "0");
    return hh ? `${hh}:${mm}:${ss}` : `${mm}:${ss}`;
  }

  function prettyDate(isoDate) {
    const [y, m, d] = isoDate.split("-").map(Number);
    return dateFormat("en-US", { timeZone: "UTC", weekday: "short", month: "short", day: "numeric", year: "numeric" })
      .format(new Date(Date.UTC(y, m - 1, d)));
  }

  function stepDisplayStatus(step) {
    if (step.late && !["failed", "stuck", "complete", "skipped"].includes(step.status)) return "late";
    return step.status;
  }

  function statusText(step) {
    let text = STATUS_LABELS[step.status] || step.status;
    if (step.status === "repeating" || (step.runs_required > 1 && step.status !== "complete")) {
      text += ` (${step.runs_done} of ${step.runs_required} runs)`;
    }
    if (step.late && !["failed", "stuck", "complete", "skipped"].includes(step.status)) text += " \u00B7 late";
    return text;
  }

  /* ------------------------------------------------------------------ API */

  class ApiError extends Error {
    constructor(status, detail) {
      super(detail);
      this.status = status;
    }
  }

  function describeDetail(detail) {
    if (typeof detail === "string") return detail;
    if (Array.isArray(detail)) {
      return detail.map((d) => `${(d.loc || []).slice(-1)[0] || "request"}: ${d.msg}`).join("; ");
    }
    return JSON.stringify(detail);
  }

  async function api(path, options) {
    const opts = Object.assign({ credentials: "same-origin", headers: { Accept: "application/json" } }, options || {});
    let response;
    try {
      response = await fetch(API + path, opts);
    } catch (e) {
      throw new ApiError(0, "The Airflow api-server did not answer. Check your connection and press Refresh.");
    }
    let body = null;
    try {
      body = await response.json();
    } catch (e) {
      body = null;
    }
    if (!response.ok) {
      let detail = body && body.detail !== undefined ? describeDetail(body.detail) : response.statusText;
      if (response.status === 401) {
        detail = "Your Airflow session has expired or you are not logged in. Reload the page to log in again.";
      }
      throw new ApiError(response.status, detail);
    }
    return body;
  }

  function query(params) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) {
      if (v !== null && v !== undefined && v !== "") q.set(k, v);
    }
    const s = q.toString();
    return s ? `?${s}` : "";
  }

  /* ------------------------------------------------------------------ messages */

  let toastTimer = null;
  function toast(message, isError) {
    const el = $("toast");
    el.textContent = message;
    el.classList.toggle("error", Boolean(isError));
    el.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => { el.hidden = true; }, isError ? 9000 : 5000);
  }

  function showProblem(message) {
    const el = $("problem");
    el.textContent = message || "";
    el.hidden = !message;
  }

  /* ------------------------------------------------------------------ theme */

  function parentRoot() {
    try {
      if (window.parent && window.parent !== window) return window.parent.document.documentElement;
    } catch (e) {
      /* not same-origin: no parent theme to follow */
    }
    return null;
  }

  function currentTheme() {
    const forced = new URLSearchParams(location.search).get("theme");
    if (forced === "dark" || forced === "light") return forced;
    const root = parentRoot();
    if (root) {
      if (root.classList.contains("dark")) return "dark";
      if (root.classList.contains("light")) return "light";
    }
    return window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light";
  }

  function applyTheme() {
    document.documentElement.dataset.theme = currentTheme();
  }

  function watchTheme() {
    applyTheme();
    const root = parentRoot();
    if (root) new MutationObserver(applyTheme).observe(root, { attributes: true, attributeFilter: ["class", "style"] });
    if (window.matchMedia) window.matchMedia("(prefers-color-scheme: dark)").addEventListener("change", applyTheme);
  }

  /* ------------------------------------------------------------------ banner and cards */

  /* The banner, the "Active alerts" card and the alert list count one set: the active (open or
   * acknowledged, not resolved) alerts of the selected workflow, or of every workflow with the
   * "All workflows" switch. Acknowledging moves an alert from open to acknowledged; it stays
   * counted until it resolves. */
  function shownAlerts() {
    if (!state.active) return null;
    const wf = state.workflow;
    if (state.allWorkflows || !wf) return state.active.alerts;
    return state.active.alerts.filter((a) => a.workflow_id === wf.workflow_id);
  }

  function alertCounts(alerts) {
    const open = alerts.filter((a) => a.state === "open");
    return {
      total: alerts.length,
      open: open.length,
      acknowledged: alerts.length - open.length,
      critical: alerts.filter((a) => a.severity === "CRITICAL").length,
      openCritical: open.some((a) => a.severity === "CRITICAL"),
    };
  }

  function alertScope() {
    return state.allWorkflows || !state.workflow || state.workflows.length < 2 ? "all workflows" : state.workflow.name;
  }

  function renderBanner() {
    const alerts = shownAlerts();
    const banner = $("banner");
    const text = $("banner-text");
    text.replaceChildren();
    if (!alerts) return;
    const n = alertCounts(alerts);
    banner.className = `banner ${n.open === 0 ? "ok" : n.openCritical ? "critical" : "warning"}`;
    if (n.total === 0) {
      text.append(h("span", { text: "No active alerts" }));
    } else {
      text.append(h("span", { id: "banner-count", text: `${n.total} active alert${n.total === 1 ? "" : "s"}` }));
      const counts = {};
      for (const a of alerts) counts[a.kind] = (counts[a.kind] || 0) + 1;
      for (const kind of Object.keys(KIND_LABELS)) {
        if (!counts[kind]) continue;
        text.append(h("span", { class: "sep", text: "|" }), h("span", { text: `${counts[kind]} ${KIND_LABELS[kind]}` }));
      }
    }
    if (n.acknowledged) {
      text.append(h("span", { class: "sep", text: "|" }), h("span", { class: "muted", text: `${n.acknowledged} acknowledged` }));
    }
  }

  function setCard(id, value, sub, tone) {
    const card = $(id);
    card.classList.remove("bad", "warn", "good");
    if (tone) card.classList.add(tone);
    card.querySelector(".card-value").textContent = value;
    card.querySelector(".card-sub").textContent = sub;
  }

  function renderCards() {
    const hl = state.health;
    if (hl) {
      const rate = hl.success_rate;
      setCard(
        "card-success",
        fmtPct(rate),
        hl.runs_finished ? `${hl.runs_finished - hl.runs_failed} of ${hl.runs_finished} finished runs completed` : "no finished runs in the window",
        rate === null ? null : rate >= 0.98 ? "good" : rate >= 0.9 ? "warn" : "bad",
      );
      setCard("card-failed", fmtInt(hl.failed_last_24h), `runs ended in error in the 24 h to ${fmtDateTime(hl.reference_time, hl.timezone)}`,
        hl.failed_last_24h ? "bad" : "good");
      const today = state.workflow && hl.business_date === state.workflow.current_business_date;
      $("rps-period").textContent = today ? "(today)" : "(day)";
      setCard("card-rps", fmtRps(hl.avg_rps_today), `records per second, business day ${hl.business_date}`, null);
    }
    const alerts = shownAlerts();
    if (alerts) {
      const n = alertCounts(alerts);
      setCard("card-alerts", fmtInt(n.total), `${n.acknowledged} acknowledged \u00B7 ${n.critical} critical \u00B7 ${alertScope()}`,
        n.open ? (n.openCritical ? "bad" : "warn") : "good");
    }
  }

  /* ------------------------------------------------------------------ timeline */

  function stepConfig(stepId) {
    const wf = state.workflow;
    return wf ? wf.steps.find((s) => s.step_id === stepId) : null;
  }

  function axisRange(tl) {
    const ms = (iso) => (iso ? Date.parse(iso) : null);
    const points = [];
    for (const s of tl.steps) {
      for (const v of [s.expected_start, s.expected_end, s.start, s.end, s.predicted_end, s.finish_by]) {
        if (v) points.push(ms(v));
      }
      for (const r of s.runs) for (const v of [r.start, r.end]) if (v) points.push(ms(v));
    }
    if (tl.as_of) points.push(ms(tl.as_of));
    if (tl.chain_finish_by) points.push(ms(tl.chain_finish_by));
    let lo = points.length ? Math.min(...points) : ms(tl.window_start);
    let hi = points.length ? Math.max(...points) : ms(tl.window_end);
    const hour = 3600 * 1000;
    lo = Math.floor(lo / hour) * hour;
    hi = Math.ceil(hi / hour) * hour;
    if (hi - lo < 4 * hour) hi = lo + 4 * hour;
    return { lo, hi };
  }

  function pct(range, iso) {
    const t = typeof iso === "number" ? iso : Date.parse(iso);
    return ((t - range.lo) / (range.hi - range.lo)) * 100;
  }

  function bar(range, cls, from, to, title) {
    if (!from || !to) return null;
    const left = Math.max(0, pct(range, from));
    const right = Math.min(100, pct(range, to));
    if (right <= left) return null;
    return h("div", { class: `bar ${cls}`, title, style: { left: `${left}%`, width: `${right - left}%` } });
  }

  function renderAxis(range) {
    const axis = h("div", { class: "axis" });
    const hour = 3600 * 1000;
    const span = (range.hi - range.lo) / hour;
    const step = span <= 8 ? 1 : span <= 16 ? 2 : span <= 30 ? 3 : 6;
    for (let t = range.lo; t <= range.hi; t += step * hour) {
      const label = dateFormat("en-GB", { timeZone: tz(), hour: "2-digit", minute: "2-digit", hourCycle: "h23" }).format(new Date(t));
      axis.append(h("span", { class: "tick", text: label, style: { left: `${pct(range, t)}%` } }));
    }
    return h("div", { class: "axis-row", "aria-hidden": "true" }, h("div"), h("div"), axis);
  }

  function plannedWindows(step) {
    // The plan applies to each run: the first from its expected start, a rerun after a failed run
    // from its own start, each for the expected duration (never failed run + gap + rerun).
    const cfg = stepConfig(step.step_id) || {};
    const span = cfg.expected_duration_s ? cfg.expected_duration_s * 1000 : null;
    if (!span) return step.expected_start && step.expected_end ? [[step.expected_start, step.expected_end]] : [];
    const windows = step.expected_start ? [[step.expected_start, Date.parse(step.expected_start) + span]] : [];
    step.runs.forEach((run, i) => {
      if (i > 0 && run.start && step.runs[i - 1].status === "error") windows.push([run.start, Date.parse(run.start) + span]);
    });
    return windows;
  }

  function renderGantt(step, tl, range) {
    const gantt = h("div", { class: "gantt", "aria-hidden": "true" });
    for (const [from, to] of plannedWindows(step)) {
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

  function stepEnd(step) {
    if (step.end || step.status === "running" || step.status === "stuck") return step.end;
    const ends = step.runs.map((r) => r.end).filter(Boolean).sort();
    return ends.length ? ends[ends.length - 1] : null;
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

  function renderStepRow(step, index, steps, tl, range) {
    const shown = stepDisplayStatus(step);
    const expanded = state.expanded.has(step.step_id);
    const previous = index > 0 ? steps[index - 1].step_id : null;
    const deps = step.depends_on || [];
    const unusualDeps = deps.length && !(deps.length === 1 && deps[0] === previous);
    const threadsRunning = step.runs.reduce((n, r) => n + (r.threads_running || 0), 0);

    const title = h("div", { class: "step-title" },
      h("strong", { text: step.name }),
      h("span", { class: "mono muted", text: step.batch_code }),
      h("span", { class: `chip st-${shown}`, text: statusText(step) }),
      step.alerts.filter((a) => a.state !== "resolved").map((a) =>
        h("span", { class: `sev sev-${a.severity}`, title: a.title, text: `\u26A0 ${KIND_LABELS[a.kind] || a.kind}` })),
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
    if (step.status === "running" || step.status === "stuck") {
      const p = step.progress === null || step.progress === undefined ? null : Math.max(0, Math.min(1, step.progress));
      main.append(h("div", { class: "progress" },
        h("div", { class: "bar", role: "progressbar", "aria-valuemin": "0", "aria-valuemax": "100", "aria-valuenow": p === null ? null : String(Math.round(p * 100)), "aria-label": `${step.name} progress` },
          h("div", { class: "fill", style: { width: `${p === null ? 0 : p * 100}%` } })),
        h("span", { text: p === null ? "progress unknown" : `${Math.round(p * 100)}%` }),
        step.predicted_end ? h("span", { class: "muted", text: `predicted end ${fmtTime(step.predicted_end)}` }) : null,
      ));
    }

    const rail = h("div", { class: "rail" }, h("div", { class: "node", title: statusText(step), text: STATUS_ICONS[shown] || "?" }));
    if (index < steps.length - 1) rail.append(h("span", { class: "arrow" }));

    const row = h("div", {
      class: `step-row st-${shown}${index === 0 ? " first" : ""}${index === steps.length - 1 ? " last" : ""}`,
      role: "button",
      tabindex: "0",
      "aria-expanded": expanded ? "true" : "false",
      dataset: { step: step.step_id, status: step.status },
    }, rail, main, renderGantt(step, tl, range));
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
    if (expanded) row.append(renderStepDetail(step, tl));
    return row;
  }

  function detailPair(label, value, over) {
    return h("div", null, h("dt", { text: label }), h("dd", { class: over ? "over" : null, text: value }));
  }

  function renderStepDetail(step, tl) {
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
    const detail = h("div", { class: "step-detail" }, grid);
    if (step.error_text) detail.append(h("pre", { class: "error-text", text: step.error_text }));

    if (step.runs.length) {
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
      detail.append(h("div", { class: "detail-block" }, h("h3", { text: `Runs (${step.runs.length})` }), h("div", { class: "table-wrap" }, table)));
    }
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

  function renderLegend() {
    const legend = $("legend");
    legend.replaceChildren(
      h("span", null, h("span", { class: "swatch plan" }), "planned window"),
      h("span", null, h("span", { class: "swatch actual" }), "actual run"),
      h("span", null, h("span", { class: "swatch actual run-error" }), "failed run"),
      h("span", null, h("span", { class: "swatch predicted" }), "predicted remainder"),
      h("span", null, h("span", { class: "swatch deadline" }), "finish by"),
      h("span", null, h("span", { class: "swatch now" }), "as of"),
      h("span", null, `Times in ${zoneLabel(tz(), state.timeline && (state.timeline.as_of || state.timeline.window_start))}`),
    );
  }

  function chainEnd(tl) {
    // a completed chain has ended: its last step's actual end, not a prediction
    if (tl.chain_status !== "complete") return null;
    const ends = tl.steps.map(stepEnd).filter(Boolean).sort((a, b) => Date.parse(a) - Date.parse(b));
    return ends.length ? ends[ends.length - 1] : null;
  }

  function renderTimeline() {
    const tl = state.timeline;
    const box = $("timeline");
    if (!tl) {
      box.replaceChildren();
      return;
    }
    box.dataset.date = tl.business_date;
    box.dataset.workflow = tl.workflow_id;
    renderLegend();
    const summary = $("chain-summary");
    summary.replaceChildren();
    if (!tl.evaluated) {
      summary.append(h("span", { text: "The monitor has no record of this business day." }));
    } else {
      summary.append(h("span", null,
        h("span", { class: `chip st-${tl.chain_status}`, text: `Chain ${STATUS_LABELS[tl.chain_status] || tl.chain_status}` }),
        ` as of ${fmtTime(tl.as_of)}`,
        chainEnd(tl) ? ` \u00B7 ended ${fmtTime(chainEnd(tl))}`
          : tl.predicted_chain_end ? ` \u00B7 predicted end ${fmtTime(tl.predicted_chain_end)}` : null,
        tl.chain_finish_by ? ` \u00B7 must finish by ${fmtTime(tl.chain_finish_by)}` : null,
      ));
    }
    const range = axisRange(tl);
    const rows = tl.steps.map((s, i) => renderStepRow(s, i, tl.steps, tl, range));
    const chain = tl.chain_alerts.filter((a) => a.state !== "resolved");
    box.replaceChildren(renderAxis(range), ...rows);
    if (chain.length) box.append(h("p", { class: "muted", text: `Whole chain: ${chain.map((a) => a.title).join(" \u00B7 ")}` }));
  }

  /* ------------------------------------------------------------------ alerts */

  function permissionReason(workflowId) {
    return `You (${state.user}) may not acknowledge or resolve: this needs edit access to DAG batch_monitor_${workflowId}.`;
  }

  function canAct(workflowId) {
    const wf = state.workflows.find((w) => w.workflow_id === workflowId);
    return Boolean(wf && wf.can_acknowledge);
  }

  function ackNote(alert) {
    if (alert.state !== "acknowledged") return null;
    const comment = alert.ack_comment ? ` \u2014 \u201C${alert.ack_comment}\u201D` : "";
    return h("div", { class: "ack-note", text: `Acknowledged by ${alert.acknowledged_by} at ${fmtDateTime(alert.acknowledged_at, alert.timezone)}${comment}` });
  }

  async function act(alertId, action, comment) {
    const path = action === "resolve" ? `alerts/${alertId}/resolve` : `acknowledge-alert/${alertId}`;
    const body = comment ? { comment } : {};
    const result = await api(path, {
      method: "POST",
      headers: { Accept: "application/json", "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
    toast(result.message, false);
    return result;
  }

  function actionForm(alert, action, onDone, onCancel) {
    const textarea = h("textarea", { name: "comment", maxlength: "2000", placeholder: "Comment (optional)", "aria-label": "Comment" });
    const confirmLabel = action === "resolve" ? "Resolve" : "Confirm acknowledge";
    const key = `${action}:${alert.id}`;
    state.openForms.add(key);
    const close = () => {
      state.openForms.delete(key);
      flushPendingRefresh();
    };
    const form = h("form", { class: "ack-form", dataset: { alert: String(alert.id) } },
      textarea,
      h("div", { class: "row" },
        h("button", { type: "submit", text: confirmLabel }),
        h("button", { type: "button", class: "secondary", text: "Cancel", onclick: () => { close(); onCancel(); } }),
      ),
    );
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      form.querySelectorAll("button").forEach((b) => { b.disabled = true; });
      try {
        await act(alert.id, action, textarea.value.trim());
        close();
        await onDone();
      } catch (e) {
        toast(e.message, true);
        form.querySelectorAll("button").forEach((b) => { b.disabled = false; });
      }
    });
    setTimeout(() => textarea.focus(), 0);
    return form;
  }

  function renderAlertItem(alert) {
    const allowed = canAct(alert.workflow_id);
    const item = h("div", { class: `alert-item ${alert.state}`, dataset: { alertId: String(alert.id), state: alert.state } });
    const actions = h("div", { class: "alert-actions" },
      h("button", { type: "button", class: "secondary", text: "View details", onclick: () => openAlert(alert.id) }));
    if (alert.state === "open") {
      const ackButton = h("button", { type: "button", class: "ack-button", text: "Acknowledge", disabled: !allowed, title: allowed ? null : permissionReason(alert.workflow_id) });
      ackButton.addEventListener("click", () => {
        if (item.querySelector(".ack-form")) return;
        ackButton.disabled = true;
        item.append(actionForm(alert, "acknowledge", refreshAll, () => {
          item.querySelector(".ack-form").remove();
          ackButton.disabled = false;
        }));
      });
      actions.append(ackButton);
      if (!allowed) actions.append(h("div", { class: "reason", text: permissionReason(alert.workflow_id) }));
    } else {
      actions.append(h("span", { class: "chip st-complete", text: "Acknowledged" }));
    }
    const wfName = (state.workflows.find((w) => w.workflow_id === alert.workflow_id) || {}).name || alert.workflow_id;
    item.append(
      h("div", null, h("span", { class: `sev sev-${alert.severity}`, text: alert.severity })),
      h("div", null,
        h("div", { class: "message", text: alert.title }),
        h("div", { class: "facts" },
          h("span", { text: `${alert.step_name}${alert.batch_cd && alert.batch_cd !== alert.step_name ? ` (${alert.batch_cd})` : ""}` }),
          h("span", { text: KIND_LABELS[alert.kind] || alert.kind }),
          h("span", { text: `business day ${alert.business_date}` }),
          state.workflows.length > 1 ? h("span", { text: wfName }) : null,
          h("span", { text: `since ${fmtDateTime(alert.since || alert.first_seen_at, alert.timezone)}` }),
        ),
        ackNote(alert),
      ),
      actions,
    );
    return item;
  }

  function renderAlerts() {
    const list = $("alert-list");
    const alerts = shownAlerts();
    if (!alerts) return;
    $("all-workflows").hidden = state.workflows.length < 2;
    const n = alertCounts(alerts);
    $("alerts-summary").textContent = n.total
      ? `${n.total} active: ${n.open} open, ${n.acknowledged} acknowledged \u00B7 ${alertScope()} \u00B7 critical first, then newest`
      : "";
    if (!alerts.length) {
      list.replaceChildren(h("p", { class: "empty", text: "No active alerts. Everything the monitor checks is within its limits." }));
      return;
    }
    list.replaceChildren(...alerts.map(renderAlertItem)); // the API sends them CRITICAL first, then newest
  }

  function eventLine(e, zone) {
    const label = EVENT_LABELS[e.event] || e.event;
    const email = e.details && e.details.email;
    const extra = [];
    if (e.details && e.details.from && e.details.to) extra.push(`${e.details.from} \u2192 ${e.details.to}`);
    if (e.details && e.details.resolution) extra.push(e.details.resolution === "cleared" ? "condition cleared" : "by hand");
    if (email && email.queued) extra.push("e-mail queued");
    // a mail's outcome is timed by the SMTP server's answer (at), not by the tick that queued it
    const mailEvent = e.event === "emailed" || e.event === "email_failed";
    if (mailEvent && e.details && e.details.queued_at) extra.push(`queued ${fmtDateTime(e.details.queued_at, zone)}`);
    return h("li", { dataset: { event: e.event } },
      h("strong", { text: label }), " ",
      h("span", { class: "muted", text: `${fmtDateTime(mailEvent ? e.at : e.as_of || e.at, zone)} by ${e.actor}` }),
      extra.length ? h("span", { class: "muted", text: ` \u00B7 ${extra.join(", ")}` }) : null,
      e.comment ? h("div", { text: `\u201C${e.comment}\u201D` }) : null,
    );
  }

  async function openAlert(alertId) {
    const dialog = $("alert-dialog");
    const body = $("dialog-body");
    body.replaceChildren(h("p", { class: "muted", text: "Loading…" }));
    if (!dialog.open) dialog.showModal();
    let detail;
    try {
      detail = await api(`alerts/${encodeURIComponent(alertId)}`);
    } catch (e) {
      body.replaceChildren(h("p", { class: "problem", text: e.message }));
      return;
    }
    const a = detail.alert;
    const zone = a.timezone;
    const facts = h("dl", { class: "detail-grid" },
      detailPair("Severity", a.severity),
      detailPair("Kind", KIND_LABELS[a.kind] || a.kind),
      detailPair("State", a.state),
      detailPair("Step", `${a.step_name} (${a.batch_cd || a.step_id})`),
      detailPair("Business day", a.business_date),
      detailPair("Since", fmtDateTime(a.since, zone)),
      detailPair("First seen", fmtDateTime(a.first_seen_at, zone)),
      detailPair("Last seen", `${fmtDateTime(a.last_seen_at, zone)} (${a.seen_count}\u00D7)`),
      a.run_key ? detailPair("Run", a.run_key) : null,
      a.acknowledged_by ? detailPair("Acknowledged", `${a.acknowledged_by}, ${fmtDateTime(a.acknowledged_at, zone)}`) : null,
      a.resolved_at ? detailPair("Resolved", `${a.resolved_by}, ${fmtDateTime(a.resolved_at, zone)} (${a.resolution})`) : null,
    );
    const content = [
      h("h2", { id: "dialog-title", text: a.title }),
      h("p", { class: "muted", text: `Alert ${a.id} \u00B7 times in ${zoneLabel(zone, a.first_seen_at)}` }),
      facts,
      a.expected ? h("p", null, h("strong", { text: "Expected: " }), a.expected) : null,
      a.actual ? h("p", null, h("strong", { text: "Actual: " }), a.actual) : null,
      a.error_text ? h("pre", { class: "error-text", text: a.error_text }) : null,
      a.action ? h("p", null, h("strong", { text: "What to do: " }), a.action) : null,
      a.ack_comment ? h("p", null, h("strong", { text: "Comment: " }), a.ack_comment) : null,
      h("h3", { text: "History" }),
      h("ol", { class: "events" }, detail.events.map((e) => eventLine(e, zone))),
    ];
    const actions = h("div", { class: "alert-actions", style: { justifyContent: "flex-start", marginTop: "12px" } });
    if (a.state !== "resolved") {
      const reason = detail.can_acknowledge ? null : permissionReason(a.workflow_id);
      const reopen = () => openAlert(a.id);
      const done = async () => { await refreshAll(); await openAlert(a.id); };
      if (a.state === "open") {
        actions.append(h("button", { type: "button", text: "Acknowledge", disabled: !detail.can_acknowledge, title: reason,
          onclick: () => { actions.replaceWith(actionForm(a, "acknowledge", done, reopen)); } }));
      }
      actions.append(h("button", { type: "button", class: "danger", text: "Resolve", disabled: !detail.can_acknowledge, title: reason,
        onclick: () => { actions.replaceWith(actionForm(a, "resolve", done, reopen)); } }));
      if (reason) actions.append(h("div", { class: "reason", text: reason }));
    }
    content.push(actions);
    body.replaceChildren(...content.filter(Boolean));
  }

  /* ------------------------------------------------------------------ notifications (opt-in) */

  function notifyEnabled() {
    return localStorage.getItem("batchMonitor.notify") === "1" && "Notification" in window && Notification.permission === "granted";
  }

  function notifyNewCritical() {
    const critical = (state.active ? state.active.alerts : []).filter((a) => a.severity === "CRITICAL" && a.state === "open");
    const ids = new Set(critical.map((a) => a.id));
    if (state.knownCritical !== null && notifyEnabled()) {
      for (const a of critical) {
        if (!state.knownCritical.has(a.id)) new Notification(`CRITICAL: ${a.title}`, { body: `${a.step_name} \u00B7 business day ${a.business_date}`, tag: `batch-monitor-${a.id}` });
      }
    }
    state.knownCritical = ids;
  }

  function setupNotifications() {
    const box = $("notify-checkbox");
    if (!("Notification" in window)) {
      box.disabled = true;
      box.parentElement.title = "This browser cannot show notifications";
      return;
    }
    box.checked = notifyEnabled();
    box.addEventListener("change", async () => {
      if (!box.checked) {
        localStorage.setItem("batchMonitor.notify", "0");
        return;
      }
      const permission = await Notification.requestPermission();
      if (permission !== "granted") {
        box.checked = false;
        toast("The browser did not allow notifications for this page.", true);
        return;
      }
      localStorage.setItem("batchMonitor.notify", "1");
    });
  }

  /* ------------------------------------------------------------------ run history */

  function historyParams(extra) {
    const hs = state.history;
    // the business day picked above, unless the history's own From/To are set
    const ownDates = hs.filters.date_from || hs.filters.date_to;
    const day = ownDates || !state.date ? {} : { date_from: state.date, date_to: state.date };
    return Object.assign({ workflow: state.workflow ? state.workflow.workflow_id : null }, day, hs.filters,
      { sort: hs.sort, order: hs.order }, extra || {});
  }

  const HISTORY_COLUMNS = [
    ["business_date", "Business day"], ["batch_cd", "Batch"], [null, "Run"], ["status", "Status"],
    ["start_time", "Start"], ["end_time", "End"], ["duration_s", "Duration", true], ["records", "Records", true],
    ["errors", "Errors", true], ["rps", "RPS", true], [null, "Threads", true], [null, "Error"],
  ];

  function renderHistory(page) {
    const hs = state.history;
    const table = $("history-table");
    const head = h("thead", null, h("tr", null, HISTORY_COLUMNS.map(([key, label, num]) => {
      if (!key) return h("th", { class: num ? "num" : null, text: label });
      const active = hs.sort === key;
      const arrow = active ? (hs.order === "desc" ? " \u25BC" : " \u25B2") : "";
      return h("th", { class: num ? "num" : null, "aria-sort": active ? (hs.order === "desc" ? "descending" : "ascending") : null },
        h("button", { type: "button", class: "sort", text: label + arrow, onclick: () => {
          hs.order = active && hs.order === "desc" ? "asc" : "desc";
          hs.sort = key;
          hs.offset = 0;
          loadHistory();
        } }));
    })));
    const zoneOf = (wid) => ((state.workflows.find((w) => w.workflow_id === wid) || {}).timezone || "UTC");
    const rows = page.items.map((r) => h("tr", null,
      h("td", { class: "when", text: r.business_date }),
      h("td", { class: "mono", text: r.batch_cd }),
      h("td", { class: "mono", text: `${r.batch_nbr}${r.rerun_nbr ? `.${r.rerun_nbr}` : ""}` }),
      h("td", null, h("span", { class: `chip st-${r.status === "error" ? "failed" : r.status}`, text: r.status })),
      h("td", { class: "when", text: fmtDateTime(r.start_time, zoneOf(r.workflow_id)) }),
      h("td", { class: "when", text: fmtDateTime(r.end_time, zoneOf(r.workflow_id)) }),
      h("td", { class: "num", text: fmtDuration(r.duration_s) }),
      h("td", { class: "num", text: fmtInt(r.records) }),
      h("td", { class: "num", text: fmtInt(r.errors) }),
      h("td", { class: "num", text: fmtRps(r.rps) }),
      h("td", { class: "num", text: r.threads_total ? `${r.threads_done}/${r.threads_total}` : "–" }),
      h("td", { class: "err", title: r.error_text || null, text: r.error_text || "" }),
    ));
    const body = h("tbody", null, rows.length ? rows : h("tr", null, h("td", { colspan: String(HISTORY_COLUMNS.length), class: "empty", text: "No runs match these filters." })));
    table.replaceChildren(head, body);
    hs.total = page.total;
    const first = page.total ? page.offset + 1 : 0;
    const last = page.offset + page.items.length;
    const filters = hs.filters;
    const days = filters.date_from || filters.date_to
      ? `business days ${filters.date_from || "…"} to ${filters.date_to || "…"}`
      : state.date ? `business day ${state.date}` : "all business days";
    $("pager-text").textContent = `Showing ${first}\u2013${last} of ${fmtInt(page.total)} runs, ${days} (times in each workflow's zone)`;
    $("prev-page").disabled = page.offset === 0;
    $("next-page").disabled = last >= page.total;
    $("csv-link").href = API + "batch-logs" + query(historyParams({ format: "csv" }));
  }

  async function loadHistory() {
    const hs = state.history;
    try {
      const page = await api("batch-logs" + query(historyParams({ limit: hs.limit, offset: hs.offset })));
      renderHistory(page);
    } catch (e) {
      toast(`Run history: ${e.message}`, true);
    }
  }

  function setupHistory() {
    const form = $("history-filters");
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const data = new FormData(form);
      state.history.filters = {};
      for (const [k, v] of data.entries()) if (String(v).trim()) state.history.filters[k] = String(v).trim();
      state.history.offset = 0;
      loadHistory();
    });
    form.addEventListener("reset", () => {
      setTimeout(() => {
        state.history.filters = {};
        state.history.offset = 0;
        loadHistory();
      }, 0);
    });
    $("prev-page").addEventListener("click", () => {
      state.history.offset = Math.max(0, state.history.offset - state.history.limit);
      loadHistory();
    });
    $("next-page").addEventListener("click", () => {
      state.history.offset += state.history.limit;
      loadHistory();
    });
  }

  function fillBatchCodes() {
    const select = $("history-filters").elements.namedItem("batch_code");
    const current = select.value;
    const steps = state.workflow ? state.workflow.steps : [];
    select.replaceChildren(h("option", { value: "", text: "Any" }),
      ...steps.map((s) => h("option", { value: s.batch_code, text: `${s.batch_code} (${s.name})` })));
    select.value = steps.some((s) => s.batch_code === current) ? current : "";
  }

  /* ------------------------------------------------------------------ loading and refresh */

  function renderHeader() {
    const wf = state.workflow;
    const sub = $("subtitle");
    if (!wf) {
      sub.textContent = "No workflow recorded yet: the monitoring DAGs record theirs on their first run.";
      return;
    }
    const tl = state.timeline;
    const span = tl ? `${fmtDateTime(tl.window_start, wf.timezone)} \u2192 ${fmtDateTime(tl.window_end, wf.timezone)}` : "";
    sub.textContent = `${wf.name} \u00B7 business day ${prettyDate(tl ? tl.business_date : state.date)} (${span}) \u00B7 times in ${zoneLabel(wf.timezone, tl && (tl.as_of || tl.window_start))}`;
    $("footer").textContent = `Signed in as ${state.user} \u00B7 ${wf.can_acknowledge ? "you may acknowledge alerts" : "read-only: you may not acknowledge alerts"} \u00B7 API: ${new URL(API, location.href).pathname}`;
  }

  async function loadWorkflows() {
    const data = await api("workflows");
    state.user = data.user;
    state.refreshSeconds = data.refresh_interval_seconds;
    state.workflows = data.workflows;
    const select = $("workflow-select");
    select.replaceChildren(...data.workflows.map((w) => h("option", { value: w.workflow_id, text: w.name })));
    $("workflow-picker").hidden = data.workflows.length < 2;
    const wanted = state.workflow ? state.workflow.workflow_id : null;
    state.workflow = data.workflows.find((w) => w.workflow_id === wanted) || data.workflows[0] || null;
    if (state.workflow) select.value = state.workflow.workflow_id;
  }

  async function loadDay() {
    const wf = state.workflow;
    if (!wf) return;
    const params = query({ workflow: wf.workflow_id, date: state.date });
    const [timeline, health, active] = await Promise.all([
      api("batch-timeline" + params),
      api("batch-health" + params),
      api("active-alerts"),
    ]);
    state.timeline = timeline;
    state.health = health;
    state.active = active;
  }

  function renderAll() {
    renderHeader();
    renderBanner();
    renderCards();
    renderTimeline();
    renderAlerts();
    fillBatchCodes();
  }

  async function refreshAll() {
    if (state.loading) {
      state.again = true; // asked again while loading (e.g. a new date): load once more, render only that
      return;
    }
    state.loading = true;
    $("refresh-button").disabled = true;
    try {
      do {
        state.again = false;
        await loadWorkflows();
        if (!state.date && state.workflow) state.date = state.workflow.current_business_date;
        await loadDay();
      } while (state.again);
      $("date-input").value = state.date || "";
      showProblem(null);
      renderAll();
      notifyNewCritical();
      await loadHistory();
    } catch (e) {
      showProblem(e.message);
    } finally {
      state.loading = false;
      $("refresh-button").disabled = false;
      state.nextRefreshAt = Date.now() + state.refreshSeconds * 1000;
      if (state.again) {
        state.again = false;
        refreshAll();
      } else {
        tick();
      }
    }
  }

  function flushPendingRefresh() {
    if (state.refreshPending && !state.openForms.size && !$("alert-dialog").open) {
      state.refreshPending = false;
      refreshAll();
    }
  }

  function tick() {
    const left = (state.nextRefreshAt - Date.now()) / 1000;
    const label = $("countdown");
    if (left <= 0) {
      if (state.openForms.size || $("alert-dialog").open) {
        state.refreshPending = true;
        label.textContent = "Refresh waits until you finish";
        return;
      }
      if (!state.loading) refreshAll();
      return;
    }
    label.textContent = `Next refresh in ${fmtClock(left)}`;
  }

  function readStartParams() {
    const own = new URLSearchParams(location.search);
    let params = own;
    if (!own.has("workflow") && !own.has("date") && !own.has("alert")) {
      try {
        if (window.parent !== window) params = new URLSearchParams(window.parent.location.search);
      } catch (e) {
        params = own;
      }
    }
    const date = params.get("date");
    return {
      workflow: params.get("workflow"),
      date: date && /^\d{4}-\d{2}-\d{2}$/.test(date) ? date : null,
      alert: /^\d+$/.test(params.get("alert") || "") ? params.get("alert") : null,
    };
  }

  function keepStartParams(start) {
    // Airflow's UI copies this page's own path and query into its address bar once the page has
    // loaded: a link's ?date=…&alert=… read from the parent is kept there only if it is ours too.
    const own = new URLSearchParams(location.search);
    if (own.has("workflow") || own.has("date") || own.has("alert")) return;
    const q = query({ workflow: start.workflow, date: start.date, alert: start.alert });
    if (q) history.replaceState(history.state, "", location.pathname + q + location.hash);
  }

  function setup() {
    watchTheme();
    setupNotifications();
    setupHistory();
    const start = readStartParams();
    keepStartParams(start);
    if (start.workflow) state.workflow = { workflow_id: start.workflow };
    state.date = start.date;
    $("refresh-button").addEventListener("click", () => refreshAll());
    $("today-button").addEventListener("click", () => {
      state.date = state.workflow ? state.workflow.current_business_date : null;
      state.expanded.clear();
      refreshAll();
    });
    $("date-input").addEventListener("change", (event) => {
      if (!event.target.value) return;
      state.date = event.target.value;
      state.expanded.clear();
      state.history.offset = 0;
      refreshAll();
    });
    $("workflow-select").addEventListener("change", (event) => {
      state.workflow = state.workflows.find((w) => w.workflow_id === event.target.value) || null;
      state.date = state.workflow ? state.workflow.current_business_date : null;
      state.expanded.clear();
      state.history.offset = 0;
      refreshAll();
    });
    $("alert-dialog").addEventListener("close", () => flushPendingRefresh());
    $("all-workflows-checkbox").addEventListener("change", (event) => {
      state.allWorkflows = event.target.checked;
      renderBanner();
      renderCards();
      renderAlerts();
    });
    setInterval(tick, 1000);
    refreshAll().then(() => {
      if (start.alert) openAlert(start.alert);
    });
  }

  document.addEventListener("DOMContentLoaded", setup);
})();
