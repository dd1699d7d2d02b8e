"""Users and their access reviews in SQL.

A change of role, queues or agent name revokes every session and API token of the user
and opens an access review, in the same transaction as the change: there is no moment at
which the old credentials carry the new rights, or the new rights go unreviewed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from callrec.access.roles import Account, Role
from callrec.errors import InputError
from callrec.storage.db import Database
from callrec.storage.tables import AccessReviewRow, ApiTokenRow, UserRow, WebSessionRow


@dataclass(frozen=True)
class ReviewEntry:
    id: int
    username: str
    opened_at: datetime
    change: str
    opened_by: str


class SqlUsers:
    def __init__(self, database: Database) -> None:
        self._database = database

    def add(self, username: str, role: Role, queues: tuple[str, ...],
            agent_name: str | None, password_hash: str | None, now: datetime) -> Account:
        row = UserRow(username=username, role=role.value, queues=",".join(queues),
                      agent_name=agent_name, password_hash=password_hash, disabled=False,
                      created_at=now, reviewed_at=now)
        with self._database.session() as session:
            if _by_name(session, username) is not None:
                raise InputError(f"user {username!r} already exists")
            session.add(row)
            session.flush()
            return to_account(row)

    def get(self, username: str) -> Account | None:
        with self._database.session() as session:
            row = _by_name(session, username)
            return None if row is None else to_account(row)

    def password_hash(self, username: str) -> tuple[Account, str | None] | None:
        with self._database.session() as session:
            row = _by_name(session, username)
            return None if row is None else (to_account(row), row.password_hash)

    def all(self) -> list[Account]:
        with self._database.session() as session:
            rows = session.scalars(select(UserRow).order_by(UserRow.username))
            return [to_account(row) for row in rows]

    def change_access(self, username: str, now: datetime, actor: str, *,
                      role: Role | None = None, queues: tuple[str, ...] | None = None,
                      agent_name: str | None = None) -> tuple[Account, str]:
        """Apply a change of rights; returns the account after it and what changed."""
        with self._database.session() as session:
            row = _require(session, username)
            before = _describe(row)
            if role is not None:
                row.role = role.value
            if queues is not None:
                row.queues = ",".join(queues)
            if agent_name is not None:
                row.agent_name = agent_name
            after = _describe(row)
            change = f"{before} -> {after}"
            if before != after:
                _revoke(session, row.id, now)
                session.add(AccessReviewRow(user_id=row.id, opened_at=now, change=change,
                                            opened_by=actor))
            return to_account(row), change if before != after else ""

    def set_password(self, username: str, password_hash: str) -> None:
        """A new password ends the sessions the old one opened."""
        with self._database.session() as session:
            row = _require(session, username)
            row.password_hash = password_hash
            session.execute(delete(WebSessionRow).where(WebSessionRow.user_id == row.id))

    def set_disabled(self, username: str, disabled: bool, now: datetime) -> Account:
        with self._database.session() as session:
            row = _require(session, username)
            row.disabled = disabled
            if disabled:
                _revoke(session, row.id, now)
            return to_account(row)

    def review_due(self, stale_before: datetime) -> tuple[list[Account], list[ReviewEntry]]:
        """Active users not reviewed since ``stale_before``, and every open review entry."""
        with self._database.session() as session:
            stale = session.scalars(
                select(UserRow).where(UserRow.reviewed_at < stale_before,
                                      UserRow.disabled.is_(False))
                .order_by(UserRow.reviewed_at, UserRow.username))
            accounts = [to_account(row) for row in stale]
            rows = session.execute(
                select(AccessReviewRow, UserRow.username)
                .join(UserRow, UserRow.id == AccessReviewRow.user_id)
                .where(AccessReviewRow.closed_at.is_(None))
                .order_by(AccessReviewRow.opened_at, AccessReviewRow.id))
            entries = [ReviewEntry(review.id, name, review.opened_at, review.change,
                                   review.opened_by) for review, name in rows]
            return accounts, entries

    def mark_reviewed(self, username: str, now: datetime, actor: str) -> int:
        """Record that someone looked at this user's access; closes open entries."""
        with self._database.session() as session:
            row = _require(session, username)
            row.reviewed_at = now
            open_reviews = list(session.scalars(
                select(AccessReviewRow).where(AccessReviewRow.user_id == row.id,
                                              AccessReviewRow.closed_at.is_(None))))
            for review in open_reviews:
                review.closed_at, review.closed_by = now, actor
            return len(open_reviews)


def _by_name(session: Session, username: str) -> UserRow | None:
    return session.scalars(select(UserRow).where(UserRow.username == username)).first()


def _require(session: Session, username: str) -> UserRow:
    row = _by_name(session, username)
    if row is None:
        raise InputError(f"no user {username!r} (see `callrec users list`)")
    return row


def _describe(row: UserRow) -> str:
    return f"role={row.role} queues={row.queues or '-'} agent={row.agent_name or '-'}"


def _revoke(session: Session, user_id: int, now: datetime) -> None:
    session.execute(delete(WebSessionRow).where(WebSessionRow.user_id == user_id))
    session.execute(update(ApiTokenRow)
                    .where(ApiTokenRow.user_id == user_id, ApiTokenRow.revoked_at.is_(None))
                    .values(revoked_at=now))


def to_account(row: UserRow) -> Account:
    return Account(id=row.id, username=row.username, role=Role(row.role),
                   queues=tuple(q for q in row.queues.split(",") if q),
                   agent_name=row.agent_name, disabled=row.disabled,
                   has_password=row.password_hash is not None, created_at=row.created_at,
                   reviewed_at=row.reviewed_at)
