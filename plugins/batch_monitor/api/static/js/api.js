/*
 * The API client. Data comes only from the JSON API beside this page (relative paths: api/v1/...);
 * the browser sends Airflow's session cookie with each request.
 */

export const API = "api/v1/";

export class ApiError extends Error {
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

// The last answer to each GET path (its ETag and text), for the conditional requests: the page
// asks again with If-None-Match, and a 304 (nothing changed since) reuses the text kept here.
// A few paths are enough: the page reads the day it shows, a history page, a few alerts.
const KEPT_PATHS = 16;

function isGet(opts) {
  return !opts.method || opts.method.toUpperCase() === "GET";
}

/**
 * A client of the JSON API under ``base``. GET requests are conditional: the browser's own cache
 * is bypassed (cache: "no-store"), so a 304 reaches this code, which answers with what it kept.
 */
export function apiClient(base) {
  const kept = new Map();

  function remember(path, etag, text) {
    kept.delete(path);
    kept.set(path, { etag, text });
    if (kept.size > KEPT_PATHS) kept.delete(kept.keys().next().value);
  }

  return async function api(path, options) {
    const opts = Object.assign({ credentials: "same-origin", headers: { Accept: "application/json" } }, options || {});
    const conditional = isGet(opts);
    const last = conditional ? kept.get(path) : undefined;
    if (conditional) {
      opts.cache = "no-store";
      if (last) opts.headers = Object.assign({}, opts.headers, { "If-None-Match": last.etag });
    }
    let response;
    try {
      response = await fetch(base + path, opts);
    } catch (e) {
      throw new ApiError(0, "The Airflow api-server did not answer. Check your connection and press Refresh.");
    }
    if (response.status === 304 && last) return JSON.parse(last.text);
    let text = "";
    let body = null;
    try {
      text = await response.text();
      body = JSON.parse(text);
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
    const etag = response.headers.get("ETag");
    if (conditional && etag && body !== null) remember(path, etag, text);
    return body;
  };
}

export const api = apiClient(API);

/** "?a=1&b=2" from the parameters that have a value ("" without any). */
export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== null && v !== undefined && v !== "") q.set(k, v);
  }
  const s = q.toString();
  return s ? `?${s}` : "";
}
