from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, UploadFile

from app.api.deps import OPERATOR_ERRORS, FaceServiceDep, OperatorDep, SettingsDep, VerifyRateDep
from app.api.verify_schemas import Verdict
from app.errors import ErrorResponse, PayloadTooLarge

router = APIRouter(tags=["verify"])

_ERRORS: dict[int | str, dict[str, object]] = {
    **OPERATOR_ERRORS,
    **{code: {"model": ErrorResponse} for code in (400, 404, 413, 415, 503)},
}


@router.post("/verify", dependencies=[OperatorDep, VerifyRateDep], responses=_ERRORS)
async def verify(
    faces: FaceServiceDep,
    settings: SettingsDep,
    image: Annotated[UploadFile, File(description="The picture to check.")],
    politician: Annotated[
        str | None,
        Form(
            max_length=200,
            description="The politician the picture should show: slug, display name or form label;"
            " empty to identify.",
        ),
    ] = None,
) -> Verdict:
    """Check one picture by hand: one face, and whether it is the named politician."""
    if image.size is not None and image.size > settings.max_upload_bytes:
        raise PayloadTooLarge(f"The file has {image.size} bytes; the limit is {settings.max_upload_bytes}.")
    data = await image.read(settings.max_upload_bytes + 1)
    return Verdict.of(await faces.verify_upload(data, (politician or "").strip() or None))
