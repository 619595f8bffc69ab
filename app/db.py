"""facegate's durable state: the connection the stores share, to SQLite or PostgreSQL.

``FACEGATE_DATABASE_URL`` unset: one SQLite file in ``DATA_DIR`` (WAL mode), used by one process.
``postgresql://...``: a database that several facegate instances share. The schema is
``app.tables`` on both, reached by the migrations in ``app/migrations`` (run at every start); each
store writes its queries once, in SQLAlchemy Core, for both.

Calls are synchronous and short; async callers run them in a thread (``asyncio.to_thread``).
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import AbstractContextManager, asynccontextmanager, contextmanager, nullcontext
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, RowMapping
from sqlalchemy.pool import StaticPool

from app.errors import DatabaseUnavailable
from app.migrations import upgrade
from app.tables import row_keyed

__all__ = ["MAX_ID", "Database", "in_chunks", "newest_first"]

# A 64-bit integer: the largest row, job or approval id a request may name.
MAX_ID = 2**63 - 1
# Connections per instance on PostgreSQL: the runner, the sweep's lock, requests, the eraser.
POOL_SIZE = 8
# An unreachable server (not a refused connection) is an outage after this, not a hang.
CONNECT_TIMEOUT_SECONDS = 5


class Database:
    """The stores' database: ``target`` is a SQLite file, or a ``postgresql://`` URL (its scheme is
    checked where it is configured, ``Settings.database_url``)."""

    def __init__(self, target: Path | str, *, clock: Callable[[], float] = time.time) -> None:
        """``clock``: the stores' time in epoch seconds, for every timestamp they write and compare
        (tests pass a clock they move by hand)."""
        self.clock = clock
        if isinstance(target, Path):
            target.parent.mkdir(parents=True, exist_ok=True)
            self.path: Path | None = target
            self.engine = _sqlite_engine(target)
            # One connection, serialised (SQLite allows one writer at a time anyway).
            self._lock: AbstractContextManager[Any] = threading.Lock()
        else:
            self.path = None
            url = sa.make_url(target).set(drivername="postgresql+psycopg")
            self.engine = sa.create_engine(
                url,
                pool_size=POOL_SIZE,
                pool_pre_ping=True,  # a connection the server dropped (restart) is replaced, not failed
                connect_args={"connect_timeout": CONNECT_TIMEOUT_SECONDS},
            )
            self._lock = nullcontext()
        with self.tx() as conn:
            upgrade(conn)

    @property
    def shared(self) -> bool:
        """Whether other facegate instances may use this database (PostgreSQL)."""
        return self.path is None

    @property
    def backend(self) -> str:
        return self.engine.dialect.name

    def insert(self, table: sa.Table) -> Any:
        """An INSERT that understands ``on_conflict_do_nothing`` / ``on_conflict_do_update``."""
        dialect = postgresql if self.shared else sqlite
        return dialect.insert(table)

    @contextmanager
    def tx(self) -> Iterator[Connection]:
        """A write transaction (on SQLite taken at once, so that readers-turned-writers never deadlock)."""
        with _unavailable_is_ours(), self._lock, self.engine.connect() as conn:
            conn.info["immediate"] = True
            try:
                with conn.begin():
                    yield conn
            finally:
                conn.info.pop("immediate", None)

    @contextmanager
    def _reading(self) -> Iterator[Connection]:
        with _unavailable_is_ours(), self._lock, self.engine.connect() as conn:
            yield conn

    def rows(self, statement: sa.Executable) -> Sequence[RowMapping]:
        with self._reading() as conn:
            return conn.execute(statement).mappings().all()

    def row(self, statement: sa.Executable) -> RowMapping | None:
        with self._reading() as conn:
            return conn.execute(statement).mappings().first()

    def scalar(self, statement: sa.Executable) -> Any:
        with self._reading() as conn:
            return conn.execute(statement).scalar()

    def archive_row_key(self, conn: Connection, key: str, archived: str) -> None:
        """Inside a transaction: move every record of the upload ``key`` to ``archived``, so that a new
        upload that NocoDB gave the same identity starts with nothing of the old one's."""
        for table in row_keyed():
            conn.execute(sa.update(table).where(table.c.row_key == key).values(row_key=archived))

    @contextmanager
    def exclusive(self, name: str) -> Iterator[bool]:
        """Whether this instance may do ``name`` now, alone: a PostgreSQL advisory lock held for the
        block, released with the session even if the instance dies. SQLite: one process, always."""
        if not self.shared:
            yield True
            return
        key = int.from_bytes(hashlib.sha256(f"facegate:{name}".encode()).digest()[:8], "big", signed=True)
        with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            held = bool(conn.execute(sa.select(sa.func.pg_try_advisory_lock(key))).scalar())
            try:
                yield held
            finally:
                if held:
                    conn.execute(sa.select(sa.func.pg_advisory_unlock(key)))

    @asynccontextmanager
    async def alone(self, name: str) -> AsyncIterator[bool]:
        """``exclusive`` for async code: the lock is taken and released in a thread."""
        lock = self.exclusive(name)
        mine = await asyncio.to_thread(lock.__enter__)
        try:
            yield mine
        finally:
            await asyncio.to_thread(lock.__exit__, None, None, None)

    def checkpoint(self) -> None:
        """After deletions: SQLite copies its write-ahead log into the file and empties it, so that
        deleted rows are gone from both; PostgreSQL vacuums, so their space is reused."""
        if self.shared:
            with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql("VACUUM")
            return
        with self._lock, self.engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")

    def close(self) -> None:
        with self._lock:
            self.engine.dispose()


