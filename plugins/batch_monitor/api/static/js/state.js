/*
 * The page's one state, shared by the views, and the time formatting bound to it (the selected
 * workflow's zone, the shown business day).
 */

import { fmtDateTime as formatDateTime, fmtTime as formatTime } from "./format.js";

export const state = {
  user: "",
  refreshSeconds: 1800,
  workflows: [],
  workflow: null, // WorkflowInfo
  date: null, // "YYYY-MM-DD"
  timeline: null,
  active: null,
  silences: null, // in effect or yet to come (GET silences?active=true)
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

// The words for alert kinds (in the banner's order) and step statuses: from the API (GET
// workflows, "labels"), which builds them from the Python enums. Filled before the first render.
export const labels = { kinds: {}, statuses: {} };

export const kindLabel = (kind) => labels.kinds[kind] || kind;

// main.js fills these in: the views ask for a refresh without importing the loader
export const hooks = {
  refreshAll: async () => {},
  flushPendingRefresh: () => {},
};

export const tz = () => (state.timeline && state.timeline.timezone) || (state.workflow && state.workflow.timezone) || "UTC";

/** A time in the page's zone (or the one given), with the day when outside the shown business day. */
export const fmtTime = (iso, zone) => formatTime(iso, zone || tz(), state.timeline ? state.timeline.business_date : null);

export const fmtDateTime = (iso, zone) => formatDateTime(iso, zone || tz());
