"""Contact-history lookup by caller number at 1 and 10 million rows, SQLite and PostgreSQL.

The lookup is the real code path: ``SqlContactHistory.search(number=...)`` (newest 100
calls of one number, as ``callrec calls --number`` and the rights commands use it) on a
database migrated by ``callrec.storage.migrate.upgrade``; the index on
(caller_number, started_at) serves it.

Rows are made inside the database (a recursive CTE in SQLite, ``generate_series`` in
PostgreSQL): no Python loop touches 10 million rows. While loading, the secondary indexes
are dropped and then re-created from their own DDL, so the schema measured is exactly the
migrated one. Data: ``DISTINCT_NUMBERS`` caller numbers spread over all rows (2 calls per
number at 1 M rows, 20 at 10 M), three years of calls, every row a finished answered call
with a recording, 1 in 20 from a withheld number.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import text

from bench.load import percentiles
from callrec.storage.db import Database
from callrec.storage.history_dao import SqlContactHistory
from callrec.storage.migrate import upgrade

DISTINCT_NUMBERS = 500_000
SPAN_SECONDS = 3 * 365 * 86400
BASE_EPOCH = 1_700_000_000          # 2023-11-14
PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
PG_BENCH_DB = "callrec_bench"
STEP = 1_000_000                    # rows per load transaction

# Columns filled for every row; the others keep their defaults (NULL or false).
_COLUMNS = ("id, asterisk_id, channel_id, linkedid, caller_number_raw, caller_number, "
            "caller_withheld, service_number, service, service_number_known, queue, "
            "language, started_at, notice_completed, recording_path, answered_at, agent, "
            "agent_interface, ended_at, outcome, recording_bytes, recording_seconds, "
            "recording_sha256, end_estimated, legal_hold")


def _number_sql(i: str, fmt: str) -> str:
    return fmt.format(f"(({i}) * 7919) % {DISTINCT_NUMBERS}")


_SQLITE_INSERT = f"""
WITH RECURSIVE s(i) AS (SELECT :lo UNION ALL SELECT i + 1 FROM s WHERE i + 1 < :hi)
INSERT INTO calls ({_COLUMNS})
SELECT printf('%032x', i), 'bench-node', 'ch-' || i, 'ch-' || i,
       CASE WHEN i % 20 = 0 THEN NULL ELSE {_number_sql('i', "'040' || printf('%07d', {})")} END,
       CASE WHEN i % 20 = 0 THEN NULL ELSE {_number_sql('i', "'+35840' || printf('%07d', {})")} END,
       i % 20 = 0, '0201234500', 'servicedesk', 1, 'servicedesk', 'fi', t, 1,
       strftime('%Y/%m/%d/', ts, 'unixepoch') || printf('%032x', i) || '.wav',
       strftime('%Y-%m-%d %H:%M:%S', ts + 10, 'unixepoch') || '.000000',
       'agent' || (i % 40), 'PJSIP/agent' || (i % 40),
       strftime('%Y-%m-%d %H:%M:%S', ts + 190, 'unixepoch') || '.000000', 'answered',
       2880044, 180.0, printf('%064x', i), 0, 0
FROM (SELECT i, {BASE_EPOCH} + i * {SPAN_SECONDS} / :total AS ts,
             strftime('%Y-%m-%d %H:%M:%S', {BASE_EPOCH} + i * {SPAN_SECONDS} / :total,
                      'unixepoch') || '.000000' AS t
      FROM s)
"""

_PG_RAW = "'040' || lpad(({})::text, 7, '0')"
_PG_E164 = "'+35840' || lpad(({})::text, 7, '0')"
_PG_INSERT = f"""
INSERT INTO calls ({_COLUMNS})
SELECT lpad(to_hex(i), 32, '0'), 'bench-node', 'ch-' || i, 'ch-' || i,
       CASE WHEN i % 20 = 0 THEN NULL ELSE {_number_sql('i', _PG_RAW)} END,
       CASE WHEN i % 20 = 0 THEN NULL ELSE {_number_sql('i', _PG_E164)} END,
       i % 20 = 0, '0201234500', 'servicedesk', true, 'servicedesk', 'fi', t, true,
       to_char(t, 'YYYY/MM/DD/') || lpad(to_hex(i), 32, '0') || '.wav',
       t + interval '10 seconds', 'agent' || (i % 40), 'PJSIP/agent' || (i % 40),
       t + interval '190 seconds', 'answered', 2880044, 180.0, lpad(to_hex(i), 64, '0'),
       false, false
FROM (SELECT i, to_timestamp({BASE_EPOCH} + i::bigint * {SPAN_SECONDS} / %(total)s) AS t
      FROM generate_series(%(lo)s::bigint, %(hi)s::bigint - 1) AS i) AS s
