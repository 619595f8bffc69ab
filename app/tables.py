"""facegate's durable state, one schema for SQLite and PostgreSQL (SQLAlchemy Core).

Each store owns its tables' queries: the queue (``jobs``) and decision log (``decisions``) in
``app.moderation``, the carousel's ``approvals`` and ``renditions`` in ``app.carousel``, the purge log
(``purges``) in ``app.erasure``. The tables are declared here, once, because the migrations
(``app/migrations``) must reach the same schema on both backends: a test compares them.

Times are epoch seconds (double precision), written by the instance that acts; records that
belong to one upload carry its ``row_key`` (see ``Database.archive_row_key``).
"""

from __future__ import annotations

import sqlalchemy as sa

__all__ = [
    "approvals",
    "backlog_confirmations",
    "backlog_cutoffs",
    "decisions",
    "file_claims",
    "jobs",
    "metadata",
    "purges",
    "renditions",
    "row_keyed",
]

metadata = sa.MetaData()


class Text(sa.types.TypeDecorator[str]):
    """Text that may hold what an uploader typed or forged: PostgreSQL refuses a NUL character in a
    text column (SQLite keeps it), so a NUL is written as U+FFFD on both; DDL as ``sa.Text``."""

    impl = sa.Text
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: sa.Dialect) -> str | None:
        return value.replace("\x00", "\ufffd") if value is not None else None


# A 64-bit id on PostgreSQL; on SQLite, INTEGER PRIMARY KEY is the rowid (the same range).
Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Epoch: sa.Double[float] = sa.Double()

jobs = sa.Table(
    "jobs",
    metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("row_key", Text, nullable=False, unique=True),
    sa.Column("table_id", Text, nullable=False),
    sa.Column("row_id", sa.BigInteger, nullable=False),
    sa.Column("row_json", Text, nullable=False),
    sa.Column("source", Text, nullable=False),
    sa.Column("state", Text, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("next_attempt_at", Epoch, nullable=False),
    sa.Column("last_error", Text),
    sa.Column("created_at", Epoch, nullable=False),
    sa.Column("updated_at", Epoch, nullable=False),
    sa.Column("row_gone", sa.Boolean, nullable=False, server_default=sa.false()),
    # Who runs a running job (one claim of one instance), and until when unless it renews.
    sa.Column("claimed_by", Text),
    sa.Column("lease_until", Epoch),
    # A held job (state ``held``): why (``app.outcomes.HoldReason``; ``last_error`` says it in words),
    # and since when it waits, kept while it is tried again and held again.
    sa.Column("held_reason", Text),
    sa.Column("held_since", Epoch),
    sa.Index("jobs_due", "state", "next_attempt_at"),
)

decisions = sa.Table(
    "decisions",
    metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("row_key", Text, nullable=False),
    sa.Column("source", Text, nullable=False, server_default="facegate"),
    sa.Column("table_id", Text, nullable=False),
    sa.Column("row_id", sa.BigInteger, nullable=False),
    sa.Column("politician", Text),
    sa.Column("decision", Text, nullable=False),
    sa.Column("reason", Text, nullable=False),
    sa.Column("detail", Text),
    sa.Column("distances_json", Text, nullable=False),
    sa.Column("action", Text),
    sa.Column("decided_at", Epoch, nullable=False),
    sa.Column("acted_at", Epoch),
    # facegate's decision read back from the row's stamp in NocoDB (a rebuilt log), not made here.
    sa.Column("restored", sa.Boolean, nullable=False, server_default=sa.false()),
    # facegate's line of the note it writes for moderators (``app.moderation.notes``).
    sa.Column("note", Text),
    sa.Index("decisions_row", "table_id", "row_id"),
)
# facegate decides an upload once; the log keeps a moderator's latest decision of each kind.
sa.Index(
    "decisions_once",
    decisions.c.row_key,
    decisions.c.source,
    # In parentheses: PostgreSQL wants them around an expression in an index.
    sa.text("(CASE WHEN source = 'facegate' THEN '' ELSE decision END)"),
    unique=True,
)

approvals = sa.Table(
    "approvals",
    metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("row_key", Text, nullable=False, unique=True),
    sa.Column("table_id", Text, nullable=False),
    sa.Column("row_id", sa.BigInteger, nullable=False),
    sa.Column("politician", Text, nullable=False),
    sa.Column("attachments_json", Text, nullable=False),
    sa.Column("approved_at", Epoch, nullable=False),
    sa.Column("removed_at", Epoch),
    sa.Index("approvals_live", "removed_at", "politician", "id"),
)

# The JPEGs the carousel serves, made once at approval: in the database, so that every instance
# serves the same bytes and a withdrawal removes them in the same transaction as the approval.
renditions = sa.Table(
    "renditions",
    metadata,
    sa.Column("approval_id", sa.BigInteger, primary_key=True),
    sa.Column("rendition", Text, primary_key=True),
    sa.Column("jpeg", sa.LargeBinary, nullable=False),
)

purges = sa.Table(
    "purges",
    metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("row_key", Text, nullable=False, unique=True),
    sa.Column("table_id", Text, nullable=False),
    sa.Column("row_id", sa.BigInteger, nullable=False),
    sa.Column("trigger", Text, nullable=False),
    sa.Column("state", Text, nullable=False),
    sa.Column("locations_json", Text, nullable=False),
    sa.Column("files", sa.Integer, nullable=False, server_default="0"),
    sa.Column("bytes", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("detail", Text),
    sa.Column("created_at", Epoch, nullable=False),
    sa.Column("updated_at", Epoch, nullable=False),
    sa.Index("purges_state", "state", "id"),
)

# Which upload each stored file is the own of, as facegate proved it before moderating the upload
# (``app.erasure.provenance``): a digest of the location, never the location (it holds a file name).
file_claims = sa.Table(
    "file_claims",
    metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("digest", Text, nullable=False),
    sa.Column("row_key", Text, nullable=False),
    sa.Column("table_id", Text, nullable=False),
    sa.Column("row_id", sa.BigInteger, nullable=False),
    sa.Column("source", Text, nullable=False),
    sa.Column("claimed_at", Epoch, nullable=False),
    sa.Index("file_claims_once", "digest", "row_key", unique=True),
    sa.Index("file_claims_row", "row_key"),
)
# A public-form upload has one owner: a second claimant's insert conflicts, on any instance.
_FORM = file_claims.c.source == "form"
sa.Index(
    "file_claims_form_owner", file_claims.c.digest, unique=True, sqlite_where=_FORM, postgresql_where=_FORM
)


# The operator's word that facegate may decide a table's backlog: the rows created at or before
# ``before`` (epoch seconds), which were in the table when bootstrap attached facegate to it.
backlog_confirmations = sa.Table(
    "backlog_confirmations",
    metadata,
    sa.Column("table_id", Text, primary_key=True),
    sa.Column("before", Epoch, primary_key=True),
    sa.Column("confirmed_at", Epoch, nullable=False),
)


# Each table's backlog cut-off as the settings last gave it (the latest, if they ever gave two), so
# that an instance started without ``FACEGATE_BACKLOG_BEFORE`` still holds the backlog.
backlog_cutoffs = sa.Table(
    "backlog_cutoffs",
    metadata,
    sa.Column("table_id", Text, primary_key=True),
    sa.Column("before", Epoch, nullable=False),
    sa.Column("recorded_at", Epoch, nullable=False),
)


def row_keyed() -> list[sa.Table]:
    """The tables whose records belong to one upload through a ``row_key`` column."""
    return [t for t in metadata.sorted_tables if "row_key" in t.c]
