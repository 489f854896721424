/*
 * The active alerts, grouped by incident (the cause first, its consequences folded under it),
 * the detail dialog, acknowledge/resolve, silence/snooze, and opt-in notifications.
 */

import { api } from "./api.js";
import { alertCounts, alertScope, shownAlerts } from "./cards.js";
import { $, detailPair, h, toast } from "./dom.js";
import { zoneLabel } from "./format.js";
import { badges, consequenceText, groupByIncident } from "./incidents.js";
import { silenceButtons } from "./silences.js";
import { fmtDateTime, hooks, kindLabel, state } from "./state.js";

const EVENT_LABELS = {
  opened: "Opened",
  reopened: "Re-opened",
  escalated: "Escalated",
  seen: "Seen again",
  emailed: "E-mailed",
  email_failed: "E-mail failed",
  posted: "Posted",
  post_failed: "Post failed",
  acknowledged: "Acknowledged",
  ack_repeated: "Acknowledged again",
  ack_rejected: "Acknowledge refused",
  resolved: "Resolved",
  reminded: "Reminded",
  escalation: "Escalated to",
  released: "E-mailed after its silence",
};

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
    hooks.flushPendingRefresh();
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
      item.append(actionForm(alert, "acknowledge", () => hooks.refreshAll(), () => {
        item.querySelector(".ack-form").remove();
        ackButton.disabled = false;
      }));
    });
    actions.append(ackButton);
    if (!allowed) actions.append(h("div", { class: "reason", text: permissionReason(alert.workflow_id) }));
  } else {
    actions.append(h("span", { class: "chip st-complete", text: "Acknowledged" }));
  }
  if (allowed) actions.append(...silenceButtons(alert, item));
  const wfName = (state.workflows.find((w) => w.workflow_id === alert.workflow_id) || {}).name || alert.workflow_id;
  const marks = badges(alert).map((b) => h("span", { class: `badge badge-${b.cls}`, text: b.text, title: b.title }));
  item.append(
    h("div", null, h("span", { class: `sev sev-${alert.severity}`, text: alert.severity })),
    h("div", null,
      h("div", { class: "message", text: alert.title }),
      h("div", { class: "facts" },
        h("span", { text: `${alert.step_name}${alert.batch_cd && alert.batch_cd !== alert.step_name ? ` (${alert.batch_cd})` : ""}` }),
        h("span", { text: kindLabel(alert.kind) }),
        h("span", { text: `business day ${alert.business_date}` }),
        state.workflows.length > 1 ? h("span", { text: wfName }) : null,
        h("span", { text: `since ${fmtDateTime(alert.since || alert.first_seen_at, alert.timezone)}` }),
        ...marks,
      ),
      alert.silenced ? h("div", { class: "silence-note", text: alert.silenced }) : null,
      ackNote(alert),
    ),
    actions,
  );
  return item;
}

export function renderAlerts() {
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
  // the API sends them CRITICAL first, then newest: causes keep that order, consequences follow theirs
  list.replaceChildren(...groupByIncident(alerts).map(renderIncident));
}

function renderIncident(group) {
  const box = h("div", { class: "incident", dataset: { incident: String(group.cause.id) } }, renderAlertItem(group.cause));
  if (group.consequences.length) {
    const key = `consequences:${group.cause.id}`;
    const folded = h("details", { class: "consequences", open: state.expanded.has(key) },
      h("summary", { text: consequenceText(group.consequences.length) }),
      ...group.consequences.map(renderAlertItem));
    folded.addEventListener("toggle", () => {
      if (folded.open) state.expanded.add(key);
      else state.expanded.delete(key);
    });
    box.append(folded);
  }
  return box;
}

function eventLine(e, zone) {
  const label = EVENT_LABELS[e.event] || e.event;
  const email = e.details && e.details.email;
  const extra = [];
  if (e.details && e.details.from && e.details.to) extra.push(`${e.details.from} \u2192 ${e.details.to}`);
  if (e.details && e.details.resolution) extra.push(e.details.resolution === "cleared" ? "condition cleared" : "by hand");
  if (email && email.queued) extra.push("e-mail queued");
  else if (email && email.reason) extra.push(`not mailed: ${email.reason}`);
  if (e.details && e.details.channel) extra.push(`to ${e.details.channel}`);
  // a message's outcome is timed by the channel's answer (at), not by the tick that queued it
  const mailEvent = ["emailed", "email_failed", "posted", "post_failed"].includes(e.event);
  if (mailEvent && e.details && e.details.queued_at) extra.push(`queued ${fmtDateTime(e.details.queued_at, zone)}`);
  return h("li", { dataset: { event: e.event } },
    h("strong", { text: label }), " ",
    h("span", { class: "muted", text: `${fmtDateTime(mailEvent ? e.at : e.as_of || e.at, zone)} by ${e.actor}` }),
    extra.length ? h("span", { class: "muted", text: ` \u00B7 ${extra.join(", ")}` }) : null,
    e.comment ? h("div", { text: `\u201C${e.comment}\u201D` }) : null,
  );
}

