"""``facegate`` command line: ``facegate bootstrap`` sets up a NocoDB for facegate; ``facegate purge``
finishes the erasures that are still pending in facegate's purge log."""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
from pydantic import ValidationError

from app.assembly import STORE_FILE, build_eraser
from app.config import FieldNames, Settings
from app.db import Database
from app.erasure.service import Eraser
from app.erasure.store import PurgeLog, PurgeRecord, PurgeState
from app.faces.references import read_politicians
from app.integrations.nocodb.bootstrap import BootstrapError, BootstrapResult, bootstrap
from app.integrations.nocodb.client import NocoDBClient

PASSWORD_ENV = "NOCODB_ADMIN_PASSWORD"  # noqa: S105 - the name of a variable, not a secret
# The app's own name for the token; NOCODB_API_TOKEN is accepted too, as NocoDB's docs call it.
TOKEN_ENV = "FACEGATE_NOCODB_API_TOKEN"  # noqa: S105 - the name of a variable, not a secret
TOKEN_ENV_ALIAS = "NOCODB_API_TOKEN"  # noqa: S105 - the name of a variable, not a secret
# ``facegate purge`` exit codes.
PURGE_ALL_DONE = 0
PURGE_SOME_LEFT = 1  # still pending (or refused): see each line
PURGE_MISCONFIGURED = 2


