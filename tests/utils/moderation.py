"""Building the moderation pipeline for unit tests: real stores and faces, a fake NocoDB transport."""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from app.carousel.service import Carousel
from app.carousel.store import NewApproval
from app.config import FieldNames, RejectAction
from app.erasure.files import StoredFiles
from app.erasure.local import LocalUploads
from app.erasure.provenance import Provenance
from app.erasure.service import Eraser
from app.faces.intake import Limits
from app.faces.renditions import Renditions
from app.integrations.nocodb.client import NocoDBClient
from app.integrations.nocodb.meta import NocoDBMetaClient
from app.moderation.act import NocoDBWriter
from app.moderation.backlog import Backlog, BacklogStore
from app.moderation.decide import RowDecider
from app.moderation.download import Downloader
from app.moderation.lifecycle import UploadLifecycle
from app.moderation.links import ReviewLinks
from app.moderation.options import PoliticianColumn
from app.moderation.queue import Job, JobQueue
from app.moderation.restore import StampRestorer
from app.moderation.rows import new_job, parse_row
from app.moderation.service import ModerationService
from app.moderation.stamps import StampKey
from app.moderation.sweep import Sweeper
from app.outcomes import Action, Decision, Reason
from app.verification import FaceService
from harness.loop import FIELDS
from tests.utils.fake_nocodb import BASE, TABLE, FakeNocoDB, WrittenWithTheirRows
from tests.utils.stores import Stores

MAX_IMAGES = 4
MAX_DOWNLOAD_BYTES = 20_000_000
LIMITS = Limits(max_bytes=MAX_DOWNLOAD_BYTES, max_pixels=50_000_000, max_side=2048)


def nocodb_client(
    transport: httpx.AsyncBaseTransport, *, allowed_origins: tuple[str, ...] = ()
) -> NocoDBClient:
    return NocoDBClient(
        base_url=BASE, api_token="token", allowed_origins=allowed_origins, transport=transport
    )


def carousel(stores: Stores, nocodb: NocoDBClient | None) -> Carousel:
    return Carousel(store=stores.approvals, nocodb=nocodb, renditions=Renditions(LIMITS))


def lifecycle(stores: Stores, nocodb: NocoDBClient | None, eraser: Eraser | None = None) -> UploadLifecycle:
    """A carousel over ``stores`` and the lifecycle that publishes, withdraws and erases its uploads."""
    return UploadLifecycle(
        queue=stores.queue,
        carousel=carousel(stores, nocodb),
        eraser=eraser,
        decisions=stores.decisions,
        nocodb=nocodb,
        fields=FIELDS,
    )


def make_sweeper(
    fake: FakeNocoDB,
    stores: Stores,
    *,
    fields: FieldNames = FIELDS,
    backlog: Backlog | None = None,
    links: ReviewLinks | None = None,
) -> Sweeper:
    """The sweep as ``app.assembly`` builds it, over the fake NocoDB ``fake``."""
    nocodb = nocodb_client(httpx.MockTransport(fake.handler))
    uploads = lifecycle(stores, nocodb)
    return Sweeper(
        queue=stores.queue,
        decisions=stores.decisions,
        nocodb=nocodb,
        table_id=TABLE,
        fields=fields,
        carousel=uploads.carousel,
        lifecycle=uploads,
        wake=asyncio.Event(),
        backlog=backlog,
        links=links,
    )


