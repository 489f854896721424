"""The monitor's own exceptions. Each message says what to fix and where."""

from __future__ import annotations

from pathlib import Path


class BatchMonitorError(Exception):
    """Base class for every error the monitor raises on purpose."""


class WorkflowConfigError(BatchMonitorError):
    """A workflow YAML file is invalid. The message names the file, the step and the field."""

    def __init__(self, path: Path | str, problems: list[str]) -> None:
        self.path = Path(path)
        self.problems = list(problems)
        listing = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"{self.path}: invalid workflow file\n{listing}")


class SourceUnavailableError(BatchMonitorError):
    """The CC&B database did not answer (refused, timed out, bad credentials)."""


class StoreError(BatchMonitorError):
    """The monitor's PostgreSQL store could not be read or written."""


class NotificationError(BatchMonitorError):
    """A channel (SMTP) could not deliver a message; the message stays queued."""
