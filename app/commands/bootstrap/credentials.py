"""The API token facegate will use: the operator's, checked, or one made with the admin's login.

Passwords, JWTs and tokens never appear in exceptions or logs.
"""

from __future__ import annotations

import logging
from typing import Final

from app.commands.bootstrap.changes import Changes
from app.commands.bootstrap.errors import BootstrapError
from app.integrations.nocodb.errors import NocoDBTokenRefused
from app.integrations.nocodb.meta import NocoDBMetaClient

__all__ = ["TOKEN_DESCRIPTION", "check_token", "usable_token"]

logger = logging.getLogger(__name__)

TOKEN_DESCRIPTION: Final = "facegate"  # noqa: S105 - a label, not a secret


async def usable_token(
    meta: NocoDBMetaClient, email: str | None, password: str | None, token: str | None, changes: Changes
) -> str:
    """The caller's ``token`` (checked), or one made with the admin's login; ``meta`` uses it after."""
    if token is not None and password is None:
        return await check_token(meta, token)
    if email and password:
        meta.use_session(await _sign_in(meta, email, password, changes))
        made = token if token is not None else await _ensure_api_token(meta, changes)
        return await check_token(meta, made)
    raise BootstrapError("NocoDB admin credentials (e-mail and password) or an API token are needed")


async def check_token(meta: NocoDBMetaClient, token: str) -> str:
    """``token``, once NocoDB has accepted it; ``meta`` calls with it from now on."""
    meta.use_token(token)
    try:
        await meta.bases()
    except NocoDBTokenRefused as exc:
        raise BootstrapError(
            f"NocoDB refuses the API token (HTTP {exc.status_code}): check NOCODB_API_TOKEN or"
            " FACEGATE_NOCODB_API_TOKEN",
            status=exc.status_code,
        ) from exc
    return token


async def _sign_in(meta: NocoDBMetaClient, email: str, password: str, changes: Changes) -> str:
    """Sign up when the instance has no user yet (the first user is super admin), else sign in."""
    if (await meta.info()).get("firstUser"):
        jwt = await meta.sign_up(email, password)
        changes.add(f"signed up {email} as NocoDB's admin (NocoDB had no user)")
        return jwt
    logger.info("signing in to NocoDB as %s", email)
    return await meta.sign_in(email, password)


async def _ensure_api_token(meta: NocoDBMetaClient, changes: Changes) -> str:
    """A token we made earlier (listed by description), else a new one.

    NocoDB 0.301.3 lists tokens with their values; should a later version mask them, we cannot reuse
    a listed token and create a new one, which is why callers should pass back ``api_token``.
    """
    for item in await meta.api_tokens():
        value = item.get("token")
        if item.get("description") == TOKEN_DESCRIPTION and _looks_usable(value):
            assert isinstance(value, str)
            return value
    token = await meta.create_api_token(TOKEN_DESCRIPTION)
    changes.add(f"created NocoDB API token {TOKEN_DESCRIPTION!r}")
    return token


def _looks_usable(value: object) -> bool:
    """A listed token value that is not masked (``****``) or missing."""
    return isinstance(value, str) and bool(value) and "*" not in value
