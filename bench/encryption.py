"""Encryption at rest: what sealing and opening recordings costs, on one core.

``python -m bench encryption`` measures, in this process, pinned to one CPU
(``os.sched_setaffinity``) and with process CPU time (``time.process_time``) beside wall
time (``time.perf_counter``):

1. the STREAM format itself (:mod:`callrec.crypto.stream`):
   * ``seal_stream`` of ``--stream-mib`` MiB of 8 kHz 16-bit audio from one ``BytesIO`` to
     another, in MB/s of plaintext and in seconds of 8 kHz mono audio per CPU-second;
   * ``PlainStream.read_range`` of the whole sealed file (on /tmp, in the page cache: it
     was just written), in MB/s;
   * ``--random-reads`` reads of 64 KiB at random offsets (what a seeking player asks
     for), CPU per read; a random 64 KiB range usually spans two 64 KiB chunks;
2. ``RecordingVault.seal`` of a recording in place (a 180 s and a 10 s 8 kHz mono 16-bit
   WAV) on /tmp, with a real ``KeyStore`` and ``KeyFileMasters`` in a temporary
   directory, ``--seal-runs`` times each, against the plaintext floor measured in the
   same loop: the same file copied in place the way the vault writes its sealed copy
   (``shutil.copyfile`` to a temporary name, fsync, rename over, fsync of the directory).
   ``KeyStore.new_data_key`` alone (one SQLite commit, ``synchronous = FULL``) is timed
   in the same loop too. Each seal is under a new subject, as for a new caller.

The three operations run in turn in each round, so the machine's drift hits them alike;
medians are reported. Before each timed operation the recording is copied into place and
fsynced (untimed), so the seal and the floor start from the same state.
"""

from __future__ import annotations

import io
import os
import random
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import soundfile
from cryptography.hazmat.backends.openssl.backend import backend as openssl_backend

from callrec.crypto.keystore import KeyStore
from callrec.crypto.masters import KeyFileMasters
from callrec.crypto.stream import (
    CHUNK_BYTES,
    PlainStream,
    new_header,
    read_header,
    seal_stream,
)
from callrec.crypto.vault import RecordingVault, fsync_directory

RATE = 8000
AUDIO_BYTES_PER_SECOND = RATE * 2          # 8 kHz, 16-bit, mono
MB = 1_000_000
MIB = 1 << 20
RANGE_BYTES = 64 * 1024


def pin_one_cpu() -> tuple[int | None, set[int] | None]:
    """Pin this process to the highest CPU it may use; (that CPU, the old affinity)."""
    if not hasattr(os, "sched_setaffinity"):
        return None, None
    allowed = os.sched_getaffinity(0)
    cpu = max(allowed)
    os.sched_setaffinity(0, {cpu})
    return cpu, allowed


def timed(action: Callable[[], object]) -> tuple[float, float]:
    """(CPU seconds, wall seconds) of ``action()``."""
    cpu, wall = time.process_time(), time.perf_counter()
    action()
    return time.process_time() - cpu, time.perf_counter() - wall


class NullSink(io.RawIOBase):
    """A target that drops what it is given: seal_stream's cipher and framing alone."""

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        return len(data)


