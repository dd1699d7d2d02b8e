"""Run ``callrec purge``, ``callrec rights erase`` or ``callrec recordings encrypt`` so
that it SIGKILLs itself midway.

    python -m tests.support.sigkill_after N --config FILE purge ...
    python -m tests.support.sigkill_after Nk --config FILE purge ...  (before N's key)
    python -m tests.support.sigkill_after N --config FILE rights erase ...
    python -m tests.support.sigkill_after N --config FILE recordings encrypt

(from the project directory). The command runs as ``callrec`` runs it: the same argument
parser, the same ``run`` function, the same database and recordings adapters, except that
the recordings adapter is a subclass whose deletions (seals, for ``recordings encrypt``)
kill the process after N of them. The crash tests need a real kill of a real process at
the worst moment; production code has no switch for it, only the adapter parameter of
each command's ``run``.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from callrec.cli import build_parser
from callrec.commands import purge, recordings, rights
from callrec.config import Config
from callrec.recordings.configured import vault_for
from callrec.recordings.files import AudioVault, RecordingFiles
from callrec.retention.files import LocalRecordings
from callrec.rights.files import LocalRecordingArchive


def die() -> NoReturn:
    os.kill(os.getpid(), signal.SIGKILL)
    raise AssertionError("still alive after SIGKILL")


class PurgeRecordingsKilledAfter(LocalRecordings):
    """Dies before the first unlink when ``after`` is 0, else right after the after-th
    (a file found missing counts: the purge has acted on it). ``before_key``: dies
    between the after-th unlink and the destruction of that recording's data key."""

    def __init__(self, local_dir: Path, after: int, vault: AudioVault | None = None,
                 before_key: bool = False) -> None:
        super().__init__(local_dir, vault)
        self._left = after
        self._before_key = before_key

    def forget(self, path: str) -> None:
        if self._before_key and self._left == 1:
            die()
        super().forget(path)

    def delete(self, path: str) -> int | None:
        if self._left <= 0:
            die()
        size = super().delete(path)
        self._left -= 1
        if self._left == 0:
            die()
        return size


class ArchiveKilledAfter(LocalRecordingArchive):
    """Dies as soon as ``after`` files are gone: with 0 after planning, before the first
    deletion (or before the fsync, when there is nothing to delete)."""

    def __init__(self, files: RecordingFiles, after: int) -> None:
        super().__init__(files)
        self._after = after
        self._deleted = 0

    def delete(self, relative: str) -> bool:
        self._die_when_due()
        deleted = super().delete(relative)
        if deleted:
            self._deleted += 1
            self._die_when_due()
        return deleted

    def sync(self) -> None:
        self._die_when_due()
        super().sync()

    def _die_when_due(self) -> None:
        if self._deleted >= self._after:
            die()


class FilesKilledAfter(RecordingFiles):
    """Dies before the first seal when ``after`` is 0, else right after the after-th."""

    def __init__(self, config: Config, after: int) -> None:
        super().__init__(config.recordings.asterisk_dir, config.recordings.local_dir,
                         vault_for(config))
        self._left = after

    def seal(self, relative_path: str, subject: str) -> bool:
        if self._left <= 0:
            die()
        sealed = super().seal(relative_path, subject)
        self._left -= 1
        if self._left == 0:
            die()
        return sealed


def main(argv: Sequence[str]) -> int:
    after, *command = argv
    # "3k": the purge dies after the third unlink, before that recording's key goes.
    before_key = after.endswith("k")
    count = int(after.removesuffix("k"))
    args = build_parser().parse_args(command)
    if args.command == "purge":
        def killing_recordings(config: Config) -> PurgeRecordingsKilledAfter:
            return PurgeRecordingsKilledAfter(config.recordings.local_dir, count,
                                              vault_for(config), before_key)
        return purge.run(args, make_recordings=killing_recordings)
    if args.command == "rights" and args.rights_action == "erase":
        def killing_archive(config: Config) -> ArchiveKilledAfter:
            files = RecordingFiles(config.recordings.asterisk_dir, config.recordings.local_dir,
                                   vault_for(config))
            return ArchiveKilledAfter(files, count)
        return rights.run(args, make_archive=killing_archive)
    if args.command == "recordings":
        return recordings.run(args, make_files=lambda config: FilesKilledAfter(config, count))
    raise SystemExit(f"{args.command}: not a command that deletes recordings")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
