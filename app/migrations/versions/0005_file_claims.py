"""Which upload each stored file belongs to (``file_claims``), proved before an upload is moderated.

Uploads approved before this version were never proved: the files of a live approval are adopted when
they are public-form uploads (NocoDB's anonymous upload folder) that no other live approval names, so
that their erasure still follows the row. Anything else (an editor's file, a path two approvals name)
stays unclaimed, and is never erased by facegate.
"""

import hashlib
import json
import re
from urllib.parse import unquote

import sqlalchemy as sa
from alembic import op

from app.tables import Epoch, Id

revision = "0005"
down_revision = "0004"

# objectHash('anonymous'): the folder of every public-form upload (frozen here, as NocoDB 0.301 has it).
FORM_FOLDER = "60e65c63f9091a580cbaec91b037645612f9eb7e"
_FORM_PATH = re.compile(rf"^download/(\d{{4}}/\d{{2}}/\d{{2}}/{FORM_FOLDER}/[^/]+)$")
_FORM_URL = re.compile(rf"^https?://[^?#]+/nc/uploads/\d{{4}}/\d{{2}}/\d{{2}}/{FORM_FOLDER}/[^/?#]+$")


def upgrade() -> None:
    op.create_table(
        "file_claims",
        sa.Column("id", Id, primary_key=True),
        sa.Column("digest", sa.Text, nullable=False),
        sa.Column("row_key", sa.Text, nullable=False),
        sa.Column("table_id", sa.Text, nullable=False),
        sa.Column("row_id", sa.BigInteger, nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("claimed_at", Epoch, nullable=False),
    )
    op.create_index("file_claims_once", "file_claims", ["digest", "row_key"], unique=True)
    op.create_index("file_claims_row", "file_claims", ["row_key"])
    form = sa.text("source = 'form'")
    op.create_index(
        "file_claims_form_owner",
        "file_claims",
        ["digest"],
        unique=True,
        sqlite_where=form,
        postgresql_where=form,
    )
    _adopt_live_approvals()


def _adopt_live_approvals() -> None:
    bind = op.get_bind()
    live = bind.execute(
        sa.text(
            "SELECT row_key, table_id, row_id, attachments_json, approved_at FROM approvals"
            " WHERE removed_at IS NULL"
        )
    ).mappings()
    claims: dict[str, list[dict[str, object]]] = {}
    for approval in live:
        for location in _form_locations(approval["attachments_json"]):
            digest = hashlib.sha256(location.encode()).hexdigest()
            claim = {
                "digest": digest,
                "row_key": approval["row_key"],
                "table_id": approval["table_id"],
                "row_id": approval["row_id"],
                "claimed_at": approval["approved_at"],
            }
            if claim not in claims.setdefault(digest, []):
                claims[digest].append(claim)
    adopted = [found[0] for found in claims.values() if len(found) == 1]
    if adopted:
        bind.execute(
            sa.text(
                "INSERT INTO file_claims (digest, row_key, table_id, row_id, source, claimed_at)"
                " VALUES (:digest, :row_key, :table_id, :row_id, 'form', :claimed_at)"
            ),
            adopted,
        )


def _form_locations(attachments_json: str) -> set[str]:
    """The locations (as ``app.erasure.files.locate`` gives them) of the public-form uploads named."""
    found: set[str] = set()
    attachments = json.loads(attachments_json)
    for attachment in attachments if isinstance(attachments, list) else []:
        if not isinstance(attachment, dict):
            continue
        path, url = attachment.get("path"), attachment.get("url")
        if isinstance(path, str) and (match := _FORM_PATH.match(unquote(path))):
            found.add(match[1])
        elif path is None and isinstance(url, str) and _FORM_URL.match(url):
            found.add(url)
    return found
