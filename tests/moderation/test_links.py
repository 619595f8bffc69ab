"""The reference page's links: signed, deterministic within a window, refused when expired or forged."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from app.moderation.links import InvalidLink, ReviewLinks, key_digest

SECRET = "a-stamp-secret-of-thirty-two-characters!"
PUBLIC = "https://facegate.example/"
TTL = 86400.0
HALF = TTL / 2
T = 1_800_000_123.0
KEY = "tbl1:7:2026-01-01T00:00:00Z|att-7-a.jpg"


def links(secret: str = SECRET) -> ReviewLinks:
    return ReviewLinks(secret, PUBLIC, TTL)


def token_of(url: str) -> str:
    prefix = "https://facegate.example/review/"
    assert url.startswith(prefix)
    return url.removeprefix(prefix)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_a_link_opens_the_upload_it_was_made_for() -> None:
    made = links().link(table_id="tbl1", row_id=7, row_key=KEY, now=T)
    token = token_of(made.url)
    assert len(made.url) < 250 and "/" not in token and "=" not in token
    target = links().verify(token, now=T)
    assert (target.table_id, target.row_id, target.expires_at) == ("tbl1", 7, made.expires_at)
    assert target.key_digest == key_digest(KEY) != key_digest(KEY + "x")
    assert len(key_digest(KEY)) == 22


def test_every_call_within_one_window_gives_the_same_link() -> None:
    start = (T // HALF) * HALF
    made = [links().link(table_id="tbl1", row_id=7, row_key=KEY, now=start + dt) for dt in (0, 1, HALF - 1)]
    assert len({m.url for m in made}) == 1
    assert made[0].expires_at == start + TTL
    later = links().link(table_id="tbl1", row_id=7, row_key=KEY, now=start + HALF)
    assert later.url != made[0].url and later.expires_at == start + TTL + HALF
    # Always between half the lifetime and the whole lifetime left.
    for now in (start, start + HALF - 0.001, T):
        left = links().link(table_id="tbl1", row_id=7, row_key=KEY, now=now).expires_at - now
        assert HALF < left <= TTL


def test_an_expired_link_is_refused_as_expired() -> None:
    made = links().link(table_id="tbl1", row_id=7, row_key=KEY, now=T)
    links().verify(token_of(made.url), now=made.expires_at - 1)
    with pytest.raises(InvalidLink, match="expired"):
        links().verify(token_of(made.url), now=made.expires_at)


def forgeries() -> dict[str, str]:
    made = links().link(table_id="tbl1", row_id=7, row_key=KEY, now=T)
    token = token_of(made.url)
    encoded, _, mac = token.partition(".")
    payload = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()
    other = b64(payload.replace("|7|", "|8|").encode())
    later = b64(payload.replace(repr(made.expires_at), repr(made.expires_at + 10 * TTL)).encode())
    # The stamp's key (the secret itself) over the same payload: never a link's MAC.
    stamp_mac = b64(hmac.new(SECRET.encode(), encoded.encode(), hashlib.sha256).digest())
    wrong_secret = token_of(
        links("another-secret-of-thirty-two-characters")
        .link(table_id="tbl1", row_id=7, row_key=KEY, now=T)
        .url
    )
    return {
        "another row": f"{other}.{mac}",
        "a later expiry": f"{later}.{mac}",
        "another secret": wrong_secret,
        "the stamp key": f"{encoded}.{stamp_mac}",
        "truncated MAC": token[:-3],
        "no MAC": encoded,
        "empty MAC": f"{encoded}.",
        "empty": "",
        "non-ascii": token[:-1] + "é",
        "huge": token + "A" * 100_000,
        "two dots": f"{encoded}.{mac}.{mac}",
        "padding": f"{encoded}.{mac}=",
    }


@pytest.mark.parametrize("name", sorted(forgeries()))
def test_a_forged_or_malformed_token_is_refused(name: str) -> None:
    with pytest.raises(InvalidLink, match=r"forged|malformed") as refused:
        links().verify(forgeries()[name], now=T)
    assert "expired" not in str(refused.value)


def test_the_expiry_is_read_from_a_note() -> None:
    made = links().link(table_id="tbl1", row_id=7, row_key=KEY, now=T)
    note = f"Waiting: distance 0.61 to Barack Obama (review 0.56 to 0.64). Reference: {made.url} (valid 24 h)"
    assert ReviewLinks.expires_at_of(note) == made.expires_at
    second = links().link(table_id="tbl1", row_id=7, row_key=KEY, now=T + TTL).url
    assert ReviewLinks.expires_at_of(f"{made.url}\n{second}") == made.expires_at  # the first one
    assert ReviewLinks.expires_at_of("Waiting: distance 0.61 to Barack Obama.") is None
    assert ReviewLinks.expires_at_of("see https://x.example/review/garbage.token") is None
    assert ReviewLinks.expires_at_of("") is None
