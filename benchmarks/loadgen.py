"""A bounded HTTP load generator, run as its own process: ``python -m benchmarks.loadgen < plan.json``.

The plan (JSON on stdin) names a base URL on 127.0.0.1 (anything else is refused), a bearer
token, the targets, the concurrency levels, and a fixed number of requests per target and level
(with a time cap per target and level, so it always ends). For each level, then each target in
turn, ``warmup`` requests are sent and dropped, then ``requests`` requests are spread over
``level`` threads, each with its own keep-alive connection. The result (JSON on stdout) holds
every latency in seconds (request sent → body read), the status codes and the body sizes.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit

import httpx

ALLOWED_HOSTS = {"127.0.0.1"}


def _worker(base: str, headers: dict[str, str], path: str, count: int, deadline: float) -> list[tuple[float, int, int]]:
    samples = []
    with httpx.Client(base_url=base, headers=headers, timeout=60) as client:
        for _ in range(count):
            if time.monotonic() > deadline:
                break
            started = time.perf_counter()
            response = client.get(path)
            body = response.content
            samples.append((time.perf_counter() - started, response.status_code, len(body)))
    return samples


def run_target(plan: dict[str, Any], target: dict[str, str], level: int) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {plan['token']}"}
    base, path = plan["base_url"], target["path"]
    deadline = time.monotonic() + float(plan.get("time_limit_s", 60))
    _worker(base, headers, path, int(plan.get("warmup", 5)), deadline)
    total = int(plan["requests"])
    shares = [total // level + (1 if i < total % level else 0) for i in range(level)]
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=level) as pool:
        futures = [pool.submit(_worker, base, headers, path, share, deadline) for share in shares]
        samples = [s for f in futures for s in f.result()]
    wall = time.perf_counter() - started
    return {
        "name": target["name"],
        "path": path,
        "level": level,
        "latencies": [s[0] for s in samples],
        "statuses": sorted({s[1] for s in samples}),
        "bytes": [s[2] for s in samples],
        "wall_s": wall,
        "truncated": len(samples) < total,
    }


def main() -> int:
    plan = json.load(sys.stdin)
    host = urlsplit(plan["base_url"]).hostname
    if host not in ALLOWED_HOSTS:
        print(f"refusing to load {host!r}: only {sorted(ALLOWED_HOSTS)} may be targeted", file=sys.stderr)
        return 2
    results = []
    for level in plan["levels"]:
        for target in plan["targets"]:
            results.append(run_target(plan, target, int(level)))
    json.dump({"results": results, "threads": threading.active_count()}, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
