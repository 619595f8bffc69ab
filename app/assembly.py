"""The composition root: every long-lived object of the app is built here, once, from the settings,
and closed here in reverse order.

The data flow it wires: webhook (``moderation.webhook``) -> queue (``moderation.queue``) -> runner
(``moderation.runner``) -> download (``moderation.download``) -> intake, face engine, matcher and
verdict (``faces``) -> NocoDB write (``moderation.act``) -> decision log (``moderation.decisions``) ->
the upload's lifecycle (``moderation.lifecycle``): carousel (``carousel``) and erasure (``erasure``).
Without NocoDB settings, webhooks are queued and decided once NocoDB is configured and facegate
restarted.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import shutil
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from app.carousel.service import Carousel
from app.carousel.store import ApprovalStore
from app.config import RejectAction, Settings
from app.db import Database
from app.erasure.claims import ClaimLog
from app.erasure.files import StoredFiles
from app.erasure.local import LocalUploads
from app.erasure.probe import StorageProbe
from app.erasure.provenance import Provenance
from app.erasure.s3 import S3Uploads
from app.erasure.service import Eraser
from app.erasure.store import PurgeLog
from app.errors import NotReady, ReferenceSetError, ServiceError
from app.faces.engine import EngineConfig
from app.faces.intake import Limits
from app.faces.pool import FacePool
from app.faces.renditions import Renditions
from app.faces.verdict import ExplicitGate
from app.integrations.nocodb.client import NocoDBClient
from app.integrations.nocodb.meta import NocoDBMetaClient
from app.metrics import exposition
from app.moderation.act import NocoDBWriter
from app.moderation.backlog import Backlog, BacklogStore
from app.moderation.decide import RowDecider
from app.moderation.decisions import DecisionLog
from app.moderation.download import Downloader
from app.moderation.lifecycle import UploadLifecycle
from app.moderation.links import ReviewLinks
from app.moderation.options import PoliticianColumn
from app.moderation.queue import JobQueue
from app.moderation.restore import StampRestorer
from app.moderation.review_page import ReviewPage
from app.moderation.runner import QueueRunner
from app.moderation.service import ModerationService
from app.moderation.stamps import StampKey
from app.moderation.sweep import Sweeper
from app.moderation.webhook import WebhookReceiver
from app.outcomes import HoldReason
from app.politicians.references import EncodingCache, ReferenceSet
from app.readiness import Check, ReadinessMonitor, check_nocodb
from app.verification import FaceService

__all__ = ["Runtime", "assemble"]

log = logging.getLogger(__name__)

SHUTDOWN_GRACE_SECONDS = 20.0
# Pending purges (storage or NocoDB unreachable) are tried again this often; new ones at once.
PURGE_RETRY_SECONDS = 300.0
PRUNE_INTERVAL_SECONDS = 86400.0
LOCK_FILE = "facegate.lock"
# Where versions before the database kept the renditions: removed at start (they are in the database
# now, or made again from NocoDB's copy on request).
LEGACY_RENDITIONS_DIR = "renditions"
# Background tasks that run until shutdown; the sweep may end by design when its interval is 0.
LIFETIME_TASKS = frozenset({"queue-runner", "retention", "eraser", "readiness", "inserts"})
# What a reload of the politicians, or a restart, may fix: rows held for any reason but the backlog
# (only the operator's confirmation releases those).
FIXED_BY_RELOAD = [reason for reason in HoldReason if reason is not HoldReason.BACKLOG]


Prunable = JobQueue | DecisionLog | ApprovalStore


@dataclass(frozen=True)
class Runtime:
    """What the routes use: the services, and the background tasks that must keep running."""

    faces: FaceService
    queue: JobQueue
    decisions: DecisionLog
    purges: PurgeLog
    carousel: Carousel
    webhooks: WebhookReceiver
    readiness: ReadinessMonitor
    wake: asyncio.Event  # set when a job becomes due, so the runner does not wait for its poll
    tasks: Mapping[str, asyncio.Task[None]]
    # The reference page the notes link to; None without links or NocoDB (``review_page``).
    review: ReviewPage | None = None

    def check_ready(self) -> None:
        """Raise ``NotReady`` unless facegate can moderate: the references loaded and not empty,
        every lifetime task running, NocoDB's checks passing (``app.readiness``)."""
        references = self.faces.references
        for name, task in self.tasks.items():
            if name in LIFETIME_TASKS and task.done():
                raise NotReady(f"The {name} task is not running.")
        self.readiness.require(politicians=len(references.politicians))

    async def reload_politicians(self) -> ReferenceSet:
        """Re-read ``reference_faces/`` (on error the previous set stays in use); rows held for a
        politician missing, or for references not loaded, are then tried again."""
        references = await self.faces.reload()
        released = await asyncio.to_thread(self.queue.release_held, FIXED_BY_RELOAD)
        if released:
            log.info("politicians reloaded: %d held rows are tried again", released)
            self.wake.set()
        return references

    def metrics(self) -> bytes:
        return exposition(
            held_rows=self.queue.held_counts(),
            job_counts=self.queue.counts(),
            oldest_job_age=self.queue.oldest_queued_age(),
            jobs_waiting_long=self.queue.waiting_long(),
            pending_purges=self.purges.pending_count(),
            awaiting_review=self.decisions.awaiting_review(),
            approved_uploads=self.carousel.store.version().live,
        )


