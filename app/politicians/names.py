"""Which politician a NocoDB cell or a ``/verify`` form names: the one place where text becomes a slug.

People see names, facegate sees slugs. A cell may hold a politician's slug (``obama``), the display
name of ``profile.toml`` (``Barack Obama``) or its explicit ``form_label``; they are compared after
case folding and with runs of spaces counted as one, so ``barack  OBAMA`` names ``obama`` too. The
forms facegate creates offer each politician's label: ``form_label`` if the profile sets one, else
its name.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

__all__ = ["NameClash", "PoliticianNames", "name_key"]


def name_key(text: str) -> str:
    """What two spellings of one name have in common: case folded, spaces collapsed and trimmed."""
    return " ".join(text.split()).casefold()


class NameClash(ValueError):
    """One text would name two politicians (a slug, name or label shared)."""

    def __init__(self, text: str, first: str, second: str) -> None:
        super().__init__(f"{text!r} names both {first!r} and {second!r}")
        self.text, self.first, self.second = text, first, second


@dataclass(frozen=True)
class PoliticianNames:
    """Slugs, display names and form labels of every politician, and what forms show.

    ``labels`` maps each slug to its form label, in the reference folder's order.
    """

    labels: Mapping[str, str]
    _slugs_by_key: Mapping[str, str] = field(repr=False)

    @classmethod
    def build(cls, politicians: Iterable[tuple[str, str, str | None]]) -> PoliticianNames:
        """From ``(slug, name, form_label)`` triples; ``NameClash`` when one text names two of them."""
        labels: dict[str, str] = {}
        by_key: dict[str, str] = {}
        for slug, name, form_label in politicians:
            labels[slug] = form_label or name
            for text in (slug, name, form_label):
                if not text:
                    continue
                owner = by_key.setdefault(name_key(text), slug)
                if owner != slug:
                    raise NameClash(text, owner, slug)
        return cls(labels=labels, _slugs_by_key=by_key)

    @classmethod
    def of_slugs(cls, slugs: Iterable[str]) -> PoliticianNames:
        """Politicians known by their slugs only: forms offer the slugs themselves."""
        return cls.build((slug, slug, None) for slug in slugs)

    def resolve(self, text: str) -> str | None:
        """The slug ``text`` names, or None when it names nobody facegate knows."""
        return self._slugs_by_key.get(name_key(text))

    def label(self, slug: str) -> str:
        return self.labels[slug]

    def __len__(self) -> int:
        return len(self.labels)
