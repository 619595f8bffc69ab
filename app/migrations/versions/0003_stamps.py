"""Decisions restored from the stamps facegate writes into NocoDB (a database rebuilt from NocoDB)."""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    op.add_column("decisions", sa.Column("restored", sa.Boolean, nullable=False, server_default=sa.false()))
