"""The key hierarchy: master keys in a key file (callrec.crypto.masters), the key store of
subject and data keys (callrec.crypto.keystore), and the vault that seals recordings in
place with them (callrec.crypto.vault).

What matters most is what erasure and retirement promise: a destroyed data or subject key
is gone from the store's file (secure_delete), and once a master key is retired, a copy
of the key store taken while it was current yields nothing any more.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import stat
from collections.abc import Callable, Iterator
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from callrec.crypto.keystore import KeyStore
from callrec.crypto.masters import KeyFileMasters, check_private, gcm_unwrap, gcm_wrap
from callrec.crypto.stream import MAGIC
from callrec.crypto.vault import RecordingVault
from callrec.errors import KeyStoreError, RecordingError, RecordingKeyDestroyed, RecordingTampered

T0 = datetime(2026, 11, 24, 20, 0, tzinfo=UTC)
SUBJECT = "+358401234567"
OTHER = "+358409876543"
CONTEXT = b"callrec-test:slot-1"


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    return tmp_path / "etc" / "master.keys"


@pytest.fixture
def masters(key_file: Path) -> KeyFileMasters:
    return KeyFileMasters(key_file)


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    return tmp_path / "keys" / "keys.sqlite"


@pytest.fixture
def store(store_path: Path, masters: KeyFileMasters) -> Iterator[KeyStore]:
    opened = KeyStore(store_path, masters)
    assert opened.initialise(T0) is not None
    yield opened
    opened.close()


def rows(path: Path, query: str) -> list[tuple[object, ...]]:
    """What the store's file holds, read behind the KeyStore's back."""
    with closing(sqlite3.connect(path)) as db:
        return db.execute(query).fetchall()


def blobs(path: Path, table: str) -> list[bytes]:
    found = [row[0] for row in rows(path, f"SELECT wrapped FROM {table}")]
    assert all(isinstance(blob, bytes) and len(blob) >= 44 for blob in found)
    return [blob for blob in found if isinstance(blob, bytes)]


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# -- KeyFileMasters --------------------------------------------------------------------


def test_create_makes_a_private_key_file(masters: KeyFileMasters, key_file: Path) -> None:
    first = masters.create()
    second = masters.create()
    assert first != second
    assert sorted(masters.ids()) == sorted([first, second])
    assert mode(key_file) == 0o600
    assert mode(key_file.parent) == 0o700
    assert not list(key_file.parent.glob(".*.new"))        # no temporary file left
    lines = [line for line in key_file.read_text("ascii").splitlines()
             if line and not line.startswith("#")]
    assert len(lines) == 2
    assert {line.split()[0] for line in lines} == {first, second}
    assert all(len(bytes.fromhex(line.split()[1])) == 32 for line in lines)


def test_wrap_and_unwrap(masters: KeyFileMasters, key_file: Path) -> None:
    key_id = masters.create()
    secret = os.urandom(32)
    wrapped = masters.wrap(key_id, secret, CONTEXT)
    assert secret not in wrapped
    assert len(wrapped) == 12 + 32 + 16
    assert masters.wrap(key_id, secret, CONTEXT) != wrapped       # a fresh nonce each time
    assert masters.unwrap(key_id, wrapped, CONTEXT) == secret
    assert KeyFileMasters(key_file).unwrap(key_id, wrapped, CONTEXT) == secret   # on disk
    assert secret.hex() not in key_file.read_text("ascii")



def test_a_wrapped_key_is_bound_to_its_context_and_master(masters: KeyFileMasters) -> None:
    key_id, other_id = masters.create(), masters.create()
    wrapped = masters.wrap(key_id, os.urandom(32), CONTEXT)
    with pytest.raises(KeyStoreError, match="does not authenticate"):
        masters.unwrap(key_id, wrapped, b"callrec-test:slot-2")
    with pytest.raises(KeyStoreError, match="does not authenticate"):
        masters.unwrap(other_id, wrapped, CONTEXT)
    for position in (0, 12, len(wrapped) - 1):
        altered = bytearray(wrapped)
        altered[position] ^= 1
        with pytest.raises(KeyStoreError, match="does not authenticate"):
            masters.unwrap(key_id, bytes(altered), CONTEXT)


@pytest.mark.parametrize("length", [0, 3, 8, 11, 12, 27])
def test_a_wrapped_key_cut_short_is_a_key_store_error(length: int) -> None:
    key = os.urandom(32)
    wrapped = gcm_wrap(key, os.urandom(32), CONTEXT)
    with pytest.raises(KeyStoreError, match="does not authenticate"):
        gcm_unwrap(key, wrapped[:length], CONTEXT)


def test_destroy(masters: KeyFileMasters, key_file: Path) -> None:
    doomed, kept = masters.create(), masters.create()
    wrapped = masters.wrap(doomed, b"k" * 32, CONTEXT)
    kept_wrapped = masters.wrap(kept, b"q" * 32, CONTEXT)
    masters.destroy(doomed)
    assert masters.ids() == [kept]
    assert doomed not in key_file.read_text("ascii")
    with pytest.raises(RecordingKeyDestroyed, match=doomed):
        masters.unwrap(doomed, wrapped, CONTEXT)
    with pytest.raises(RecordingKeyDestroyed):
        masters.wrap(doomed, b"k" * 32, CONTEXT)
    masters.destroy(doomed)                                  # gone already: done
    masters.destroy("file-never-was")
    assert masters.unwrap(kept, kept_wrapped, CONTEXT) == b"q" * 32


@pytest.mark.parametrize("loose", [0o644, 0o640, 0o604, 0o660, 0o601])
def test_a_key_file_others_can_read_is_refused(masters: KeyFileMasters, key_file: Path,
                                               loose: int) -> None:
    key_id = masters.create()
    wrapped = masters.wrap(key_id, b"k" * 32, CONTEXT)
    key_file.chmod(loose)
    attempts: list[Callable[[], object]] = [
        masters.ids, masters.create, lambda: masters.unwrap(key_id, wrapped, CONTEXT)]
    for attempt in attempts:
        with pytest.raises(KeyStoreError, match=f"mode {loose:04o}"):
            attempt()
    key_file.chmod(0o400)
    assert masters.unwrap(key_id, wrapped, CONTEXT) == b"k" * 32


def test_a_missing_or_odd_key_file_is_refused(key_file: Path, tmp_path: Path) -> None:
    with pytest.raises(KeyStoreError, match="does not exist"):
        KeyFileMasters(key_file).ids()
    directory = tmp_path / "a-directory"
    directory.mkdir(mode=0o700)
    with pytest.raises(KeyStoreError, match="not a regular file"):
        check_private(directory, "master key file")


@pytest.mark.parametrize("bad_line", [
    "file-abc",                                   # no key
    "file-abc " + "ab" * 31,                      # 62 hex digits
    "file-abc " + "ab" * 33,                      # 66
    "file-abc " + "zz" * 32,                      # not hex
    "file-abc " + "ab" * 32 + " extra",           # three fields
    " " + "ab" * 32,                              # no id
])
def test_a_malformed_line_is_refused_by_its_number(key_file: Path, bad_line: str) -> None:
    good = "file-good " + "cd" * 32
    key_file.parent.mkdir(mode=0o700)
    key_file.write_text(f"# comment\n{good}\n\n{bad_line}\n{good}\n", "ascii")
    key_file.chmod(0o600)
    with pytest.raises(KeyStoreError, match="line 4:"):
        KeyFileMasters(key_file).ids()


@pytest.mark.parametrize("content, line", [
    (b"\xff\xfe\x00garbage\x00\x01", 1),
    ("# clé maîtresse\n".encode(), 1),
    (b"file-a " + b"ab" * 32 + b"\nfile-b \xc3\xa9" + b"ab" * 31 + b"\n", 2),
    (os.urandom(16) + b"\x80", 0),
])
def test_non_ascii_content_is_a_key_store_error(key_file: Path, content: bytes,
                                                line: int) -> None:
    key_file.parent.mkdir(mode=0o700)
    key_file.write_bytes(content)
    key_file.chmod(0o600)
    with pytest.raises(KeyStoreError, match="line " + (str(line) if line else "")):
        KeyFileMasters(key_file).ids()
    with pytest.raises(KeyStoreError):
        KeyFileMasters(key_file).create()


def test_comments_and_blank_lines_are_ignored(key_file: Path) -> None:
    key_file.parent.mkdir(mode=0o700)
    key = os.urandom(32)
    key_file.write_text(f"# a comment\n\n   \nfile-x {key.hex()}\n", "ascii")
    key_file.chmod(0o600)
    masters = KeyFileMasters(key_file)
    assert masters.ids() == ["file-x"]
    assert masters.unwrap("file-x", gcm_wrap(key, b"s" * 32, CONTEXT), CONTEXT) == b"s" * 32


# -- KeyStore --------------------------------------------------------------------------


def test_initialise_once(store_path: Path, masters: KeyFileMasters) -> None:
    store = KeyStore(store_path, masters)
    try:
        assert not store.initialised()
        with pytest.raises(KeyStoreError, match="not initialised"):
            store.current_master()
        with pytest.raises(KeyStoreError, match="not initialised"):
            store.new_data_key("r1", SUBJECT, T0)
        key_id = store.initialise(T0)
        assert key_id is not None
        assert store.initialised()
        assert store.initialise(T0 + timedelta(days=1)) is None
        assert masters.ids() == [key_id]                       # one master key, not two
        assert store.current_master().id == key_id
        assert [m.id for m in store.master_records()] == [key_id]
        assert mode(store_path) == 0o600
    finally:
        store.close()
    again = KeyStore(store_path, masters)
    try:
        assert again.initialise(T0) is None
        assert masters.ids() == [key_id]
    finally:
        again.close()


def test_data_key_round_trip(store: KeyStore, store_path: Path,
                             masters: KeyFileMasters) -> None:
    first = store.new_data_key("2026/11/24/a.wav", SUBJECT, T0)
    second = store.new_data_key("2026/11/24/b.wav", SUBJECT, T0)
    third = store.new_data_key("2026/11/24/c.wav", OTHER, T0)
    assert len({first, second, third}) == 3
    assert all(len(key) == 32 for key in (first, second, third))
    assert store.data_key("2026/11/24/a.wav") == first
    assert store.data_key("2026/11/24/c.wav") == third
    assert store.counts().subjects == 2
    assert store.counts().recordings == 3
    reopened = KeyStore(store_path, masters)
    try:
        assert reopened.data_key("2026/11/24/b.wav") == second
    finally:
        reopened.close()
    with pytest.raises(RecordingKeyDestroyed):
        store.data_key("2026/11/24/never.wav")


def test_a_new_data_key_replaces_an_unfinished_one(store: KeyStore) -> None:
    old = store.new_data_key("r1", SUBJECT, T0)
    new = store.new_data_key("r1", SUBJECT, T0)
    assert old != new
    assert store.data_key("r1") == new
    assert store.counts().recordings == 1


def test_a_data_key_moved_to_another_recording_does_not_open(store: KeyStore,
                                                             store_path: Path) -> None:
    store.new_data_key("r1", SUBJECT, T0)
    store.new_data_key("r2", SUBJECT, T0)
    with closing(sqlite3.connect(store_path)) as db, db:
        db.execute("UPDATE recordings SET wrapped = "
                   "(SELECT wrapped FROM recordings WHERE id = 'r1') WHERE id = 'r2'")
    with pytest.raises(KeyStoreError, match="does not authenticate"):
        store.data_key("r2")


def test_destroy_recording(store: KeyStore) -> None:
    store.new_data_key("r1", SUBJECT, T0)
    kept = store.new_data_key("r2", SUBJECT, T0)
    assert store.destroy_recording("r1") is True
    assert store.destroy_recording("r1") is False
    with pytest.raises(RecordingKeyDestroyed):
        store.data_key("r1")
    assert store.data_key("r2") == kept
    assert store.counts().recordings == 1
    assert store.counts().subjects == 1


def test_destroy_subject_reaches_all_its_keys_and_no_others(store: KeyStore,
                                                            store_path: Path) -> None:
    for index in range(3):
        store.new_data_key(f"s{index}", SUBJECT, T0)
    others = {f"o{index}": store.new_data_key(f"o{index}", OTHER, T0) for index in range(2)}
    old_row = rows(store_path, "SELECT * FROM recordings WHERE id = 's0'")[0]

    assert store.destroy_subject(SUBJECT) == 3
    for index in range(3):
        with pytest.raises(RecordingKeyDestroyed):
            store.data_key(f"s{index}")
    assert {name: store.data_key(name) for name in others} == others
    assert store.counts().subjects == 1
    assert store.counts().recordings == 2
    assert store.destroy_subject(SUBJECT) == 0

    # A new recording of that subject gets a fresh subject key ...
    fresh = store.new_data_key("s9", SUBJECT, T0 + timedelta(days=1))
    assert store.data_key("s9") == fresh
    assert store.counts().subjects == 2
    # ... under which an old data key, brought back from a copy, does not unwrap.
    with closing(sqlite3.connect(store_path)) as db, db:
        db.execute("INSERT INTO recordings VALUES (?, ?, ?, ?)", old_row)
    with pytest.raises(KeyStoreError, match="does not authenticate"):
        store.data_key("s0")


def test_rotate_rewraps_under_a_new_master(store: KeyStore, store_path: Path,
                                           masters: KeyFileMasters) -> None:
    keys = {f"r{index}": store.new_data_key(f"r{index}", subject, T0)
            for index, subject in enumerate([SUBJECT, SUBJECT, OTHER])}
    before = store.counts()
    old_blobs = set(blobs(store_path, "subjects"))
    old = store.current_master().id
    t1 = T0 + timedelta(days=30)

    rotated = store.rotate(t1)
    new = store.current_master().id
    assert rotated == (old, new, 2)
    assert new != old
    assert sorted(masters.ids()) == sorted([old, new])         # old kept until retired
    records = {m.id: m for m in store.master_records()}
    assert records[old].superseded_at == t1
    assert records[new].superseded_at is None
    assert records[new].created_at == t1
    assert store.counts() == before
    assert {row[0] for row in rows(store_path, "SELECT master_id FROM subjects")} == {new}
    assert {row[0] for row in rows(store_path, "SELECT master_id FROM secrets")} == {new}
    assert not old_blobs & set(blobs(store_path, "subjects"))
    # Nothing needs the old master any more: without it, every key still opens.
    masters.destroy(old)
    assert {name: store.data_key(name) for name in keys} == keys
    later = store.new_data_key("r9", SUBJECT, t1)                 # same subject key
    assert store.data_key("r9") == later
    assert store.counts().subjects == 2


def test_retire_destroys_only_masters_superseded_before_the_instant(
        store: KeyStore, store_path: Path, masters: KeyFileMasters, key_file: Path,
        tmp_path: Path) -> None:
    keys = {"r1": store.new_data_key("r1", SUBJECT, T0),
            "r2": store.new_data_key("r2", OTHER, T0)}
    old = store.current_master().id
    before_rotation = tmp_path / "backup-1" / "keys.sqlite"
    before_rotation.parent.mkdir()
    shutil.copy2(store_path, before_rotation)
    t1 = T0 + timedelta(days=30)
    store.rotate(t1)
    new = store.current_master().id
    after_rotation = tmp_path / "backup-2" / "keys.sqlite"
    after_rotation.parent.mkdir()
    shutil.copy2(store_path, after_rotation)

    def yields(copy: Path) -> dict[str, bytes] | None:
        opened = KeyStore(copy, KeyFileMasters(key_file))
        try:
            return {name: opened.data_key(name) for name in keys}
        except RecordingKeyDestroyed:
            return None
        finally:
            opened.close()

    # Within the backup window: nothing retired, the old copy still opens.
    assert store.retire(t1 - timedelta(seconds=1), t1 + timedelta(days=1)) == []
    assert old in masters.ids()
    assert yields(before_rotation) == keys
    # The current master is never retired, whatever the instant.
    t2 = t1 + timedelta(days=31)
    assert store.retire(t2, t2) == [old]
    assert masters.ids() == [new]
    records = {m.id: m for m in store.master_records()}
    assert records[old].retired_at == t2
    assert records[new].retired_at is None
    assert yields(before_rotation) is None               # that copy is useless now
    assert yields(after_rotation) == keys                # a copy under the new one is not
    assert {name: store.data_key(name) for name in keys} == keys
    assert store.retire(t2 + timedelta(days=400), t2) == []    # done once


def test_retire_keeps_a_superseded_master_that_still_wraps_something(
        store: KeyStore, store_path: Path, masters: KeyFileMasters, tmp_path: Path) -> None:
    store.new_data_key("r1", SUBJECT, T0)
    old = store.current_master().id
    copy = tmp_path / "copy.sqlite"
    shutil.copy2(store_path, copy)
    t1 = T0 + timedelta(days=30)
    store.rotate(t1)
    # A subject key still wrapped under the old master (as a rotation cut short by
    # another writer could leave it): retiring the old master would destroy it.
    (old_subject,) = rows(copy, "SELECT ref, master_id, wrapped FROM subjects")
    with closing(sqlite3.connect(store_path)) as db, db:
        db.execute("UPDATE subjects SET master_id = ?, wrapped = ? WHERE ref = ?",
                   (old_subject[1], old_subject[2], old_subject[0]))
    assert old_subject[1] == old
    assert store.retire(t1 + timedelta(days=60), t1 + timedelta(days=60)) == []
    assert old in masters.ids()
    assert store.data_key("r1") is not None
    assert [m.retired_at for m in store.master_records() if m.id == old] == [None]


def test_the_store_does_not_say_whose_keys_it_holds(store: KeyStore,
                                                    store_path: Path) -> None:
    store.new_data_key("2026/11/24/0123456789abcdef0123456789abcdef.wav", SUBJECT, T0)
    store.new_data_key("2026/11/24/fedcba9876543210fedcba9876543210.wav", "call:1234", T0)
    content = store_path.read_bytes()
    assert b"0123456789abcdef" in content       # the test reads the right file
    for clear in (SUBJECT, SUBJECT.lstrip("+"), SUBJECT[4:], "call:1234"):
        assert clear.encode() not in content, clear
        assert clear.encode("utf-16-le") not in content, clear
    refs = [row[0] for row in rows(store_path, "SELECT ref FROM subjects")]
    assert len(refs) == 2
    assert all(isinstance(ref, str) and len(ref) == 64 for ref in refs)
    # Keyed, not a bare hash of the number: a dictionary of numbers does not find them.
    import hashlib
    assert hashlib.sha256(SUBJECT.encode()).hexdigest() not in refs


def test_destroyed_keys_leave_no_trace_in_the_file(store: KeyStore,
                                                   store_path: Path) -> None:
    for index in range(20):
        store.new_data_key(f"s{index}", SUBJECT, T0)
        store.new_data_key(f"o{index}", OTHER, T0)
    subject_ref = rows(store_path, "SELECT subject_ref FROM recordings WHERE id = 's0'")[0][0]
    doomed = [row[0] for row in rows(
        store_path, f"SELECT wrapped FROM recordings WHERE subject_ref = '{subject_ref}' "
        f"UNION ALL SELECT wrapped FROM subjects WHERE ref = '{subject_ref}'")]
    assert len(doomed) == 21
    kept = blobs(store_path, "recordings")
    content = store_path.read_bytes()
    assert all(isinstance(blob, bytes) and blob in content for blob in doomed)

    assert store.destroy_subject(SUBJECT) == 20
    content = store_path.read_bytes()
    for blob in doomed:
        assert isinstance(blob, bytes)
        assert blob not in content
        assert blob[12:28] not in content                  # not even a fragment of one
    assert all(blob in content for blob in kept if blob not in doomed)
    assert not [p for p in store_path.parent.iterdir() if p != store_path]  # no journal

    ((recording, gone),) = rows(store_path, "SELECT id, wrapped FROM recordings LIMIT 1")
    assert isinstance(recording, str)
    assert isinstance(gone, bytes)
    assert gone in store_path.read_bytes()
    assert store.destroy_recording(recording)
    assert gone not in store_path.read_bytes()


def test_an_unopenable_store_is_a_key_store_error(tmp_path: Path,
                                                  masters: KeyFileMasters) -> None:
    not_sqlite = tmp_path / "junk.sqlite"
    not_sqlite.write_bytes(b"this is not a database" * 100)
    with pytest.raises(KeyStoreError, match="cannot open the key store"):
        KeyStore(not_sqlite, masters)


# -- RecordingVault --------------------------------------------------------------------


@pytest.fixture
def vault(store: KeyStore) -> RecordingVault:
    return RecordingVault(store)


@pytest.fixture
def recordings(tmp_path: Path) -> Path:
    directory = tmp_path / "recordings"
    (directory / "2026" / "11" / "24").mkdir(parents=True)
    return directory


def recording(recordings: Path, name: str, content: bytes, file_mode: int = 0o640) -> Path:
    path = recordings / "2026" / "11" / "24" / name
    path.write_bytes(content)
    path.chmod(file_mode)
    return path


def opened(vault: RecordingVault, path: Path, recording_id: str) -> bytes:
    stream = vault.open(path, recording_id)
    try:
        assert stream.size >= 0
        return b"".join(stream.read_range(0, stream.size))
    finally:
        stream.close()


@pytest.mark.parametrize("size", [0, 1, 65536, 200_003])
def test_seal_in_place_then_open(vault: RecordingVault, recordings: Path,
                                 size: int) -> None:
    audio = os.urandom(size)
    path = recording(recordings, "a.wav", audio)
    inode = path.stat().st_ino
    assert vault.seal(path, "2026/11/24/a.wav", SUBJECT) is True
    sealed = path.read_bytes()
    assert sealed.startswith(MAGIC)
    assert path.stat().st_ino != inode                       # replaced by rename
    if size >= 16:
        assert audio[:16] not in sealed
    assert opened(vault, path, "2026/11/24/a.wav") == audio
    assert not [p for p in path.parent.iterdir() if p != path]   # no .sealing left
    assert vault.store.counts().recordings == 1


def test_sealing_twice_is_refused_the_second_time(vault: RecordingVault,
                                                  recordings: Path) -> None:
    audio = os.urandom(70_000)
    path = recording(recordings, "a.wav", audio)
    assert vault.seal(path, "2026/11/24/a.wav", SUBJECT) is True
    sealed = path.read_bytes()
    key = vault.store.data_key("2026/11/24/a.wav")
    assert vault.seal(path, "2026/11/24/a.wav", SUBJECT) is False
    assert path.read_bytes() == sealed
    assert vault.store.data_key("2026/11/24/a.wav") == key   # no new key either
    assert opened(vault, path, "2026/11/24/a.wav") == audio


def test_a_sealed_file_copied_over_another_recording_is_refused(vault: RecordingVault,
                                                                recordings: Path) -> None:
    first = recording(recordings, "a.wav", os.urandom(1000))
    second_audio = os.urandom(1000)
    second = recording(recordings, "b.wav", second_audio)
    vault.seal(first, "2026/11/24/a.wav", SUBJECT)
    vault.seal(second, "2026/11/24/b.wav", SUBJECT)
    assert opened(vault, second, "2026/11/24/b.wav") == second_audio
    shutil.copyfile(first, second)
    with pytest.raises(RecordingTampered, match="another recording"):
        vault.open(second, "2026/11/24/b.wav")


def test_an_altered_sealed_file_is_refused(vault: RecordingVault, recordings: Path) -> None:
    path = recording(recordings, "a.wav", os.urandom(100_000))
    vault.seal(path, "2026/11/24/a.wav", SUBJECT)
    altered = bytearray(path.read_bytes())
    altered[-10] ^= 1
    path.write_bytes(bytes(altered))
    stream = vault.open(path, "2026/11/24/a.wav")
    try:
        assert len(b"".join(stream.read_range(0, 65536))) == 65536  # the first chunk is fine
        with pytest.raises(RecordingTampered):
            b"".join(stream.read_range(65536, stream.size))
    finally:
        stream.close()


@pytest.mark.parametrize("file_mode, expected", [
    (0o600, 0o600), (0o640, 0o640), (0o660, 0o660), (0o644, 0o640), (0o666, 0o660),
    (0o400, 0o400),
])
def test_the_file_mode_is_kept_without_others_bits(vault: RecordingVault, recordings: Path,
                                                   file_mode: int, expected: int) -> None:
    path = recording(recordings, "a.wav", b"audio" * 10, file_mode)
    before = path.stat()
    vault.seal(path, "2026/11/24/a.wav", SUBJECT)
    assert mode(path) == expected
    assert (path.stat().st_uid, path.stat().st_gid) == (before.st_uid, before.st_gid)


def test_what_the_vault_refuses_to_open(vault: RecordingVault, recordings: Path) -> None:
    plain = recording(recordings, "plain.wav", b"RIFF" + os.urandom(100))
    with pytest.raises(RecordingTampered):
        vault.open(plain, "2026/11/24/plain.wav")
    with pytest.raises(RecordingError, match="missing"):
        vault.open(recordings / "nope.wav", "nope.wav")
    with pytest.raises(RecordingError, match="missing"):
        vault.seal(recordings / "nope.wav", "nope.wav", SUBJECT)
    path = recording(recordings, "a.wav", b"audio")
    vault.seal(path, "2026/11/24/a.wav", SUBJECT)
    assert vault.destroy_recording("2026/11/24/a.wav") is True
    with pytest.raises(RecordingKeyDestroyed):
        vault.open(path, "2026/11/24/a.wav")
    erased = recording(recordings, "b.wav", b"more audio")
    vault.seal(erased, "2026/11/24/b.wav", OTHER)
    assert vault.destroy_subject(OTHER) == 1
    with pytest.raises(RecordingKeyDestroyed):
        vault.open(erased, "2026/11/24/b.wav")
