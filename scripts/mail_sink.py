"""A local SMTP server for the demo: every mail it receives is saved as an .eml file.

python scripts/mail_sink.py --port 8025 --dir .demo/mail
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import email
import email.policy
import re
import signal
import threading
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session


class SavingHandler:
    """Writes each message to ``folder`` as <timestamp>-<n>-<subject>.eml."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.count = 0

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or envelope.content
        data = raw if isinstance(raw, bytes) else str(raw).encode()
        subject = str(email.message_from_bytes(data, policy=email.policy.default).get("Subject", ""))
        self.count += 1
        slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", subject)[:80].strip("-") or "mail"
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S")
        path = self.folder / f"{stamp}-{self.count:04d}-{slug}.eml"
        path.write_bytes(data)
        print(f"mail saved: {path}  to={','.join(envelope.rcpt_tos)}  subject={subject}", flush=True)
        return "250 Message accepted for delivery"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8025)
    parser.add_argument("--dir", type=Path, default=Path(".demo/mail"))
    args = parser.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    controller = Controller(SavingHandler(args.dir), hostname=args.host, port=args.port)
    controller.start()
    print(f"mail sink listening on {args.host}:{args.port}, saving to {args.dir}", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    controller.stop()


if __name__ == "__main__":
    asyncio.set_event_loop_policy(None)
    main()
