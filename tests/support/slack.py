"""A local HTTP server standing in for Slack (an incoming webhook and the Web API's chat.postMessage)
and for an Apprise ``json://`` target: it keeps every request and answers from a script.

``replies`` is a queue of (status, headers, body) answers; when it is empty the server answers as
Slack does: ``ok`` for a webhook, ``{"ok": true, "ts": ..., "channel": ...}`` for chat.postMessage.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.support.mail import free_port

WEBHOOK_PATH = "/services/T000/B000/XXXX"


@dataclass(frozen=True)
class Request:
    """One request as the server got it."""

    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class FakeSlack:
    """A threaded HTTP server on 127.0.0.1 that can be stopped and started again on the same port."""

    def __init__(self) -> None:
        self.port = free_port()
        self.requests: list[Request] = []
        self.accepted: list[Request] = []  # the requests answered 200
        self.replies: list[tuple[int, dict[str, str], str]] = []
        self._server: ThreadingHTTPServer | None = None
        self._lock = threading.Lock()
        self._ts = 0

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def webhook_url(self) -> str:
        return self.base + WEBHOOK_PATH

    def webhook_connection(self) -> str:
        """AIRFLOW_CONN_ value of an incoming-webhook connection to this server."""
        return json.dumps({"conn_type": "slackwebhook", "password": self.webhook_url, "extra": {"timeout": 5}})

    def api_connection(self, channel: str = "C0BATCH") -> str:
        """AIRFLOW_CONN_ value of a Web API connection (a bot token) whose base_url is this server."""
        extra = {"base_url": self.base + "/api/", "channel": channel, "timeout": 5}
        return json.dumps({"conn_type": "slack", "password": "xoxb-test-token", "extra": extra})

    def posts(self) -> list[Any]:
        """The JSON (or form) bodies received, in order."""
        return [_decode(r) for r in self.requests]

    def _answer(self, request: Request) -> tuple[int, dict[str, str], str]:
        with self._lock:
            self.requests.append(request)
            reply = self._reply(request)
            if reply[0] == 200:
                self.accepted.append(request)
            return reply

    def _reply(self, request: Request) -> tuple[int, dict[str, str], str]:
        """The next scripted reply, else Slack's own answer (called under the lock)."""
        if self.replies:
            return self.replies.pop(0)
        if request.path.endswith("chat.postMessage"):
            self._ts += 1
            body = _decode(request)
            channel = body.get("channel", "C0BATCH") if isinstance(body, dict) else "C0BATCH"
            answer = {"ok": True, "channel": channel, "ts": f"1700000000.{self._ts:06d}"}
            return 200, {"Content-Type": "application/json"}, json.dumps(answer)
        return 200, {"Content-Type": "text/plain"}, "ok"

    def start(self) -> None:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                request = Request(self.path, {k.lower(): v for k, v in self.headers.items()}, self.rfile.read(length))
                status, headers, body = owner._answer(request)
                data = body.encode()
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


def _decode(request: Request) -> Any:
    if request.headers.get("content-type", "").startswith("application/json"):
        return request.json()
    from urllib.parse import parse_qs

    form = {k: v[0] for k, v in parse_qs(request.body.decode()).items()}
    for key in ("blocks",):
        if key in form:
            form[key] = json.loads(form[key])
    return form
