"""The recordings adapter as the configuration asks for it: with a vault when
``[encryption] enabled``. Every command and both composition roots build it here."""

from __future__ import annotations

from callrec.config import Config
from callrec.crypto.vault import RecordingVault
from callrec.errors import ConfigError
from callrec.recordings.files import RecordingFiles


def vault_for(config: Config) -> RecordingVault | None:
    settings = config.encryption
    return RecordingVault.from_config(settings) if settings.enabled else None


def recording_files(config: Config) -> RecordingFiles:
    return RecordingFiles(config.recordings.asterisk_dir, config.recordings.local_dir,
                          vault_for(config))


def require_encryption(config: Config) -> None:
    if not config.encryption.enabled:
        raise ConfigError("encryption.enabled", "encryption is not enabled: set "
                          "[encryption] enabled = true with a key_store and a master key "
                          "(master_key_file or pkcs11_*), run `callrec keys init`, then run "
                          "this again (docs/encryption.md)")
