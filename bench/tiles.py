"""Cached tile API requests per second beside a bare Flask endpoint in the same gunicorn server and run; and the
time to refresh 1,000 RSS tiles from a local feed server with conditional GETs.

Part 1: the hub is served by gunicorn (as production serves it) with one extra route, `GET /bench/bare`, that
answers a small JSON body without reading anything. wrk (Debian's `wrk`) drives both with the same concurrency:
first the bare endpoint, then `GET /api/tiles/<id>` of a public tile with 10 items (warmed, so the request reads
Redis only: the pointer and the version's payload). No provider is involved in a request, ever.
Targets (issue 4): rate >= 0.8 of the bare rate, p99 <= 1.5x the bare p99.

Part 2: 1,000 `rss` tiles, each its own feed on a loopback feed server that answers ETag / 304; refreshed once
(200s: parse, sanitize, store, warm) and once more (conditional GETs: 304s). Needs the rss reader
(providers/rss); skipped with a note while it is not registered.

Usage: .venv/bin/python bench/tiles.py [--rounds 3] [--seconds 8] [--connections 8] [--workers 2] [--threads 4]
       [--tiles 1000]
"""
from __future__ import annotations

import argparse
import hashlib
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# bench/ is the script's directory (sys.path[0]), and gunicorn is given it too.
from _harness import free_port, gunicorn, scratch_database, scratch_hub, wait_up, wrk_options  # noqa: E402

BARE_BODY = b'{"ok":true}'


def wsgi_app():  # type: ignore[no-untyped-def]
    """gunicorn's factory: the hub's app from the environment, plus the bare endpoint beside it."""
    from flask import Response

    from hub.app import create_app

    app = create_app()
    app.add_url_rule("/bench/bare", "bench_bare", lambda: Response(BARE_BODY, mimetype="application/json"))
    return app


def seed_tile(env: dict[str, str]) -> int:
    """A public tile with 10 sanitized items, warmed into Redis; returns its id."""
    from hub import db
    from hub.app import create_app
    from hub.models.tiles import Tile, TileItem
    from hub.tiles import cache, sanitize

    app = create_app(env)
    now = datetime.now(UTC)
    with app.app_context(), db.transaction() as session:
        tile = Tile(kind="rss", title="Campus news", address="https://news.example.org/feed.xml", version=1,
                    fetched_at=now)
        session.add(tile)
        session.flush()
        for n in range(10):
            session.add(TileItem(tile_id=tile.id, remote_id=f"item-{n}", author=f"Author {n}",
                                 text=sanitize.plain_text(f"Item {n}: " + "a few words of news " * 8),
                                 html=sanitize.clean_html(f"<p>Item {n}: <b>news</b> <a href='https://x.org/{n}'>"
                                                          f"more</a></p>"),
                                 link=f"https://news.example.org/{n}", published_at=now - timedelta(minutes=n)))
        tile_id = tile.id
    with app.app_context():
        cache.warm(tile_id)
    app.extensions["db_engine"].dispose()
    return tile_id


def run_wrk(url: str, seconds: float, connections: int, threads: int) -> dict[str, float]:
    command = ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{max(1, round(seconds))}s",
               "--timeout", "10s", "--latency", url]
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    p50 = _duration(re.search(r"^\s+50%\s+(\S+)", output, re.M).group(1))  # type: ignore[union-attr]
    p99 = _duration(re.search(r"^\s+99%\s+(\S+)", output, re.M).group(1))  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return {"rate": rate, "p50_ms": p50, "p99_ms": p99, "non_2xx": int(errors.group(1)) if errors else 0}


def _duration(text: str) -> float:
    """wrk's latency ('812.00us', '1.23ms', '1.01s') in milliseconds."""
    value, unit = re.match(r"([\d.]+)(us|ms|s|m)", text).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def serving(args: argparse.Namespace, work: Path, env: dict[str, str], port: int) -> bool:
    tile_id = seed_tile(env)
    host = f"127.0.0.1:{port}"
    server = gunicorn(port, "tiles:wsgi_app()", args.workers, args.threads, env)
    tile_url, bare_url = f"http://{host}/api/tiles/{tile_id}", f"http://{host}/bench/bare"
    try:
        wait_up(f"http://{host}/healthz")
        check = requests.get(tile_url, timeout=5)
        assert check.status_code == 200 and len(check.json()["items"]) == 10, check.text
        run_wrk(tile_url, 2, args.connections, args.wrk_threads)  # warm every worker and thread
        run_wrk(bare_url, 2, args.connections, args.wrk_threads)
        bares: list[dict[str, float]] = []
        tiles: list[dict[str, float]] = []
        # Rounds alternate which endpoint goes first, so a drift of the machine (another process, CPU clocks)
        # falls on both sides; the median of each side is compared.
        for round_ in range(args.rounds):
            for url, into in ((bare_url, bares), (tile_url, tiles))[::1 if round_ % 2 == 0 else -1]:
                into.append(run_wrk(url, args.seconds, args.connections, args.wrk_threads))
    finally:
        server.terminate()
        server.wait(10)
    bare, tile = median_run(bares), median_run(tiles)
    ratio = tile["rate"] / bare["rate"]
    p99_ratio = tile["p99_ms"] / bare["p99_ms"]
    print(f"server: gunicorn gthread, {args.workers} workers x {args.threads} threads; wrk {args.connections} "
          f"connections, {args.seconds:.0f} s each, {args.rounds} rounds alternating (medians below)")
    for name, runs in (("bare", bares), ("tile", tiles)):
        print(f"  {name} rounds: " + ", ".join(f"{r['rate']:.0f} req/s p99 {r['p99_ms']:.1f} ms" for r in runs))
    pairs = [t["rate"] / b["rate"] for b, t in zip(bares, tiles, strict=True)]
    print("  ratio per round: " + ", ".join(f"{r:.2f}" for r in pairs) + f" (lowest {min(pairs):.2f})")
    print(f"bare endpoint:   {bare['rate']:8.1f} req/s   p50 {bare['p50_ms']:6.2f} ms   p99 {bare['p99_ms']:6.2f} ms")
    print(f"GET /api/tiles/<id> ({len(check.content)} bytes, from Redis): {tile['rate']:8.1f} req/s   "
          f"p50 {tile['p50_ms']:6.2f} ms   p99 {tile['p99_ms']:6.2f} ms")
    print(f"ratio tile/bare: {ratio:.2f} (target >= 0.80) {'OK' if ratio >= 0.8 else 'BELOW TARGET'}")
    print(f"p99 tile/bare:   {p99_ratio:.2f}x (target <= 1.5x) {'OK' if p99_ratio <= 1.5 else 'ABOVE TARGET'}")
    print(f"non-2xx answers: bare {bare['non_2xx']}, tile {tile['non_2xx']}")
    return tile["non_2xx"] == 0


