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

export async function api(path, options) {
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

/** "?a=1&b=2" from the parameters that have a value ("" without any). */
export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== null && v !== undefined && v !== "") q.set(k, v);
  }
  const s = q.toString();
  return s ? `?${s}` : "";
}
