"""Faults against a real NocoDB and a real facegate, on loopback, each scenario bounded in time.

    uv run python -m scripts.faults [--quick] [--only kill,outage,slow]

kill    facegate is SIGKILLed after ~10 of a burst of uploads are decided, and restarted.
outage  NocoDB is stopped after ~10 are decided, for 60 s (10 s with --quick), then started again.
slow    facegate talks to NocoDB through a proxy adding latency to every request and trickling the answers.

Uploads go through NocoDB's public form; its webhook calls facegate directly. In kill and slow, facegate's
NocoDB requests pass through a proxy that counts the writes (DELETE/PATCH of records) per row Id.
Exits 1 if any upload is lost, decided wrongly, decided or acted on twice.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import re
import signal
import sys
import tempfile
import threading
import time
import traceback
from collections import Counter
from pathlib import Path

import httpx

from harness.images import sample
from harness.loop import Loop, list_rows, running_loop
from harness.nocodb import LocalNocoDB, free_port, running_nocodb
from scripts.realworld import PHOTOS, Photo, Upload, all_decisions, evaluate, state_of, wait_decided

WRITE = re.compile(r"^/api/v2/tables/[^/?]+/records/?(\?|$)")
DECIDED_BEFORE_FAULT = 10
DRAIN_TIMEOUT = 240.0


class CountingProxy:
    """An asyncio TCP proxy on 127.0.0.1 for HTTP/1.1: waits ``latency`` before forwarding each request
    (one upstream connection per request), trickles each answer back in small chunks, and logs the
    status of every DELETE/PATCH of records with the row Ids in its JSON body."""

    def __init__(self, upstream_port: int, *, latency: float, chunk: int = 16384, pause: float = 0.02):
        self.upstream_port, self.latency, self.chunk, self.pause = upstream_port, latency, chunk, pause
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.requests: Counter[str] = Counter()
        self.writes: list[tuple[str, list[int], int]] = []  # method, row Ids, status
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None
        self.hold: str | None = None  # a write method: the next such answer is held back ...
        self.held = threading.Event()  # ... and this is set, so that facegate can be killed meanwhile

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

    def successful_writes(self) -> Counter[int]:
        return Counter(i for _, ids, status in self.writes if 200 <= status < 300 for i in ids)

    async def _serve(self, client: asyncio.StreamReader, to_client: asyncio.StreamWriter) -> None:
        quiet = (ConnectionError, asyncio.IncompleteReadError, ValueError, OSError, asyncio.CancelledError)
        with contextlib.suppress(*quiet):  # CancelledError: the proxy is closing
            while (request := await _read_message(client)) is not None:
                head, body = request
                method, target = head.decode("latin-1").split(" ", 2)[:2]
                self.requests[method] += 1
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
                    if method == self.hold:
                        self.hold = None
                        self.held.set()
                        await asyncio.sleep(10)  # NocoDB has done it; facegate never hears so
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


def _row_ids(body: bytes) -> list[int]:
    try:
        data = json.loads(body or b"null")
    except ValueError:
        return []
    items = data if isinstance(data, list) else [data]
    return [i["Id"] for i in items if isinstance(i, dict) and isinstance(i.get("Id"), int)]


class Burst:
    """Uploads through the public form, one after the other, optionally paced."""

    def __init__(self, loop: Loop) -> None:
        self.loop = loop
        self.uploads: list[Upload] = []
        self._lock = threading.Lock()

    def submit(self, photo: Photo) -> None:
        row = self.loop.submit(photo.politician, sample(photo.file), photo.file, timeout=60)
        with self._lock:
            self.uploads.append(Upload.of(self.loop.setup.table_id, row, photo))

    def run(self, count: int, pace: float = 0.0) -> None:
        """One upload at a time: NocoDB 0.301 answers concurrent form posts with each other's rows."""
        for photo in itertools.islice(itertools.cycle(PHOTOS), count):
            self.submit(photo)
            time.sleep(pace)

    def snapshot(self) -> list[Upload]:
        with self._lock:
            return list(self.uploads)


