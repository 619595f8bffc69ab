"""The schema before several instances: jobs, decisions, approvals, purges.

Files written before migrations existed have these tables already; two of their shapes are upgraded
here: jobs without ``row_gone`` and the decision log of one decision per upload.
"""

import sqlalchemy as sa
from alembic import op

from app.tables import Epoch, Id

revision = "0001"
down_revision = None

DECISION_COLUMNS = (
    "id, row_key, table_id, row_id, politician, decision, reason, detail, distances_json, action,"
    " decided_at, acted_at"
)


def upgrade() -> None:
    existing = set(sa.inspect(op.get_bind()).get_table_names())
    if "jobs" not in existing:
        _jobs()
    elif "row_gone" not in {c["name"] for c in sa.inspect(op.get_bind()).get_columns("jobs")}:
        op.add_column("jobs", sa.Column("row_gone", sa.Boolean, nullable=False, server_default=sa.false()))
    if "decisions" not in existing:
        _decisions()
    elif _one_decision_per_upload():
        op.execute("DROP INDEX IF EXISTS decisions_row")
        op.rename_table("decisions", "decisions_before_sources")
        _decisions()
        copied = f"SELECT {DECISION_COLUMNS} FROM decisions_before_sources"
        op.execute(f"INSERT INTO decisions ({DECISION_COLUMNS}) {copied}")
        op.drop_table("decisions_before_sources")
    if "approvals" not in existing:
        _approvals()
    if "purges" not in existing:
        _purges()


def _one_decision_per_upload() -> bool:
    """A SQLite file of the first version: ``row_key`` unique in the decision log."""
    sql = (
        op.get_bind()
        .exec_driver_sql("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'decisions'")
        .scalar()
    )
    return "row_key TEXT NOT NULL UNIQUE" in (sql or "")


def _jobs() -> None:
    op.create_table(
        "jobs",
        sa.Column("id", Id, primary_key=True),
        sa.Column("row_key", sa.Text, nullable=False, unique=True),
        sa.Column("table_id", sa.Text, nullable=False),
        sa.Column("row_id", sa.BigInteger, nullable=False),
        sa.Column("row_json", sa.Text, nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("state", sa.Text, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_attempt_at", Epoch, nullable=False),
        sa.Column("last_error", sa.Text),
        sa.Column("created_at", Epoch, nullable=False),
        sa.Column("updated_at", Epoch, nullable=False),
        sa.Column("row_gone", sa.Boolean, nullable=False, server_default=sa.false()),
    )
    op.create_index("jobs_due", "jobs", ["state", "next_attempt_at"])


def _decisions() -> None:
    op.create_table(
        "decisions",
        sa.Column("id", Id, primary_key=True),
        sa.Column("row_key", sa.Text, nullable=False),
        sa.Column("source", sa.Text, nullable=False, server_default="facegate"),
        sa.Column("table_id", sa.Text, nullable=False),
        sa.Column("row_id", sa.BigInteger, nullable=False),
        sa.Column("politician", sa.Text),
        sa.Column("decision", sa.Text, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("detail", sa.Text),
        sa.Column("distances_json", sa.Text, nullable=False),
        sa.Column("action", sa.Text),
        sa.Column("decided_at", Epoch, nullable=False),
        sa.Column("acted_at", Epoch),
    )
    op.create_index("decisions_row", "decisions", ["table_id", "row_id"])
    op.create_index(
        "decisions_once",
        "decisions",
        ["row_key", "source", sa.text("(CASE WHEN source = 'facegate' THEN '' ELSE decision END)")],
        unique=True,
    )


def _approvals() -> None:
    op.create_table(
        "approvals",
        sa.Column("id", Id, primary_key=True),
        sa.Column("row_key", sa.Text, nullable=False, unique=True),
        sa.Column("table_id", sa.Text, nullable=False),
        sa.Column("row_id", sa.BigInteger, nullable=False),
        sa.Column("politician", sa.Text, nullable=False),
        sa.Column("attachments_json", sa.Text, nullable=False),
        sa.Column("approved_at", Epoch, nullable=False),
        sa.Column("removed_at", Epoch),
    )
    op.create_index("approvals_live", "approvals", ["removed_at", "politician", "id"])


def _purges() -> None:
    op.create_table(
        "purges",
        sa.Column("id", Id, primary_key=True),
        sa.Column("row_key", sa.Text, nullable=False, unique=True),
        sa.Column("table_id", sa.Text, nullable=False),
        sa.Column("row_id", sa.BigInteger, nullable=False),
        sa.Column("trigger", sa.Text, nullable=False),
        sa.Column("state", sa.Text, nullable=False),
        sa.Column("locations_json", sa.Text, nullable=False),
        sa.Column("files", sa.Integer, nullable=False, server_default="0"),
        sa.Column("bytes", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("detail", sa.Text),
        sa.Column("created_at", Epoch, nullable=False),
        sa.Column("updated_at", Epoch, nullable=False),
    )
    op.create_index("purges_state", "purges", ["state", "id"])