def build_face_service(settings: Settings, limits: Limits) -> FaceService:
    config = EngineConfig(
        detect_max_side=settings.detect_max_side,
        encode_max_side=settings.encode_max_side,
        min_detection_score=settings.min_detection_score,
        landmarks=settings.landmarks,
        explicit_gate=bool(settings.explicit_labels),
    )
    gate = ExplicitGate(
        labels=frozenset(settings.explicit_labels),
        min_score=settings.explicit_min_score,
        review_score=settings.explicit_review_score,
    )
    return FaceService(
        pool=FacePool(
            config=config, limits=limits, workers=settings.workers, timeout=settings.analysis_timeout_seconds
        ),
        reference_dir=settings.reference_dir,
        cache=EncodingCache(settings.reference_cache_dir, config.cache_key_fields()),
        default_tolerance=settings.tolerance,
        review_band=settings.review_band,
        gate=gate,
    )


@asynccontextmanager
async def assemble(
    settings: Settings, *, nocodb_transport: httpx.AsyncBaseTransport | None = None
) -> AsyncIterator[Runtime]:
    """Build, start, and at the end stop everything; ``nocodb_transport`` is for tests (a fake NocoDB).

    Shutdown runs in reverse: in-flight jobs get a grace period, then the tasks stop, then the NocoDB
    client, the database, the face processes and the data folder's lock are released.
    """
    async with contextlib.AsyncExitStack() as stack:
        if settings.database_url is None:
            stack.enter_context(_data_dir_lock(settings.data_dir))
        limits = _limits(settings)
        faces = build_face_service(settings, limits)
        stack.callback(faces.pool.close)
        db = Database(settings.database)
        stack.callback(db.close)
        shutil.rmtree(settings.data_dir / LEGACY_RENDITIONS_DIR, ignore_errors=True)
        queue = JobQueue(db, lease_seconds=settings.job_lease_seconds)
        nocodb = _nocodb_client(settings, nocodb_transport)
        if nocodb is not None:
            stack.push_async_callback(nocodb.aclose)
        meta = _meta_client(settings, nocodb_transport)
        if meta is not None:
            stack.push_async_callback(meta.aclose)
        decisions, approvals, purges, claims = DecisionLog(db), ApprovalStore(db), PurgeLog(db), ClaimLog(db)
        files = build_files(settings)
        probe = StorageProbe(nocodb, files) if nocodb is not None and files.configured else None
        readiness = _readiness(settings, meta, probe)
        eraser = build_eraser(settings, nocodb, purges, claims, files) if nocodb is not None else None
        carousel = Carousel(store=approvals, nocodb=nocodb, renditions=Renditions(limits))
        lifecycle = UploadLifecycle(
            queue=queue,
            carousel=carousel,
            eraser=eraser,
            decisions=decisions,
            nocodb=nocodb,
            fields=settings.fields,
        )
        wake, inserted = asyncio.Event(), asyncio.Event()
        tasks: dict[str, asyncio.Task[None]] = {}
        stack.push_async_callback(_cancel, tasks)
        retained: dict[str, Prunable] = {"decisions": decisions, "jobs": queue, "approvals": approvals}
        background = {"retention": _prune_forever(db, retained, settings.retention_days)}
        if nocodb is not None and meta is not None and eraser is not None and settings.nocodb_table_id:
            cutoffs = BacklogStore(db)
            before = cutoffs.cutoff(settings.nocodb_table_id, settings.backlog_before, record=True)
            backlog = Backlog(store=cutoffs, queue=queue, table_id=settings.nocodb_table_id, before=before)
            if not files.configured:
                log.warning(
                    "FACEGATE_NOCODB_UPLOADS_DIR and FACEGATE_S3_BUCKET unset: facegate cannot tell a row's"
                    " own upload from another file, so uploads with attachments are held undecided"
                )
            image = settings.fields.image
            provenance = Provenance(
                nocodb=nocodb,
                files=files,
                claims=claims,
                image_field=image,
                storage_problem=probe.problem if probe is not None else None,
            )
            runner = _queue_runner(
                settings,
                nocodb,
                meta,
                provenance=provenance,
                backlog=backlog,
                decisions=decisions,
                faces=faces,
                carousel=carousel,
                lifecycle=lifecycle,
                queue=queue,
                wake=wake,
            )
            stack.push_async_callback(runner.stop, SHUTDOWN_GRACE_SECONDS)
            sweeper = Sweeper(
                queue=queue,
                decisions=decisions,
                nocodb=nocodb,
                table_id=settings.nocodb_table_id,
                fields=settings.fields,
                carousel=carousel,
                lifecycle=lifecycle,
                wake=wake,
                backlog=backlog,
                links=review_links(settings),
            )
            background["queue-runner"] = runner.run()
            background["sweeper"] = sweeper.run(settings.sweep_interval_seconds)
            background["inserts"] = sweeper.follow_inserts(inserted)
            background["eraser"] = eraser.run(PURGE_RETRY_SECONDS)
            background["readiness"] = readiness.run()
        else:
            log.warning(
                "FACEGATE_NOCODB_URL or FACEGATE_NOCODB_TABLE_ID unset: webhooks are queued, not decided"
            )
        try:
            await faces.pool.warm_up()
            # On a broken reference folder /readyz reports the error; webhooks are still queued, and
            # decided once an operator fixes the folder and reloads.
            with contextlib.suppress(ReferenceSetError, ServiceError):
                await faces.reload()
            await readiness.refresh()  # /readyz tells the truth from the first request on
            # What held rows before this start (a politician missing, a column) may be fixed; the
            # backlog waits for the operator's confirmation, which the sweep looks for.
            await asyncio.to_thread(queue.release_held, FIXED_BY_RELOAD)
        except BaseException:
            for coroutine in background.values():
                coroutine.close()  # never started
            raise
        for name, coroutine in background.items():
            tasks[name] = asyncio.create_task(coroutine, name=name)
        yield Runtime(
            faces=faces,
            queue=queue,
            decisions=decisions,
            purges=purges,
            carousel=carousel,
            webhooks=WebhookReceiver(
                queue=queue,
                table_id=settings.nocodb_table_id,
                fields=settings.fields,
                wake=wake,
                inserted=inserted,
                lifecycle=lifecycle,
            ),
            readiness=readiness,
            wake=wake,
            tasks=tasks,
            review=review_page(settings, nocodb, decisions, faces),
        )


