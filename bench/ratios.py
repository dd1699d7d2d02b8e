"""How the load benchmark's runs are compared with the floor and read against the targets.

This machine's speed drifts within one benchmark (a floor run can cost 38 ms per call and
the next one 44 ms), so a run compared with the floor run just before it carries the drift
into its ratio. Each run is compared instead with the mean of the floor runs on either
side of it (``bench load`` closes its rounds with a floor run so that every run has one
after it), and the ratio over the whole benchmark is pooled: the path's mean total CPU
per call over the floor's mean.
"""

from __future__ import annotations

from statistics import fmean
from typing import Any

Run = dict[str, Any]  # one entry of results["load"]: load.RunResult.to_json()

FLOOR = "floor"
MEASURED = "callrec"  # the build the targets are about (callrec-http is for comparison)
CALLREC_MS_TARGET = 5.0
NOTICE_P99_TARGET_MS = 50.0
RATIO_TARGET = 1.2
CONCURRENT_TARGET = 100
TARGETS = {
    "failed": f"no failed calls at {CONCURRENT_TARGET} concurrent calls",
    "callrec_ms": f"callrec CPU < {CALLREC_MS_TARGET:g} ms per call",
    "notice_p99": f"answer -> notice p99 < {NOTICE_P99_TARGET_MS:g} ms at 10 calls/s",
    "ratio": f"total CPU per call <= {RATIO_TARGET:g} x floor",
}


def run_order(paths: list[str], rounds: int) -> list[str]:
    """``paths`` ``rounds`` times in turn, then a floor run if any run lacks one after it."""
    order = [path for _ in range(rounds) for path in paths]
    if FLOOR in order and order[-1] != FLOOR:
        order.append(FLOOR)
    return order


def bracketing_floor(runs: list[Run], index: int) -> float | None:
    """The floor's total CPU per call around run ``index``: the mean of the nearest floor
    run before it and the nearest after it, or the one that exists."""
    before = next((runs[i] for i in range(index - 1, -1, -1) if runs[i]["path"] == FLOOR),
                  None)
    after = next((runs[i] for i in range(index + 1, len(runs)) if runs[i]["path"] == FLOOR),
                 None)
    sides = [run["total_ms_per_call"] for run in (before, after) if run is not None]
    return fmean(sides) if sides else None


def ratio_to_floor(runs: list[Run], index: int) -> float | None:
    """Run ``index``'s total CPU per call over its bracketing floor; None for a floor run
    or when no floor run was made."""
    if runs[index]["path"] == FLOOR:
        return None
    floor = bracketing_floor(runs, index)
    return runs[index]["total_ms_per_call"] / floor if floor else None


def pooled_ratio(runs: list[Run], path: str) -> float | None:
    """Mean total CPU per call of ``path``'s runs over the mean of the floor runs."""
    mine = [run["total_ms_per_call"] for run in runs if run["path"] == path]
    floors = [run["total_ms_per_call"] for run in runs if run["path"] == FLOOR]
    if not mine or not floors:
        return None
    return fmean(mine) / fmean(floors)


def target_results(runs: list[Run]) -> list[tuple[str, str, bool]]:
    """(target key, what was measured, met?) for the load targets, on the callrec runs."""
    measured = [(i, run) for i, run in enumerate(runs) if run["path"] == MEASURED]
    if not measured:
        return []
    out: list[tuple[str, str, bool]] = []
    failed = sum(run["failed"] for run in runs)
    calls = sum(run["attempted"] for run in runs)
    peak = min(run["peak_concurrent"] for run in runs)
    out.append(("failed", f"{failed} of {calls} failed, at least {peak} concurrent in every "
                          "run", failed == 0 and peak >= CONCURRENT_TARGET))
    own = [run["callrec_ms_per_call"] for _, run in measured]
    out.append(("callrec_ms", "per run " + _list(own, 1), max(own) < CALLREC_MS_TARGET))
    p99 = [run["entry_to_notice_ms"].get("p99") for _, run in measured]
    if all(isinstance(value, (int, float)) for value in p99):
        out.append(("notice_p99", "per run " + _list(p99, 0) + " ms",
                    max(p99) < NOTICE_P99_TARGET_MS))
    ratios = [r for i, _ in measured if (r := ratio_to_floor(runs, i)) is not None]
    pooled = pooled_ratio(runs, MEASURED)
    if pooled is not None and len(ratios) == len(measured):
        out.append(("ratio", f"pooled {pooled:.2f}; per run " + _list(ratios, 2),
                    max(ratios) <= RATIO_TARGET))
    return out


def _list(values: list[Any], digits: int) -> str:
    return ", ".join(f"{value:.{digits}f}" for value in values)
