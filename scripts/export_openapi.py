#!/usr/bin/env python3
"""Write openapi.yaml from the app (`uv run python -m scripts.export_openapi`); `--check` only compares."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
TARGET = ROOT / "openapi.yaml"


def served_schema() -> dict[str, Any]:
    from app.config import Settings
    from app.main import create_app

    return create_app(Settings(_env_file=None)).openapi()


def render(schema: dict[str, Any]) -> str:
    return yaml.safe_dump(schema, sort_keys=False, allow_unicode=True, width=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="exit 1 when openapi.yaml differs from the app")
    args = parser.parse_args()
    text = render(served_schema())
    if args.check:
        if not TARGET.exists() or TARGET.read_text() != text:
            sys.exit(
                "openapi.yaml differs from the app's schema: run `uv run python -m scripts.export_openapi`"
            )
        return
    TARGET.write_text(text)
    print(f"wrote {TARGET.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
