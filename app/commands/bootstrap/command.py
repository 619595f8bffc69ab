"""``facegate bootstrap``: set up NocoDB for facegate (a table of its own, or the campaign's existing
one) and write the settings facegate needs into the settings file.

The file is checked to be writable before NocoDB is touched, read and written with python-dotenv
(``app.settings_file``), and its secrets are kept on a rerun: the webhook secret NocoDB sends is the
very value facegate reads, never a quoted copy of it. A rerun changes only what it is told to: the
webhook's address and ``FORM_URL`` stay as they are unless given new ones, and every change, in
NocoDB or in the file, is one line of ``Changes``.
"""

from __future__ import annotations

import logging
import secrets
from pathlib import Path

from app.commands.bootstrap.backlog import BACKLOG_SETTING, find_backlog
from app.commands.bootstrap.changes import Changes
from app.commands.bootstrap.consent import CONSENT_SETTING, add_consent, check_consent
from app.commands.bootstrap.errors import BootstrapError
from app.commands.bootstrap.nocodb import BootstrapResult, KnownTable, attach, bootstrap, known_table
from app.config import FieldNames, RejectAction
from app.politicians.names import PoliticianNames
from app.politicians.profiles import politician_names, read_politicians
from app.settings_file import check_writable, read_settings_file, write_settings_file

__all__ = ["TOKEN_SETTING", "form_url_setting", "run_bootstrap"]

log = logging.getLogger(__name__)

TOKEN_SETTING = "FACEGATE_NOCODB_API_TOKEN"  # noqa: S105 - the name of a setting, not a secret
SECRET_SETTING = "FACEGATE_WEBHOOK_SECRET"  # noqa: S105 - the name of a setting, not a secret
OPERATOR_KEY_SETTING = "FACEGATE_OPERATOR_API_KEY"
STAMP_SECRET_SETTING = "FACEGATE_STAMP_SECRET"  # noqa: S105 - the name of a setting, not a secret
TABLE_SETTING = "FACEGATE_NOCODB_TABLE_ID"
FORM_URL_SETTING = "FACEGATE_FORM_URL"
PUBLIC_URL_SETTING = "FACEGATE_PUBLIC_URL"
SECRET_SETTINGS = frozenset({TOKEN_SETTING, SECRET_SETTING, OPERATOR_KEY_SETTING, STAMP_SECRET_SETTING})
# A shared form's link after NocoDB's address: ``{address}/#/nc/form/{uuid}``.
FORM_LINK = "/#/nc/form/"


