/*
 * The banner and the health cards.
 *
 * The banner, the "Active alerts" card and the alert list count one set: the active (open or
 * acknowledged, not resolved) alerts of the selected workflow, or of every workflow with the
 * "All workflows" switch. Acknowledging moves an alert from open to acknowledged; it stays
 * counted until it resolves. The banner counts them as incidents, with the alerts in brackets:
 * "2 active incidents (7 alerts)".
 */

import { $, h } from "./dom.js";
import { fmtInt, fmtPct, fmtRps, staleText } from "./format.js";
import { incidentCounts, incidentText } from "./incidents.js";
import { fmtDateTime, labels, state } from "./state.js";

export function shownAlerts() {
  if (!state.active) return null;
  const wf = state.workflow;
  if (state.allWorkflows || !wf) return state.active.alerts;
  return state.active.alerts.filter((a) => a.workflow_id === wf.workflow_id);
}

export function alertCounts(alerts) {
  const open = alerts.filter((a) => a.state === "open");
  return {
    total: alerts.length,
    open: open.length,
    acknowledged: alerts.length - open.length,
    critical: alerts.filter((a) => a.severity === "CRITICAL").length,
    openCritical: open.some((a) => a.severity === "CRITICAL"),
  };
}

export function alertScope() {
  return state.allWorkflows || !state.workflow || state.workflows.length < 2 ? "all workflows" : state.workflow.name;
}

export function renderBanner() {
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
    text.append(h("span", { id: "banner-count", text: incidentText(incidentCounts(alerts)) }));
    const counts = {};
    for (const a of alerts) counts[a.kind] = (counts[a.kind] || 0) + 1;
    for (const [kind, label] of Object.entries(labels.kinds)) {
      if (!counts[kind]) continue;
      text.append(h("span", { class: "sep", text: "|" }), h("span", { text: `${counts[kind]} ${label}` }));
    }
  }
  if (n.acknowledged) {
    text.append(h("span", { class: "sep", text: "|" }), h("span", { class: "muted", text: `${n.acknowledged} acknowledged` }));
  }
}

/** The red banner when the monitor itself stopped: its last tick is older than two schedule intervals. */
export function renderStale() {
  const wf = state.workflow;
  const text = wf ? staleText(state.health, wf.timezone, new Date().toISOString()) : null;
  $("stale-banner").hidden = !text;
  $("stale-text").textContent = text || "";
  $("stale-detail").textContent = text
    ? `No monitoring tick of ${wf.name} has finished for more than two schedule intervals: the batch chain is ` +
      `not being watched. Check the DAG ${wf.dag_id} in Airflow.`
    : "";
}

function setCard(id, value, sub, tone) {
  const card = $(id);
  card.classList.remove("bad", "warn", "good");
  if (tone) card.classList.add(tone);
  card.querySelector(".card-value").textContent = value;
  card.querySelector(".card-sub").textContent = sub;
}

export function renderCards() {
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
