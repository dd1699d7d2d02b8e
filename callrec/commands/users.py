"""``callrec users``: who may use callrec web, in which role, and reviewing that access.

Changing a role, the queues or the agent name ends the user's sessions and API tokens and
opens an access review; ``callrec users review`` lists what is waiting for one.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

from callrec.access.credentials import Passwords, check_password, new_api_token, secret_hash
from callrec.access.roles import (
    Account,
    check_account,
    check_agent_name,
    check_username,
    parse_queues,
    parse_role,
)
from callrec.commands.access_common import format_rows, opened
from callrec.commands.actor import current_actor
from callrec.commands.calls import terminal_safe
from callrec.errors import InputError
from callrec.storage.audit_dao import SqlAuditLog
from callrec.storage.credentials_dao import SqlCredentials
from callrec.storage.users_dao import SqlUsers

REVIEW_DAYS = 90


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "users", help="users of callrec web: add, roles, queues, tokens, reviews",
        description="Manage who may listen to recordings through callrec web.")
    actions = parser.add_subparsers(dest="users_action", metavar="ACTION", required=True)
    add = actions.add_parser("add", help="add a user")
    add.add_argument("username")
    add.add_argument("--role", required=True,
                     help="agent, supervisor, quality, maintainer, dpo or admin")
    _access_options(add)
    _password_options(add)
    set_role = actions.add_parser("set-role", help="change a user's role (revokes sessions)")
    set_role.add_argument("username")
    set_role.add_argument("role")
    _access_options(set_role)
    set_queues = actions.add_parser("set-queues",
                                    help="change a supervisor's queues (revokes sessions)")
    set_queues.add_argument("username")
    set_queues.add_argument("queues", help="comma-separated, e.g. servicedesk,switchboard")
    password = actions.add_parser("password", help="set a user's password")
    password.add_argument("username")
    _password_options(password)
    for name, text in (("disable", "disable a user (revokes sessions and tokens)"),
                       ("enable", "enable a disabled user")):
        actions.add_parser(name, help=text).add_argument("username")
    token = actions.add_parser("token", help="make an API token (printed once)")
    token.add_argument("username")
    token.add_argument("--name", default="api", help="what the token is for")
    token.add_argument("--days", type=int, default=90, help="valid this many days (1-3650)")
    listing = actions.add_parser("list", help="list users")
    listing.add_argument("--json", action="store_true")
    review = actions.add_parser(
        "review", help=f"users whose access is due for review ({REVIEW_DAYS} days or changed)")
    review.add_argument("--done", metavar="USER", help="record that USER's access was reviewed")
    parser.set_defaults(handler=run)


def _access_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--queues", help="comma-separated queues (supervisors)")
    parser.add_argument("--agent", help="queue member name whose calls an agent answers")


def _password_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--password-stdin", action="store_true",
                        help="read the password from the first line of standard input")


def run(args: argparse.Namespace) -> int:
    handlers = {"add": run_add, "set-role": run_set_role, "set-queues": run_set_queues,
                "password": run_password, "disable": run_disable, "enable": run_enable,
                "token": run_token, "list": run_list, "review": run_review}
    return handlers[args.users_action](args)


def now() -> datetime:
    return datetime.now(UTC)


def run_add(args: argparse.Namespace) -> int:
    username = check_username(args.username)
    role = parse_role(args.role)
    queues = parse_queues(args.queues or "")
    agent = None if args.agent is None else check_agent_name(args.agent)
    check_account(role, queues, agent)
    password = read_password(args.password_stdin)
    password_hash = Passwords().hash(password)
    with opened(args) as database:
        account = SqlUsers(database).add(username, role, queues, agent, password_hash, now())
        SqlAuditLog(database).record(now(), current_actor(), "users.add",
                                     details=_describe(account))
    print(f"added {account.username} ({account.role})")
    return 0


def run_set_role(args: argparse.Namespace) -> int:
    role = parse_role(args.role)
    queues = None if args.queues is None else parse_queues(args.queues)
    agent = None if args.agent is None else check_agent_name(args.agent)
    return _change(args, role=role, queues=queues, agent_name=agent)


def run_set_queues(args: argparse.Namespace) -> int:
    return _change(args, queues=parse_queues(args.queues))


def _change(args: argparse.Namespace, **change: Any) -> int:
    with opened(args) as database:
        users = SqlUsers(database)
        current = users.get(args.username)
        if current is None:
            raise InputError(f"no user {args.username!r} (see `callrec users list`)")
        check_account(change.get("role") or current.role,
                      current.queues if change.get("queues") is None else change["queues"],
                      change.get("agent_name") or current.agent_name)
        account, what = users.change_access(args.username, now(), current_actor(), **change)
        if what:
            SqlAuditLog(database).record(now(), current_actor(), "users.change_access",
                                         details={"user": account.username, "change": what})
    if not what:
        print(f"{account.username}: nothing changed")
        return 0
    print(f"{account.username}: {what}; sessions and API tokens revoked, access review opened")
    return 0


def run_password(args: argparse.Namespace) -> int:
    password_hash = Passwords().hash(read_password(args.password_stdin))
    with opened(args) as database:
        SqlUsers(database).set_password(args.username, password_hash)
        SqlAuditLog(database).record(now(), current_actor(), "users.password",
                                     details={"user": args.username})
    print(f"{args.username}: password set; their browser sessions were ended")
    return 0


def run_disable(args: argparse.Namespace) -> int:
    return _set_disabled(args, True)


def run_enable(args: argparse.Namespace) -> int:
    return _set_disabled(args, False)


def _set_disabled(args: argparse.Namespace, disabled: bool) -> int:
    action = "users.disable" if disabled else "users.enable"
    with opened(args) as database:
        account = SqlUsers(database).set_disabled(args.username, disabled, now())
        SqlAuditLog(database).record(now(), current_actor(), action,
                                     details={"user": account.username})
    state = "disabled, sessions and tokens revoked" if disabled else "enabled"
    print(f"{account.username}: {state}")
    return 0


def run_token(args: argparse.Namespace) -> int:
    if not 1 <= args.days <= 3650:
        raise InputError("--days must be 1-3650")
    name = args.name.strip()
    if not name or len(name) > 64 or not name.isprintable():
        raise InputError("--name must be 1-64 printable characters")
    token = new_api_token()
    with opened(args) as database:
        SqlCredentials(database).add_token(args.username, name, secret_hash(token), now(),
                                           now() + timedelta(days=args.days))
        SqlAuditLog(database).record(now(), current_actor(), "users.token",
                                     details={"user": args.username, "name": name,
                                              "days": args.days})
    print(token)
    print(f"API token {name!r} for {args.username}, valid {args.days} days. It is shown only "
          "now: send it as 'Authorization: Bearer <token>'.", file=sys.stderr)
    return 0


def run_list(args: argparse.Namespace) -> int:
    with opened(args) as database:
        accounts = SqlUsers(database).all()
    if args.json:
        print(json.dumps([_describe(account) for account in accounts], indent=2))
    elif accounts:
        print(format_rows(("user", "role", "queues", "agent", "status", "reviewed"),
                          [_row(account) for account in accounts]))
    else:
        print("no users: add one with `callrec users add`")
    return 0


def run_review(args: argparse.Namespace) -> int:
    with opened(args) as database:
        users = SqlUsers(database)
        if args.done:
            closed = users.mark_reviewed(args.done, now(), current_actor())
            SqlAuditLog(database).record(now(), current_actor(), "users.reviewed",
                                         details={"user": args.done, "closed": closed})
            print(f"{args.done}: access reviewed; {closed} open review entries closed")
            return 0
        stale, entries = users.review_due(now() - timedelta(days=REVIEW_DAYS))
    for entry in entries:
        print(f"changed  {terminal_safe(entry.username)}  {entry.opened_at:%Y-%m-%d}  "
              f"{terminal_safe(entry.change, 120)}  (by {terminal_safe(entry.opened_by)})")
    for account in stale:
        print(f"stale    {account.username}  last reviewed {account.reviewed_at:%Y-%m-%d}")
    if not entries and not stale:
        print("no access reviews due")
    return 0


def read_password(from_stdin: bool) -> str:
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    elif sys.stdin.isatty():
        password = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != password:
            raise InputError("the passwords differ")
    else:
        raise InputError("no terminal to ask for the password: use --password-stdin")
    check_password(password)
    return password


def _describe(account: Account) -> dict[str, Any]:
    return {"user": account.username, "role": account.role.value,
            "queues": list(account.queues), "agent": account.agent_name,
            "disabled": account.disabled, "reviewed_at": account.reviewed_at.isoformat()}


def _row(account: Account) -> tuple[str, ...]:
    return (account.username, account.role.value, ",".join(account.queues) or "-",
            terminal_safe(account.agent_name or "-"),
            "disabled" if account.disabled else "active",
            f"{account.reviewed_at:%Y-%m-%d}")