def audio_bytes(seconds: float, seed: int = 1) -> bytes:
    """``seconds`` of 8 kHz 16-bit mono samples: a voice-band tone mix with noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * RATE)) / RATE
    wave = (0.2 * np.sin(2 * np.pi * 440 * t) + 0.1 * np.sin(2 * np.pi * 1230 * t)
            + 0.05 * rng.standard_normal(t.size))
    return (np.clip(wave, -1, 1) * 32767).astype("<i2").tobytes()


def write_wav(path: Path, seconds: float) -> int:
    samples = np.frombuffer(audio_bytes(seconds), dtype="<i2")
    soundfile.write(str(path), samples, RATE, subtype="PCM_16")
    return path.stat().st_size


def _summary(values: list[float], scale: float = 1000.0) -> dict[str, float]:
    ordered = sorted(values)
    return {"n": len(ordered),
            "median": round(statistics.median(ordered) * scale, 3),
            "min": round(ordered[0] * scale, 3),
            "p90": round(ordered[int(0.9 * (len(ordered) - 1))] * scale, 3)}


# -- 1. the stream format ---------------------------------------------------------------

def bench_stream(workdir: Path, mib: int, random_reads: int,
                 repeats: int = 3) -> dict[str, Any]:
    plain = (audio_bytes(mib * MIB / AUDIO_BYTES_PER_SECOND))[:mib * MIB]
    plain += bytes(mib * MIB - len(plain))
    key = os.urandom(32)
    recording_id = "2026/12/04/0123456789abcdef0123456789abcdef.wav"
    header = new_header(recording_id, len(plain))

    seal_cpu, seal_wall = [], []
    sealed = b""
    for _ in range(repeats):
        target = io.BytesIO()
        cpu, wall = timed(lambda t=target: seal_stream(io.BytesIO(plain), t, header, key))
        seal_cpu.append(cpu)
        seal_wall.append(wall)
        sealed = target.getvalue()
    assert len(sealed) == header.sealed_size

    # Into a BytesIO, most of the time is the target's fresh memory (page faults as it
    # grows), not the cipher: the same seal into a sink that reuses nothing tells them apart.
    sink_cpu, sink_wall = [], []
    for _ in range(repeats):
        cpu, wall = timed(lambda: seal_stream(io.BytesIO(plain), NullSink(), header, key))
        sink_cpu.append(cpu)
        sink_wall.append(wall)

    path = workdir / "stream.sealed"
    path.write_bytes(sealed)
    del sealed
    with path.open("rb") as stream:
        on_disk = read_header(stream)

    def read_all(stream: PlainStream) -> int:
        return sum(len(piece) for piece in stream.read_range(0, stream.size))

    read_cpu, read_wall = [], []
    with closing(PlainStream(os.open(path, os.O_RDONLY), on_disk, key)) as reader:
        read_all(reader)     # warm: the file's pages, the cipher
        for _ in range(repeats):
            cpu, wall = timed(lambda: read_all(reader))
            read_cpu.append(cpu)
            read_wall.append(wall)
        assert b"".join(reader.read_range(12345, 12345 + 100)) == plain[12345:12445]

        rng = random.Random(4)
        offsets = [rng.randrange(0, len(plain) - RANGE_BYTES) for _ in range(random_reads)]
        chunks = sum((o + RANGE_BYTES - 1) // CHUNK_BYTES - o // CHUNK_BYTES + 1
                     for o in offsets)

        def random_ranges() -> None:
            for offset in offsets:
                for _piece in reader.read_range(offset, offset + RANGE_BYTES):
                    pass

        random_cpu, random_wall = timed(random_ranges)
        aligned = [o - o % CHUNK_BYTES for o in offsets]

        def aligned_ranges() -> None:
            for offset in aligned:
                for _piece in reader.read_range(offset, offset + RANGE_BYTES):
                    pass

        aligned_cpu, aligned_wall = timed(aligned_ranges)
    path.unlink()

    seal_best, read_best = min(seal_cpu), min(read_cpu)
    return {
        "plaintext_mib": mib, "repeats": repeats, "chunk_bytes": CHUNK_BYTES,
        "seal_cpu_s": [round(v, 4) for v in seal_cpu],
        "seal_wall_s": [round(v, 4) for v in seal_wall],
        "seal_mb_per_cpu_s": round(len(plain) / MB / statistics.median(seal_cpu), 1),
        "seal_mb_per_cpu_s_best": round(len(plain) / MB / seal_best, 1),
        "seal_audio_seconds_per_cpu_s": round(
            len(plain) / AUDIO_BYTES_PER_SECOND / statistics.median(seal_cpu)),
        "sink_cpu_s": [round(v, 4) for v in sink_cpu],
        "sink_wall_s": [round(v, 4) for v in sink_wall],
        "sink_mb_per_cpu_s": round(len(plain) / MB / statistics.median(sink_cpu), 1),
        "sink_audio_seconds_per_cpu_s": round(
            len(plain) / AUDIO_BYTES_PER_SECOND / statistics.median(sink_cpu)),
        "read_cpu_s": [round(v, 4) for v in read_cpu],
        "read_wall_s": [round(v, 4) for v in read_wall],
        "read_mb_per_cpu_s": round(len(plain) / MB / statistics.median(read_cpu), 1),
        "read_mb_per_cpu_s_best": round(len(plain) / MB / read_best, 1),
        "read_audio_seconds_per_cpu_s": round(
            len(plain) / AUDIO_BYTES_PER_SECOND / statistics.median(read_cpu)),
        "random_reads": random_reads, "random_range_bytes": RANGE_BYTES,
        "random_chunks_per_read": round(chunks / random_reads, 3),
        "random_cpu_us_per_read": round(random_cpu / random_reads * 1e6, 1),
        "random_wall_us_per_read": round(random_wall / random_reads * 1e6, 1),
        "aligned_cpu_us_per_read": round(aligned_cpu / random_reads * 1e6, 1),
        "aligned_wall_us_per_read": round(aligned_wall / random_reads * 1e6, 1),
    }


# -- 2. sealing a recording in place ------------------------------------------------------

def _place(template: Path, path: Path) -> None:
    """The recording as MixMonitor left it, on disk (untimed set-up)."""
    shutil.copyfile(template, path)
    _fsync_file(path)


def _fsync_file(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _plain_copy_in_place(path: Path) -> None:
    """The floor: the vault's write steps without the key store and the cipher."""
    temporary = path.with_name(f".{path.name}.copy")
    shutil.copyfile(path, temporary)
    _fsync_file(temporary)
    os.replace(temporary, path)
    fsync_directory(path.parent)


