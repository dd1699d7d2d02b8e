"""Master keys in an HSM (callrec.crypto.pkcs11) against a real SoftHSM2 token.

Each test gets a token of its own in a temporary directory. SoftHSM2 reads SOFTHSM2_CONF
when the library is initialised, and python-pkcs11 keeps the library loaded across
tests, so each test finalizes it at the end: the next one initialises it afresh, on its
own token directory.

Never skipped: without SoftHSM2 (Debian's softhsm2) or python-pkcs11 (the 'test' extra)
these tests fail and say what is missing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from callrec.crypto.keystore import KeyStore
from callrec.crypto.pkcs11 import LABEL_PREFIX, Pkcs11Masters
from callrec.crypto.settings import Pkcs11Settings
from callrec.errors import KeyStoreError, RecordingKeyDestroyed

MODULE = Path("/usr/lib/softhsm/libsofthsm2.so")
LABEL = "callrec-test"
PIN = "1234"
CONTEXT = b"callrec-test:slot-1"
T0 = datetime(2026, 11, 24, 20, 0, tzinfo=UTC)


def _pkcs11() -> Any:
    try:
        import pkcs11
    except ImportError:
        pytest.fail("python-pkcs11 is not installed: install callrec with its 'test' "
                    "extra (pip install -e '.[test]')")
    return pkcs11


@dataclass(frozen=True)
class Token:
    settings: Pkcs11Settings
    directory: Path

    def masters(self) -> Pkcs11Masters:
        return Pkcs11Masters(self.settings)

    def with_pin(self, pin: str, name: str) -> Pkcs11Settings:
        pin_file = self.directory / name
        pin_file.write_text(pin + "\n", "utf-8")
        pin_file.chmod(0o600)
        return Pkcs11Settings(MODULE, LABEL, pin_file)


@pytest.fixture
def token(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Token]:
    pkcs11 = _pkcs11()
    utility = shutil.which("softhsm2-util")
    if not MODULE.exists() or utility is None:
        pytest.fail(f"SoftHSM2 is not installed ({MODULE}, softhsm2-util): "
                    "apt-get install softhsm2")
    tokens = tmp_path / "tokens"
    tokens.mkdir()
    config = tmp_path / "softhsm2.conf"
    config.write_text(f"directories.tokendir = {tokens}\nobjectstore.backend = file\n"
                      "log.level = ERROR\n", "utf-8")
    monkeypatch.setenv("SOFTHSM2_CONF", str(config))
    made = subprocess.run(
        [utility, "--init-token", "--free", "--label", LABEL, "--pin", PIN,
         "--so-pin", "5678"],
        capture_output=True, text=True, env={**os.environ, "SOFTHSM2_CONF": str(config)},
        check=False, timeout=60)
    if made.returncode != 0:
        pytest.fail(f"softhsm2-util --init-token failed: {made.stdout} {made.stderr}")
    pin_file = tmp_path / "pin"
    pin_file.write_text(PIN + "\n", "utf-8")
    pin_file.chmod(0o600)
    yield Token(Pkcs11Settings(MODULE, LABEL, pin_file), tmp_path)
    # Closes every session left, so that the next test's token is read afresh.
    pkcs11.lib(str(MODULE)).finalize()


@pytest.fixture
def masters(token: Token) -> Iterator[Pkcs11Masters]:
    opened = token.masters()
    yield opened
    opened.close()


def key_object(masters: Pkcs11Masters, key_id: str) -> Any:
    """The key's object on the token, found through a session of the test's own."""
    pkcs11 = _pkcs11()
    session = masters._session  # the one session: SoftHSM2 sees its objects only there
    return session.get_key(object_class=pkcs11.ObjectClass.SECRET_KEY,
                           label=LABEL_PREFIX + key_id)


def test_create_wrap_unwrap_destroy(masters: Pkcs11Masters, token: Token) -> None:
    assert masters.ids() == []
    first, second = masters.create(), masters.create()
    assert first != second
    assert masters.ids() == sorted([first, second])
    secret = os.urandom(32)
    wrapped = masters.wrap(first, secret, CONTEXT)
    assert secret not in wrapped
    assert len(wrapped) == 12 + 32 + 16
    assert masters.wrap(first, secret, CONTEXT) != wrapped         # a fresh nonce
    assert masters.unwrap(first, wrapped, CONTEXT) == secret

    masters.destroy(first)
    assert masters.ids() == [second]
    with pytest.raises(RecordingKeyDestroyed, match=first):
        masters.unwrap(first, wrapped, CONTEXT)
    with pytest.raises(RecordingKeyDestroyed):
        masters.wrap(first, secret, CONTEXT)
    masters.destroy(first)                        # gone already: done
    assert masters.ids() == [second]


def test_keys_are_on_the_token_and_survive_a_new_session(token: Token) -> None:
    first = token.masters()
    try:
        key_id = first.create()
        wrapped = first.wrap(key_id, b"s" * 32, CONTEXT)
    finally:
        first.close()
    second = token.masters()
    try:
        assert second.ids() == [key_id]
        assert second.unwrap(key_id, wrapped, CONTEXT) == b"s" * 32
    finally:
        second.close()


def test_a_wrapped_key_is_bound_to_its_context_and_master(masters: Pkcs11Masters) -> None:
    key_id, other_id = masters.create(), masters.create()
    wrapped = masters.wrap(key_id, os.urandom(32), CONTEXT)
    with pytest.raises(KeyStoreError, match="does not authenticate"):
        masters.unwrap(key_id, wrapped, b"callrec-test:slot-2")
    with pytest.raises(KeyStoreError, match="does not authenticate"):
        masters.unwrap(other_id, wrapped, CONTEXT)
    altered = bytearray(wrapped)
    altered[20] ^= 1
    with pytest.raises(KeyStoreError, match="does not authenticate"):
        masters.unwrap(key_id, bytes(altered), CONTEXT)
    for cut in (0, 5, 12, 27):
        with pytest.raises(KeyStoreError):
            masters.unwrap(key_id, wrapped[:cut], CONTEXT)


def test_master_keys_never_leave_the_token(masters: Pkcs11Masters) -> None:
    pkcs11 = _pkcs11()
    attribute = pkcs11.Attribute
    key = key_object(masters, masters.create())
    assert key[attribute.EXTRACTABLE] is False
    assert key[attribute.NEVER_EXTRACTABLE] is True
    assert key[attribute.SENSITIVE] is True
    assert key[attribute.ALWAYS_SENSITIVE] is True
    assert key[attribute.TOKEN] is True                 # stored, not a session object
    assert key[attribute.VALUE_LEN] == 32               # AES-256
    with pytest.raises(pkcs11.PKCS11Error):             # AttributeSensitive
        key[attribute.VALUE]


def test_a_key_store_over_the_token(token: Token, tmp_path: Path) -> None:
    store_path = tmp_path / "keys" / "keys.sqlite"
    store = KeyStore(store_path, token.masters())
    try:
        first_master = store.initialise(T0)
        assert first_master is not None
        assert store.initialise(T0) is None
        assert store.masters.ids() == [first_master]
        keys = {"r1": store.new_data_key("r1", "+358401234567", T0),
                "r2": store.new_data_key("r2", "+358409876543", T0)}
        assert {name: store.data_key(name) for name in keys} == keys
        backup = tmp_path / "backup.sqlite"
        shutil.copy2(store_path, backup)

        t1 = T0 + timedelta(days=30)
        old, new, subjects = store.rotate(t1)
        assert (old, subjects) == (first_master, 2)
        assert sorted(store.masters.ids()) == sorted([old, new])
        assert {name: store.data_key(name) for name in keys} == keys

        assert store.retire(t1 - timedelta(days=1), t1) == []      # within the window
        assert _copy_yields(token, backup, keys) == keys
        assert store.retire(t1 + timedelta(days=1), t1 + timedelta(days=1)) == [old]
        assert store.masters.ids() == [new]
        assert {name: store.data_key(name) for name in keys} == keys
        assert _copy_yields(token, backup, keys) is None          # the backup is useless
        assert store.destroy_subject("+358401234567") == 1
        with pytest.raises(RecordingKeyDestroyed):
            store.data_key("r1")
        assert store.data_key("r2") == keys["r2"]
    finally:
        store.close()


def _copy_yields(token: Token, copy: Path, keys: dict[str, bytes]) -> dict[str, bytes] | None:
    opened = KeyStore(copy, token.masters())
    try:
        return {name: opened.data_key(name) for name in keys}
    except RecordingKeyDestroyed:
        return None
    finally:
        opened.close()


def test_a_wrong_pin_is_a_key_store_error(token: Token) -> None:
    with pytest.raises(KeyStoreError, match="PinIncorrect"):
        Pkcs11Masters(token.with_pin("9999", "wrong-pin"))
    masters = token.masters()                  # the right one still opens it
    masters.close()


def test_what_else_is_a_key_store_error(token: Token) -> None:
    with pytest.raises(KeyStoreError, match="NoSuchToken"):
        Pkcs11Masters(Pkcs11Settings(MODULE, "no-such-token", token.settings.pin_file))
    with pytest.raises(KeyStoreError, match="cannot open PKCS#11 token"):
        Pkcs11Masters(Pkcs11Settings(token.directory / "missing.so", LABEL,
                                     token.settings.pin_file))
    loose = token.with_pin(PIN, "loose-pin")
    loose.pin_file.chmod(0o640)
    with pytest.raises(KeyStoreError, match="mode 0640"):
        Pkcs11Masters(loose)
    garbage = token.with_pin("", "garbage-pin")
    garbage.pin_file.write_bytes(b"\xff\xfe12\x80")
    with pytest.raises(KeyStoreError, match="not UTF-8"):
        Pkcs11Masters(garbage)
    with pytest.raises(KeyStoreError, match="does not exist"):
        Pkcs11Masters(Pkcs11Settings(MODULE, LABEL, token.directory / "no-pin"))


def test_two_users_of_one_token_in_one_process(token: Token) -> None:
    """PKCS#11 login is per process: a second login fails, and closing a logged-in
    session logs the others out. Both key stores of a process (the live one and a copy
    being checked, say) must keep working until each is closed."""
    first = token.masters()
    second = token.masters()
    try:
        key_id = first.create()
        wrapped = second.wrap(key_id, b"s" * 32, CONTEXT)
        with pytest.raises(KeyStoreError, match="another PIN"):
            Pkcs11Masters(token.with_pin("9999", "wrong-pin"))
        first.close()
        first.close()                              # twice: no harm
        assert second.ids() == [key_id]            # not logged out with the first
        assert second.unwrap(key_id, wrapped, CONTEXT) == b"s" * 32
    finally:
        first.close()
        second.close()
    third = token.masters()                        # a fresh login after the last close
    try:
        assert third.unwrap(key_id, wrapped, CONTEXT) == b"s" * 32
    finally:
        third.close()
