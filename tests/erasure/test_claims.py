"""The claims log: a form upload's first claimant owns it, the operator's files are shared, an upload's
claims go once its files are erased; live approvals of before the log are adopted."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command

from app.db import Database
from app.erasure.claims import ClaimLog, UploadSource, digest
from app.erasure.provenance import FORM_FOLDER, object_hash
from app.migrations import config
from tests.utils.stores import Stores, fresh_stores

FORM_FILE = f"2026/01/01/{FORM_FOLDER}/a_AbCdE.jpg"


def _claim(
    claims: ClaimLog, key: str, where: str = FORM_FILE, source: UploadSource = UploadSource.FORM
) -> str:
    return claims.claim(location=where, row_key=key, table_id="t1", row_id=1, source=source)


@pytest.mark.both_backends
def test_the_first_claimant_owns_a_file(stores: Stores) -> None:
    assert _claim(stores.claims, "k1") == "k1"
    assert _claim(stores.claims, "k2") == "k1"
    assert _claim(stores.claims, "k1") == "k1"  # again: nothing changes
    assert stores.claims.owned("k1", [FORM_FILE, "other"]) == {FORM_FILE: UploadSource.FORM}
    stores.claims.release("k1")
    assert stores.claims.owned("k1", [FORM_FILE]) == {}


@pytest.mark.both_backends
def test_claims_at_once_agree_on_one_owner(stores: Stores) -> None:
    with ThreadPoolExecutor(8) as pool:
        owners = set(pool.map(lambda n: _claim(stores.claims, f"k{n}"), range(16)))
    assert len(owners) == 1


def test_the_log_keeps_no_location(stores: Stores) -> None:
    _claim(stores.claims, "k1")
    (row,) = stores.db.rows(sa.text("SELECT * FROM file_claims"))
    assert FORM_FILE not in json.dumps([str(v) for v in row.values()]) and row["digest"] == digest(FORM_FILE)


def test_live_approvals_of_before_the_log_are_adopted(tmp_path: Path) -> None:
    # Only public-form uploads that one live approval names: never an editor's file, nor a shared one.
    path = tmp_path / "facegate.db"
    engine = sa.create_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        command.upgrade(config(conn), "0002")
        operator_file = f"2026/01/01/{object_hash('usop')}/logo_AbCdE.png"
        shared = f"2026/01/01/{FORM_FOLDER}/shared_AbCdE.jpg"
        approvals = [
            ("t1:1:a", [FORM_FILE], None),
            ("t1:2:b", [operator_file], None),
            ("t1:3:c", [shared], None),
            ("t1:4:d", [shared], None),
            ("t1:5:e", [f"2026/01/01/{FORM_FOLDER}/gone_AbCdE.jpg"], 2.0),  # withdrawn
        ]
        for n, (key, files, removed) in enumerate(approvals, start=1):
            cell = json.dumps([{"path": f"download/{f}", "id": f"at{n}"} for f in files])
            conn.execute(
                sa.text("INSERT INTO approvals VALUES (:n, :key, 't1', :n, 'obama', :cell, 1.0, :removed)"),
                {"n": n, "key": key, "cell": cell, "removed": removed},
            )
    engine.dispose()
    with fresh_stores(path) as stores:  # migrates to the newest version
        rows = stores.db.rows(sa.text("SELECT row_key, digest, source FROM file_claims"))
        assert [(r["row_key"], r["digest"], r["source"]) for r in rows] == [
            ("t1:1:a", digest(FORM_FILE), "form")
        ]
    Database(path).close()
