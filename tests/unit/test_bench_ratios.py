"""The load benchmark's comparison with the floor (bench/ratios.py)."""

from __future__ import annotations

from typing import Any

import pytest

from bench.ratios import (
    bracketing_floor,
    pooled_ratio,
    ratio_to_floor,
    run_order,
    target_results,
)


def run(path: str, total: float, *, callrec: float = 0.0, failed: int = 0,
        p99: float = 10.0, peak: int = 122) -> dict[str, Any]:
    return {"path": path, "total_ms_per_call": total, "callrec_ms_per_call": callrec,
            "failed": failed, "attempted": 600, "peak_concurrent": peak,
            "entry_to_notice_ms": {"n": 600, "p50": 5.0, "p99": p99}}


def test_rounds_close_with_a_floor_run() -> None:
    assert run_order(["floor", "callrec"], 3) == [
        "floor", "callrec", "floor", "callrec", "floor", "callrec", "floor"]
    assert run_order(["floor", "callrec", "callrec-http"], 1) == [
        "floor", "callrec", "callrec-http", "floor"]


def test_no_floor_run_is_added_where_none_was_asked_for_or_one_already_closes() -> None:
    assert run_order(["callrec"], 2) == ["callrec", "callrec"]
    assert run_order(["callrec", "floor"], 2) == ["callrec", "floor", "callrec", "floor"]


def test_a_run_is_compared_with_the_mean_of_the_floor_runs_on_either_side() -> None:
    # The machine sped up between the two floor runs: against the floor before it alone
    # this run would read 50/40 = 1.25; against both sides 50/42.
    runs = [run("floor", 40.0), run("callrec", 50.0, callrec=4.0), run("floor", 44.0)]
    assert bracketing_floor(runs, 1) == pytest.approx(42.0)
    assert ratio_to_floor(runs, 1) == pytest.approx(50.0 / 42.0)
    assert ratio_to_floor(runs, 0) is None


def test_the_nearest_floor_run_on_each_side_is_used() -> None:
    runs = [run("floor", 30.0), run("floor", 40.0), run("callrec", 48.0),
            run("callrec-http", 49.0), run("floor", 44.0), run("floor", 99.0)]
    assert bracketing_floor(runs, 2) == pytest.approx(42.0)
    assert bracketing_floor(runs, 3) == pytest.approx(42.0)


def test_with_a_floor_on_one_side_only_that_one_is_used() -> None:
    runs = [run("floor", 40.0), run("callrec", 46.0)]
    assert ratio_to_floor(runs, 1) == pytest.approx(46.0 / 40.0)
    assert ratio_to_floor([run("callrec", 46.0)], 0) is None


def test_the_pooled_ratio_is_the_mean_of_a_path_over_the_mean_of_the_floor() -> None:
    runs = [run("floor", 40.0), run("callrec", 46.0), run("floor", 44.0),
            run("callrec", 50.0), run("floor", 42.0)]
    assert pooled_ratio(runs, "callrec") == pytest.approx(48.0 / 42.0)
    assert pooled_ratio(runs, "callrec-http") is None


def _met(runs: list[dict[str, Any]]) -> dict[str, bool]:
    return {key: met for key, _, met in target_results(runs)}


def test_targets_met_when_every_callrec_run_meets_them() -> None:
    runs = [run("floor", 40.0), run("callrec", 47.0, callrec=4.5), run("floor", 40.0)]
    assert _met(runs) == {"failed": True, "callrec_ms": True, "notice_p99": True,
                          "ratio": True}


@pytest.mark.parametrize(("bad", "target"), [
    ({"failed": 1}, "failed"),
    ({"peak": 99}, "failed"),
    ({"callrec": 5.0}, "callrec_ms"),
    ({"p99": 50.0}, "notice_p99"),
])
def test_one_bad_run_misses_its_target(bad: dict[str, Any], target: str) -> None:
    good = {"callrec": 4.5}
    runs = [run("floor", 40.0), run("callrec", 47.0, **good), run("floor", 40.0),
            run("callrec", 47.0, **{**good, **bad}), run("floor", 40.0)]
    met = _met(runs)
    assert met.pop(target) is False
    assert all(met.values())


def test_one_run_over_the_ratio_misses_it_even_when_the_pooled_ratio_is_under() -> None:
    runs = [run("floor", 40.0), run("callrec", 44.0, callrec=4.0), run("floor", 40.0),
            run("callrec", 48.4, callrec=4.0), run("floor", 40.0)]
    read = {key: (measured, met) for key, measured, met in target_results(runs)}
    measured, met = read["ratio"]
    assert met is False
    assert measured == "pooled 1.16; per run 1.10, 1.21"


def test_callrec_over_http_runs_are_not_read_against_the_targets() -> None:
    runs = [run("floor", 40.0), run("callrec-http", 80.0, callrec=9.0), run("floor", 40.0)]
    assert target_results(runs) == []
