from __future__ import annotations

import asyncio
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.errors import ReferenceSetError
from app.faces.pool import FacePool
from app.politicians.profiles import read_politicians
from app.politicians.references import EncodingCache, load_reference_set
from harness.images import ROOT, encode, open_sample, sample, side_by_side
from tests.utils.faces import CONFIG, LIMITS

PROFILE = 'name = "Jane Doe"\nrole = "Minister of Things"\ncountry = "Nowhere"\ndescription = "Test."\n'


@pytest.fixture(scope="module")
def pool() -> Iterator[FacePool]:
    pool = FacePool(config=CONFIG, limits=LIMITS, workers=1)
    yield pool
    pool.close()


def _politician(root: Path, slug: str, photos: dict[str, bytes], profile: str = PROFILE) -> Path:
    folder = root / slug
    folder.mkdir(parents=True)
    (folder / "profile.toml").write_text(profile)
    for name, data in photos.items():
        (folder / name).write_bytes(data)
    return folder


def _load(root: Path, cache: EncodingCache, pool: FacePool):  # type: ignore[no-untyped-def]
    return asyncio.run(load_reference_set(reference_dir=root, cache=cache, pool=pool))


def test_demo_folder_loads(tmp_path: Path, pool: FacePool) -> None:
    cache = EncodingCache(tmp_path / "cache", CONFIG.cache_key_fields())
    refs = _load(ROOT / "reference_faces", cache, pool)
    assert set(refs.politicians) == {"obama", "biden"}
    assert refs.matrix.count("obama") == 2 and refs.matrix.count("biden") == 1
    assert refs.politicians["obama"].profile.role


def test_restart_with_unchanged_photos_computes_nothing(
    tmp_path: Path, pool: FacePool, caplog: pytest.LogCaptureFixture
) -> None:
    root = tmp_path / "refs"
    _politician(root, "jane", {"a.jpg": sample("obama2.jpg")})
    cache = EncodingCache(tmp_path / "cache", CONFIG.cache_key_fields())
    first = _load(root, cache, pool)
    assert len(list((tmp_path / "cache").glob("*.npy"))) == 1

    class NoPool:
        async def find_faces(self, data: bytes) -> None:
            raise AssertionError("an unchanged photo was encoded again")

    second = _load(root, cache, NoPool())  # type: ignore[arg-type]
    assert (second.matrix.encodings == first.matrix.encodings).all()


def test_changed_model_parameters_miss_the_cache(tmp_path: Path) -> None:
    a = EncodingCache(tmp_path, CONFIG.cache_key_fields())
    b = EncodingCache(tmp_path, CONFIG.cache_key_fields() | {"detect_max_side": 512})
    assert a.key(b"photo") != b.key(b"photo")
    assert a.key(b"photo") != a.key(b"other photo")


def test_photo_without_face_is_an_error_naming_the_file(tmp_path: Path, pool: FacePool) -> None:
    root = tmp_path / "refs"
    _politician(root, "jane", {"good.jpg": sample("obama2.jpg"), "cat.png": sample("cat.png")})
    with pytest.raises(ReferenceSetError, match=r"jane/cat\.png: no face found"):
        _load(root, EncodingCache(tmp_path / "c", {}), pool)


def test_photo_with_two_faces_is_an_error_naming_the_file(tmp_path: Path, pool: FacePool) -> None:
    root = tmp_path / "refs"
    _politician(root, "jane", {"pair.jpg": side_by_side("obama2.jpg", "biden.jpg")})
    with pytest.raises(ReferenceSetError, match=r"jane/pair\.jpg: 2 faces found"):
        _load(root, EncodingCache(tmp_path / "c", {}), pool)


def test_unreadable_photo_is_an_error_naming_the_file(tmp_path: Path, pool: FacePool) -> None:
    root = tmp_path / "refs"
    _politician(root, "jane", {"broken.jpg": sample("obama2.jpg")[:5000]})
    with pytest.raises(ReferenceSetError, match=r"jane/broken\.jpg"):
        _load(root, EncodingCache(tmp_path / "c", {}), pool)


@pytest.mark.parametrize(
    ("profile", "message"),
    [
        ('name = "x"\n', "role"),
        ("not toml [", "profile.toml"),
        (PROFILE + "tolerance = 5\n", "tolerance"),
        (PROFILE + "review_band = -0.1\n", "review_band"),
        (PROFILE + 'unknown = "field"\n', "unknown"),
    ],
)
def test_bad_profile_is_an_error_naming_the_file(tmp_path: Path, profile: str, message: str) -> None:
    _politician(tmp_path, "jane", {"a.jpg": b"x"}, profile)
    with pytest.raises(ReferenceSetError, match=message) as info:
        read_politicians(tmp_path)
    assert "jane/profile.toml" in str(info.value)


def test_folder_without_photo_or_with_bad_slug(tmp_path: Path) -> None:
    _politician(tmp_path, "jane", {})
    with pytest.raises(ReferenceSetError, match="no reference photo"):
        read_politicians(tmp_path)
    shutil.rmtree(tmp_path / "jane")
    _politician(tmp_path, "Jane Doe", {"a.jpg": b"x"})
    with pytest.raises(ReferenceSetError, match="slug"):
        read_politicians(tmp_path)


def test_per_politician_tolerance_is_read(tmp_path: Path, pool: FacePool) -> None:
    photo = encode(open_sample("obama2.jpg").convert("RGB"), "JPEG")
    _politician(
        tmp_path / "refs", "jane", {"a.jpg": photo}, PROFILE + "tolerance = 0.5\nreview_band = 0.07\n"
    )
    _politician(tmp_path / "refs", "joe", {"a.jpg": photo}, PROFILE.replace("Jane Doe", "Joe Roe"))
    refs = _load(tmp_path / "refs", EncodingCache(tmp_path / "c", {}), pool)
    assert refs.tolerances == {"jane": 0.5}
    assert refs.review_bands == {"jane": 0.07}  # joe: FACEGATE_REVIEW_BAND