def read_env_file(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            key, sep, value = line.partition("=")
            if sep and not line.lstrip().startswith("#"):
                values[key.strip()] = value.strip()
    return values


def write_env_file(path: Path, updates: dict[str, str]) -> None:
    """Set ``updates`` in a dotenv file, keeping its other lines; the file is private (0600)."""
    lines = path.read_text().splitlines() if path.exists() else []
    seen: set[str] = set()
    out = []
    for line in lines:
        key = line.partition("=")[0].strip()
        if key in updates and not line.lstrip().startswith("#"):
            out.append(f"{key}={updates[key]}")
            seen.add(key)
        else:
            out.append(line)
    out += [f"{key}={value}" for key, value in updates.items() if key not in seen]
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    path.write_text("\n".join(out) + "\n")


async def run_bootstrap(
    *,
    nocodb_url: str,
    email: str | None,
    password: str | None,
    facegate_url: str,
    env_file: Path,
    reference_dir: Path,
    public_nocodb_url: str | None = None,
    api_token: str | None = None,
    base_title: str = "facegate",
    fields: FieldNames | None = None,
) -> BootstrapResult:
    """Bootstrap NocoDB and write the settings facegate needs into ``env_file``; idempotent."""
    current = read_env_file(env_file)
    fields = fields or FieldNames()
    secret = current.get("FACEGATE_WEBHOOK_SECRET") or secrets.token_urlsafe(32)
    # Operator endpoints are open without a key: a bootstrapped installation always has one.
    operator_key = current.get("FACEGATE_OPERATOR_API_KEY") or secrets.token_urlsafe(32)
    result = await bootstrap(
        base_url=nocodb_url,
        email=email,
        password=password,
        facegate_url=facegate_url,
        webhook_secret=secret,
        politicians=[p.slug for p in read_politicians(reference_dir)],
        api_token=api_token or current.get(TOKEN_ENV) or None,
        base_title=base_title,
        fields=fields,
    )
    form_url = result.form_url
    if public_nocodb_url:
        form_url = public_nocodb_url.rstrip("/") + form_url.removeprefix(nocodb_url.rstrip("/"))
    write_env_file(
        env_file,
        {
            "FACEGATE_NOCODB_URL": nocodb_url,
            TOKEN_ENV: result.api_token,
            "FACEGATE_NOCODB_TABLE_ID": result.table_id,
            "FACEGATE_NOCODB_IMAGE_FIELD": fields.image,
            "FACEGATE_NOCODB_POLITICIAN_FIELD": fields.politician,
            "FACEGATE_NOCODB_STATUS_FIELD": fields.status,
            "FACEGATE_WEBHOOK_SECRET": secret,
            "FACEGATE_OPERATOR_API_KEY": operator_key,
            "FACEGATE_FORM_URL": form_url,
        },
    )
    return result


async def run_purge(
    settings: Settings, *, dry_run: bool = False, nocodb_transport: httpx.AsyncBaseTransport | None = None
) -> int:
    """Retry every pending purge with the service's eraser, printing one line each and a summary; the
    exit code. ``dry_run`` only lists them: no file, no NocoDB call, no change to the log.

    It does not take the service's data-folder lock, so it runs beside a running facegate: SQLite's
    WAL lets both write, and a retry is safe to repeat (a file already gone counts nothing, and whether
    a live row uses a file is asked each time); at worst a file both remove at the same instant is
    counted twice.
    """
    url, token, table_id = settings.nocodb_url, settings.nocodb_api_token, settings.nocodb_table_id
    if not (url and token and table_id):
        named = {"FACEGATE_NOCODB_URL": url, TOKEN_ENV: token, "FACEGATE_NOCODB_TABLE_ID": table_id}
        print(f"facegate purge: {', '.join(k for k, v in named.items() if not v)} not set", file=sys.stderr)
        return PURGE_MISCONFIGURED
    db_file = settings.data_dir / STORE_FILE
    if not db_file.is_file():  # never start an empty database: FACEGATE_DATA_DIR is not the service's
        print(f"facegate purge: no facegate database at {db_file} (FACEGATE_DATA_DIR)", file=sys.stderr)
        return PURGE_MISCONFIGURED
    db = Database(db_file)
    try:
        purges = PurgeLog(db)
        if dry_run:
            return _list_pending(purges)
        nocodb = NocoDBClient(
            base_url=url,
            api_token=token.get_secret_value(),
            allowed_origins=settings.attachment_allowed_origins,
            transport=nocodb_transport,
        )
        try:
            return await _retry_pending(build_eraser(settings, nocodb, purges))
        finally:
            await nocodb.aclose()
    finally:
        db.close()


def _pending(purges: PurgeLog) -> Iterator[PurgeRecord]:
    after_id = 0
    while batch := purges.pending(after_id=after_id):
        yield from batch
        after_id = batch[-1].id  # a retry that stays pending is not met again


def _list_pending(purges: PurgeLog) -> int:
    count = 0
    for record in _pending(purges):
        count += 1
        print(
            f"row {record.row_id}: would retry {len(record.locations)} location(s); pending: {record.detail}"
        )
    print(f"{count} pending purges would be retried (dry run: nothing changed)")
    return PURGE_SOME_LEFT if count else PURGE_ALL_DONE


async def _retry_pending(eraser: Eraser) -> int:
    outcomes = dict.fromkeys(PurgeState, 0)
    for pending in _pending(eraser.log):
        record = await eraser.retry(pending)
        outcomes[record.state] += 1
        reason = f": {record.detail}" if record.detail else ""
        print(f"row {record.row_id}: {record.state}, {record.files} files, {record.bytes} bytes{reason}")
    retried = sum(outcomes.values())
    print(
        f"{retried} pending purges retried: {outcomes[PurgeState.DONE]} done,"
        f" {outcomes[PurgeState.PENDING]} still pending, {outcomes[PurgeState.REFUSED]} refused"
    )
    return PURGE_ALL_DONE if outcomes[PurgeState.DONE] == retried else PURGE_SOME_LEFT


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="facegate")
    commands = parser.add_subparsers(dest="command", required=True)
    boot = commands.add_parser(
        "bootstrap", help="create the uploads table, public form and webhook in NocoDB"
    )
    boot.add_argument("--nocodb-url", required=True)
    boot.add_argument(
        "--email",
        help=f"NocoDB admin e-mail (password from ${PASSWORD_ENV}), or give an API token in ${TOKEN_ENV}"
        f" (or ${TOKEN_ENV_ALIAS}) instead",
    )
    boot.add_argument("--facegate-url", default="http://127.0.0.1:8000", help="where NocoDB reaches facegate")
    boot.add_argument("--env-file", type=Path, default=Path(".env"), help="settings file to write")
    boot.add_argument(
        "--public-nocodb-url", help="NocoDB's address for the public, when it differs from --nocodb-url"
    )
    purge = commands.add_parser(
        "purge", help="retry the erasures of deleted uploads' files that are still pending"
    )
    purge.add_argument("--dry-run", action="store_true", help="only list them; change nothing")
    args = parser.parse_args(argv)
    if args.command == "purge":
        try:
            settings = Settings()
        except ValidationError as exc:
            print(f"facegate purge: invalid settings: {exc}", file=sys.stderr)
            return PURGE_MISCONFIGURED
        return asyncio.run(run_purge(settings, dry_run=args.dry_run))

    password = os.environ.get(PASSWORD_ENV) or None
    token = os.environ.get(TOKEN_ENV) or os.environ.get(TOKEN_ENV_ALIAS) or None
    if not ((args.email and password) or token):
        parser.error(f"give --email and ${PASSWORD_ENV}, or an API token in ${TOKEN_ENV}")
    settings = Settings()
    try:
        result = asyncio.run(
            run_bootstrap(
                nocodb_url=args.nocodb_url,
                email=args.email or None,
                password=password,
                facegate_url=args.facegate_url,
                env_file=args.env_file,
                reference_dir=settings.reference_dir,
                public_nocodb_url=args.public_nocodb_url,
                api_token=token,
                fields=settings.fields,
            )
        )
    except BootstrapError as exc:
        print(f"facegate bootstrap: {exc}", file=sys.stderr)
        return 1
    print(f"table {result.table_id}; settings written to {args.env_file}")
    print(f"public upload form: {read_env_file(args.env_file)['FACEGATE_FORM_URL']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
