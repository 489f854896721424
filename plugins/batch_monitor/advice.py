"""What on-call should do about an alert: "What to do" in mails and on the page. Pure.

Each kind of alert has its own advice, worded for the step it is about. A step's ``runbook``
(YAML) replaces that advice for the kinds it is given for: one string stands for every kind, a
mapping (``runbook: {FAILED: ..., STUCK: ...}``) for the kinds it names only, so advice about
ORA- errors written for a failed run does not show on a slow or late one.
"""

from __future__ import annotations

from batch_monitor.config import StepConfig
from batch_monitor.constants import FindingKind

# {code}: the step's batch code. The wording assumes the step is the subject of the alert.
_STEP_ADVICE: dict[FindingKind, str] = {
    FindingKind.FAILED: "Find the cause in the failed thread's log and messages, fix it, then resubmit {code}.",
    FindingKind.STUCK: (
        "A thread that died abnormally stays 'in progress': check the thread on the batch server, "
        "mark it in error and restart it."
    ),
    FindingKind.LONG_RUNNING: (
        "Check on the page whether {code} still gains records and finished threads. If it does, it is slow: "
        "warn the owners of the steps after it. If it does not, treat it as stuck."
    ),
    FindingKind.LOW_THROUGHPUT: (
        "Check the batch server's load and the database for locks or long waits while {code} runs; "
        "other jobs competing for it slow it down."
    ),
    FindingKind.LATE_START: "Check the scheduler that submits {code}; submit it if it was missed.",
    FindingKind.AT_RISK: (
        "{code} is predicted to finish after its deadline. Look on the page at the step that drives the "
        "prediction: if it is slow, check the batch server and the database for locks or competing jobs; "
        "warn the owners of what depends on {code} before the deadline, not after."
    ),
    FindingKind.MISSED_DEADLINE: (
        "Tell the owners of what depends on {code} that it is late, and see on the page what holds it "
        "(a failed, stuck or slow run, or a predecessor)."
    ),
    FindingKind.OUT_OF_ORDER: (
        "{code} started before its predecessor completed, so it may have read incomplete data: check its "
        "output and rerun it once the predecessor has completed."
    ),
    FindingKind.EMPTY_RUN: "Check the run's input (upstream extract, parameters) before the chain goes on.",
    FindingKind.UNUSUAL_VOLUME: (
        "Compare {code}'s input with a usual day's (upstream extract, file sizes, run parameters) before the "
        "steps after it use its output; rerun {code} if part of its input was missing."
    ),
}

# a breach already over when the monitor saw it: nothing to rescue, something to learn
_CLOSED_ADVICE: dict[FindingKind, str] = {
    FindingKind.LATE_START: (
        "{code} has started since. Find out why it was late (scheduler, submission) so that the next "
        "business day starts on time."
    ),
    FindingKind.MISSED_DEADLINE: (
        "{code} has completed since. Tell the owners of what depends on it that it was late, and find out "
        "what delayed it (a late start, a slow run, reruns)."
    ),
}

_CHAIN_ADVICE: dict[FindingKind, str] = {
    FindingKind.AT_RISK: (
        "The chain is predicted to finish after its deadline. Start with the step named as driving the "
        "prediction (slow, stuck or waiting on a predecessor) and warn the owners of the chain's output early."
    ),
    FindingKind.MISSED_DEADLINE: "Work through the open steps in order; the earliest open step holds the chain.",
    FindingKind.DATA_QUALITY: (
        "Check the listed rows in CC&B; the monitor judged the rest of the day without them, or from "
        "the best evidence it had, as listed."
    ),
    FindingKind.SOURCE_UNAVAILABLE: (
        "Check that CC&B is up and reachable from the Airflow workers and that the monitor's connection "
        "(host, port, login) is valid. Nothing is lost meanwhile: the first tick that reads CC&B again "
        "judges the ticks missed and raises what happened, once."
    ),
}

_CHAIN_CLOSED_ADVICE = "The chain has completed since. Find which step held it up (the timeline shows each step's end)."


def advice(kind: FindingKind, step: StepConfig | None = None, *, closed: bool = False) -> str:
    """'What to do' about an alert of ``kind`` on ``step`` (None: the whole chain or the workflow).

    The step's runbook for the kind if it has one, else the built-in advice for the kind.
    ``closed``: the breach was already over when judged (a late start or a missed deadline).
    """
    if step is None:
        if closed and kind == FindingKind.MISSED_DEADLINE:
            return _CHAIN_CLOSED_ADVICE
        return _CHAIN_ADVICE.get(kind, "")
    runbook = step.runbook_for(kind)
    if runbook:
        return runbook
    table = _CLOSED_ADVICE if closed and kind in _CLOSED_ADVICE else _STEP_ADVICE
    return table.get(kind, "").format(code=step.batch_code)
