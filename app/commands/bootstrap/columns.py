"""The three columns facegate reads and writes: the politician, the image and the Status.

Each is checked to be of a type facegate can read before anything is added (a refusal changes
nothing); a missing one is added only where the caller allows it (Status always). A SingleSelect
Status gets each value facegate writes. The politician select gets an option per politician only when
the caller asks (facegate's own table; an attached one with ``--add-options``): a campaign's select is
its public form, and stays as the campaign made it. Existing options, their ids and colours, are kept.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

from app.commands.bootstrap.changes import Changes
from app.commands.bootstrap.errors import BootstrapError
from app.config import FieldNames
from app.integrations.nocodb.meta import NocoDBMetaClient, column_spec, option_titles, select_options
from app.politicians.names import PoliticianNames

__all__ = ["column_specs", "prepare_columns"]

logger = logging.getLogger(__name__)

# What a column may be for facegate to read it. Text politician cells are matched like select ones.
IMAGE_TYPES: Final = frozenset({"Attachment"})
POLITICIAN_TYPES: Final = frozenset({"SingleSelect", "SingleLineText", "LongText"})
STATUS_TYPES: Final = frozenset({"SingleSelect", "SingleLineText"})

Columns = dict[str, dict[str, Any]]


def column_specs(fields: FieldNames, names: PoliticianNames, statuses: Sequence[str]) -> Columns:
    """The columns facegate creates: the politician a select of labels, Status a select of its values."""
    return {
        fields.politician: column_spec(fields.politician, "SingleSelect", list(names.labels.values())),
        fields.image: column_spec(fields.image, "Attachment"),
        fields.status: column_spec(fields.status, "SingleSelect", statuses),
    }


async def prepare_columns(
    meta: NocoDBMetaClient,
    table_id: str,
    fields: FieldNames,
    names: PoliticianNames,
    statuses: Sequence[str],
    *,
    create: frozenset[str],
    add_options: bool,
    changes: Changes,
) -> Columns:
    """The table's columns by title, once the missing ones named in ``create`` (and always Status) are
    added, every type is checked, and the Status options facegate writes are there; the politician
    select gets the politicians it lacks only with ``add_options``."""
    columns = await meta.columns(table_id)
    _check_types(columns, fields, create)
    wanted = column_specs(fields, names, statuses)
    if await _add_missing(meta, table_id, columns, wanted, changes):
        columns = await meta.columns(table_id)
    changed = await _offer_politicians(meta, columns[fields.politician], names, add_options, changes)
    if columns[fields.status]["uidt"] == "SingleSelect":
        changed |= await _ensure_select_options(meta, columns[fields.status], statuses, changes)
    return await meta.columns(table_id) if changed else columns


def _check_types(
    columns: Mapping[str, Mapping[str, Any]], fields: FieldNames, create: frozenset[str]
) -> None:
    """Everything that is there is checked before anything is added: a refusal changes nothing."""
    checks = (
        (fields.image, IMAGE_TYPES, "image"),
        (fields.politician, POLITICIAN_TYPES, "politician"),
        (fields.status, STATUS_TYPES, "status"),
    )
    for title, allowed, what in checks:
        if title in columns or (title not in create and title != fields.status):
            _check_type(columns, title, allowed, what)


def _check_type(
    columns: Mapping[str, Mapping[str, Any]], title: str, allowed: frozenset[str], what: str
) -> None:
    column = columns.get(title)
    if column is None:
        usable = sorted(t for t, c in columns.items() if c.get("uidt") in allowed and not c.get("system"))
        raise BootstrapError(
            f"the table has no column {title!r} for the {what} (columns of a usable type:"
            f" {', '.join(usable) or 'none'}); name it with --{what}-field"
        )
    if column["uidt"] not in allowed:
        raise BootstrapError(
            f"column {title!r} is a {column['uidt']}; the {what} column must be one of"
            f" {', '.join(sorted(allowed))}. facegate will not convert existing data"
        )


async def _add_missing(
    meta: NocoDBMetaClient,
    table_id: str,
    columns: Mapping[str, Any],
    wanted: Mapping[str, Mapping[str, Any]],
    changes: Changes,
) -> bool:
    """Add each ``wanted`` column the table lacks (the checks ran first); returns whether any was."""
    missing = [title for title in wanted if title not in columns]
    for title in missing:
        await meta.add_column(table_id, wanted[title])
        changes.add(f"added column {title!r} ({wanted[title]['uidt']})")
    return bool(missing)


async def _offer_politicians(
    meta: NocoDBMetaClient,
    politician: Mapping[str, Any],
    names: PoliticianNames,
    add_options: bool,
    changes: Changes,
) -> bool:
    """A select politician offers each politician's label when ``add_options``; otherwise the
    politicians it does not offer are logged. An option that names no politician is logged."""
    if politician["uidt"] != "SingleSelect":
        logger.info(
            "%r is text: its cells must hold a politician's slug, name or form label", politician["title"]
        )
        return False
    same = _same_politician(names)
    labels = list(names.labels.values())
    if add_options:
        changed = await _ensure_select_options(meta, politician, labels, changes, same)
    else:
        changed = False
        _log_unoffered(politician, labels, same)
    for title in option_titles(politician):
        if names.resolve(title) is None:
            logger.warning(
                "option %r of %r names no politician in the reference folder: uploads naming it will"
                " be held, undecided, until you add the politician (or give its profile.toml a"
                " form_label) and reload",
                title,
                politician["title"],
            )
    return changed


def _log_unoffered(
    politician: Mapping[str, Any], labels: Sequence[str], same: Callable[[str, str], bool]
) -> None:
    """Say which politicians the campaign's select does not offer: uploads cannot name them."""
    offered = option_titles(politician)
    missing = [label for label in labels if not any(same(label, title) for title in offered)]
    if missing:
        logger.warning(
            "%r offers no option for %s: the form cannot name them. Add the options in NocoDB, or run"
            " bootstrap again with --add-options",
            politician["title"],
            ", ".join(repr(label) for label in missing),
        )


def _same_politician(names: PoliticianNames) -> Callable[[str, str], bool]:
    """Whether an existing option stands for the politician offered as ``wanted`` (a label)."""

    def same(wanted: str, existing: str) -> bool:
        return names.resolve(existing) == names.resolve(wanted)

    return same


async def _ensure_select_options(
    meta: NocoDBMetaClient,
    column: Mapping[str, Any],
    wanted: Sequence[str],
    changes: Changes,
    same: Callable[[str, str], bool] = str.__eq__,
) -> bool:
    """Append each ``wanted`` option that no existing option stands for (``same(wanted, existing)``);
    returns whether the column changed."""
    options = select_options(column)
    missing = [title for title in wanted if not any(same(title, str(o["title"])) for o in options)]
    if not missing:
        return False
    await meta.set_select_options(column, [*options, *({"title": title} for title in missing)])
    changes.add(f"added options {', '.join(map(repr, missing))} to column {column['title']!r}")
    return True
