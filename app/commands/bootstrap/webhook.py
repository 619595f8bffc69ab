"""facegate's one webhook on the table: NocoDB's v3 events, POSTed to facegate with its secret.

The address is the operator's to give (``--facegate-url``); without one, a rerun keeps the address the
installed webhook has (a compose service name, a public host), and only a first run uses facegate's
default local address.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Final

from app.commands.bootstrap.changes import Changes
from app.commands.serve import DEFAULT_HOST, DEFAULT_PORT
from app.integrations.nocodb.meta import NocoDBMetaClient

__all__ = ["DEFAULT_FACEGATE_URL", "HOOK_TITLE", "SECRET_HEADER", "ensure_hook", "hook_body", "webhook_url"]

logger = logging.getLogger(__name__)

HOOK_TITLE: Final = "facegate"
WEBHOOK_PATH: Final = "/webhooks/nocodb"
SECRET_HEADER: Final = "X-Facegate-Secret"  # noqa: S105 - a header name
# Without a body template NocoDB's v3 webhooks POST an empty body.
WEBHOOK_BODY_TEMPLATE: Final = "{{ json event }}"
# Inserts: new uploads. Updates: a changed attachment is a new upload, a moderator's Status a decision.
# Deletions: facegate erases the files of rows a moderator deletes.
HOOK_OPERATIONS: Final = ("insert", "update", "delete")
# Where a first run points the webhook when given no address: ``facegate serve``'s own default.
DEFAULT_FACEGATE_URL: Final = f"http://{DEFAULT_HOST}:{DEFAULT_PORT}"


def webhook_url(facegate_url: str) -> str:
    """facegate's webhook endpoint at ``facegate_url``."""
    return facegate_url.rstrip("/") + WEBHOOK_PATH


def hook_body(facegate_url: str, webhook_secret: str) -> dict[str, Any]:
    """The webhook facegate wants: every row event, to ``facegate_url``, with the secret header."""
    return _hook(webhook_url(facegate_url), webhook_secret)


def _hook(url: str, webhook_secret: str) -> dict[str, Any]:
    return {
        "title": HOOK_TITLE,
        "version": "v3",
        "event": "after",
        "operation": list(HOOK_OPERATIONS),
        "active": True,
        "notification": {
            "type": "URL",
            "payload": {
                "method": "POST",
                "path": url,
                "body": WEBHOOK_BODY_TEMPLATE,
                "headers": [{"name": SECRET_HEADER, "value": webhook_secret, "enabled": True}],
                "parameters": [],
            },
        },
    }


async def ensure_hook(
    meta: NocoDBMetaClient,
    table_id: str,
    *,
    facegate_url: str | None,
    webhook_secret: str,
    changes: Changes,
) -> str:
    """facegate's one webhook on the table: created, updated when it differs, and any second hook
    titled ``facegate`` (made by hand, or by an older run) removed, so no event is delivered twice.
    The table's other hooks are not touched. Without ``facegate_url`` an installed hook keeps its
    address."""
    ours = [hook for hook in await meta.hooks(table_id) if hook.get("title") == HOOK_TITLE]
    if not ours:
        url = webhook_url(facegate_url or DEFAULT_FACEGATE_URL)
        hook_id = await meta.create_hook(table_id, _hook(url, webhook_secret))
        default = "" if facegate_url else " (the default: give --facegate-url for another address)"
        changes.add(f"created webhook {HOOK_TITLE!r} to {url}{default}")
        return hook_id
    kept, *extra = ours
    for hook in extra:
        await meta.delete_hook(str(hook["id"]))
        changes.add(f"removed a second webhook titled {HOOK_TITLE!r} (id {hook['id']})")
    url = webhook_url(facegate_url) if facegate_url else _installed_url(kept)
    wanted = _hook(url, webhook_secret)
    differences = _differences(_hook_state(kept), _hook_state(wanted))
    if differences:
        await meta.update_hook(str(kept["id"]), wanted)
        changes.add(f"updated webhook {HOOK_TITLE!r}: {'; '.join(differences)}")
    else:
        logger.info("webhook %r is up to date (%s)", HOOK_TITLE, url)
    return str(kept["id"])


def _installed_url(hook: Mapping[str, Any]) -> str:
    """The address an installed hook posts to (the default when it has none)."""
    path = _hook_state(hook)["path"]
    return path if isinstance(path, str) and path else webhook_url(DEFAULT_FACEGATE_URL)


def _differences(installed: Mapping[str, Any], wanted: Mapping[str, Any]) -> list[str]:
    """What updating the installed hook changes, in words; never the secret itself."""
    said = []
    if installed["path"] != wanted["path"]:
        said.append(f"address {installed['path']} -> {wanted['path']}")
    if installed["headers"] != wanted["headers"]:
        said.append("secret header replaced")
    if _events_and_format(installed) != _events_and_format(wanted):
        said.append(f"events and format set to {', '.join(HOOK_OPERATIONS)} (v3, JSON body)")
    return said


def _events_and_format(state: Mapping[str, Any]) -> dict[str, Any]:
    """A hook's state but its address and headers."""
    return {key: value for key, value in state.items() if key not in {"path", "headers"}}


def _hook_state(hook: Mapping[str, Any]) -> dict[str, Any]:
    """The parts of a hook we own, normalised for comparison."""
    notification = hook.get("notification") or {}
    payload = notification.get("payload") or {}
    return {
        "version": hook.get("version"),
        "event": hook.get("event"),
        "operation": list(hook.get("operation") or []),
        "active": bool(hook.get("active")),
        "type": notification.get("type"),
        "method": payload.get("method"),
        "path": payload.get("path"),
        "body": payload.get("body"),
        "headers": [
            (h.get("name"), h.get("value"), bool(h.get("enabled"))) for h in payload.get("headers") or []
        ],
    }