def median_run(runs: list[dict[str, float]]) -> dict[str, float]:
    """The median of each figure across rounds (rate, p50, p99; non-2xx summed)."""
    return {key: (sum(r[key] for r in runs) if key == "non_2xx" else statistics.median(r[key] for r in runs))
            for key in runs[0]}


class FeedServer:
    """Loopback feeds /feed/<n>: one item each, a strong ETag, and 304 to a matching If-None-Match."""

    def __init__(self) -> None:
        self.counts = {"200": 0, "304": 0}
        counts, lock = self.counts, threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                n = self.path.rsplit("/", 1)[-1]
                body = (f'<?xml version="1.0"?><rss version="2.0"><channel><title>Feed {n}</title>'
                        f"<link>https://news.example.org/</link><description>d</description>"
                        f"<item><title>Post {n}</title><link>https://news.example.org/{n}</link>"
                        f"<guid>post-{n}</guid><description>&lt;p&gt;Hello &lt;b&gt;{n}&lt;/b&gt;&lt;/p&gt;"
                        f"</description><pubDate>Tue, 01 Dec 2026 09:00:00 GMT</pubDate></item>"
                        f"</channel></rss>").encode()
                etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
                status = 304 if self.headers.get("If-None-Match") == etag else 200
                with lock:
                    counts[str(status)] += 1
                self.send_response(status)
                self.send_header("ETag", etag)
                self.send_header("Content-Type", "application/rss+xml")
                self.send_header("Content-Length", "0" if status == 304 else str(len(body)))
                self.end_headers()
                if status == 200:
                    self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.base = f"http://localhost:{self.server.server_port}"


def refreshing(args: argparse.Namespace, env: dict[str, str]) -> bool:
    from providers import registry

    if "rss" not in registry.READERS:
        print("rss refresh: skipped (no 'rss' reader registered yet: providers/rss)")
        return True
    from hub import db
    from hub.app import create_app
    from hub.models.tiles import Tile
    from hub.tiles import refresh

    feeds = FeedServer()
    app = create_app({**env, "HUB_FEED_ALLOW_HOSTS": "localhost"})
    with app.app_context(), db.transaction() as session:
        tiles = [Tile(kind="rss", title=f"Feed {n}", address=f"{feeds.base}/feed/{n}") for n in range(args.tiles)]
        session.add_all(tiles)
        session.flush()
        ids = [tile.id for tile in tiles]
    timings = []
    try:
        for _ in range(2):
            started = time.perf_counter()
            with app.app_context():
                for tile_id in ids:
                    refresh.refresh_tile(db.session(), tile_id)
            timings.append(time.perf_counter() - started)
    finally:
        feeds.server.shutdown()
        app.extensions["db_engine"].dispose()
    print(f"rss refresh, {args.tiles} tiles, one process in sequence: first pass (200s) {timings[0]:.2f} s "
          f"({args.tiles / timings[0]:.0f} tiles/s); second pass (conditional GETs) {timings[1]:.2f} s "
          f"({args.tiles / timings[1]:.0f} tiles/s)")
    print(f"feed server answers: {feeds.counts['200']} x 200, {feeds.counts['304']} x 304")
    return feeds.counts["304"] == args.tiles


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    wrk_options(parser)
    parser.add_argument("--rounds", type=int, default=3, help="part 1: alternating rounds of each endpoint")
    parser.add_argument("--tiles", type=int, default=1000, help="rss tiles refreshed in part 2")
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("bench/tiles.py needs wrk: apt-get install wrk")

    work = Path(tempfile.mkdtemp(prefix="hub-bench-tiles-"))
    with scratch_database(args.database_url, work) as database:
        measure(args, work, database)


def measure(args: argparse.Namespace, work: Path, database: str) -> None:
    """Both parts against a migrated scratch database."""
    port = free_port()
    env, embedded = scratch_hub(work, database, port)
    try:
        ok = serving(args, work, env, port)
        ok = refreshing(args, env) and ok
    finally:
        embedded.shutdown()
        shutil.rmtree(work, ignore_errors=True)
    if not ok:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
