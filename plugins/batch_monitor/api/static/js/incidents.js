/*
 * Alerts grouped by incident, their badges, and the banner's count (pure: no DOM; tests/js).
 *
 * An alert's incident_id is its cause's alert id (its own for a cause); caused_by is that id for a
 * consequence. A consequence whose cause is not among the shown alerts (it resolved, or belongs to
 * another workflow than the one shown) heads a group of its own.
 */

/**
 * The alerts as incidents, in the order their causes come in ``alerts`` (the API's: CRITICAL
 * first, then newest): [{ cause, consequences: [...] }]. Consequences keep their order too.
 */
export function groupByIncident(alerts) {
  const shown = new Set(alerts.map((a) => a.id));
  const groups = new Map();
  for (const alert of alerts) {
    const head = alert.caused_by !== null && alert.caused_by !== undefined && shown.has(alert.caused_by) ? alert.caused_by : alert.id;
    if (!groups.has(head)) groups.set(head, { cause: null, consequences: [] });
    const group = groups.get(head);
    if (head === alert.id) group.cause = alert;
    else group.consequences.push(alert);
  }
  const ordered = [];
  for (const alert of alerts) {
    const group = groups.get(alert.id);
    if (group && group.cause === alert) ordered.push(group);
  }
  return ordered;
}

/** How many incidents and alerts: the banner says "2 incidents (7 alerts)". */
export function incidentCounts(alerts) {
  return { incidents: groupByIncident(alerts).length, alerts: alerts.length };
}

export function incidentText(counts) {
  const incidents = `${counts.incidents} active incident${counts.incidents === 1 ? "" : "s"}`;
  return `${incidents} (${counts.alerts} alert${counts.alerts === 1 ? "" : "s"})`;
}

/** The small labels an alert carries: silenced, reminded 2×, escalated, mail held. */
export function badges(alert) {
  const found = [];
  if (alert.silenced) found.push({ cls: "silenced", text: "silenced", title: alert.silenced });
  if (alert.reminders > 0) found.push({ cls: "reminded", text: `reminded ${alert.reminders}\u00D7`, title: "mailed again: nobody acknowledged it" });
  if (alert.escalated_at) found.push({ cls: "escalated", text: "escalated", title: "its mails also go to the escalation list" });
  if (alert.mail_held && !alert.silenced) found.push({ cls: "held", text: "mail due", title: "its silence ended: it is mailed at the next tick" });
  return found;
}

/** A consequence line's summary: "3 consequences" (folded under the cause). */
export function consequenceText(n) {
  return `${n} consequence${n === 1 ? "" : "s"}`;
}

function pad(n) {
  return String(n).padStart(2, "0");
}

/**
 * A <input type="datetime-local"> value ("YYYY-MM-DDTHH:MM") for ``date`` as the clock reads in
 * ``zone``: the silence forms ask for times in the workflow's business time.
 */
export function localInputValue(date, zone) {
  const parts = {};
  const format = new Intl.DateTimeFormat("en-GB", {
    timeZone: zone, year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", hourCycle: "h23",
  });
  for (const p of format.formatToParts(date)) parts[p.type] = p.value;
  return `${parts.year}-${parts.month}-${parts.day}T${pad(Number(parts.hour))}:${parts.minute}`;
}

/** Which silence list entries an operator may still end: in effect or yet to come. */
export function endable(silence) {
  return silence.ended_at === null && Date.parse(silence.ends_at) > Date.now();
}

/** "C1-PPBTR, failed only" / "whole workflow" / "alert 7": what a silence covers. */
export function scopeText(silence, kindLabel) {
  const label = kindLabel || ((k) => k);
  if (silence.alert_id !== null && silence.alert_id !== undefined) return `alert ${silence.alert_id} (${silence.step_id})`;
  const where = silence.step_id ? silence.step_id : "whole workflow";
  const kinds = silence.kinds && silence.kinds.length ? `, ${silence.kinds.map(label).join(", ")} only` : "";
  return `${silence.workflow_id}: ${where}${kinds}`;
}