function alertFacts(a) {
  const zone = a.timezone;
  return h("dl", { class: "detail-grid" },
    detailPair("Severity", a.severity),
    detailPair("Kind", kindLabel(a.kind)),
    detailPair("State", a.state),
    detailPair("Step", `${a.step_name} (${a.batch_cd || a.step_id})`),
    detailPair("Business day", a.business_date),
    detailPair("Since", fmtDateTime(a.since, zone)),
    detailPair("First seen", fmtDateTime(a.first_seen_at, zone)),
    detailPair("Last seen", `${fmtDateTime(a.last_seen_at, zone)} (${a.seen_count}\u00D7)`),
    a.run_key ? detailPair("Run", a.run_key) : null,
    a.acknowledged_by ? detailPair("Acknowledged", `${a.acknowledged_by}, ${fmtDateTime(a.acknowledged_at, zone)}`) : null,
    a.resolved_at ? detailPair("Resolved", `${a.resolved_by}, ${fmtDateTime(a.resolved_at, zone)} (${a.resolution})`) : null,
    a.caused_by ? detailPair("Caused by", `alert ${a.caused_by}`) : null,
    a.silenced ? detailPair("Silenced", a.silenced) : null,
    a.reminders ? detailPair("Reminders", String(a.reminders)) : null,
    a.escalated_at ? detailPair("Escalated", fmtDateTime(a.escalated_at, zone)) : null,
  );
}

function dialogActions(detail) {
  const a = detail.alert;
  const actions = h("div", { class: "alert-actions", style: { justifyContent: "flex-start", marginTop: "12px" } });
  if (a.state === "resolved") return actions;
  const reason = detail.can_acknowledge ? null : permissionReason(a.workflow_id);
  const reopen = () => openAlert(a.id);
  const done = async () => { await hooks.refreshAll(); await openAlert(a.id); };
  if (a.state === "open") {
    actions.append(h("button", { type: "button", text: "Acknowledge", disabled: !detail.can_acknowledge, title: reason,
      onclick: () => { actions.replaceWith(actionForm(a, "acknowledge", done, reopen)); } }));
  }
  actions.append(h("button", { type: "button", class: "danger", text: "Resolve", disabled: !detail.can_acknowledge, title: reason,
    onclick: () => { actions.replaceWith(actionForm(a, "resolve", done, reopen)); } }));
  if (reason) actions.append(h("div", { class: "reason", text: reason }));
  return actions;
}

export async function openAlert(alertId) {
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
  const content = [
    h("h2", { id: "dialog-title", text: a.title }),
    h("p", { class: "muted", text: `Alert ${a.id} \u00B7 times in ${zoneLabel(zone, a.first_seen_at)}` }),
    alertFacts(a),
    a.expected ? h("p", null, h("strong", { text: "Expected: " }), a.expected) : null,
    a.actual ? h("p", null, h("strong", { text: "Actual: " }), a.actual) : null,
    a.error_text ? h("pre", { class: "error-text", text: a.error_text }) : null,
    a.action ? h("p", null, h("strong", { text: "What to do: " }), a.action) : null,
    a.ack_comment ? h("p", null, h("strong", { text: "Comment: " }), a.ack_comment) : null,
    h("h3", { text: "History" }),
    h("ol", { class: "events" }, detail.events.map((e) => eventLine(e, zone))),
    dialogActions(detail),
  ];
  body.replaceChildren(...content.filter(Boolean));
}

/* ------------------------------------------------------------------ notifications (opt-in) */

function notifyEnabled() {
  return localStorage.getItem("batchMonitor.notify") === "1" && "Notification" in window && Notification.permission === "granted";
}

export function notifyNewCritical() {
  const critical = (state.active ? state.active.alerts : []).filter((a) => a.severity === "CRITICAL" && a.state === "open");
  const ids = new Set(critical.map((a) => a.id));
  if (state.knownCritical !== null && notifyEnabled()) {
    for (const a of critical) {
      if (!state.knownCritical.has(a.id)) new Notification(`CRITICAL: ${a.title}`, { body: `${a.step_name} \u00B7 business day ${a.business_date}`, tag: `batch-monitor-${a.id}` });
    }
  }
  state.knownCritical = ids;
}

export function setupNotifications() {
  const box = $("notify-checkbox");
  if (!("Notification" in window)) {
    box.disabled = true;
    box.parentElement.title = "This browser cannot show notifications";
    return;
  }
  const onChange = async () => {
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
  };
  // ticked while the modules were still loading: that tick counts
  const tickedEarly = box.checked && !notifyEnabled();
  box.checked = notifyEnabled();
  box.addEventListener("change", onChange);
  if (tickedEarly) {
    box.checked = true;
    onChange();
  }
}
