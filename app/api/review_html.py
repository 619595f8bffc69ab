"""The reference page's HTML (``GET /review/{token}``), written on the server: every value escaped,
no script, inline style only (the route's Content-Security-Policy allows nothing else), pictures as
``data:`` URIs."""

from __future__ import annotations

from datetime import UTC, datetime
from html import escape

from app.moderation.review_page import Picture, ReviewView

__all__ = ["error_page", "review_page"]

STYLE = """
body { margin: 1.5rem; font: 16px/1.45 system-ui, sans-serif; color: #1b1b1b; background: #f6f6f4; }
h1 { font-size: 1.4rem; margin: 0 0 .3rem; }
.sub { color: #555; margin: 0 0 1rem; }
.pictures { display: flex; gap: 1.5rem; align-items: flex-start; flex-wrap: wrap; }
.side { background: #fff; border: 1px solid #ccc; border-radius: 8px; padding: .8rem; }
.side.upload { border: 3px solid #b3261e; }
.side h2 { font-size: 1rem; margin: 0 0 .5rem; }
.row { display: flex; gap: .8rem; flex-wrap: wrap; }
figure { margin: 0; }
figure img { display: block; max-width: 320px; max-height: 320px; border-radius: 4px; }
figcaption { font-size: .85rem; color: #444; margin-top: .25rem; }
.missing { width: 200px; padding: 2rem .5rem; background: #eee; color: #555; text-align: center; }
table { border-collapse: collapse; margin: 1rem 0; background: #fff; }
th, td { text-align: left; padding: .35rem .8rem; border: 1px solid #ddd; vertical-align: top; }
th { background: #efefef; font-weight: 600; }
.num { font-variant-numeric: tabular-nums; font-size: 1.05rem; }
.review { color: #8a5a00; font-weight: 600; }
.approved { color: #1e6b2f; font-weight: 600; }
.rejected { color: #b3261e; font-weight: 600; }
.foot { color: #666; font-size: .85rem; margin-top: 1rem; }
"""


def _document(title: str, body: str) -> str:
    return (
        '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="robots" content="noindex, nofollow">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escape(title)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n{body}\n</body>\n</html>\n"
    )


def error_page(title: str, message: str) -> str:
    """A page that says why it shows nothing."""
    return _document(f"facegate: {title}", f"<h1>{escape(title)}</h1>\n<p>{escape(message)}</p>")


def _when(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _zone(distance: float, view: ReviewView) -> str:
    if distance <= view.approve_at_most:
        return '<span class="approved">approved zone</span>'
    if distance > view.delete_above:
        return '<span class="rejected">deleted zone</span>'
    return '<span class="review">review band</span>'


def _figure(picture: Picture) -> str:
    label = escape(picture.label)
    if picture.data_uri is None:
        why = escape(picture.problem or "Not available.")
        return f'<figure><div class="missing">{why}</div><figcaption>{label}</figcaption></figure>'
    return (
        f'<figure><img src="{escape(picture.data_uri)}" alt="{label}">'
        f"<figcaption>{label}</figcaption></figure>"
    )


def _side(title: str, pictures: list[Picture], empty: str, css: str) -> str:
    shown = "".join(_figure(p) for p in pictures) or f'<p class="missing">{escape(empty)}</p>'
    return f'<section class="side {css}"><h2>{escape(title)}</h2><div class="row">{shown}</div></section>'


def _facts(view: ReviewView) -> str:
    who = "nobody (the face was to be identified)"
    if view.slug is not None:
        name = view.name or "not in reference_faces/ any more"
        who = f"{escape(name)} (<code>{escape(view.slug)}</code>)"
    rows = [
        ("Politician named", who),
        (
            "facegate's decision",
            f'<span class="{escape(view.decision.value)}">{escape(view.decision.value)}</span>'
            f" ({escape(view.reason.value)}), {escape(_when(view.decided_at))}",
        ),
    ]
    if view.settled_by_moderator is not None:
        rows.append(("A moderator's decision since", escape(view.settled_by_moderator.value)))
    if view.distances:
        shown = "<br>".join(
            f'<span class="num">{d:.3f}</span> {_zone(d, view)}'
            + (f" (face {i})" if len(view.distances) > 1 else "")
            for i, d in enumerate(view.distances, start=1)
        )
        rows.append(("Distance of the upload's face to the references", shown))
    else:
        rows.append(("Distance of the upload's face to the references", "none measured"))
    rows.append(
        (
            "Thresholds",
            f'tolerance <span class="num">{view.tolerance:.3f}</span>, review band'
            f' <span class="num">±{view.review_band:.3f}</span>: approved at or below'
            f' <span class="num">{view.approve_at_most:.3f}</span>, review above that up to'
            f' <span class="num">{view.delete_above:.3f}</span>, deleted above it',
        )
    )
    if view.findings:
        found = "<br>".join(
            f"{escape(f.label)} <span class='num'>{escape(f.score)}</span>" for f in view.findings
        )
        rows.append(("Explicit-content findings", found))
    if view.detail:
        rows.append(("Note", escape(view.detail)))
    cells = "".join(f"<tr><th>{title}</th><td>{value}</td></tr>" for title, value in rows)
    return f"<table>{cells}</table>"


def review_page(view: ReviewView) -> str:
    """The reference page: the upload beside the politician's reference photos, and the numbers."""
    who = view.name or view.slug or "the politician"
    body = (
        f"<h1>Row {view.row_id}: the upload beside {escape(who)}</h1>\n"
        f'<p class="sub">Table <code>{escape(view.table_id)}</code>. Settle the row by its Status in'
        " NocoDB's grid.</p>\n"
        f"{_facts(view)}\n"
        '<div class="pictures">'
        + _side("The upload", view.uploads, "The pictures were not analysed, so not fetched.", "upload")
        + _side(f"Reference photos: {who}", view.references, "No reference photos.", "references")
        + "</div>\n"
        f'<p class="foot">This link works until {escape(_when(view.expires_at))}; the row\'s note'
        " holds a fresh one. Nothing on this page is stored or cached.</p>"
    )
    return _document(f"facegate: row {view.row_id}", body)