def scenario(
    name: str, nocodb: LocalNocoDB, tmp: Path, args: argparse.Namespace, proxy: CountingProxy | None = None
) -> bool:
    """Set up a base and facegate, run the fault, wait for the drain, print the figures."""
    with (
        running_loop(
            nocodb, tmp / name, base_title=f"faults-{name}", facegate_nocodb_url=proxy.url if proxy else None
        ) as loop,
        loop.api(timeout=60) as api,
    ):
        setup, server, burst = loop.setup, loop.facegate, Burst(loop)

        def decided(at_least: int, timeout: float) -> bool:
            return wait_decided(
                burst.snapshot, api, setup.table_id, until=lambda n: n >= at_least, timeout=timeout
            )

        started = recovered = time.monotonic()
        note = ""
        if name == "kill":  # a paced burst: the last uploads arrive while facegate is dead or starting
            submitter = threading.Thread(target=burst.run, args=(args.uploads,), kwargs={"pace": 0.3})
            submitter.start()
            decided(DECIDED_BEFORE_FAULT, 120)
            if proxy is not None and args.kill_at != "decided":
                proxy.hold = args.kill_at  # the kill lands between NocoDB's write and its answer
                proxy.held.wait(60)
            note = f"SIGKILL ({args.kill_at}) with {_count_decided(burst, api, setup.table_id)} decided, "
            note += f"{len(burst.snapshot())} submitted"
            server.stop(signal.SIGKILL)
            time.sleep(2)
            server.start()
            recovered = time.monotonic()
            submitter.join()
        elif name == "outage":
            burst.run(args.uploads)
            decided(DECIDED_BEFORE_FAULT, 120)
            note = (
                f"NocoDB stopped with {_count_decided(burst, api, setup.table_id)} of {args.uploads} decided"
            )
            nocodb.stop()
            time.sleep(args.outage)
            back = time.monotonic()
            nocodb.start()
            recovered = time.monotonic()
            note += f"; down {args.outage:.0f} s, restart took {time.monotonic() - back:.1f} s"
        else:
            burst.run(args.uploads)
        uploads = burst.snapshot()
        submitted_at = time.monotonic() - started
        drained = decided(len(uploads), DRAIN_TIMEOUT)
        drain = time.monotonic() - started
        verdict = evaluate(uploads, list_rows(api, setup.table_id), all_decisions(server.url))
        if len(uploads) != args.uploads:
            verdict.problems.append(f"only {len(uploads)} of {args.uploads} uploads were submitted")
    print(f"\n== {name}: {note or f'proxy latency {args.latency} s per request'}")
    for line in verdict.lines():
        print(f"   {line}")
    drain_text = f"{drain:.1f} s" if drained else f"NOT drained within {DRAIN_TIMEOUT:.0f} s"
    after_fault = f"{drain - (recovered - started):.1f} s after the fault ended; " if note else ""
    print(
        f"   time to drain {drain_text} from the first upload"
        f" ({after_fault}all submitted after {submitted_at:.1f} s)"
    )
    if proxy is not None:
        ok_writes = proxy.successful_writes()
        uploads_per_id = Counter(u.row_id for u in uploads)
        twice = {i: n for i, n in ok_writes.items() if n > uploads_per_id[i]}
        print(
            f"   proxy: requests {dict(proxy.requests)}; writes {len(proxy.writes)}, succeeded"
            f" {sum(ok_writes.values())}; successful writes per row {dict(Counter(ok_writes.values()))}"
        )
        if reused := {i: n for i, n in uploads_per_id.items() if n > 1}:
            print(f"   row Ids reused by NocoDB (uploads per Id): {reused}")
        verdict.problems += [f"row {i}: {n} successful writes" for i, n in sorted(twice.items())]
    for problem in verdict.problems:
        print(f"   PROBLEM {problem}")
    return drained and not verdict.problems


def _count_decided(burst: Burst, api: httpx.Client, table_id: str) -> int:
    rows = list_rows(api, table_id)
    return sum(state_of(u, rows) != "pending" for u in burst.snapshot())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.faults", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a 10 s NocoDB outage instead of 60 s")
    parser.add_argument("--outage", type=float, help="seconds NocoDB stays down (default 60, quick 10)")
    parser.add_argument("--only", default="kill,outage,slow", help="comma-separated scenarios")
    parser.add_argument("--uploads", type=int, default=30, help="uploads per burst")
    parser.add_argument("--latency", type=float, default=2.0, help="proxy delay per request (slow)")
    parser.add_argument(
        "--kill-at",
        choices=("decided", "PATCH", "DELETE"),
        default="decided",
        help="kill: once ~10 are decided, or when NocoDB has done the next PATCH/DELETE but not answered",
    )
    args = parser.parse_args(argv)
    if unknown := set(args.only.split(",")) - {"kill", "outage", "slow"}:
        parser.error(f"unknown scenarios {sorted(unknown)}")
    args.outage = args.outage if args.outage is not None else 10.0 if args.quick else 60.0
    results: dict[str, bool] = {}
    with (
        tempfile.TemporaryDirectory(prefix="facegate-faults-") as tmp,
        running_nocodb(Path(tmp) / "nocodb") as nocodb,
    ):
        for name in args.only.split(","):
            try:
                if name == "outage":
                    results[name] = scenario(name, nocodb, Path(tmp), args)
                else:
                    latency = args.latency if name == "slow" else 0.0
                    nocodb_port = int(nocodb.url.rsplit(":", 1)[1])
                    with CountingProxy(nocodb_port, latency=latency) as proxy:
                        results[name] = scenario(name, nocodb, Path(tmp), args, proxy)
            except Exception:
                traceback.print_exc()
                results[name] = False
                if not nocodb.is_running():
                    nocodb.start()
    print("\n" + "  ".join(f"{name}: {'ok' if ok else 'FAILED'}" for name, ok in results.items()))
    return 0 if results and all(results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