@contextmanager
def _unavailable_is_ours() -> Iterator[None]:
    """A database that cannot be reached is an outage, answered 503 and waited out; its message (the
    driver's, which may name the server and user) stays out of answers and logs."""
    try:
        yield
    except (sa.exc.OperationalError, sa.exc.InterfaceError) as exc:
        raise DatabaseUnavailable(
            f"The database cannot be reached now ({type(exc.orig).__name__})."
        ) from None


def _sqlite_engine(path: Path) -> sa.Engine:
    engine = sa.create_engine(
        f"sqlite:///{path}",
        poolclass=StaticPool,
        connect_args={"check_same_thread": False, "timeout": 30},
    )

    @sa.event.listens_for(engine, "connect")
    def _configure(dbapi: Any, _record: Any) -> None:
        dbapi.isolation_level = None  # transactions are begun below, not by the driver
        dbapi.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode survives a process crash (SIGKILL); only power loss can cost the last commits.
        dbapi.execute("PRAGMA synchronous=NORMAL")
        # Deleted rows are overwritten, not just unlinked: what retention or erasure removes is gone
        # from the file (``checkpoint`` then moves it out of the write-ahead log too).
        dbapi.execute("PRAGMA secure_delete=ON")

    @sa.event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.info.get("immediate") else "BEGIN")

    return engine


# Keeps each statement's bound values well under SQLite's limit (32766; 999 in older builds).
VALUES_PER_QUERY = 500


def in_chunks(values: Sequence[Any]) -> Iterator[list[Any]]:
    """``values`` in slices small enough for one statement."""
    for start in range(0, len(values), VALUES_PER_QUERY):
        yield list(values[start : start + VALUES_PER_QUERY])


def newest_first(
    table: sa.Table,
    filters: Sequence[tuple[sa.ColumnElement[bool], object]],
    *,
    limit: int,
    before_id: int | None,
    where: sa.ColumnElement[bool] | None = None,
) -> sa.Select[Any]:
    """The rows of ``table`` where ``where`` and the filters hold (a filter whose value is None is
    skipped), newest first, keyset-paged by id."""
    query = sa.select(table)
    if where is not None:
        query = query.where(where)
    for condition, value in filters:
        if value is not None:
            query = query.where(condition)
    if before_id is not None:
        query = query.where(table.c.id < before_id)
    return query.order_by(table.c.id.desc()).limit(limit)
