"""facegate's one webhook on the table: NocoDB's v3 events, POSTed to facegate with its secret."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Final

from app.integrations.nocodb.meta import NocoDBMetaClient

__all__ = ["HOOK_TITLE", "SECRET_HEADER", "ensure_hook", "hook_body"]

logger = logging.getLogger(__name__)

HOOK_TITLE: Final = "facegate"
WEBHOOK_PATH: Final = "/webhooks/nocodb"
SECRET_HEADER: Final = "X-Facegate-Secret"  # noqa: S105 - a header name
# Without a body template NocoDB's v3 webhooks POST an empty body.
WEBHOOK_BODY_TEMPLATE: Final = "{{ json event }}"
# Inserts: new uploads. Updates: a changed attachment is a new upload, a moderator's Status a decision.
# Deletions: facegate erases the files of rows a moderator deletes.
HOOK_OPERATIONS: Final = ("insert", "update", "delete")


def hook_body(facegate_url: str, webhook_secret: str) -> dict[str, Any]:
    """The webhook facegate wants: every row event, to ``facegate_url``, with the secret header."""
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
                "path": facegate_url.rstrip("/") + WEBHOOK_PATH,
                "body": WEBHOOK_BODY_TEMPLATE,
                "headers": [{"name": SECRET_HEADER, "value": webhook_secret, "enabled": True}],
                "parameters": [],
            },
        },
    }


async def ensure_hook(meta: NocoDBMetaClient, table_id: str, wanted: Mapping[str, Any]) -> str:
    """facegate's one webhook on the table: created, updated when it differs, and any second hook
    titled ``facegate`` (made by hand, or by an older run) removed, so no event is delivered twice.
    The table's other hooks are not touched."""
    ours = [hook for hook in await meta.hooks(table_id) if hook.get("title") == HOOK_TITLE]
    if not ours:
        logger.info("creating webhook %r", HOOK_TITLE)
        return await meta.create_hook(table_id, wanted)
    kept, *extra = ours
    for hook in extra:
        logger.info("removing a second webhook titled %r (id %s)", HOOK_TITLE, hook["id"])
        await meta.delete_hook(str(hook["id"]))
    if _hook_state(kept) != _hook_state(wanted):
        logger.info("updating webhook %r (URL, secret or events changed)", HOOK_TITLE)
        await meta.update_hook(str(kept["id"]), wanted)
    else:
        logger.info("webhook %r is up to date", HOOK_TITLE)
    return str(kept["id"])


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