def _queue_runner(
    settings: Settings,
    nocodb: NocoDBClient,
    meta: NocoDBMetaClient,
    *,
    provenance: Provenance,
    backlog: Backlog,
    decisions: DecisionLog,
    faces: FaceService,
    carousel: Carousel,
    lifecycle: UploadLifecycle,
    queue: JobQueue,
    wake: asyncio.Event,
) -> QueueRunner:
    fields = settings.fields
    downloader = Downloader(nocodb=nocodb, fields=fields, max_bytes=settings.max_upload_bytes)
    stamps = stamp_key(settings)
    restorer = None
    if stamps is not None:
        restorer = StampRestorer(
            stamps=stamps, decisions=decisions, downloader=downloader, carousel=carousel, lifecycle=lifecycle
        )
    moderation = ModerationService(
        decisions=decisions,
        faces=faces,
        downloader=downloader,
        writer=NocoDBWriter(
            nocodb=nocodb,
            fields=fields,
            on_reject=settings.action,
            stamps=stamps,
            links=review_links(settings),
            clock=queue.db.clock,
        ),
        carousel=carousel,
        lifecycle=lifecycle,
        leases=queue,
        restorer=restorer,
        decider=build_decider(settings, faces, downloader, meta, provenance),
        backlog=backlog,
        grace_seconds=settings.moderator_grace_seconds,
    )
    return QueueRunner(queue=queue, moderation=moderation, concurrency=settings.concurrency, wake=wake)


