"""Part 3 — the operators' page: navigation → timeline rendered, and bytes per load and refresh.

Headless Chromium (Debian's /usr/bin/chromium, driven by Playwright) opens /batch-monitor/ on a
real api-server over the 60-day store (fixture.py), signed in with the ``_token`` cookie the
Airflow UI sets. An init script notes the first animation frame after the timeline holds its
steps (``#timeline[data-date]`` with ``.step-row`` children): that moment, read from
``performance.now()`` (0 = navigation start), is the figure. Bytes are what the network carried
(Chrome DevTools Protocol ``Network.loadingFinished`` → ``encodedDataLength``: headers and
compressed bodies), for a first load in a fresh profile and for one press of Refresh.

    python -m benchmarks.page [--smoke]
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from benchmarks import common, fixture
from benchmarks.common import Section

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
TARGET_S = 1.0
FULL_LOADS, SMOKE_LOADS = 10, 2

# Runs in the page before its own scripts: marks when the timeline first shows its steps.
MARK_TIMELINE = """
(() => {
  const check = () => {
    const box = document.getElementById("timeline");
    if (window.__timelineDom === undefined && box && box.dataset.date && box.querySelector(".step-row")) {
      window.__timelineDom = performance.now();
      requestAnimationFrame(() => { window.__timelineFrame = performance.now(); });
    }
  };
  new MutationObserver(check).observe(document, { subtree: true, childList: true, attributes: true });
})();
"""


@dataclass
class Bytes:
    """What the network carried while counting."""

    total: int = 0
    requests: list[tuple[str, int]] = field(default_factory=list)


@dataclass
class PageLoad:
    timeline_s: float
    dom_s: float
    load_bytes: Bytes
    refresh_bytes: Bytes
    refresh_s: float
    steps: int
    waterfall: list[tuple[str, float, float]]  # (resource, start ms, end ms) of the first load


class _Network:
    """Sums ``encodedDataLength`` of finished requests through a CDP session."""

    def __init__(self, cdp: Any) -> None:
        self.urls: dict[str, str] = {}
        self.current = Bytes()
        cdp.on("Network.requestWillBeSent", self._sent)
        cdp.on("Network.loadingFinished", self._finished)
        cdp.send("Network.enable")

    def _sent(self, event: dict[str, Any]) -> None:
        self.urls[event["requestId"]] = event["request"]["url"]

    def _finished(self, event: dict[str, Any]) -> None:
        size = int(event.get("encodedDataLength", 0))
        self.current.total += size
        self.current.requests.append((self.urls.get(event["requestId"], "?"), size))

    def take(self) -> Bytes:
        taken, self.current = self.current, Bytes()
        return taken


def _poll(page: Any, expression: str, timeout_s: float = 60) -> float:
    """The number ``expression`` holds once it is set (polled from Python: the page's CSP allows no eval)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = page.evaluate(expression)
        if value is not None:
            return float(value)
        time.sleep(0.02)
    raise TimeoutError(f"{expression} was not set within {timeout_s:.0f} s")


def _load_once(browser: Any, base_url: str, token: str, query: str) -> PageLoad:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        context.add_cookies([{"name": "_token", "value": token, "url": base_url}])
        context.add_init_script(MARK_TIMELINE)
        page = context.new_page()
        network = _Network(context.new_cdp_session(page))
        page.goto(f"{base_url}/batch-monitor/{query}", wait_until="commit")
        timeline_ms = _poll(page, "window.__timelineFrame")
        timeline_s, dom_s = timeline_ms / 1000, float(page.evaluate("window.__timelineDom")) / 1000
        steps = page.locator("#timeline .step-row").count()
        waterfall = [
            (str(name), float(start), float(end))
            for name, start, end in page.evaluate(
                "[['(document)', 0, performance.getEntriesByType('navigation')[0].responseEnd]]"
                ".concat(performance.getEntriesByType('resource').map(e => [e.name, e.startTime, e.responseEnd]))"
            )
        ]
        page.wait_for_selector("#history-table tr")
        page.wait_for_load_state("networkidle")
        load_bytes = network.take()
        started = time.perf_counter()
        page.click("#refresh-button")
        page.wait_for_selector("#refresh-button:enabled")
        page.wait_for_load_state("networkidle")
        refresh_s = time.perf_counter() - started
        return PageLoad(timeline_s, dom_s, load_bytes, network.take(), refresh_s, steps, waterfall)
    finally:
        context.close()


def run(smoke: bool = False) -> Section:
    from playwright.sync_api import sync_playwright

    section = Section("3. Page")
    started = time.perf_counter()
    loads = SMOKE_LOADS if smoke else FULL_LOADS
    store = fixture.shared(smoke)
    if not CHROMIUM.exists():
        raise RuntimeError(f"{CHROMIUM} is not installed (apt-get install chromium)")
    results: dict[str, list[PageLoad]] = {}
    server = fixture.server(smoke)
    with sync_playwright() as driver:
        token = server.token()
        browser = driver.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            for workflow_id in ("dpdc_ami", store.big.workflow_id):
                query = f"?workflow={workflow_id}"
                _load_once(browser, server.base_url, token, query)  # warm-up: the server's first requests
                results[workflow_id] = [_load_once(browser, server.base_url, token, query) for _ in range(loads)]
        finally:
            browser.close()
    table = section.table(
        f"Navigation → timeline rendered ({loads} loads in fresh browser profiles, after one warm-up load)",
        ["workflow", "steps shown", "median", "p95", "max", "DOM built (median)", "target"],
    )
    for workflow_id, runs in results.items():
        times = [r.timeline_s for r in runs]
        table.add(
            workflow_id,
            runs[0].steps,
            common.ms(common.median(times)),
            common.ms(common.percentile(times, 95)),
            common.ms(max(times)),
            common.ms(common.median([r.dom_s for r in runs])),
            f"{common.ratio(max(times), TARGET_S)} of {TARGET_S:.0f} s",
        )
    traffic = section.table(
        "Bytes transferred (headers + bodies as sent; median over the loads)",
        ["workflow", "first load", "requests", "one refresh", "requests", "refresh time (median)"],
    )
    for workflow_id, runs in results.items():
        traffic.add(
            workflow_id,
            common.size(common.median([float(r.load_bytes.total) for r in runs])),
            len(runs[0].load_bytes.requests),
            common.size(common.median([float(r.refresh_bytes.total) for r in runs])),
            len(runs[0].refresh_bytes.requests),
            common.ms(common.median([r.refresh_s for r in runs])),
        )
    first = results["dpdc_ami"][0]
    section.details.append(
        (
            "Waterfall of one DPDC page load (ms after navigation start; the timeline showed at "
            f"{first.timeline_s * 1000:.0f} ms)",
            "\n".join(
                f"{start:8.1f} → {end:8.1f}  {urlsplit(name).path or name}" for name, start, end in first.waterfall
            ),
        )
    )
    section.details.append(
        (
            "Requests of one DPDC page load, then of one refresh (bytes on the wire)",
            "\n".join(f"load     {size:>9,}  {url}" for url, size in first.load_bytes.requests)
            + "\n"
            + "\n".join(f"refresh  {size:>9,}  {url}" for url, size in first.refresh_bytes.requests),
        )
    )
    dpdc_times = [r.timeline_s for r in results["dpdc_ami"]]
    section.target(
        f"timeline rendered ≤ {TARGET_S:.0f} s after navigation, 60 days of history (DPDC)",
        max(dpdc_times) <= TARGET_S,
        f"median {common.ms(common.median(dpdc_times))}, max {common.ms(max(dpdc_times))} "
        f"({common.ratio(max(dpdc_times), TARGET_S)} of the target)",
    )
    section.seconds = time.perf_counter() - started
    return section


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args()
    from benchmarks import report
    from benchmarks.run_all import quiet

    quiet()
    try:
        print(report.section_text(run(smoke=args.smoke)))
    finally:
        fixture.cleanup()


if __name__ == "__main__":
    main()
