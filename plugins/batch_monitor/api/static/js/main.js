/*
 * Batch Monitor page: the entry module. Plain JavaScript ES modules, no build step, no
 * third-party code. It loads the data, renders the views and keeps the page refreshed:
 *   api.js (client), format.js and layout.js (pure, unit-tested in tests/js), dom.js, state.js,
 *   theme.js, cards.js (banner and health cards), timeline.js, alerts.js, history.js,
 *   incidents.js (pure: grouping, badges), silences.js (silence/snooze forms, the silences list).
 */

import { API, api, query } from "./api.js";
import { notifyNewCritical, openAlert, renderAlerts, setupNotifications } from "./alerts.js";
import { renderBanner, renderCards, renderStale } from "./cards.js";
import { renderSilences } from "./silences.js";
import { $, h, showProblem } from "./dom.js";
import { fmtClock, prettyDate, zoneLabel } from "./format.js";
import { fillBatchCodes, loadHistory, setupHistory } from "./history.js";
import { fmtDateTime, hooks, labels, state } from "./state.js";
import { watchTheme } from "./theme.js";
import { renderTimeline } from "./timeline.js";

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
  labels.kinds = data.labels.alert_kinds;
  labels.statuses = data.labels.step_statuses;
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
  const [timeline, health, active, silences] = await Promise.all([
    api("batch-timeline" + params),
    api("batch-health" + params),
    api("active-alerts"),
    api("silences?active=true"),
  ]);
  state.timeline = timeline;
  state.health = health;
  state.active = active;
  state.silences = silences.silences;
}

function renderAll() {
  renderHeader();
  renderStale();
  renderBanner();
  renderCards();
  renderTimeline();
  renderAlerts();
  renderSilences();
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

function setupControls() {
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
    renderSilences();
  });
}

function setup() {
  hooks.refreshAll = refreshAll;
  hooks.flushPendingRefresh = flushPendingRefresh;
  watchTheme();
  setupNotifications();
  setupHistory();
  const start = readStartParams();
  keepStartParams(start);
  if (start.workflow) state.workflow = { workflow_id: start.workflow };
  state.date = start.date;
  setupControls();
  setInterval(tick, 1000);
  refreshAll().then(() => {
    if (start.alert) openAlert(start.alert);
  });
}

if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", setup);
else setup();
