from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from app.errors import NotReady, ReferenceSetError
from app.faces.service import FaceService
from app.politicians.references import EncodingCache


def test_not_ready_until_references_load_and_the_error_is_reported(tmp_path: Path) -> None:
    service = FaceService(
        pool=None,  # type: ignore[arg-type]  # the folder is refused before any image is analysed
        reference_dir=tmp_path / "missing",
        cache=EncodingCache(tmp_path / "cache", {}),
        default_tolerance=0.6,
    )
    with pytest.raises(ReferenceSetError):
        asyncio.run(service.reload())
    assert not service.ready
    with pytest.raises(NotReady) as info:
        _ = service.references
    assert "does not exist" in str(info.value.detail)
    assert info.value.status_code == 503