def stamp_key(settings: Settings) -> StampKey | None:
    """The key of the stamps facegate writes into NocoDB; None (logged) without a stamp secret."""
    if settings.stamp_secret is None:
        log.warning(
            "FACEGATE_STAMP_SECRET unset: no stamps are written to NocoDB, so after a loss of facegate's"
            " database every row would be decided again and moderators' decisions overridden; run"
            " facegate bootstrap to set one (README: Backups and recovery)"
        )
        return None
    return StampKey(settings.stamp_secret.get_secret_value())


def review_links(settings: Settings) -> ReviewLinks | None:
    """The reference page's links, written into the notes; None (no links) without a stamp secret
    (their key is derived from it) or without ``FACEGATE_PUBLIC_URL``."""
    if settings.stamp_secret is None or settings.public_url is None:
        return None
    secret = settings.stamp_secret.get_secret_value()
    return ReviewLinks(secret, settings.public_url, settings.review_link_seconds)


def review_page(
    settings: Settings, nocodb: NocoDBClient | None, decisions: DecisionLog, faces: FaceService
) -> ReviewPage | None:
    """The reference page ``GET /review/{token}`` serves; None without links or NocoDB."""
    links = review_links(settings)
    if links is None or nocodb is None:
        return None
    downloader = Downloader(nocodb=nocodb, fields=settings.fields, max_bytes=settings.max_upload_bytes)
    return ReviewPage(
        links=links, decisions=decisions, downloader=downloader, faces=faces, limits=_limits(settings)
    )


def build_decider(
    settings: Settings,
    faces: FaceService,
    downloader: Downloader,
    meta: NocoDBMetaClient,
    provenance: Provenance,
) -> RowDecider:
    """The decision on a row (the queue runner's, and ``facegate backlog``'s preview)."""
    assert settings.nocodb_table_id is not None
    return RowDecider(
        faces=faces,
        downloader=downloader,
        politicians=PoliticianColumn(
            meta=meta, table_id=settings.nocodb_table_id, title=settings.nocodb_politician_field
        ),
        fields=settings.fields,
        max_images=settings.max_images_per_row,
        limits=_limits(settings),
        provenance=provenance,
    )


def _limits(settings: Settings) -> Limits:
    return Limits(settings.max_upload_bytes, settings.max_image_pixels, settings.encode_max_side)


def build_files(settings: Settings) -> StoredFiles:
    """NocoDB's storage as the settings name it: its uploads folder, its S3 bucket (either may be unset)."""
    s3 = None
    if settings.s3_bucket:
        s3 = S3Uploads(
            bucket=settings.s3_bucket,
            endpoint_url=settings.s3_endpoint_url,
            region=settings.s3_region,
            access_key_id=settings.s3_access_key_id,
            secret_access_key=settings.s3_secret_access_key,
            force_path_style=settings.s3_force_path_style,
        )
    local = LocalUploads(settings.nocodb_uploads_dir) if settings.nocodb_uploads_dir else None
    return StoredFiles(local=local, s3=s3)


