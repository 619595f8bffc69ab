"""``ClientAddresses``: the address rate limits count by, from the socket peer and declared proxies."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from app.api.client_address import UNVERIFIED, ClientAddresses
from app.errors import hide_paths

PROXY = ipaddress.ip_network("10.0.0.0/24")


def _scope(peer: str | None, *forwarded_for: str) -> dict[str, object]:
    headers = [(b"x-forwarded-for", value.encode()) for value in forwarded_for]
    return {"type": "http", "client": (peer, 1234) if peer else None, "headers": headers}


@pytest.mark.parametrize(
    ("peer", "forwarded", "expected"),
    [
        ("203.0.113.9", (), "203.0.113.9"),
        ("203.0.113.9", ("198.18.0.1",), "203.0.113.9"),  # nobody declared: the header is ignored
        ("10.0.0.5", ("198.18.0.1",), "10.0.0.5"),  # an undeclared proxy is one client
        (None, (), "unknown"),
        ("testclient", (), "testclient"),
        ("::ffff:203.0.113.9", (), "203.0.113.9"),
        ("2001:db8:1:2::7", (), "2001:db8:1:2::/64"),
    ],
)
def test_without_declared_proxies_the_peer_counts(
    peer: str | None, forwarded: tuple[str, ...], expected: str
) -> None:
    assert ClientAddresses([]).of(_scope(peer, *forwarded)) == expected


@pytest.mark.parametrize(
    ("forwarded", "expected"),
    [
        (("198.51.100.7",), "198.51.100.7"),
        (("1.2.3.4, 198.51.100.7",), "198.51.100.7"),  # the client wrote 1.2.3.4; the proxy appended
        (("1.2.3.4", "198.51.100.7"), "198.51.100.7"),  # two header lines
        (("1.2.3.4, 198.51.100.7, 10.0.0.9",), "198.51.100.7"),  # two declared proxies
        (("198.51.100.7:5555",), "198.51.100.7"),
        (("[2001:db8::1]:443",), "2001:db8::/64"),
        (("1.2.3.4, not-an-address",), "10.0.0.5"),  # a proxy that wrote no address: the proxy
        ((), "10.0.0.5"),
        (("10.0.0.7, 10.0.0.8",), "10.0.0.7"),  # only proxies: the leftmost of them
    ],
)
def test_a_declared_proxy_names_the_client(forwarded: tuple[str, ...], expected: str) -> None:
    assert ClientAddresses([PROXY]).of(_scope("10.0.0.5", *forwarded)) == expected


@pytest.mark.parametrize(
    ("peer", "forwarded"),
    [
        ("198.18.0.1", "198.18.0.1"),  # uvicorn --proxy-headers took the peer from the header
        ("x1", "x1"),
        ("198.18.0.1", "198.18.0.1:80, 127.0.0.1"),
        ("2001:db8::5", "[2001:db8::5]:1"),
    ],
)
def test_a_peer_found_in_its_own_header_is_not_believed(
    peer: str, forwarded: str, caplog: pytest.LogCaptureFixture
) -> None:
    addresses = ClientAddresses([])
    assert addresses.of(_scope(peer, forwarded)) == UNVERIFIED
    assert addresses.of(_scope(peer, forwarded)) == UNVERIFIED
    assert sum("--no-proxy-headers" in r.message for r in caplog.records) == 1  # warned once


def test_a_long_header_is_read_from_the_right_only() -> None:
    header = ", ".join(["1.1.1.1"] * 10_000 + ["198.51.100.7"])
    assert ClientAddresses([PROXY]).of(_scope("10.0.0.5", header)) == "198.51.100.7"


def test_hide_paths() -> None:
    root = Path("/srv/facegate/reference_faces")
    assert (
        hide_paths(f"{root}/obama/a.jpg: no face found", [root])
        == "reference_faces/obama/a.jpg: no face found"
    )
    assert hide_paths({"e": [f"{root}: missing"]}, [root]) == {"e": ["reference_faces: missing"]}
    assert hide_paths("denied: '/var/lib/x/y.db'") == "denied: '…/y.db'"
    kept = "see http://nocodb:8080/api/v2/tables and /jobs, 3/4 done"
    assert hide_paths(kept) == kept
    assert hide_paths(42) == 42