def moderation_service(
    transport: httpx.AsyncBaseTransport,
    stores: Stores,
    faces: FaceService,
    *,
    on_reject: RejectAction = RejectAction.DELETE,
    allowed_origins: tuple[str, ...] = (),
    max_download_bytes: int = MAX_DOWNLOAD_BYTES,
    uploads_dir: Path | None = None,
    max_images: int = MAX_IMAGES,
    stamps: StampKey | None = None,
    fields: FieldNames = FIELDS,
    backlog_before: datetime | None = None,
    grace_seconds: float = 0.0,
    links: ReviewLinks | None = None,
) -> ModerationService:
    """The moderation service as ``app.assembly`` builds it, over a fake NocoDB; with ``stamps``, it
    writes them and restores decisions from them; ``links``: notes carry links to the reference page;
    ``grace_seconds``: a moderator's rejection waits that long; ``backlog_before``: the table's
    backlog, as bootstrap records it. Without ``uploads_dir`` its storage is not configured for
    erasure, and provenance takes every upload for written just before its row
    (``WrittenWithTheirRows``)."""
    nocodb = nocodb_client(transport, allowed_origins=allowed_origins)
    files = StoredFiles(local=LocalUploads(uploads_dir) if uploads_dir else None)
    eraser = eraser_over(stores, nocodb, files, enabled=on_reject is RejectAction.DELETE)
    uploads = lifecycle(stores, nocodb, eraser)
    provenance = Provenance(
        nocodb=nocodb,
        files=files if uploads_dir else WrittenWithTheirRows(),
        claims=stores.claims,
        image_field=fields.image,
    )
    downloader = Downloader(nocodb=nocodb, fields=fields, max_bytes=max_download_bytes)
    restorer = None
    if stamps is not None:
        restorer = StampRestorer(
            stamps=stamps,
            decisions=stores.decisions,
            downloader=downloader,
            carousel=uploads.carousel,
            lifecycle=uploads,
        )
    return ModerationService(
        decisions=stores.decisions,
        faces=faces,
        downloader=downloader,
        writer=NocoDBWriter(
            nocodb=nocodb,
            fields=fields,
            on_reject=on_reject,
            stamps=stamps,
            links=links,
            clock=stores.db.clock,
        ),
        carousel=uploads.carousel,
        lifecycle=uploads,
        leases=stores.queue,
        restorer=restorer,
        decider=decider(transport, faces, downloader, provenance, fields=fields, max_images=max_images),
        backlog=Backlog(
            store=BacklogStore(stores.db), queue=stores.queue, table_id=TABLE, before=backlog_before
        ),
        grace_seconds=grace_seconds,
    )


def decider(
    transport: httpx.AsyncBaseTransport,
    faces: FaceService,
    downloader: Downloader,
    provenance: Provenance,
    *,
    fields: FieldNames = FIELDS,
    max_images: int = MAX_IMAGES,
) -> RowDecider:
    """The decision on a row, its politician column's options read from the fake NocoDB."""
    meta = NocoDBMetaClient(base_url=BASE, transport=transport)
    meta.use_token("token")
    return RowDecider(
        faces=faces,
        downloader=downloader,
        politicians=PoliticianColumn(meta=meta, table_id=TABLE, title=fields.politician),
        fields=fields,
        max_images=max_images,
        limits=LIMITS,
        provenance=provenance,
    )


def eraser_over(stores: Stores, nocodb: NocoDBClient, files: StoredFiles, *, enabled: bool = True) -> Eraser:
    """The eraser as ``app.assembly`` builds it, over ``files``."""
    return Eraser(
        purges=stores.purges,
        claims=stores.claims,
        files=files,
        nocodb=nocodb,
        fields=FIELDS,
        present=Downloader(nocodb=nocodb, fields=FIELDS, max_bytes=MAX_DOWNLOAD_BYTES).present,
        enabled=enabled,
    )


def eraser_of(service: ModerationService) -> Eraser:
    """The eraser ``moderation_service`` gave the service's lifecycle."""
    assert service.lifecycle.eraser is not None
    return service.lifecycle.eraser


def queued_job(queue: JobQueue, row: dict[str, Any]) -> Job:
    """Queue one NocoDB row and claim it, as the runner would."""
    queue.enqueue([new_job(TABLE, parse_row(row, FIELDS))], source="test")
    (claimed,) = queue.claim(10)
    return claimed


def run(service: ModerationService, job: Job) -> Action:
    """Process one job, closing the service's NocoDB client afterwards."""

    async def main() -> Action:
        try:
            return await service.process(job)
        finally:
            await service.writer.nocodb.aclose()
            await service.decider.politicians.meta.aclose()

    return asyncio.run(main())


def approve(stores: Stores, job: Job, politician: str, attachments: list[dict[str, Any]]) -> int:
    """Record an approved decision for ``job`` and publish it, as moderation does; the approval id."""
    record = stores.decisions.record_decision(
        row_key=job.row_key,
        table_id=job.table_id,
        row_id=job.row_id,
        politician=politician,
        decision=Decision.APPROVED,
        reason=Reason.MATCH,
        detail=None,
        distances=[],
    )
    stores.approvals.add(NewApproval(job.row_key, job.table_id, job.row_id, politician, attachments))
    stores.decisions.record_action(record.id, Action.APPROVED)
    return stores.approvals.live_keys(job.table_id)[job.row_key]


def process_row(
    transport: httpx.AsyncBaseTransport,
    stores: Stores,
    faces: FaceService,
    row: dict[str, Any],
    **options: Any,
) -> Action:
    """Queue ``row``, claim it and process it with a fresh moderation service; the action taken."""
    return run(moderation_service(transport, stores, faces, **options), queued_job(stores.queue, row))