def build_eraser(
    settings: Settings,
    nocodb: NocoDBClient,
    purges: PurgeLog,
    claims: ClaimLog,
    files: StoredFiles | None = None,
) -> Eraser:
    """The eraser over the storages the settings name (the queue runner's, and ``facegate purge``'s)."""
    rows = Downloader(nocodb=nocodb, fields=settings.fields, max_bytes=settings.max_upload_bytes)
    return Eraser(
        purges=purges,
        claims=claims,
        files=files or build_files(settings),
        nocodb=nocodb,
        fields=settings.fields,
        present=rows.present,
        enabled=settings.action is RejectAction.DELETE,
    )


async def _cancel(tasks: dict[str, asyncio.Task[None]]) -> None:
    for task in tasks.values():
        task.cancel()
    for task in tasks.values():
        with contextlib.suppress(asyncio.CancelledError):
            await task


def _nocodb_client(settings: Settings, transport: httpx.AsyncBaseTransport | None) -> NocoDBClient | None:
    if not (settings.nocodb_url and settings.nocodb_table_id):
        return None
    token = settings.nocodb_api_token.get_secret_value() if settings.nocodb_api_token else None
    return NocoDBClient(
        base_url=settings.nocodb_url,
        api_token=token,
        allowed_origins=settings.attachment_allowed_origins,
        transport=transport,
    )


def _meta_client(settings: Settings, transport: httpx.AsyncBaseTransport | None) -> NocoDBMetaClient | None:
    """The meta client readiness asks about the table, and moderation reads the politician column's
    options with, on facegate's own token."""
    if not (settings.nocodb_url and settings.nocodb_table_id):
        return None
    meta = NocoDBMetaClient(base_url=settings.nocodb_url, transport=transport)
    if settings.nocodb_api_token is not None:
        meta.use_token(settings.nocodb_api_token.get_secret_value())
    return meta


def _readiness(
    settings: Settings, meta: NocoDBMetaClient | None, probe: StorageProbe | None
) -> ReadinessMonitor:
    if meta is None or not settings.nocodb_table_id:
        return ReadinessMonitor()
    stamps = settings.stamp_secret is not None
    table_id, fields = settings.nocodb_table_id, settings.fields

    async def check() -> list[Check]:
        checks = await check_nocodb(meta, table_id, fields, stamps=stamps)
        # Whatever the table's checks say (no upload is proved before the probe passes); without a
        # storage configured no upload is proved anyway (storage_not_configured holds them).
        if probe is not None:
            checks.append(await probe.check())
        return checks

    return ReadinessMonitor(check)


async def _prune_forever(db: Database, stores: Mapping[str, Prunable], retention_days: float) -> None:
    """Apply the retention period now and then daily."""
    while True:
        cutoff = time.time() - retention_days * 86400
        try:
            # Several instances may prune at once: a delete is the same whoever runs it.
            pruned = {name: await asyncio.to_thread(store.prune, cutoff) for name, store in stores.items()}
            if any(pruned.values()):
                await asyncio.to_thread(db.checkpoint)
            if any(pruned.values()):
                log.info("retention: deleted %s older than %g days", pruned, retention_days)
        except Exception:
            log.exception("retention pruning failed; tried again tomorrow")
        await asyncio.sleep(PRUNE_INTERVAL_SECONDS)


@contextmanager
def _data_dir_lock(data_dir: Path) -> Iterator[None]:
    """One facegate process per data folder: two would hand each other's running jobs back."""
    data_dir.mkdir(parents=True, exist_ok=True)
    with (data_dir / LOCK_FILE).open("wb") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RuntimeError(
                f"{data_dir} is used by another facegate process; give each its own FACEGATE_DATA_DIR"
            ) from None
        yield  # closing the file releases the lock for the next process
