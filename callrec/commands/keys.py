"""``callrec keys``: the key store of encryption at rest (docs/encryption.md).

    callrec keys init              # the first master key (also made on first use)
    callrec keys status [--json]   # master keys, how many subject and data keys
    callrec keys rotate [--due]    # a new master key; subject keys re-wrapped, audio untouched
    callrec keys retire            # destroy master keys superseded over the backup window ago

``rotate --due`` and ``retire`` run nightly from callrec-purge.service. Retiring is what
makes an old key-store backup useless: its subject keys are wrapped by a master key that
no longer exists. Every change is written to the audit log.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from callrec.commands.actor import current_actor
from callrec.commands.options import parse_instant
from callrec.config import Config, load_config
from callrec.crypto.keystore import KeyStore, MasterRecord
from callrec.crypto.vault import master_keys_for
from callrec.logs import configure_logging
from callrec.recordings.configured import require_encryption
from callrec.storage.audit_dao import SqlAuditLog
from callrec.storage.db import Database
from callrec.storage.migrate import require_current


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("keys", help="encryption keys: init, status, rotate, retire")
    actions = parser.add_subparsers(dest="keys_action", metavar="ACTION", required=True)
    init = actions.add_parser("init", help="make the first master key (idempotent)")
    init.set_defaults(handler=run_init)
    status = actions.add_parser("status", help="the master keys and how many keys they wrap")
    status.add_argument("--json", action="store_true", help="print one JSON object")
    status.set_defaults(handler=run_status)
    rotate = actions.add_parser(
        "rotate", help="make a new master key and re-wrap every subject key under it",
        description="Make a new master key and re-wrap every subject key under it in one "
                    "transaction; the recordings are not touched. The old master key is "
                    "destroyed by `callrec keys retire` once [encryption] "
                    "keystore_backup_days have passed.")
    rotate.add_argument("--due", action="store_true",
                        help="only if the current master key is [encryption] rotation_days "
                             "old (for the nightly timer)")
    rotate.add_argument("--now", metavar="ISO", help="act as if it were this instant")
    rotate.set_defaults(handler=run_rotate)
    retire = actions.add_parser(
        "retire", help="destroy master keys superseded more than the backup window ago",
        description="Destroy every master key superseded more than [encryption] "
                    "keystore_backup_days ago. Key-store backups older than that window "
                    "then hold nothing usable: delete them by the same schedule.")
    retire.add_argument("--now", metavar="ISO", help="act as if it were this instant")
    retire.set_defaults(handler=run_retire)


def run_init(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    with key_store(config) as store, audit(config) as log:
        created = store.initialise(datetime.now(UTC))
        if created is not None:
            log.record(datetime.now(UTC), current_actor(), "keys.init",
                       details={"master_key": created})
    print(f"callrec keys: {'made master key ' + created if created else 'already initialised'}"
          f" ({config.encryption.key_store})")
    return 0


def run_status(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    with key_store(config) as store:
        masters = store.master_records()
        counts = store.counts()
    settings = config.encryption
    listed = [master_json(master, settings.keystore_backup_days) for master in masters]
    summary: dict[str, object] = {
        "key_store": str(settings.key_store),
        "master_source": "pkcs11" if settings.pkcs11 else str(settings.master_key_file),
        "subject_keys": counts.subjects,
        "data_keys": counts.recordings,
        "rotation_days": settings.rotation_days,
        "keystore_backup_days": settings.keystore_backup_days,
        "masters": listed,
    }
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    print(f"key store {summary['key_store']}, master keys from {summary['master_source']}: "
          f"{counts.subjects} subject keys, {counts.recordings} data keys")
    for master in listed:
        print(f"  {master['id']}  {master['state'] or '':<10} made {master['created_at']}"
              + (f", destroy after {master['retire_after']}" if master["retire_after"] else ""))
    return 0


def master_json(master: MasterRecord, backup_days: int) -> dict[str, str | None]:
    state = ("retired" if master.retired_at else
             "superseded" if master.superseded_at else "current")
    retire_after = None
    if master.superseded_at and not master.retired_at:
        retire_after = (master.superseded_at + timedelta(days=backup_days)).isoformat()
    return {"id": master.id, "state": state, "created_at": master.created_at.isoformat(),
            "superseded_at": iso(master.superseded_at), "retired_at": iso(master.retired_at),
            "retire_after": retire_after}


def iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def run_rotate(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    now = instant(args.now)
    with key_store(config) as store, audit(config) as log:
        current = store.current_master()
        if args.due and now - current.created_at < timedelta(days=config.encryption.rotation_days):
            print(f"callrec keys rotate: master key {current.id} is not due "
                  f"(made {current.created_at:%Y-%m-%d}, rotation_days "
                  f"{config.encryption.rotation_days})")
            return 0
        old, new, subjects = store.rotate(now)
        log.record(now, current_actor(), "keys.rotate",
                   details={"old": old, "new": new, "subject_keys": subjects})
    print(f"callrec keys rotate: master key {new} made; {subjects} subject keys re-wrapped; "
          f"{old} is destroyed by `callrec keys retire` after "
          f"{(now + timedelta(days=config.encryption.keystore_backup_days)):%Y-%m-%d}")
    return 0


def run_retire(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    now = instant(args.now)
    window = timedelta(days=config.encryption.keystore_backup_days)
    with key_store(config) as store, audit(config) as log:
        retired = store.retire(now - window, now)
        if retired:
            log.record(now, current_actor(), "keys.retire", details={"destroyed": retired})
    print("callrec keys retire: " + (f"destroyed master keys {', '.join(retired)}"
                                     if retired else "nothing to destroy"))
    return 0


def instant(text: str | None) -> datetime:
    if text is None:
        return datetime.now(UTC)
    return parse_instant("--now", text, UTC, "2026-12-04T03:00:00+02:00")


@contextmanager
def key_store(config: Config) -> Iterator[KeyStore]:
    configure_logging(config.log_level)
    require_encryption(config)
    store = KeyStore(config.encryption.key_store, master_keys_for(config.encryption))
    try:
        yield store
    finally:
        store.close()


@contextmanager
def audit(config: Config) -> Iterator[SqlAuditLog]:
    database = Database.open(config.database_url)
    try:
        require_current(database)
        yield SqlAuditLog(database)
    finally:
        database.dispose()
