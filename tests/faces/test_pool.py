"""What a face worker answers for one picture: the faces, and the renditions of a one-face picture."""

from __future__ import annotations

import asyncio

import numpy as np
from PIL import Image

from app.faces.engine import FoundFaces
from app.faces.intake import DecodedImage
from app.faces.matcher import ENCODING_DIM
from app.faces.pool import _rendered
from app.faces.renditions import Rendition
from app.verification import FaceService
from harness.images import sample, side_by_side


def test_a_one_face_picture_is_rendered_from_the_pixels_decoded_for_its_faces(faces: FaceService) -> None:
    analysis = asyncio.run(faces.pool.analyse(sample("obama2.jpg"), renditions=True))
    assert len(analysis.faces.boxes) == 1 and analysis.unrenderable is None
    assert analysis.renditions is not None and set(analysis.renditions) == set(Rendition)
    assert all(jpeg[:2] == b"\xff\xd8" for jpeg in analysis.renditions.values())


def test_no_renditions_unless_asked_or_for_other_face_counts(faces: FaceService) -> None:
    pool = faces.pool
    assert asyncio.run(pool.analyse(sample("obama2.jpg"), renditions=False)).renditions is None
    two = asyncio.run(pool.analyse(side_by_side("obama2.jpg", "biden.jpg"), renditions=True))
    assert len(two.faces.boxes) == 2 and two.renditions is None
    none = asyncio.run(pool.analyse(sample("cat.png"), renditions=True))
    assert none.faces.boxes == [] and none.renditions is None


def test_a_picture_pillow_cannot_render_is_reported_not_raised() -> None:
    # JPEG has no alpha: Pillow refuses RGBA (decoded pictures are RGB; this stands for any refusal).
    decoded = DecodedImage(image=Image.new("RGBA", (8, 8)), width=8, height=8, format="PNG")
    analysis = _rendered(FoundFaces([], np.empty((0, ENCODING_DIM)), 8, 8), decoded)
    assert analysis.renditions is None
    assert (analysis.unrenderable or "").startswith("The image cannot be rendered: ")
