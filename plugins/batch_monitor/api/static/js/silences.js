/*
 * Silences and snoozes: the Silence and Snooze buttons of an alert (each asks for an end time in
 * the workflow's business time and a comment), and the list of silences an operator can end.
 * While a silence covers an alert it is shown, but nothing about it is mailed (README).
 */

import { api } from "./api.js";
import { $, h, toast } from "./dom.js";
import { endable, localInputValue, scopeText } from "./incidents.js";
import { fmtDateTime, hooks, kindLabel, state } from "./state.js";

const DEFAULT_HOURS = 2;

function canEdit(workflowId) {
  const wf = state.workflows.find((w) => w.workflow_id === workflowId);
  return Boolean(wf && wf.can_acknowledge);
}

async function send(path, method, body) {
  const options = { method, headers: { Accept: "application/json", "Content-Type": "application/json" } };
  if (body !== undefined) options.body = JSON.stringify(body);
  const result = await api(path, options);
  toast(result.message, false);
  return result;
}

/**
 * A form asking until when (business time of the alert's workflow) and why; ``submit(until,
 * comment)`` does the request. Registered in state.openForms so a refresh waits for it.
 */
function untilForm(alert, kind, submit, onClose) {
  const key = `${kind}:${alert.id}`;
  state.openForms.add(key);
  const later = new Date(Date.now() + DEFAULT_HOURS * 3600e3);
  const until = h("input", { type: "datetime-local", name: "until", required: true, value: localInputValue(later, alert.timezone), "aria-label": `${kind === "snooze" ? "Snooze" : "Silence"} until (${alert.timezone} time)` });
  const comment = h("textarea", { name: "comment", required: true, maxlength: "2000", placeholder: "Why (required), e.g. planned rerun", "aria-label": "Why" });
  const close = () => {
    state.openForms.delete(key);
    form.remove();
    onClose();
    hooks.flushPendingRefresh();
  };
  const what = kind === "snooze" ? "Snooze this alert" : `Silence ${alert.step_name} (every alert of the step)`;
  const form = h("form", { class: "ack-form silence-form", dataset: { alert: String(alert.id), kind } },
    h("div", { class: "muted", text: `${what}: nothing about it is mailed until the end time (${alert.timezone} time).` }),
    h("label", { class: "control" }, "Until", until),
    comment,
    h("div", { class: "row" },
      h("button", { type: "submit", text: kind === "snooze" ? "Snooze" : "Silence" }),
      h("button", { type: "button", class: "secondary", text: "Cancel", onclick: close }),
    ),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    form.querySelectorAll("button").forEach((b) => { b.disabled = true; });
    try {
      await submit(until.value, comment.value.trim());
      close();
      await hooks.refreshAll();
    } catch (e) {
      toast(e.message, true);
      form.querySelectorAll("button").forEach((b) => { b.disabled = false; });
    }
  });
  setTimeout(() => comment.focus(), 0);
  return form;
}

/** The Silence and Snooze buttons of an active alert (for those who may acknowledge it). */
export function silenceButtons(alert, item) {
  if (alert.state === "resolved" || !canEdit(alert.workflow_id)) return [];
  const open = (kind, submit) => (event) => {
    const button = event.currentTarget;
    if (item.querySelector(".silence-form")) return;
    button.disabled = true;
    item.append(untilForm(alert, kind, submit, () => { button.disabled = false; }));
  };
  const snooze = (until, comment) => send(`alerts/${alert.id}/snooze`, "POST", { until, comment });
  const step = alert.step_id === "_chain" ? null : alert.step_id;
  const silence = (until, comment) => send("silences", "POST", { workflow: alert.workflow_id, step, ends_at: until, comment });
  return [
    h("button", { type: "button", class: "secondary snooze-button", text: "Snooze", onclick: open("snooze", snooze) }),
    h("button", { type: "button", class: "secondary silence-button", text: "Silence", onclick: open("silence", silence) }),
  ];
}

function silenceItem(s) {
  const zone = s.timezone;
  const ended = s.ended_at ? `ended by ${s.ended_by} ${fmtDateTime(s.ended_at, zone)}` : null;
  const item = h("div", { class: `silence-item${s.active ? " active" : ""}`, dataset: { silenceId: String(s.id) } },
    h("div", null,
      h("div", { class: "message", text: scopeText(s, kindLabel) }),
      h("div", { class: "facts" },
        h("span", { text: `${fmtDateTime(s.starts_at, zone)} \u2192 ${fmtDateTime(s.ends_at, zone)}` }),
        h("span", { text: `by ${s.created_by}` }),
        h("span", { text: `\u201C${s.comment}\u201D` }),
        ended ? h("span", { text: ended }) : h("span", { class: "badge badge-silenced", text: s.active ? "in effect" : "to come" }),
      ),
    ),
  );
  if (endable(s) && canEdit(s.workflow_id)) {
    const end = h("button", { type: "button", class: "danger end-silence", text: "End now" });
    end.addEventListener("click", async () => {
      end.disabled = true;
      try {
        await send(`silences/${encodeURIComponent(s.id)}`, "DELETE");
        await hooks.refreshAll();
      } catch (e) {
        toast(e.message, true);
        end.disabled = false;
      }
    });
    item.append(h("div", { class: "alert-actions" }, end));
  }
  return item;
}

/** The silences in effect or yet to come, of the workflows shown (the list's scope). */
export function renderSilences() {
  const list = $("silence-list");
  if (!state.silences) return;
  const wf = state.workflow;
  const shown = state.silences.filter((s) => state.allWorkflows || !wf || s.workflow_id === wf.workflow_id);
  if (!shown.length) {
    list.replaceChildren(h("p", { class: "empty", text: "No silences. Silence or snooze an alert to stop its mails for a while." }));
    return;
  }
  list.replaceChildren(...shown.map(silenceItem));
}