def bench_seal(workdir: Path, seconds_list: list[float], runs: int) -> list[dict[str, Any]]:
    keys = workdir / "keys"
    store = KeyStore(keys / "keystore.db", KeyFileMasters(keys / "master.keys"))
    store.initialise(datetime.now(UTC))
    vault = RecordingVault(store)
    day = workdir / "recordings" / "2026" / "12" / "04"
    day.mkdir(parents=True, mode=0o700)
    out = []
    try:
        for seconds in seconds_list:
            template = workdir / f"template-{seconds:g}s.wav"
            size = write_wav(template, seconds)
            times: dict[str, list[tuple[float, float]]] = {
                "seal": [], "floor": [], "key": []}
            for run in range(runs + 1):           # run 0 warms up and is not counted
                name = f"{int(seconds)}s-{run:04d}"
                recording_id = f"2026/12/04/{name}.wav"
                sealed_path, plain_path = day / f"{name}.wav", day / f"{name}-plain.wav"
                _place(template, sealed_path)
                _place(template, plain_path)
                now = datetime.now(UTC)
                ops: list[tuple[str, Callable[[], object]]] = [
                    ("seal", lambda p=sealed_path, r=recording_id, s=f"+35840{run:07d}":
                        vault.seal(p, r, s)),
                    ("floor", lambda p=plain_path: _plain_copy_in_place(p)),
                    ("key", lambda r=f"key-only/{name}", s=f"+35850{run:07d}", n=now:
                        store.new_data_key(r, s, n)),
                ]
                # Rotate the order each round, so no operation always runs first.
                for what, action in ops[run % 3:] + ops[:run % 3]:
                    cpu, wall = timed(action)
                    if run:
                        times[what].append((cpu, wall))
                if run == 1:
                    with closing(vault.open(sealed_path, recording_id)) as opened:
                        assert b"".join(opened.read_range(0, size)) == template.read_bytes()
                sealed_path.unlink()
                plain_path.unlink()
            result: dict[str, Any] = {"seconds": seconds, "wav_bytes": size, "runs": runs}
            for what, pairs in times.items():
                result[f"{what}_cpu_ms"] = _summary([p[0] for p in pairs])
                result[f"{what}_wall_ms"] = _summary([p[1] for p in pairs])
            seal_cpu = result["seal_cpu_ms"]["median"]
            floor_cpu = result["floor_cpu_ms"]["median"]
            seal_wall = result["seal_wall_ms"]["median"]
            floor_wall = result["floor_wall_ms"]["median"]
            result["cpu_ratio_to_floor"] = round(seal_cpu / floor_cpu, 2) if floor_cpu else None
            result["wall_ratio_to_floor"] = (round(seal_wall / floor_wall, 2)
                                             if floor_wall else None)
            out.append(result)
            template.unlink()
    finally:
        vault.close()
    return out


