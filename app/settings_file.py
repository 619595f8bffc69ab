"""Settings files (``.env``), read and written with python-dotenv's own parser.

The service reads the same file through pydantic-settings, which uses python-dotenv too: a value
means the same to both, quoted (``KEY="abc"`` is ``abc``) or after ``export``. Writing keeps every
other line as it was, keeps an ``export`` prefix, and single-quotes each value (literal for
python-dotenv and for docker compose's ``env_file``).

The file is written in place, never replaced by a rename: a settings file bind-mounted into a
container cannot be renamed over, and a rename would change its owner. A file facegate creates is
private (0600); the mode of someone else's file is theirs to choose (its owner may be the host's
user, and a container's uid may not change it), so facegate only warns when others may read it.
"""

from __future__ import annotations

import io
import logging
import os
import stat
from collections.abc import Mapping
from pathlib import Path

from dotenv import dotenv_values
from dotenv.parser import parse_stream

from app.errors import CommandError

__all__ = ["SettingsFileError", "check_writable", "read_settings_file", "write_settings_file"]

log = logging.getLogger(__name__)

PRIVATE_MODE = 0o600


class SettingsFileError(CommandError):
    """The settings file cannot be read or written."""


def read_settings_file(path: Path) -> dict[str, str]:
    """The file's settings (empty when there is no file); a key without a value is left out."""
    if not path.exists():
        return {}
    try:
        values = dotenv_values(path)
    except PermissionError as exc:
        raise SettingsFileError(f"cannot read the settings file {path}: {_not_ours(path)}") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise SettingsFileError(f"cannot read the settings file {path}: {_why(exc)}") from exc
    return {key: value for key, value in values.items() if value is not None}


def check_writable(path: Path) -> None:
    """Refuse early (before anything else is changed) when ``path`` cannot be written."""
    if path.is_dir():
        raise SettingsFileError(
            f"the settings file {path} is a folder (a bind mount of a file that did not exist yet?):"
            " remove it, create the file (touch), and mount that"
        )
    target = path if path.exists() else path.parent
    if not os.access(target, os.W_OK):
        raise SettingsFileError(f"cannot write the settings file {path}: {_not_ours(target)}")


def write_settings_file(path: Path, updates: Mapping[str, str]) -> None:
    """Set ``updates`` in the file, keeping its other lines (comments, ``export``); creates it 0600."""
    for key, value in updates.items():
        if "\n" in value or "\r" in value or "\0" in value:
            raise SettingsFileError(f"the value of {key} has a line break; it cannot be written to {path}")
    check_writable(path)
    try:
        text = path.read_text(encoding="utf-8") if path.exists() else ""
        written = set()
        out = []
        for binding in parse_stream(io.StringIO(text)):
            line = binding.original.string
            if binding.key is not None and binding.key in updates:
                export = "export " if line.lstrip().startswith("export ") else ""
                out.append(f"{export}{binding.key}={_quoted(updates[binding.key])}\n")
                written.add(binding.key)
            else:
                out.append(line if line.endswith("\n") else line + "\n")
        out += [f"{key}={_quoted(value)}\n" for key, value in updates.items() if key not in written]
        _open_private(path)
        with path.open("r+", encoding="utf-8") as handle:  # in place: a bind mount stays the same file
            handle.write("".join(out))
            handle.truncate()
    except OSError as exc:
        raise SettingsFileError(f"cannot write the settings file {path}: {_why(exc)}") from exc


def _quoted(value: str) -> str:
    # python-dotenv decodes \\ and \' in single quotes; nothing else is special there.
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _open_private(path: Path) -> None:
    """Create the file 0600, or make facegate's own file private; warn about anyone else's."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_MODE))
        return
    except FileExistsError:
        pass
    info = path.stat()
    if not info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        return
    if info.st_uid == os.getuid():
        path.chmod(PRIVATE_MODE)
    else:
        log.warning(
            "%s holds secrets and others may read it (mode %o); its owner (uid %d) should chmod 600 it",
            path,
            stat.S_IMODE(info.st_mode),
            info.st_uid,
        )


def _not_ours(path: Path) -> str:
    try:
        owner: int | str = path.stat().st_uid
    except OSError:
        owner = "?"
    return (
        f"{path.name} belongs to uid {owner}, and facegate runs as uid {os.getuid()} (with docker compose,"
        ' run it as the file\'s owner: --user "$(id -u):$(id -g)")'
    )


def _why(exc: OSError | UnicodeDecodeError) -> str:
    return exc.strerror or str(exc) if isinstance(exc, OSError) else "it is not UTF-8 text"
