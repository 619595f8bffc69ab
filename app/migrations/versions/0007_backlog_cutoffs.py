"""Each table's backlog cut-off, kept in the database as well as in the settings
(``FACEGATE_BACKLOG_BEFORE``): an instance started without the setting, or a settings file written
again without it, must not decide the rows that were in the table when facegate was attached."""

import sqlalchemy as sa
from alembic import op

from app.tables import Epoch

revision = "0007"
down_revision = "0006"


def upgrade() -> None:
    op.create_table(
        "backlog_cutoffs",
        sa.Column("table_id", sa.Text, primary_key=True),
        sa.Column("before", Epoch, nullable=False),
        sa.Column("recorded_at", Epoch, nullable=False),
    )
