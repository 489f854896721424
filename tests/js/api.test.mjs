// The page's API client (static/js/api.js) against a real HTTP server that answers 304 to a
// matching If-None-Match, as batch-timeline and batch-health do: node --test tests/js
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { after, before, test } from "node:test";

import { ApiError, apiClient } from "../../plugins/batch_monitor/api/static/js/api.js";

const seen = []; // [path, If-None-Match] of every request, in order
const bodies = new Map([["/api/v1/batch-timeline?date=2024-03-12", { steps: [1, 2, 3], version: 1 }]]);
let server;
let base;

function serve(request, response) {
  const tag = request.headers["if-none-match"] || null;
  seen.push([request.url, tag, request.method]);
  const body = bodies.get(request.url);
  if (request.method !== "GET") {
    response.writeHead(200, { "Content-Type": "application/json", ETag: '"post"' });
    return response.end(JSON.stringify({ changed: true }));
  }
  if (body === undefined) {
    response.writeHead(404, { "Content-Type": "application/json" });
    return response.end(JSON.stringify({ detail: "no such day" }));
  }
  const etag = `"v${body.version}"`;
  if (tag === etag) {
    response.writeHead(304, { ETag: etag });
    return response.end();
  }
  response.writeHead(200, { "Content-Type": "application/json", ETag: etag });
  return response.end(JSON.stringify(body));
}

before(async () => {
  server = createServer(serve);
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${server.address().port}/api/v1/`;
});

after(() => server.close());

test("a second read sends the ETag and a 304 gives back the kept body, a copy each time", async () => {
  seen.length = 0;
  const api = apiClient(base);
  const path = "batch-timeline?date=2024-03-12";
  const first = await api(path);
  assert.deepEqual(first, { steps: [1, 2, 3], version: 1 });
  first.steps.push(99); // the page may change what it got: the kept text is not touched
  const second = await api(path);
  assert.deepEqual(second, { steps: [1, 2, 3], version: 1 });
  assert.deepEqual(seen.map((s) => s[1]), [null, '"v1"']);

  bodies.set("/api/v1/" + path, { steps: [1, 2, 3, 4], version: 2 }); // a tick changed the day
  assert.deepEqual(await api(path), { steps: [1, 2, 3, 4], version: 2 });
  assert.deepEqual(await api(path), { steps: [1, 2, 3, 4], version: 2 });
  assert.deepEqual(seen.map((s) => s[1]), [null, '"v1"', '"v1"', '"v2"']);
});

test("each client keeps its own answers and other paths start unconditional", async () => {
  seen.length = 0;
  const api = apiClient(base);
  await api("batch-timeline?date=2024-03-12");
  await assert.rejects(api("batch-timeline?date=2024-03-13"), (e) => e instanceof ApiError && e.status === 404);
  assert.deepEqual(seen.map((s) => s[1]), [null, null]);
});

test("a POST is never conditional", async () => {
  seen.length = 0;
  const api = apiClient(base);
  await api("acknowledge-alert/1", { method: "POST", body: "{}" });
  await api("acknowledge-alert/1", { method: "POST", body: "{}" });
  assert.deepEqual(seen, [["/api/v1/acknowledge-alert/1", null, "POST"], ["/api/v1/acknowledge-alert/1", null, "POST"]]);
});
