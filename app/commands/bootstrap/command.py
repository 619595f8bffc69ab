"""``facegate bootstrap``: set up NocoDB for facegate (a table of its own, or the campaign's existing
one) and write the settings facegate needs into the settings file.

The file is checked to be writable before NocoDB is touched, read and written with python-dotenv
(``app.settings_file``), and its secrets are kept on a rerun: the webhook secret NocoDB sends is the
very value facegate reads, never a quoted copy of it.
"""

from __future__ import annotations

import logging
import secrets
from pathlib import Path

from app.commands.bootstrap.backlog import BACKLOG_SETTING, find_backlog
from app.commands.bootstrap.consent import CONSENT_SETTING, add_consent, check_consent
from app.commands.bootstrap.errors import BootstrapError
from app.commands.bootstrap.nocodb import BootstrapResult, attach, bootstrap
from app.config import FieldNames, RejectAction
from app.politicians.profiles import politician_names, read_politicians
from app.settings_file import check_writable, read_settings_file, write_settings_file

__all__ = ["TOKEN_SETTING", "run_bootstrap"]

log = logging.getLogger(__name__)

TOKEN_SETTING = "FACEGATE_NOCODB_API_TOKEN"  # noqa: S105 - the name of a setting, not a secret
SECRET_SETTING = "FACEGATE_WEBHOOK_SECRET"  # noqa: S105 - the name of a setting, not a secret
OPERATOR_KEY_SETTING = "FACEGATE_OPERATOR_API_KEY"
TABLE_SETTING = "FACEGATE_NOCODB_TABLE_ID"
FORM_URL_SETTING = "FACEGATE_FORM_URL"


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
    table_id: str | None = None,
    action: RejectAction = RejectAction.DELETE,
) -> BootstrapResult:
    """Bootstrap NocoDB (attach to ``table_id`` when given) and write the settings facegate needs
    into ``env_file``; idempotent. With ``fields.consent``, the consent checkbox is checked (attach)
    or made (own table). The first attach to a table records its backlog (``FACEGATE_BACKLOG_BEFORE``)."""
    check_writable(env_file)
    current = read_settings_file(env_file)
    fields = fields or FieldNames()
    names = politician_names(read_politicians(reference_dir))
    secret = current.get(SECRET_SETTING) or secrets.token_urlsafe(32)
    # Operator endpoints are closed without a key: a bootstrapped installation always has one.
    operator_key = current.get(OPERATOR_KEY_SETTING) or secrets.token_urlsafe(32)
    token = api_token or current.get(TOKEN_SETTING) or None
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
            politicians=names,
            fields=fields,
            action=action,
        )
    else:
        log.info("setting up base %r in NocoDB at %s", base_title, nocodb_url)
        result = await bootstrap(
            base_url=nocodb_url,
            email=email,
            password=password,
            facegate_url=facegate_url,
            webhook_secret=secret,
            politicians=names,
            api_token=token,
            base_title=base_title,
            fields=fields,
            action=action,
        )
        if fields.consent:
            await add_consent(
                nocodb_url, result.api_token, result.table_id, result.form_view_id, fields.consent
            )
    previous = current.get(TABLE_SETTING)
    if previous and previous != result.table_id:
        log.warning("%s named table %s; it now names table %s", env_file, previous, result.table_id)
    settings = {
        "FACEGATE_NOCODB_URL": nocodb_url,
        TOKEN_SETTING: result.api_token,
        TABLE_SETTING: result.table_id,
        "FACEGATE_NOCODB_IMAGE_FIELD": fields.image,
        "FACEGATE_NOCODB_POLITICIAN_FIELD": fields.politician,
        "FACEGATE_NOCODB_STATUS_FIELD": fields.status,
        SECRET_SETTING: secret,
        OPERATOR_KEY_SETTING: operator_key,
    }
    if result.form_url is not None:
        settings[FORM_URL_SETTING] = public_form_url(result.form_url, nocodb_url, public_nocodb_url)
    if fields.consent:
        settings[CONSENT_SETTING] = fields.consent
    if table_id is not None and previous != table_id:
        # The first attach to this table: what it holds now is the backlog (a rerun keeps it).
        backlog = await find_backlog(nocodb_url, result.api_token, table_id)
        settings[BACKLOG_SETTING] = backlog.setting()
    write_settings_file(env_file, settings)
    log.info("settings written to %s", env_file)
    return result


def public_form_url(form_url: str, nocodb_url: str, public_nocodb_url: str | None) -> str:
    """The form's address for the public, when NocoDB's public address differs from facegate's."""
    if not public_nocodb_url:
        return form_url
    return public_nocodb_url.rstrip("/") + form_url.removeprefix(nocodb_url.rstrip("/"))
