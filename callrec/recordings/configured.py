"""The recordings adapter as the configuration asks for it: with a vault when
``[encryption] enabled``. Every command and both composition roots build it here."""

from __future__ import annotations

from callrec.config import Config
from callrec.crypto.vault import RecordingVault
from callrec.errors import ConfigError
from callrec.recordings.files import RecordingFiles
from callrec.recordings.in_progress import InProgressDir


def vault_for(config: Config) -> RecordingVault | None:
    settings = config.encryption
    return RecordingVault.from_config(settings) if settings.enabled else None


def recording_files(config: Config) -> RecordingFiles:
    recordings = config.recordings
    in_progress = None
    if recordings.in_progress_dir is not None:
        in_progress = InProgressDir(
            recordings.in_progress_asterisk_dir or str(recordings.in_progress_dir),
            recordings.in_progress_dir)
    return RecordingFiles(recordings.asterisk_dir, recordings.local_dir, vault_for(config),
                          in_progress)


def require_encryption(config: Config) -> None:
    if not config.encryption.enabled:
        raise ConfigError("encryption.enabled", "encryption is not enabled: set "
                          "[encryption] enabled = true with a key_store and a master key "
                          "(master_key_file or pkcs11_*), run `callrec keys init`, then run "
                          "this again (docs/encryption.md)")