"""


@dataclass
class LookupResult:
    backend: str
    rows: int
    load_seconds: float
    lookups: int
    rows_returned_mean: float
    lookup_ms: dict[str, float] = field(default_factory=dict)
    plan: str = ""

    def to_json(self) -> dict[str, Any]:
        return self.__dict__.copy()


def number_of(k: int) -> str:
    return f"+35840{k:07d}"


def measure(database_url: str, backend: str, rows: int, load_seconds: float,
            lookups: int, seed: int = 6) -> LookupResult:
    """``lookups`` searches for random numbers (1 in 10 never called) through the DAO."""
    rng = random.Random(seed)
    database = Database.open(database_url)
    try:
        history = SqlContactHistory(database)
        for _ in range(20):  # warm the pool, the statement cache and the index's top pages
            history.search(number=number_of(rng.randrange(DISTINCT_NUMBERS)))
        timings: list[float] = []
        returned = 0
        for n in range(lookups):
            k = rng.randrange(DISTINCT_NUMBERS)
            number = number_of(k) if n % 10 else f"+35850{k:07d}"
            start = time.perf_counter()
            found = history.search(number=number)
            timings.append((time.perf_counter() - start) * 1000)
            returned += len(found)
        plan = _plan(database, number_of(1))
    finally:
        database.dispose()
    return LookupResult(backend, rows, round(load_seconds, 1), lookups,
                        round(returned / max(lookups, 1), 1), percentiles(timings), plan)


def _plan(database: Database, number: str) -> str:
    """The query plan of the DAO's lookup, so a table scan would show."""
    if database.dialect == "sqlite":
        sql = ("EXPLAIN QUERY PLAN SELECT * FROM calls WHERE caller_number = :n "
               "ORDER BY started_at DESC, id DESC LIMIT 100")
        with database.connection() as conn:
            return "; ".join(str(row[-1]) for row in conn.execute(text(sql), {"n": number}))
    sql = ("EXPLAIN SELECT * FROM calls WHERE caller_number = :n "
           "ORDER BY started_at DESC, id DESC LIMIT 100")
    with database.connection() as conn:
        return "; ".join(str(row[0]).strip() for row in conn.execute(text(sql), {"n": number}))


# ---- SQLite ----

def load_sqlite(path: Path, start: int, end: int, total: int) -> float:
    """Add rows [start, end) to the SQLite file, indexes dropped and rebuilt; seconds."""
    import sqlite3

    began = time.monotonic()
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA synchronous=OFF")
        conn.execute("PRAGMA cache_size=-1000000")
        indexes = [row[0] for row in conn.execute(
            "SELECT sql FROM sqlite_master WHERE type='index' AND tbl_name='calls' "
            "AND sql IS NOT NULL")]
        names = [row[0] for row in conn.execute(
            "SELECT name FROM sqlite_master WHERE type='index' AND tbl_name='calls' "
            "AND sql IS NOT NULL")]
        for name in names:
            conn.execute(f'DROP INDEX "{name}"')
        for lo in range(start, end, STEP):
            conn.execute("BEGIN")
            conn.execute(_SQLITE_INSERT, {"lo": lo, "hi": min(lo + STEP, end), "total": total})
            conn.execute("COMMIT")
        for ddl in indexes:
            conn.execute(ddl)
        conn.execute("ANALYZE")
    finally:
        conn.close()
    return time.monotonic() - began


def bench_sqlite(workdir: Path, sizes: list[int], lookups: int) -> list[LookupResult]:
    path = workdir / "history-bench.db"
    for stale in workdir.glob("history-bench.db*"):
        stale.unlink()
    url = f"sqlite:///{path}"
    upgrade(url)
    results, loaded, spent = [], 0, 0.0
    try:
        for size in sizes:
            # Rows keep their place in time: the 10 M set spans the same three years.
            spent += load_sqlite(path, loaded, size, max(sizes))
            loaded = size
            results.append(measure(url, "sqlite", size, spent, lookups))
    finally:
        for done in workdir.glob("history-bench.db*"):
            done.unlink()
    return results


# ---- PostgreSQL ----

def bench_postgres(sizes: list[int], lookups: int, admin_url: str = PG_ADMIN_URL,
                   keep: bool = False) -> list[LookupResult]:
    url = admin_url.rsplit("/", 1)[0] + "/" + PG_BENCH_DB
    _pg_admin(admin_url, f"DROP DATABASE IF EXISTS {PG_BENCH_DB}")
    _pg_admin(admin_url, f"CREATE DATABASE {PG_BENCH_DB}")
    results, loaded, spent = [], 0, 0.0
    try:
        upgrade(url)
        for size in sizes:
            spent += load_postgres(url, loaded, size, max(sizes))
            loaded = size
            results.append(measure(url, "postgresql", size, spent, lookups))
    finally:
        if not keep:
            _pg_admin(admin_url, f"DROP DATABASE IF EXISTS {PG_BENCH_DB}")
    return results


def _pg_admin(admin_url: str, sql: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql)  # type: ignore[arg-type]


def _pg_sql() -> str:
    # psycopg takes "%" for its placeholders: the modulo operator is written "%%".
    return _PG_INSERT.replace(" % ", " %% ")


def load_postgres(url: str, start: int, end: int, total: int) -> float:
    began = time.monotonic()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET maintenance_work_mem = '512MB'")
        conn.execute("SET synchronous_commit = off")
        indexes = conn.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'calls' "
            "AND indexname NOT IN (SELECT conname FROM pg_constraint)").fetchall()
        for name, _ in indexes:
            conn.execute(f'DROP INDEX "{name}"')  # type: ignore[arg-type]
        for lo in range(start, end, STEP):
            conn.execute(_pg_sql(),  # type: ignore[arg-type]
                         {"lo": lo, "hi": min(lo + STEP, end), "total": total})
        for _, ddl in indexes:
            conn.execute(ddl)
        conn.execute("VACUUM ANALYZE calls")
    return time.monotonic() - began
