/* The run history: filters, sortable columns, paging and the CSV and Excel links. */

import { API, api, query } from "./api.js";
import { $, h, toast } from "./dom.js";
import { fmtDuration, fmtInt, fmtRps } from "./format.js";
import { fmtDateTime, state } from "./state.js";

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

function renderHead() {
  const hs = state.history;
  return h("thead", null, h("tr", null, HISTORY_COLUMNS.map(([key, label, num]) => {
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
}

function renderRow(r) {
  const zone = (state.workflows.find((w) => w.workflow_id === r.workflow_id) || {}).timezone || "UTC";
  return h("tr", null,
    h("td", { class: "when", text: r.business_date }),
    h("td", { class: "mono", text: r.batch_cd }),
    h("td", { class: "mono", text: `${r.batch_nbr}${r.rerun_nbr ? `.${r.rerun_nbr}` : ""}` }),
    h("td", null, h("span", { class: `chip st-${r.status === "error" ? "failed" : r.status}`, text: r.status })),
    h("td", { class: "when", text: fmtDateTime(r.start_time, zone) }),
    h("td", { class: "when", text: fmtDateTime(r.end_time, zone) }),
    h("td", { class: "num", text: fmtDuration(r.duration_s) }),
    h("td", { class: "num", text: fmtInt(r.records) }),
    h("td", { class: "num", text: fmtInt(r.errors) }),
    h("td", { class: "num", text: fmtRps(r.rps) }),
    h("td", { class: "num", text: r.threads_total ? `${r.threads_done}/${r.threads_total}` : "–" }),
    h("td", { class: "err", title: r.error_text || null, text: r.error_text || "" }),
  );
}

function renderHistory(page) {
  const hs = state.history;
  const rows = page.items.map(renderRow);
  const body = h("tbody", null, rows.length ? rows : h("tr", null, h("td", { colspan: String(HISTORY_COLUMNS.length), class: "empty", text: "No runs match these filters." })));
  $("history-table").replaceChildren(renderHead(), body);
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
  $("xlsx-link").href = API + "batch-logs" + query(historyParams({ format: "xlsx" }));
}

export async function loadHistory() {
  const hs = state.history;
  try {
    const page = await api("batch-logs" + query(historyParams({ limit: hs.limit, offset: hs.offset })));
    renderHistory(page);
  } catch (e) {
    toast(`Run history: ${e.message}`, true);
  }
}

export function setupHistory() {
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

export function fillBatchCodes() {
  const select = $("history-filters").elements.namedItem("batch_code");
  const current = select.value;
  const steps = state.workflow ? state.workflow.steps : [];
  select.replaceChildren(h("option", { value: "", text: "Any" }),
    ...steps.map((s) => h("option", { value: s.batch_code, text: `${s.batch_code} (${s.name})` })));
  select.value = steps.some((s) => s.batch_code === current) ? current : "";
}
