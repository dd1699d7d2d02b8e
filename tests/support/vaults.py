"""Real vaults for tests: a key file and a key store in a directory of the test's own,
and configurations with an ``[encryption]`` section (nothing faked: the same
:class:`callrec.crypto.vault.RecordingVault` that ``callrec serve`` uses)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from callrec.cli import main
from callrec.config import load_config
from callrec.crypto.keystore import KeyStore
from callrec.crypto.masters import KeyFileMasters
from callrec.crypto.vault import RecordingVault
from callrec.lab.callrec_process import encryption_section, key_paths
from callrec.recordings.configured import recording_files
from callrec.recordings.files import RecordingFiles
from tests.support.rights import write_config


def new_vault(keys_dir: Path) -> RecordingVault:
    store_path, master_file = key_paths(keys_dir)
    store = KeyStore(store_path, KeyFileMasters(master_file))
    store.initialise(datetime.now(UTC))
    return RecordingVault(store)


def encryption_toml(keys_dir: Path, enabled: bool = True) -> str:
    return encryption_section(keys_dir, enabled)


def init_keys(config_path: Path) -> None:
    assert main(["--config", str(config_path), "keys", "init"]) == 0


def encrypted_config(tmp_path: Path, database_url: str, recordings: Path,
                     enabled: bool = True) -> Path:
    """The example configuration with ``[encryption]`` (keys under tmp_path/keys), its
    key store initialised when enabled."""
    name = "callrec-encrypted.toml" if enabled else "callrec-plain.toml"
    path = write_config(tmp_path / name, database_url, recordings)
    with path.open("a", encoding="utf-8") as config:
        config.write(encryption_toml(tmp_path / "keys", enabled))
    if enabled:     # as `callrec keys init` does, before the database is migrated
        new_vault(tmp_path / "keys").close()
    return path


def key_store_copy(config_path: Path, destination: Path) -> Path:
    """A backup of the key store file (as an admin's nightly copy takes it)."""
    destination.mkdir(parents=True)
    source = load_config(config_path).encryption.key_store
    return Path(shutil.copy2(source, destination / source.name))


def restore_key_store(config_path: Path, backup: Path, destination: Path) -> Path:
    """The backup copied back to a path of its own (the live store is left alone)."""
    del config_path      # the master keys stay where the configuration says
    destination.mkdir(parents=True)
    return Path(shutil.copy2(backup, destination / backup.name))


def rotate_and_retire(config_path: Path, after: timedelta) -> None:
    """``callrec keys rotate`` now, then ``callrec keys retire`` ``after`` later."""
    now = datetime.now(UTC)
    config = str(config_path)
    assert main(["--config", config, "keys", "rotate", "--now", now.isoformat()]) == 0
    assert main(["--config", config, "keys", "retire", "--now",
                 (now + after).isoformat()]) == 0


@contextmanager
def vault_with_store(config_path: Path, store_path: Path) -> Iterator[RecordingFiles]:
    """The configured recordings adapter, its key store replaced by ``store_path`` (a
    backup) and the configured master keys."""
    config = load_config(config_path)
    settings = replace(config.encryption, key_store=store_path)
    files = recording_files(replace(config, encryption=settings))
    try:
        yield files
    finally:
        files.close()
