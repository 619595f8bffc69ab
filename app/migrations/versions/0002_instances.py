"""Several instances: job leases, and the carousel's renditions in the database."""

import sqlalchemy as sa
from alembic import op

from app.tables import Epoch

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    op.add_column("jobs", sa.Column("claimed_by", sa.Text))
    op.add_column("jobs", sa.Column("lease_until", Epoch))
    op.create_table(
        "renditions",
        sa.Column("approval_id", sa.BigInteger, primary_key=True),
        sa.Column("rendition", sa.Text, primary_key=True),
        sa.Column("jpeg", sa.LargeBinary, nullable=False),
    )
