"""Unusual volume: a completed run that processed far fewer or far more records than usual. Pure.

A run is judged against its step's learned baseline (:class:`~batch_monitor.models.StepBaseline`,
figures per run): once the baseline has ``min_days`` days of history, a completed run whose
records are below ``low`` or above ``high`` times the typical (median) count is unusual, and so
is one that finished in under a tenth of its typical time with under a tenth of its typical
records (a run that "succeeded" without doing its work). A run with 0 records is EMPTY_RUN's,
not this module's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from batch_monitor.constants import RunStatus
from batch_monitor.models import RunView, StepBaseline

QUICK_SHARE = 0.10  # under 10 % of the typical duration and 10 % of the typical records


@dataclass(frozen=True, slots=True)
class VolumeLimits:
    """Shares of the typical records (0.2 = 20 %) outside which a run is unusual."""

    low: float = 0.20
    high: float = 5.00
    min_days: int = 5


@dataclass(frozen=True, slots=True)
class UnusualVolume:
    """One unusual run: which rule it broke and the figures it was judged by."""

    run: RunView
    rule: str  # "low", "high" or "quick"
    records: int
    typical_records: float
    share: float  # records / typical_records
    duration_s: float | None
    typical_duration_s: float | None


def _judge_run(run: RunView, baseline: StepBaseline, limits: VolumeLimits) -> UnusualVolume | None:
    typical = baseline.records_p50
    if typical is None or typical <= 0 or run.records <= 0:
        return None
    share = run.records / typical
    typical_s = baseline.duration_p50_s
    quick = (
        typical_s is not None
        and typical_s > 0
        and run.duration_s is not None
        and run.duration_s < QUICK_SHARE * typical_s
        and share < QUICK_SHARE
    )
    if share < limits.low:
        rule = "low"
    elif share > limits.high:
        rule = "high"
    elif quick:
        rule = "quick"
    else:
        return None
    return UnusualVolume(
        run=run,
        rule=rule,
        records=run.records,
        typical_records=typical,
        share=share,
        duration_s=run.duration_s,
        typical_duration_s=typical_s,
    )


def unusual_volume(
    runs: Sequence[RunView], baseline: StepBaseline | None, limits: VolumeLimits
) -> UnusualVolume | None:
    """The latest completed run of ``runs`` with an unusual record count, or None.

    None as well while there is no baseline, or it has fewer than ``limits.min_days`` days.
    """
    if baseline is None or baseline.sample_days < limits.min_days:
        return None
    for run in reversed(runs):
        if run.status != RunStatus.COMPLETE:
            continue
        verdict = _judge_run(run, baseline, limits)
        if verdict is not None:
            return verdict
    return None
