"""facegate's line of the note it writes into each row it keeps, for moderators."""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"


def upgrade() -> None:
    op.add_column("decisions", sa.Column("note", sa.Text))
