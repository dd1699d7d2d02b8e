"""Storage: the SQL side of the contact history (SQLAlchemy 2, Alembic; SQLite or PostgreSQL).

The domain never imports this package's internals; it talks to
:class:`~callrec.storage.history_dao.SqlContactHistory` through the
:class:`~callrec.domain.history.ContactHistory` port.
"""

from __future__ import annotations

from callrec.storage.db import Database
from callrec.storage.history_dao import SqlContactHistory

__all__ = ["Database", "SqlContactHistory"]