async def run_bootstrap(
    *,
    nocodb_url: str,
    email: str | None,
    password: str | None,
    env_file: Path,
    reference_dir: Path,
    facegate_url: str | None = None,
    public_nocodb_url: str | None = None,
    api_token: str | None = None,
    base_title: str = "facegate",
    fields: FieldNames | None = None,
    table_id: str | None = None,
    action: RejectAction = RejectAction.DELETE,
    add_options: bool = False,
    public_url: str | None = None,
    carousel_url: str | None = None,
    review_view: bool = False,
    form_messages: bool = False,
    changes: Changes | None = None,
) -> BootstrapResult:
    """Bootstrap NocoDB (attach to ``table_id`` when given, or to the table the settings file names
    when facegate was attached to it) and write the settings facegate needs into ``env_file``;
    idempotent. What it changes goes to ``changes``, one line each.

    ``facegate_url`` and ``public_nocodb_url`` None keep what the webhook and ``FORM_URL`` have. With
    ``fields.consent``, the consent checkbox is checked (attach) or made (own table). The first attach
    to a table records its backlog (``FACEGATE_BACKLOG_BEFORE``).

    ``public_url`` is facegate's address for browsers (``PUBLIC_URL``); None keeps the setting, else
    takes ``facegate_url``. The forms' success message names ``carousel_url``, by default the carousel
    at ``public_url``. Attaching, the review view and the forms' messages are set only with
    ``review_view`` and ``form_messages`` (facegate's own table always has its view)."""
    changes = changes or Changes()
    check_writable(env_file)
    current = read_settings_file(env_file)
    fields = fields or FieldNames()
    secret = current.get(SECRET_SETTING) or secrets.token_urlsafe(32)
    # Operator endpoints are closed without a key: a bootstrapped installation always has one.
    operator_key = current.get(OPERATOR_KEY_SETTING) or secrets.token_urlsafe(32)
    # Signs the stamps NocoDB keeps of facegate's decisions: kept on a rerun, or every stamp is void.
    stamp_secret = current.get(STAMP_SECRET_SETTING) or secrets.token_urlsafe(32)
    token = api_token or current.get(TOKEN_SETTING) or None
    # The note's links and the carousel's address; NocoDB's webhook address is the first guess.
    public_url = public_url or current.get(PUBLIC_URL_SETTING) or facegate_url
    carousel_url = carousel_url or (public_url.rstrip("/") + "/" if public_url else None)
    known = current.get(TABLE_SETTING)
    if table_id is None and token is not None and known:
        match await known_table(base_url=nocodb_url, api_token=token, table_id=known, base_title=base_title):
            case KnownTable.ATTACHED:
                log.warning("no --table-id: attaching again to table %s, the settings file's", known)
                table_id = known
            case KnownTable.REFUSED if api_token is None and email and password:
                log.warning("NocoDB refuses the settings file's API token (was NocoDB reset?): signing in")
                token = None
    if table_id is not None:
        if token is None:
            raise BootstrapError(
                f"attaching to a table needs an API token (NOCODB_API_TOKEN or {TOKEN_SETTING})"
            )
        log.info("attaching facegate to table %s in NocoDB at %s", table_id, nocodb_url)
        if fields.consent:  # before anything is changed: a refusal changes nothing
            await check_consent(nocodb_url, token, table_id, fields.consent)
        result = await attach(
            base_url=nocodb_url,
            api_token=token,
            table_id=table_id,
            facegate_url=facegate_url,
            webhook_secret=secret,
            politicians=_roster(reference_dir, missing_ok=True),
            fields=fields,
            action=action,
            add_options=add_options,
            review_view=review_view,
            form_messages=form_messages,
            carousel_url=carousel_url,
            changes=changes,
        )
    else:
        log.info("setting up base %r in NocoDB at %s", base_title, nocodb_url)
        result = await bootstrap(
            base_url=nocodb_url,
            email=email,
            password=password,
            facegate_url=facegate_url,
            webhook_secret=secret,
            politicians=_roster(reference_dir, missing_ok=False),
            api_token=token,
            base_title=base_title,
            fields=fields,
            action=action,
            carousel_url=carousel_url,
            form_messages=form_messages,
            changes=changes,
        )
        if fields.consent:
            await add_consent(
                nocodb_url, result.api_token, result.table_id, result.form_view_id, fields.consent
            )
    settings = {
        "FACEGATE_NOCODB_URL": nocodb_url,
        TOKEN_SETTING: result.api_token,
        TABLE_SETTING: result.table_id,
        "FACEGATE_NOCODB_IMAGE_FIELD": fields.image,
        "FACEGATE_NOCODB_POLITICIAN_FIELD": fields.politician,
        "FACEGATE_NOCODB_STATUS_FIELD": fields.status,
        "FACEGATE_NOCODB_STAMP_FIELD": fields.stamp,
        "FACEGATE_NOCODB_NOTE_FIELD": fields.note,
        SECRET_SETTING: secret,
        OPERATOR_KEY_SETTING: operator_key,
        STAMP_SECRET_SETTING: stamp_secret,
    }
    form_url = form_url_setting(result.form_url, nocodb_url, public_nocodb_url, current.get(FORM_URL_SETTING))
    if form_url is not None:
        settings[FORM_URL_SETTING] = form_url
    if public_url:
        settings[PUBLIC_URL_SETTING] = public_url
    if fields.consent:
        settings[CONSENT_SETTING] = fields.consent
    if table_id is not None and current.get(TABLE_SETTING) != table_id:
        # The first attach to this table: what it holds now is the backlog (a rerun keeps it).
        backlog = await find_backlog(nocodb_url, result.api_token, table_id)
        if backlog.rows or current.get(BACKLOG_SETTING):  # another table's backlog is no more
            settings[BACKLOG_SETTING] = backlog.setting()
    # Written whole each time (values quoted alike); only a value that differs is a change.
    write_settings_file(env_file, settings)
    for key, value in settings.items():
        if current.get(key) != value:
            changes.add(f"{env_file}: {_described(key, current.get(key), value)}")
    return result


def _roster(reference_dir: Path, *, missing_ok: bool) -> PoliticianNames:
    """The reference folder's politicians. Attaching needs none yet (the campaign's select has its
    own options), so a folder not made yet is an empty roster there."""
    if missing_ok and not reference_dir.exists():
        return PoliticianNames.of_slugs([])
    return politician_names(read_politicians(reference_dir))


def _described(key: str, before: str | None, after: str) -> str:
    """One settings change in words; a secret's value is never shown."""
    if key in SECRET_SETTINGS:
        return f"{key} {'replaced' if before else 'set'} (secret)"
    if before is None:
        return f"{key} set to {after}"
    return f"{key} changed from {before} to {after}"


def form_url_setting(
    form_url: str | None, nocodb_url: str, public_nocodb_url: str | None, current: str | None
) -> str | None:
    """``FORM_URL`` for the table's public form (``form_url``, on NocoDB's address for facegate);
    None leaves the setting as it is.

    Given ``public_nocodb_url``, the form on that address. Without it, what the setting has is kept:
    its public address with this form's link, or the operator's own page as it is. Only a first run
    without either uses NocoDB's address for facegate.
    """
    if form_url is None:
        return None
    link = form_url.removeprefix(nocodb_url.rstrip("/"))
    if public_nocodb_url:
        return public_nocodb_url.rstrip("/") + link
    if current:
        address, found, _ = current.partition(FORM_LINK)
        return address + link if found else current
    return form_url
