"""The ``[encryption]`` section of the configuration (docs/encryption.md).

Validated when the configuration is read, like every other section: a key store inside
the recordings directory or beside the contact history's database would put the keys
into the same backups as what they protect, so it is refused here, by name.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from callrec.config_reader import TomlReader
from callrec.errors import ConfigError

KEYS = {"enabled", "key_store", "master_key_file", "pkcs11_module", "pkcs11_token",
        "pkcs11_pin_file", "keystore_backup_days", "rotation_days"}
DEFAULT_KEY_STORE = Path("/var/lib/callrec-keys/keys.sqlite")
# A directory of its own: the key file is rewritten atomically (a temporary file beside
# it, renamed), so its directory must be writable, and nothing else should be there.
DEFAULT_MASTER_KEY_FILE = Path("/etc/callrec/keys/master.keys")


@dataclass(frozen=True)
class Pkcs11Settings:
    module: Path            # the token's PKCS#11 library, e.g. SoftHSM2's libsofthsm2.so
    token: str              # the token's label
    pin_file: Path          # holds the user PIN; strict permissions as the key file


@dataclass(frozen=True)
class EncryptionSettings:
    enabled: bool = False
    key_store: Path = DEFAULT_KEY_STORE
    master_key_file: Path | None = DEFAULT_MASTER_KEY_FILE
    pkcs11: Pkcs11Settings | None = None
    # How long a copy of the key store may be kept: a master key is destroyed this long
    # after it was superseded, and with it every key-store backup it wrapped.
    keystore_backup_days: int = 30
    # `callrec keys rotate --due` makes a new master key once the current one is this old.
    rotation_days: int = 30


def parse_encryption(reader: TomlReader, base_dir: Path, local_dir: Path,
                     database_url: str) -> EncryptionSettings:
    pkcs11 = _parse_pkcs11(reader, base_dir)
    key_file = None if pkcs11 is not None else _path(
        reader, "encryption.master_key_file", base_dir, DEFAULT_MASTER_KEY_FILE)
    settings = EncryptionSettings(
        enabled=reader.boolean("encryption.enabled", default=False),
        key_store=_path(reader, "encryption.key_store", base_dir, DEFAULT_KEY_STORE),
        master_key_file=key_file,
        pkcs11=pkcs11,
        keystore_backup_days=reader.integer("encryption.keystore_backup_days", 30, 1, 3650),
        rotation_days=reader.integer("encryption.rotation_days", 30, 1, 3650),
    )
    if settings.enabled:
        _apart(settings.key_store, local_dir, database_url)
    return settings


def _parse_pkcs11(reader: TomlReader, base_dir: Path) -> Pkcs11Settings | None:
    given = [key for key in ("pkcs11_module", "pkcs11_token", "pkcs11_pin_file")
             if reader.get(f"encryption.{key}", None) is not None]
    if not given:
        return None
    if reader.get("encryption.master_key_file", None) is not None:
        raise ConfigError("encryption.master_key_file", "give either master_key_file or "
                          "pkcs11_module/pkcs11_token/pkcs11_pin_file, not both")
    missing = {"pkcs11_module", "pkcs11_token", "pkcs11_pin_file"} - set(given)
    if missing:
        raise ConfigError(f"encryption.{sorted(missing)[0]}", "a PKCS#11 master key needs "
                          "pkcs11_module, pkcs11_token and pkcs11_pin_file")
    return Pkcs11Settings(
        module=_path(reader, "encryption.pkcs11_module", base_dir, None),
        token=reader.text("encryption.pkcs11_token"),
        pin_file=_path(reader, "encryption.pkcs11_pin_file", base_dir, None))


def _path(reader: TomlReader, key: str, base_dir: Path, default: Path | None) -> Path:
    path = Path(reader.text(key, default=None if default is None else str(default)))
    return path if path.is_absolute() else (base_dir / path).resolve()


def _apart(key_store: Path, local_dir: Path, database_url: str) -> None:
    """Refuse a key store where the backups of the recordings or the history reach it."""
    store = key_store.resolve()
    if store.is_relative_to(local_dir.resolve()):
        raise ConfigError("encryption.key_store", f"{key_store} is inside the recordings "
                          "directory: a backup of the recordings would hold their keys; "
                          "put the key store on a path of its own")
    if database_url.startswith("sqlite") and ":///" in database_url:
        database = Path(database_url.split(":///", 1)[1]).resolve()
        if store == database or store.parent == database.parent:
            raise ConfigError("encryption.key_store", f"{key_store} lies beside the "
                              "contact history's database: a backup of one would hold "
                              "the other; give the key store a directory of its own")
