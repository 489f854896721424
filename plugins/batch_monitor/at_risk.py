"""The AT_RISK rule: a deadline still ahead that the prediction says will be missed. Pure.

One tick's judgement of one step (or of the chain) from the previous tick's :class:`RiskMemory`:

- *late*: the predicted finish is after ``finish_by + risk_margin``;
- the AT_RISK is raised at the 2nd consecutive late tick (one late tick is a blip);
- once raised, it holds until the prediction is back inside by 10 minutes
  (predicted <= finish_by + risk_margin - 10 min), so a forecast wavering about the line does not
  open and close it tick after tick;
- it is judged only while the deadline is still ahead (as_of < finish_by). From the deadline on,
  the AT_RISK resolves, MISSED_DEADLINE takes over if the step is not done (from the first tick
  after the deadline), and the memory is kept as it was, so the MISSED_DEADLINE can name the
  AT_RISK that preceded it;
- a step done before its deadline ends it; a tick without a prediction changes nothing.
"""

from __future__ import annotations

import datetime as dt

from batch_monitor.models import RiskMemory

RAISE_AFTER_TICKS = 2
CLEAR_INSIDE_BY = dt.timedelta(minutes=10)


def judge(
    previous: RiskMemory | None,
    *,
    as_of: dt.datetime,
    predicted: dt.datetime | None,
    finish_by: dt.datetime,
    margin: dt.timedelta,
    done: bool,
) -> RiskMemory | None:
    """The memory after this tick; an AT_RISK holds as of ``as_of`` when :func:`holds` says so."""
    if previous is not None and previous.seen_at > as_of:
        previous = None  # written by a later tick: not this tick's past
    if as_of >= finish_by:  # no longer ahead: MISSED_DEADLINE's turn: keep what was known, judge nothing
        return previous.model_copy(update={"seen_at": as_of}) if previous is not None else None
    if done:
        return None
    if predicted is None:  # no forecast this tick: nothing changes
        return previous.model_copy(update={"seen_at": as_of}) if previous is not None else None
    threshold = finish_by + margin
    if previous is not None and previous.raised_since is not None:
        if predicted <= threshold - CLEAR_INSIDE_BY:
            return None
        return previous.model_copy(update={"predicted": predicted, "seen_at": as_of})
    if predicted <= threshold:
        return None
    late_ticks = (previous.late_ticks if previous is not None else 0) + 1
    late_since = previous.late_since if previous is not None and previous.late_since else as_of
    return RiskMemory(
        late_ticks=late_ticks,
        late_since=late_since,
        raised_since=as_of if late_ticks >= RAISE_AFTER_TICKS else None,
        predicted=predicted,
        seen_at=as_of,
    )


def holds(memory: RiskMemory | None, *, as_of: dt.datetime, finish_by: dt.datetime) -> bool:
    """An AT_RISK holds: raised, and the deadline is still ahead."""
    return memory is not None and memory.raised_since is not None and as_of < finish_by


def was_at_risk_since(memory: RiskMemory | None) -> dt.datetime | None:
    """When the AT_RISK that preceded a missed deadline began (None: there was none)."""
    if memory is None or memory.raised_since is None:
        return None
    return memory.late_since or memory.raised_since
