#!/usr/bin/env python3
"""The main job in one command (`make run`): a local NocoDB, bootstrapped, and facegate in front of it.

1. installs NocoDB from npm into a cache folder (once) and starts it on 127.0.0.1 with its embedded
   SQLite in ``data/nocodb`` (kept across runs);
2. creates a local admin user (credentials in ``data/nocodb-admin.json``, 0600) and bootstraps the
   uploads table, the public form and the webhook; the settings go to ``.env``;
3. runs facegate in the foreground; Ctrl-C stops both.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import signal
import subprocess
import sys
from pathlib import Path

from app.cli import run_bootstrap
from app.commands.serve import server_command
from app.config import Settings
from harness.nocodb import LocalNocoDB, install, pid_is_nocodb, read_pid, stop_pid

ROOT = Path(__file__).resolve().parent.parent
ADMIN_EMAIL = "admin@facegate.local"


def admin_credentials(path: Path) -> tuple[str, str]:
    """The local admin, created on the first run with a random password."""
    if path.exists():
        stored = json.loads(path.read_text())
        return stored["email"], stored["password"]
    password = secrets.token_urlsafe(18)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.write_text(json.dumps({"email": ADMIN_EMAIL, "password": password}))
    return ADMIN_EMAIL, password


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8000, help="facegate's port")
    parser.add_argument("--nocodb-port", type=int, default=8080)
    parser.add_argument("--data-dir", type=Path, default=ROOT / "data")
    args = parser.parse_args()
    # facegate reads .env and its relative folders (reference_faces/) from the current folder.
    os.chdir(ROOT)

    data_dir = args.data_dir.resolve()
    nocodb = LocalNocoDB(port=args.nocodb_port, data_dir=data_dir / "nocodb", install_dir=install())
    stale = read_pid(data_dir / "nocodb")
    if stale is not None and pid_is_nocodb(stale):
        stop_pid(stale)  # left over from an earlier run that was not stopped cleanly
    nocodb.start()
    print(f"NocoDB: {nocodb.url}", flush=True)
    try:
        email, password = admin_credentials(data_dir / "nocodb-admin.json")
        settings = Settings()
        # Where the browser reaches facegate: the note's links to the reference page, the carousel.
        facegate_url = f"http://127.0.0.1:{args.port}"
        result = asyncio.run(
            run_bootstrap(
                nocodb_url=nocodb.url,
                email=email,
                password=password,
                facegate_url=facegate_url,
                public_url=facegate_url,
                env_file=ROOT / ".env",
                reference_dir=settings.reference_dir,
                action=settings.action,
            )
        )
        print(
            "\n"
            f"  Upload form (open it, upload a photo):  {result.form_url}\n"
            f"  NocoDB admin: {nocodb.url} ({email}, password in {data_dir / 'nocodb-admin.json'})\n"
            f"  facegate: {facegate_url} (carousel: /, API: /openapi.json)\n"
            "  operator endpoints (/verify, /decisions, /jobs, /metrics) need the header X-API-Key:"
            " FACEGATE_OPERATOR_API_KEY in .env\n",
            flush=True,
        )
        env = os.environ | {
            "FACEGATE_DATA_DIR": str(data_dir / "facegate"),
            # facegate erases the files of deleted uploads from NocoDB's own disk.
            "FACEGATE_NOCODB_UPLOADS_DIR": str(nocodb.uploads_dir),
            "FACEGATE_PUBLIC_URL": facegate_url,
        }
        # `facegate serve`'s own command line: the flags the image runs with.
        server = subprocess.Popen(server_command("127.0.0.1", args.port), cwd=ROOT, env=env)
        # SIGTERM ends this script like Ctrl-C does, so both servers always stop.
        signal.signal(signal.SIGTERM, signal.default_int_handler)
        try:
            return server.wait()
        except KeyboardInterrupt:
            server.send_signal(signal.SIGINT)
            return server.wait()
    finally:
        nocodb.stop()


if __name__ == "__main__":
    sys.exit(main())