def bench_encryption(workdir: Path, stream_mib: int = 64, random_reads: int = 2000,
                     seal_seconds: list[float] | None = None,
                     seal_runs: int = 50) -> dict[str, Any]:
    workdir.mkdir(parents=True, exist_ok=True, mode=0o700)
    cpu, old_affinity = pin_one_cpu()
    try:
        with tempfile.TemporaryDirectory(prefix="encryption-", dir=workdir) as scratch:
            stream = bench_stream(Path(scratch), stream_mib, random_reads)
        with tempfile.TemporaryDirectory(prefix="seal-", dir=workdir) as scratch:
            seals = bench_seal(Path(scratch), seal_seconds or [180.0, 10.0], seal_runs)
    finally:
        if old_affinity is not None:
            os.sched_setaffinity(0, old_affinity)
    return {"pinned_cpu": cpu, "openssl": openssl_backend.openssl_version_text(),
            "stream": stream, "seal": seals}


def markdown(result: dict[str, Any]) -> list[str]:
    s = result["stream"]
    lines = [f"Encryption (pinned to CPU {result['pinned_cpu']}; {result['openssl']})", "",
             "| stream operation | figure |", "|---|---|",
             f"| seal_stream, {s['plaintext_mib']} MiB in memory | "
             f"{s['seal_mb_per_cpu_s']} MB/s per CPU-second (best {s['seal_mb_per_cpu_s_best']}); "
             f"{s['seal_audio_seconds_per_cpu_s']:,} s of 8 kHz audio per CPU-second |",
             f"| seal_stream, same, into a discarding sink | {s['sink_mb_per_cpu_s']} MB/s; "
             f"{s['sink_audio_seconds_per_cpu_s']:,} s of audio per CPU-second |",
             f"| read_range, whole file (page cache) | {s['read_mb_per_cpu_s']} MB/s "
             f"(best {s['read_mb_per_cpu_s_best']}) |",
             f"| 64 KiB at a random offset ({s['random_chunks_per_read']} chunks) | "
             f"{s['random_cpu_us_per_read']} µs CPU, {s['random_wall_us_per_read']} µs wall |",
             f"| 64 KiB at a chunk boundary (1 chunk) | {s['aligned_cpu_us_per_read']} µs CPU, "
             f"{s['aligned_wall_us_per_read']} µs wall |", "",
             "| recording | WAV bytes | runs | seal CPU / wall ms | floor CPU / wall ms "
             "| new_data_key CPU / wall ms | ratio CPU / wall |",
             "|---|---|---|---|---|---|---|"]
    for r in result["seal"]:
        def pair(what: str, row: dict[str, Any] = r) -> str:
            return f"{row[what + '_cpu_ms']['median']} / {row[what + '_wall_ms']['median']}"
        lines.append(f"| {r['seconds']:g} s | {r['wav_bytes']:,} | {r['runs']} "
                     f"| {pair('seal')} | {pair('floor')} | {pair('key')} "
                     f"| {r['cpu_ratio_to_floor']} / {r['wall_ratio_to_floor']} |")
    lines.append("")
    return lines


# ---- bench load's callrec-encrypted path ----------------------------------------------

def seal_delays(recordings: Path, rows: list[dict[str, Any]],
                problems: list[str]) -> dict[str, float]:
    """Seconds from each call's end (the row's ended_at) to its sealed file (the file's
    ctime: the rename that put the sealed copy in place; the seal keeps the mtime)."""
    from callrec.crypto.vault import is_sealed

    delays: list[float] = []
    unsealed = 0
    for row in rows:
        if not row.get("recording_path") or not row.get("ended_at"):
            continue
        path = recordings / row["recording_path"]
        if not is_sealed(path):
            unsealed += 1
            continue
        ended = row["ended_at"]
        ended_at = ended if isinstance(ended, datetime) else datetime.fromisoformat(str(ended))
        if ended_at.tzinfo is None:
            ended_at = ended_at.replace(tzinfo=UTC)
        delays.append(path.stat().st_ctime - ended_at.timestamp())
    if unsealed:
        problems.append(f"{unsealed} recordings not sealed")
    if not delays:
        return {}
    ordered = sorted(delays)
    return {"n": len(ordered), "p50": round(statistics.median(ordered), 3),
            "p99": round(ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))], 3),
            "max": round(ordered[-1], 3)}


def delays_text(delays: dict[str, float]) -> str:
    return f"{delays['p50']} / {delays['p99']} / {delays['max']} (n = {int(delays['n'])})"
