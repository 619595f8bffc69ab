"""A counting HTTP proxy between facegate and NocoDB: it counts (and can hold back) facegate's writes.

Used by the fault scripts and the several-instances test to check that each row is written once, and
to kill facegate between NocoDB's write and its answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import threading
from collections import Counter
from collections.abc import Collection
from typing import Any

from harness.net import free_port

__all__ = ["WRITE", "CountingProxy"]

# The records endpoint that facegate's DELETE and PATCH go to.
WRITE = re.compile(r"^/api/v2/tables/[^/?]+/records/?(\?|$)")
# How long a held answer is kept back: longer than the caller needs to kill facegate.
HOLD_SECONDS = 10.0


class CountingProxy:
    """An asyncio TCP proxy on 127.0.0.1 for HTTP/1.1: waits ``latency`` before forwarding each request
    (one upstream connection per request), trickles each answer back in small chunks, and logs the
    status of every DELETE/PATCH of records with the row Ids in its JSON body."""

    def __init__(self, upstream_port: int, *, latency: float, chunk: int = 16384, pause: float = 0.02):
        self.upstream_port, self.latency, self.chunk, self.pause = upstream_port, latency, chunk, pause
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.requests: Counter[str] = Counter()
        self.targets: Counter[str] = Counter()  # "METHOD /path" without the query
        self.writes: list[tuple[str, list[int], int]] = []  # method, row Ids, status
        # The rows each successful PATCH of records wrote, as sent: which cells went together.
        self.patches: list[list[dict[str, Any]]] = []
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None
        # Write methods (PATCH, DELETE): the next answer to one of them is held back ...
        self.hold: Collection[str] = ()
        self.held = threading.Event()  # ... and this is set, so that facegate can be killed meanwhile
        self.held_write: tuple[str, list[int]] | None = None  # its method and row Ids

    def __enter__(self) -> CountingProxy:
        self._thread.start()
        serve = asyncio.start_server(self._serve, "127.0.0.1", self.port)
        self._server = asyncio.run_coroutine_threadsafe(serve, self._loop).result(10)
        return self

    def __exit__(self, *exc: object) -> None:
        async def close() -> None:
            assert self._server is not None
            self._server.close()
            tasks = asyncio.all_tasks() - {asyncio.current_task()}
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(close(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def successful_writes(self) -> Counter[int]:
        return Counter(i for _, ids, status in self.writes if 200 <= status < 300 for i in ids)

    def written_rows(self, method: str) -> set[int]:
        """The row Ids that a ``method`` (PATCH, DELETE) wrote successfully."""
        return {i for m, ids, status in self.writes if m == method and 200 <= status < 300 for i in ids}

    async def _serve(self, client: asyncio.StreamReader, to_client: asyncio.StreamWriter) -> None:
        quiet = (ConnectionError, asyncio.IncompleteReadError, ValueError, OSError, asyncio.CancelledError)
        with contextlib.suppress(*quiet):  # CancelledError: the proxy is closing
            while (request := await _read_message(client)) is not None:
                head, body = request
                method, target = head.decode("latin-1").split(" ", 2)[:2]
                self.requests[method] += 1
                self.targets[f"{method} {target.split('?', 1)[0]}"] += 1
                await asyncio.sleep(self.latency)
                upstream, to_upstream = await asyncio.open_connection("127.0.0.1", self.upstream_port)
                try:
                    to_upstream.write(head + body)
                    await to_upstream.drain()
                    answer = await _read_message(upstream, request_method=method)
                finally:
                    to_upstream.close()
                if answer is None:
                    break
                status = int(answer[0].split(b" ", 2)[1])
                if method in ("DELETE", "PATCH") and WRITE.match(target):
                    self.writes.append((method, _row_ids(body), status))
                    if method == "PATCH" and 200 <= status < 300:
                        self.patches.append(_items(body))
                    if method in self.hold:
                        self.hold = ()
                        self.held_write = (method, _row_ids(body))
                        self.held.set()
                        await asyncio.sleep(HOLD_SECONDS)  # NocoDB has done it; facegate never hears so
                data = answer[0] + answer[1]
                for start in range(0, len(data), self.chunk):
                    to_client.write(data[start : start + self.chunk])
                    await to_client.drain()
                    await asyncio.sleep(self.pause)
        to_client.close()


async def _read_message(
    reader: asyncio.StreamReader, request_method: str | None = None
) -> tuple[bytes, bytes] | None:
    """One HTTP/1.1 request (``request_method`` None) or response, raw; None at a clean end of stream."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if exc.partial:
            raise
        return None
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    if request_method is not None:
        status = int(lines[0].split(" ", 2)[1])
        if request_method == "HEAD" or status in (204, 304) or status < 200:
            return head, b""
    if "chunked" in headers.get("transfer-encoding", "").lower():
        body = b""
        while True:
            size_line = await reader.readuntil(b"\r\n")
            size = int(size_line.split(b";")[0], 16)
            body += size_line + await reader.readexactly(size + 2)
            if size == 0:  # the final chunk; no trailers are sent by NocoDB
                return head, body
    if "content-length" in headers:
        return head, await reader.readexactly(int(headers["content-length"]))
    return head, (await reader.read() if request_method is not None else b"")


def _items(body: bytes) -> list[dict[str, Any]]:
    """The rows a write's JSON body names (one object, or a list of them)."""
    try:
        data = json.loads(body or b"null")
    except ValueError:
        return []
    items = data if isinstance(data, list) else [data]
    return [i for i in items if isinstance(i, dict)]


def _row_ids(body: bytes) -> list[int]:
    return [i["Id"] for i in _items(body) if isinstance(i.get("Id"), int)]
