"""Builds the moderation loop from settings and runs its tasks for the app's lifetime."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import httpx

from app.carousel.service import Carousel, Renditions
from app.config import Settings
from app.faces.intake import Limits
from app.faces.service import FaceService
from app.integrations.nocodb.client import NocoDBClient
from app.moderation.rows import FieldNames
from app.moderation.service import ModerationService
from app.moderation.store import Store
from app.moderation.worker import QueueRunner, Sweeper

log = logging.getLogger(__name__)

SHUTDOWN_GRACE_SECONDS = 20.0
STORE_FILE = "facegate.db"
LOCK_FILE = "facegate.lock"


def _lock_data_dir(data_dir: Path) -> IO[bytes]:
    """One facegate process per data folder: two would hand each other's running jobs back."""
    data_dir.mkdir(parents=True, exist_ok=True)
    handle = (data_dir / LOCK_FILE).open("wb")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise RuntimeError(
            f"{data_dir} is used by another facegate process; give each its own FACEGATE_DATA_DIR"
        ) from None
    return handle


RENDITIONS_DIR = "renditions"
PRUNE_INTERVAL_SECONDS = 86400.0


@dataclass
class Moderation:
    store: Store
    fields: FieldNames
    table_id: str | None
    carousel: Carousel
    lock: IO[bytes]
    nocodb: NocoDBClient | None = None
    runner: QueueRunner | None = None
    sweeper: Sweeper | None = None
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    @classmethod
    def build(
        cls,
        settings: Settings,
        faces: FaceService,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> Moderation:
        fields = FieldNames(
            image=settings.nocodb_image_field,
            politician=settings.nocodb_politician_field,
            status=settings.nocodb_status_field,
        )
        lock = _lock_data_dir(settings.data_dir)
        store = Store(settings.data_dir / STORE_FILE)
        renditions = Renditions(settings.data_dir / RENDITIONS_DIR)
        limits = Limits(settings.max_upload_bytes, settings.max_image_pixels, settings.encode_max_side)
        carousel = Carousel(store=store, nocodb=None, renditions=renditions, limits=limits)
        moderation = cls(
            store=store, fields=fields, table_id=settings.nocodb_table_id, carousel=carousel, lock=lock
        )
        if not (settings.nocodb_url and settings.nocodb_table_id):
            log.warning(
                "FACEGATE_NOCODB_URL or FACEGATE_NOCODB_TABLE_ID unset: webhooks are queued, not decided"
            )
            return moderation
        token = settings.nocodb_api_token.get_secret_value() if settings.nocodb_api_token else None
        nocodb = NocoDBClient(
            base_url=settings.nocodb_url,
            api_token=token,
            allowed_origins=settings.attachment_allowed_origins,
            transport=transport,
        )
        service = ModerationService(
            store=moderation.store,
            faces=faces,
            nocodb=nocodb,
            fields=fields,
            action=settings.action,
            max_download_bytes=settings.max_upload_bytes,
        )
        runner = QueueRunner(store=moderation.store, moderation=service, concurrency=settings.workers)
        moderation.nocodb = nocodb
        moderation.runner = runner
        carousel.nocodb = nocodb
        moderation.sweeper = Sweeper(
            store=store,
            nocodb=nocodb,
            table_id=settings.nocodb_table_id,
            fields=fields,
            runner=runner,
            on_approvals_removed=renditions.discard,
        )
        return moderation

    async def prune_forever(self, retention_days: float) -> None:
        """Apply the retention period now and then daily."""
        while True:
            cutoff = time.time() - retention_days * 86400
            try:
                pruned = await asyncio.to_thread(self.store.prune, cutoff)
                if any(pruned.values()):
                    log.info("retention: deleted %s older than %g days", pruned, retention_days)
            except Exception:
                log.exception("retention pruning failed; tried again tomorrow")
            await asyncio.sleep(PRUNE_INTERVAL_SECONDS)

    def start(self, sweep_interval: float, retention_days: float) -> None:
        self.tasks.append(asyncio.create_task(self.prune_forever(retention_days), name="retention"))
        if self.runner is not None:
            self.tasks.append(asyncio.create_task(self.runner.run(), name="queue-runner"))
        if self.sweeper is not None:
            self.tasks.append(asyncio.create_task(self.sweeper.run(sweep_interval), name="sweeper"))

    def wake(self) -> None:
        if self.runner is not None:
            self.runner.wake.set()

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.stop(SHUTDOWN_GRACE_SECONDS)
        for task in self.tasks:
            task.cancel()
        for task in self.tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self.nocodb is not None:
            await self.nocodb.aclose()
        self.store.close()
        self.lock.close()  # releases the data folder for the next process
