"""Web sessions, API tokens and login attempts in SQL.

Secrets arrive here already hashed (:func:`callrec.access.credentials.secret_hash`); the
database never sees a session id or a token in the clear. Resolving a secret also checks
the user is still enabled, so disabling someone takes effect on their next request.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Select, delete, func, select
from sqlalchemy.orm import Session

from callrec.access.roles import Principal
from callrec.errors import InputError
from callrec.storage.db import Database
from callrec.storage.tables import ApiTokenRow, LoginAttemptRow, UserRow, WebSessionRow
from callrec.storage.users_dao import to_account

MAX_NAME = 64


class SqlCredentials:
    def __init__(self, database: Database) -> None:
        self._database = database

    def open_session(self, id_hash: str, user_id: int, now: datetime, lifetime: timedelta,
                     client: str) -> None:
        with self._database.session() as session:
            # Expired sessions of everyone go whenever anyone logs in: no cron needed.
            session.execute(delete(WebSessionRow).where(WebSessionRow.expires_at <= now))
            session.add(WebSessionRow(id_hash=id_hash, user_id=user_id, created_at=now,
                                      expires_at=now + lifetime, client=client))

    def session_principal(self, id_hash: str, now: datetime) -> Principal | None:
        query = (select(UserRow).join(WebSessionRow, WebSessionRow.user_id == UserRow.id)
                 .where(WebSessionRow.id_hash == id_hash, WebSessionRow.expires_at > now))
        with self._database.session() as session:
            return _principal(session, query)

    def close_session(self, id_hash: str) -> None:
        with self._database.session() as session:
            session.execute(delete(WebSessionRow).where(WebSessionRow.id_hash == id_hash))

    def sessions_of(self, user_id: int) -> int:
        with self._database.session() as session:
            return session.scalar(select(func.count()).select_from(WebSessionRow)
                                  .where(WebSessionRow.user_id == user_id)) or 0

    def add_token(self, username: str, name: str, token_hash: str, now: datetime,
                  expires_at: datetime | None) -> None:
        with self._database.session() as session:
            user = session.scalars(select(UserRow).where(UserRow.username == username)).first()
            if user is None:
                raise InputError(f"no user {username!r} (see `callrec users list`)")
            session.add(ApiTokenRow(user_id=user.id, name=name[:MAX_NAME],
                                    token_hash=token_hash, created_at=now,
                                    expires_at=expires_at))

    def token_principal(self, token_hash: str, now: datetime) -> Principal | None:
        query = (select(UserRow).join(ApiTokenRow, ApiTokenRow.user_id == UserRow.id)
                 .where(ApiTokenRow.token_hash == token_hash,
                        ApiTokenRow.revoked_at.is_(None),
                        (ApiTokenRow.expires_at.is_(None)) | (ApiTokenRow.expires_at > now)))
        with self._database.session() as session:
            return _principal(session, query)

    def record_login(self, username: str, client: str, now: datetime,
                     succeeded: bool) -> None:
        with self._database.session() as session:
            session.add(LoginAttemptRow(username=username[:MAX_NAME], client=client, at=now,
                                        succeeded=succeeded))

    def recent_failures(self, username: str, since: datetime) -> int:
        """Failed logins for this name since ``since`` and since its last success."""
        name = username[:MAX_NAME]
        with self._database.session() as session:
            last_success = session.scalar(
                select(func.max(LoginAttemptRow.at))
                .where(LoginAttemptRow.username == name, LoginAttemptRow.succeeded.is_(True)))
            start = max(since, last_success) if last_success is not None else since
            return session.scalar(
                select(func.count()).select_from(LoginAttemptRow)
                .where(LoginAttemptRow.username == name, LoginAttemptRow.at >= start,
                       LoginAttemptRow.succeeded.is_(False))) or 0


def _principal(session: Session, query: Select[UserRow]) -> Principal | None:
    row = session.scalars(query).first()
    if row is None or row.disabled:
        return None
    return to_account(row).principal()
