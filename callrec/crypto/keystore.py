"""The key store: every recording's data key, wrapped by its subject's key, wrapped by a
master key. A SQLite file of its own, apart from the recordings and the contact history,
so that a backup of those two holds no usable key.

Why SQLite with ``secure_delete`` and a rollback journal: a destroyed key must not linger
in the file's free pages or in a write-ahead log. ``secure_delete`` overwrites deleted
content with zeros, and the rollback journal (not WAL) is deleted after each commit.
(The file system may still keep old blocks; put the key store on an encrypted volume or
an SSD with discard if that matters to you: docs/encryption.md.)

Subjects are stored under an HMAC of their identity (the caller's E.164 number, or
``call:<id>``), keyed by a secret in the store wrapped by the master key: the store does
not say whose keys it holds.

Every change is one ``BEGIN IMMEDIATE`` transaction, so two processes (``callrec serve``
and ``callrec recordings encrypt``, say) serialise on the file.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from callrec.crypto.masters import MasterKeys, gcm_unwrap, gcm_wrap
from callrec.errors import KeyStoreError, RecordingKeyDestroyed

_SCHEMA = """
CREATE TABLE IF NOT EXISTS masters (
    id TEXT PRIMARY KEY, created_at TEXT NOT NULL, superseded_at TEXT, retired_at TEXT);
