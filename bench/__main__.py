"""``python -m bench``: callrec's benchmarks (see docs/benchmarks.md).

    .venv/bin/python -m bench run              # everything, as in docs/benchmarks.md
    .venv/bin/python -m bench load --calls 600 --rate 10 --limit 130
    .venv/bin/python -m bench history --sizes 1000000 10000000
    .venv/bin/python -m bench rights
    .venv/bin/python -m bench callpath --callpath-calls 600   # callrec alone, fake ARI
    .venv/bin/python -m bench encryption       # sealing/opening recordings, one core

Needs root (the lab Asterisk), SIPp and sox (``callrec lab up`` installs them), and for
PostgreSQL a server on 127.0.0.1:5432 that lets user postgres in (database
``callrec_bench`` is created and dropped). Results go to WORKDIR/results.json and
WORKDIR/results.md (default WORKDIR: /tmp/callrec-bench/<date-time>).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from bench import callpath, encryption, history, load, ratios, rights
from bench.proc import machine


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", type=Path,
                        default=Path("/tmp/callrec-bench") / f"{datetime.now():%Y%m%d-%H%M%S}")
    sub = parser.add_subparsers(dest="what", required=True)
    for name in ("run", "load"):
        p = sub.add_parser(name)
        p.add_argument("--calls", type=int, default=600)
        p.add_argument("--rate", type=float, default=10.0)
        p.add_argument("--limit", type=int, default=130)
        p.add_argument("--talk", type=float, default=3.0)
        p.add_argument("--warmup", type=int, default=10)
        p.add_argument("--paths", nargs="+", default=["floor", "callrec"],
                       choices=["floor", "callrec", "callrec-http", "callrec-encrypted"],
                       help="run in this order each round; callrec-http: callrec with "
                            "[ari] requests = \"http\" (default: floor callrec)")
        p.add_argument("--rounds", type=int, default=1,
                       help="times to run --paths in turn (default 1); a closing floor run "
                            "follows, so each run is compared with the floor on both sides")
        p.add_argument("--keep-recordings", action="store_true")
    p = sub.add_parser("history")
    for q in (p, sub.choices["run"]):
        q.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000])
        q.add_argument("--lookups", type=int, default=2000)
        q.add_argument("--backends", nargs="+", default=["sqlite", "postgresql"],
                       choices=["sqlite", "postgresql"])
    p = sub.add_parser("callpath")
    for q in (p, sub.choices["run"]):
        q.add_argument("--callpath-calls", type=int, default=600)
        q.add_argument("--callpath-rate", type=float, default=10.0)
        q.add_argument("--callpath-rounds", type=int, default=3)
        q.add_argument("--callpath-requests", nargs="+", default=["websocket"],
                       choices=["websocket", "http"],
                       help="[ari] requests settings to run in turn each round")
    p.add_argument("--profile", type=Path, help="run callrec serve under cProfile into FILE")
    p = sub.add_parser("rights")
    for q in (p, sub.choices["run"]):
        q.add_argument("--subject-calls", type=int, default=100)
        q.add_argument("--recording-seconds", type=float, default=180.0)
    p = sub.add_parser("encryption", help="seal_stream / PlainStream throughput and "
                       "RecordingVault.seal per recording, on one core (no root, no lab)")
    for q in (p, sub.choices["run"]):
        q.add_argument("--stream-mib", type=int, default=64)
        q.add_argument("--random-reads", type=int, default=2000)
        q.add_argument("--seal-seconds", type=float, nargs="+", default=[180.0, 10.0],
                       help="recording lengths to seal (8 kHz mono 16-bit WAV)")
        q.add_argument("--seal-runs", type=int, default=50)
    args = parser.parse_args(argv)

    args.workdir.mkdir(parents=True, exist_ok=True, mode=0o700)
    results: dict[str, Any] = {"date": datetime.now().astimezone().isoformat(timespec="seconds"),
                               "machine": machine(), "command": " ".join(sys.argv)}
    if args.what in ("run", "load"):
        results["load"] = run_load(args)
        _save(args.workdir, results)
    if args.what in ("run", "callpath"):
        results["callpath"] = [
            asyncio.run(callpath.CallpathBench(
                args.workdir / f"callpath-{n}-{requests}", callpath.CallpathSettings(
                    calls=args.callpath_calls, rate=args.callpath_rate,
                    ari_requests=requests, profile=getattr(args, "profile", None))).run())
            for n in range(args.callpath_rounds) for requests in args.callpath_requests]
        _save(args.workdir, results)
    # The export runs before the history benchmark: a child's ru_maxrss starts from its
    # parent's size at fork, and the history benchmark leaves this process large.
    if args.what in ("run", "rights"):
        results["rights"] = rights.bench_export(
            args.workdir / "rights", args.subject_calls, args.recording_seconds).to_json()
        _save(args.workdir, results)
    if args.what in ("run", "encryption"):
        results["encryption"] = encryption.bench_encryption(
            args.workdir / "encryption", args.stream_mib, args.random_reads,
            args.seal_seconds, args.seal_runs)
        _save(args.workdir, results)
    if args.what in ("run", "history"):
        results["history"] = run_history(args)
    _save(args.workdir, results)
    print((args.workdir / "results.md").read_text("utf-8"))
    print(f"results: {args.workdir / 'results.json'}")
    return 0


def run_load(args: argparse.Namespace) -> list[dict[str, Any]]:
    settings = load.LoadSettings(args.calls, args.rate, args.limit, args.talk, args.warmup)
    bench = load.LoadBench(args.workdir / "load", settings,
                           keep_recordings=args.keep_recordings)
    bench.prepare()
    runs = []
    for path in ratios.run_order(args.paths, args.rounds):
        result = bench.run(path)
        print(f"{path}: {result.completed}/{result.attempted} completed, "
              f"{result.total_ms_per_call:.1f} ms CPU per call", flush=True)
        runs.append(result.to_json())
    return runs


def run_history(args: argparse.Namespace) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    if "sqlite" in args.backends:
        out += [r.to_json() for r in history.bench_sqlite(args.workdir, args.sizes,
                                                          args.lookups)]
    if "postgresql" in args.backends:
        out += [r.to_json() for r in history.bench_postgres(args.sizes, args.lookups)]
    return out


def _save(workdir: Path, results: dict[str, Any]) -> None:
    (workdir / "results.json").write_text(json.dumps(results, indent=1), "utf-8")
    (workdir / "results.md").write_text(markdown(results), "utf-8")


def _pct(d: dict[str, float]) -> str:
    return f"{d.get('p50', '-')} / {d.get('p99', '-')}" if d.get("n") else "-"


def _load_targets(runs: list[dict[str, Any]]) -> list[str]:
    read = ratios.target_results(runs)
    if not read:
        return []
    lines = ["| target (runs of callrec) | measured | met |", "|---|---|---|"]
    lines += [f"| {ratios.TARGETS[key]} | {measured} | {'yes' if met else '**no**'} |"
              for key, measured, met in read]
    return [*lines, ""]


def markdown(results: dict[str, Any]) -> str:
    lines = [f"Date: {results['date']}; machine: {results['machine']}", ""]
    runs = results.get("load") or []
    if runs:
        lines += ["| run | calls attempted / completed / failed | peak concurrent "
                  "| INVITE→200 OK p50 / p99 ms | answer→notice p50 / p99 ms "
                  "| Asterisk CPU ms/call | callrec CPU s per 1,000 calls "
                  "| callrec peak RSS MiB | total CPU ms/call "
                  "| ratio to floor (floor runs either side) |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        for index, run in enumerate(runs):
            ratio_value = ratios.ratio_to_floor(runs, index)
            ratio = f"{ratio_value:.2f}" if ratio_value is not None else "-"
            callrec_cpu = (f"{run['callrec_ms_per_call']:.1f}"
                           if run["callrec_cpu_s"] is not None else "-")
            rss = run["callrec_peak_rss_mib"] if run["callrec_peak_rss_mib"] else "-"
            lines.append(
                f"| {run['path']} | {run['attempted']} / {run['completed']} / {run['failed']} "
                f"| {run['peak_concurrent']} | {_pct(run['invite_to_200_ms'])} "
                f"| {_pct(run['entry_to_notice_ms'])} | {run['asterisk_ms_per_call']:.1f} "
                f"| {callrec_cpu} | {rss} | {run['total_ms_per_call']:.1f} | {ratio} |")
            if run.get("seal_after_hangup_s"):
                lines.append(f"| ↳ hang-up → sealed file, s (p50 / p99 / max) "
                             f"| {encryption.delays_text(run['seal_after_hangup_s'])} |")
            if run["problems"]:
                lines.append(f"| ↳ problems | {'; '.join(run['problems'])} |")
        lines.append("")
        lines += _load_targets(runs)
    lookups = results.get("history") or []
    if lookups:
        lines += ["| backend | rows | load s | lookups | rows returned (mean) "
                  "| lookup p50 / p99 ms | plan |", "|---|---|---|---|---|---|---|"]
        for r in lookups:
            lines.append(f"| {r['backend']} | {r['rows']:,} | {r['load_seconds']} "
                         f"| {r['lookups']} | {r['rows_returned_mean']} "
                         f"| {_pct(r['lookup_ms'])} | {r['plan'][:160]} |")
        lines.append("")
    fake = results.get("callpath") or []
    if fake:
        lines += ["| callrec alone (fake ARI), round: requests | calls | rate /s "
                  "| CPU ms/call (user + system) "
                  "| event loop ms/call | other threads ms/call | peak RSS MiB "
                  "| rows finished / answered |", "|---|---|---|---|---|---|---|---|"]
        for n, r in enumerate(fake, 1):
            lines.append(f"| {n}: {r['ari_requests']} | {r['calls']} | {r['rate']} "
                         f"| {r['cpu_ms_per_call']} "
                         f"({r['user_ms_per_call']} + {r['system_ms_per_call']}) "
                         f"| {r['event_loop_ms_per_call']} | {r['other_threads_ms_per_call']} "
                         f"| {r['peak_rss_mib']} | {r['finished_rows']} / {r['answered_rows']} |")
        lines.append("")
    export = results.get("rights")
    if export:
        lines += ["| rights export | calls | recordings MiB | seconds | peak RSS MiB "
                  "| zip MiB | exit |", "|---|---|---|---|---|---|---|",
                  f"| subject | {export['calls']} | {export['recordings_mib']} "
                  f"| {export['seconds']} | {export['peak_rss_mib']} | {export['zip_mib']} "
                  f"| {export['exit_status']} |", ""]
    if results.get("encryption"):
        lines += encryption.markdown(results["encryption"])
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
