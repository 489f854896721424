"""The report: each section's tables and targets as text (console) and Markdown (RESULTS.md).

RESULTS.md is written whole by every full run: the machine, every table, the targets, and the
hand-written findings (benchmarks/FINDINGS.md: what was slow, what was changed, why).
"""

from __future__ import annotations

from benchmarks import ROOT
from benchmarks.common import Section, verdict

FINDINGS = ROOT / "benchmarks" / "FINDINGS.md"


def section_text(section: Section) -> str:
    lines = [f"== {section.name} ({section.seconds:,.0f} s) ==", ""]
    for table in section.tables:
        lines += [table.text(), ""]
    for what, met, detail in section.targets:
        lines.append(f"target: {what}: {verdict(met)} — {detail}")
    lines += [f"note: {n}" for n in section.notes]
    return "\n".join(lines) + "\n"


def markdown(machine: dict[str, str], sections: list[Section], *, smoke: bool, total_s: float) -> str:
    lines = [
        "# Batch Monitor — benchmark results",
        "",
        "Written by `make bench` (`python benchmarks/run_all.py`"
        + (" --smoke" if smoke else "")
        + "); every figure below comes from that one run. "
        "Scripts: `benchmarks/` (see `benchmarks/run_all.py`).",
        "",
        "## Machine",
        "",
        "| | |",
        "|---|---|",
    ]
    lines += [f"| {key} | {value} |" for key, value in machine.items()]
    lines += ["", f"Whole run: {total_s / 60:,.1f} minutes.", "", "## Targets", ""]
    lines += ["| target | result | detail |", "|---|---|---|"]
    for section in sections:
        for what, met, detail in section.targets:
            lines.append(f"| {what} | {'✅ met' if met else '❌ missed'} | {detail} |")
    for section in sections:
        lines += ["", f"## {section.name}", ""]
        for table in section.tables:
            lines += [table.markdown(), ""]
        lines += [f"- {n}" for n in section.notes]
        for title, text in section.details:
            lines += ["", f"<details><summary>{title}</summary>", "", "```", text.rstrip(), "```", "", "</details>"]
    if FINDINGS.exists():
        lines += ["", FINDINGS.read_text(encoding="utf-8").strip()]
    return "\n".join(lines).rstrip() + "\n"