CREATE TABLE IF NOT EXISTS secrets (
    name TEXT PRIMARY KEY, master_id TEXT NOT NULL, wrapped BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS subjects (
    ref TEXT PRIMARY KEY, master_id TEXT NOT NULL, wrapped BLOB NOT NULL,
    created_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS recordings (
    id TEXT PRIMARY KEY, subject_ref TEXT NOT NULL, wrapped BLOB NOT NULL,
    created_at TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS recordings_by_subject ON recordings (subject_ref);
"""
_SUBJECT_INDEX = "subject_index"


@dataclass(frozen=True)
class MasterRecord:
    id: str
    created_at: datetime
    superseded_at: datetime | None
    retired_at: datetime | None


@dataclass(frozen=True)
class StoreCounts:
    subjects: int
    recordings: int


class KeyStore:
    def __init__(self, path: Path, masters: MasterKeys) -> None:
        self._path = path
        self._masters = masters
        self._lock = threading.Lock()
        # The subject-index secret never changes (rotation re-wraps it, same bytes):
        # unwrapped once, not on every seal.
        self._index_secret: bytes | None = None
        try:
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            if not path.exists():
                os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
            self._db = sqlite3.connect(path, timeout=30, isolation_level=None,
                                       check_same_thread=False)
            self._db.execute("PRAGMA secure_delete = ON")
            self._db.execute("PRAGMA journal_mode = DELETE")
            self._db.execute("PRAGMA synchronous = FULL")
            self._db.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise KeyStoreError(f"cannot open the key store {path}: {exc}") from None

    def close(self) -> None:
        with self._lock:
            self._db.close()
        self._masters.close()

    @property
    def masters(self) -> MasterKeys:
        return self._masters

    # -- master keys ---------------------------------------------------------------

    def initialised(self) -> bool:
        with self._read() as db:
            return db.execute("SELECT 1 FROM secrets WHERE name = ?",
                              (_SUBJECT_INDEX,)).fetchone() is not None

    def initialise(self, now: datetime) -> str | None:
        """Make the first master key and the subject-index secret; None if done before.

        Inside the store's write transaction, so that two processes starting at once
        (``callrec serve`` and ``callrec recordings encrypt``) make one master key, not
        two that overwrite each other in the key file."""
        if self.initialised():
            return None
        with self._write() as db:
            if db.execute("SELECT 1 FROM secrets").fetchone() is not None:
                return None     # another process initialised it meanwhile
            key_id = self._masters.create()
            db.execute("INSERT INTO masters (id, created_at) VALUES (?, ?)",
                       (key_id, now.isoformat()))
            secret = os.urandom(32)
            db.execute("INSERT INTO secrets VALUES (?, ?, ?)", (
                _SUBJECT_INDEX, key_id,
                self._masters.wrap(key_id, secret, _secret_context(_SUBJECT_INDEX))))
        return key_id

    def master_records(self) -> list[MasterRecord]:
        with self._read() as db:
            rows = db.execute("SELECT id, created_at, superseded_at, retired_at FROM "
                              "masters ORDER BY created_at").fetchall()
        return [MasterRecord(row[0], datetime.fromisoformat(row[1]), _instant(row[2]),
                             _instant(row[3])) for row in rows]

    def current_master(self) -> MasterRecord:
        current = [m for m in self.master_records() if m.superseded_at is None]
        if not current:
            raise KeyStoreError(f"the key store {self._path} is not initialised: run "
                                "`callrec keys init`")
        return current[-1]

    def rotate(self, now: datetime) -> tuple[str, str, int]:
        """A new master key; every subject key and secret re-wrapped under it in one
        transaction (the audio is not touched). (old id, new id, subject keys)."""
        with self._write() as db:
            current = db.execute("SELECT id FROM masters WHERE superseded_at IS NULL "
                                 "ORDER BY created_at DESC").fetchone()
            if current is None:
                raise KeyStoreError(f"the key store {self._path} is not initialised: run "
                                    "`callrec keys init`")
            old = current[0]
            new = self._masters.create()
            try:
                subjects = self._rewrap_all(db, new)
            except BaseException:
                self._masters.destroy(new)      # wraps nothing: never leave it behind
                raise
            db.execute("UPDATE masters SET superseded_at = ? WHERE superseded_at IS NULL",
                       (now.isoformat(),))
            db.execute("INSERT INTO masters (id, created_at) VALUES (?, ?)",
                       (new, now.isoformat()))
        return old, new, subjects

    def _rewrap_all(self, db: sqlite3.Connection, new: str) -> int:
        """Every secret and subject key re-wrapped under master key ``new``; how many
        subject keys."""
        for name, master_id, wrapped in db.execute(
                "SELECT name, master_id, wrapped FROM secrets").fetchall():
            db.execute("UPDATE secrets SET master_id = ?, wrapped = ? WHERE name = ?", (
                new, self._rewrap(master_id, new, wrapped, _secret_context(name)), name))
        subjects = db.execute("SELECT ref, master_id, wrapped FROM subjects").fetchall()
        for ref, master_id, wrapped in subjects:
            db.execute("UPDATE subjects SET master_id = ?, wrapped = ? WHERE ref = ?", (
                new, self._rewrap(master_id, new, wrapped, _subject_context(ref)), ref))
        return len(subjects)

    def _rewrap(self, old: str, new: str, wrapped: bytes, context: bytes) -> bytes:
        return self._masters.wrap(new, self._masters.unwrap(old, wrapped, context), context)

    def retire(self, superseded_before: datetime, now: datetime) -> list[str]:
        """Destroy the master keys superseded before ``superseded_before`` that wrap
        nothing any more; their ids. Each in a write transaction of its own, so that
        nothing can be wrapped under it between the check and the destruction."""
        retired: list[str] = []
        for master in self.master_records():
            if master.retired_at is not None or master.superseded_at is None \
                    or master.superseded_at > superseded_before:
                continue
            with self._write() as db:
                in_use = db.execute(
                    "SELECT (SELECT count(*) FROM subjects WHERE master_id = ?) + "
                    "(SELECT count(*) FROM secrets WHERE master_id = ?)",
                    (master.id, master.id)).fetchone()[0]
                if in_use:
                    continue
                # Destroyed first: killed before the commit, the next run finds it
                # superseded, unused and already gone, which destroy() counts as done.
                self._masters.destroy(master.id)
                db.execute("UPDATE masters SET retired_at = ? WHERE id = ?",
                           (now.isoformat(), master.id))
            retired.append(master.id)
        return retired

    # -- subject and data keys ---------------------------------------------------------

    def new_data_key(self, recording_id: str, subject: str, now: datetime) -> bytes:
        """A fresh data key for ``recording_id`` under ``subject``'s key (made if the
        subject has none), committed before it is returned; replaces an older one (of a
        seal that never finished)."""
        data_key = AESGCM.generate_key(bit_length=256)
        ref = self._ref(subject)
        with self._write() as db:
            subject_key = self._subject_key(db, ref, now, create=True)
            db.execute("INSERT OR REPLACE INTO recordings VALUES (?, ?, ?, ?)", (
                recording_id, ref,
                gcm_wrap(subject_key, data_key, _data_context(recording_id)),
                now.isoformat()))
        return data_key

    def data_key(self, recording_id: str) -> bytes:
        with self._read() as db:
            row = db.execute("SELECT subject_ref, wrapped FROM recordings WHERE id = ?",
                             (recording_id,)).fetchone()
            if row is None:
                raise RecordingKeyDestroyed(f"recording {recording_id}: its data key was "
                                            "destroyed (purged or erased)")
            subject_key = self._subject_key(db, row[0], None, create=False)
        return gcm_unwrap(subject_key, row[1], _data_context(recording_id))

    def destroy_recording(self, recording_id: str) -> bool:
        with self._write() as db:
            return db.execute("DELETE FROM recordings WHERE id = ?",
                              (recording_id,)).rowcount > 0

    def destroy_subject(self, subject: str) -> int:
        """Destroy the subject's key and the data keys it wrapped; how many data keys."""
        ref = self._ref(subject)
        with self._write() as db:
            db.execute("DELETE FROM subjects WHERE ref = ?", (ref,))
            return db.execute("DELETE FROM recordings WHERE subject_ref = ?",
                              (ref,)).rowcount

    def counts(self) -> StoreCounts:
        with self._read() as db:
            subjects = db.execute("SELECT count(*) FROM subjects").fetchone()[0]
            recordings = db.execute("SELECT count(*) FROM recordings").fetchone()[0]
        return StoreCounts(subjects, recordings)

    # -- internals -----------------------------------------------------------------

    def _subject_key(self, db: sqlite3.Connection, ref: str, now: datetime | None,
                     create: bool) -> bytes:
        context = _subject_context(ref)
        row = db.execute("SELECT master_id, wrapped FROM subjects WHERE ref = ?",
                         (ref,)).fetchone()
        if row is not None:
            return self._masters.unwrap(row[0], row[1], context)
        if not create or now is None:
            raise RecordingKeyDestroyed("the data subject's key was destroyed (erased)")
        master = db.execute("SELECT id FROM masters WHERE superseded_at IS NULL "
                            "ORDER BY created_at DESC").fetchone()
        if master is None:
            raise KeyStoreError(f"the key store {self._path} is not initialised: run "
                                "`callrec keys init`")
        key = AESGCM.generate_key(bit_length=256)
        db.execute("INSERT INTO subjects VALUES (?, ?, ?, ?)",
                   (ref, master[0], self._masters.wrap(master[0], key, context),
                    now.isoformat()))
        return key

    def _ref(self, subject: str) -> str:
        return hmac.new(self._secret(), subject.encode("utf-8"), hashlib.sha256).hexdigest()

    def _secret(self) -> bytes:
        if self._index_secret is not None:
            return self._index_secret
        with self._read() as db:
            row = db.execute("SELECT master_id, wrapped FROM secrets WHERE name = ?",
                             (_SUBJECT_INDEX,)).fetchone()
        if row is None:
            raise KeyStoreError(f"the key store {self._path} is not initialised: run "
                                "`callrec keys init`")
        self._index_secret = self._masters.unwrap(row[0], row[1],
                                                  _secret_context(_SUBJECT_INDEX))
        return self._index_secret

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                yield self._db
            except sqlite3.Error as exc:
                raise KeyStoreError(f"key store {self._path}: {exc}") from None

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise KeyStoreError(f"key store {self._path}: {exc}") from None
            try:
                yield self._db
            except sqlite3.Error as exc:        # disk full, I/O error: nothing written
                self._db.execute("ROLLBACK")
                raise KeyStoreError(f"key store {self._path}: {exc}") from None
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            try:
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                raise KeyStoreError(f"key store {self._path}: {exc}") from None


def _secret_context(name: str) -> bytes:
    return b"callrec-secret:" + name.encode()


def _subject_context(ref: str) -> bytes:
    return b"callrec-subject:" + ref.encode()


def _data_context(recording_id: str) -> bytes:
    return b"callrec-data-key:" + recording_id.encode("utf-8")


def _instant(text: str | None) -> datetime | None:
    if text is None:
        return None
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
