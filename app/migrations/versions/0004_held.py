"""Held jobs (why, since when) and the operator's confirmations of a table's backlog."""

import sqlalchemy as sa
from alembic import op

from app.tables import Epoch

revision = "0004"
down_revision = "0003"


def upgrade() -> None:
    op.add_column("jobs", sa.Column("held_reason", sa.Text))
    op.add_column("jobs", sa.Column("held_since", Epoch))
    op.create_table(
        "backlog_confirmations",
        sa.Column("table_id", sa.Text, primary_key=True),
        sa.Column("before", Epoch, primary_key=True),
        sa.Column("confirmed_at", Epoch, nullable=False),
    )
