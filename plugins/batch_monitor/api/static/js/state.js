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

// The words for alert kinds and step statuses.
export const labels = {
  kinds: {
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
  },
  statuses: {
    complete: "Complete",
    running: "Running",
    repeating: "Repeating",
    failed: "Failed",
    stuck: "Stuck",
    pending: "Pending",
    waiting: "Waiting",
    skipped: "Skipped",
  },
};

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
