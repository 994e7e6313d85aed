"""The web app under load: `/api/search/text` with re-ranking from concurrent clients.

    ssamt quickstart --out /tmp/qs && ssamt index --checkpoint /tmp/qs/run --data /tmp/qs/data \
        --out /tmp/qs-index                       # the quick start's gallery (500 images)
    python benchmarks/bench_serve_load.py --index /tmp/qs-index
    python benchmarks/bench_serve_load.py --index /tmp/qs-index --images 100000

Starts the server as its own process on 127.0.0.1 (a free port): `ssamt serve --index
INDEX`, or with --images N this script itself as the server, over the index with its images
swapped for N random unit vectors as in bench_search.py (stage 1 searches N images; stage 2
re-ranks real region features, image i reads image i mod the split's size). The clients are
threads of this process with http.client, one keep-alive connection each, in bounded loops.
Queries are distinct captions of the gallery's split, drawn with --seed.

Measures, after a warm-up:
- requests/s, p50 and p99 latency and errors (non-200 answers, wrong bodies, exceptions) of
  --load-requests text searches (k 10, re-ranking the top --rerank-k) at each of --clients,
  and the CPU time per search of the server (/proc/PID/stat) and of the clients;
- how long /api/info (and an image's picture, where the gallery has one) takes idle and
  while 16 clients re-rank: the search route must not block the server's event loop;
- the server's resident memory (VmRSS of /proc/PID/status) before and after --requests
  searches from 16 clients;
- that clients which close their socket before the answer (at once, mid-search, with a
  reset) leave the server answering /api/info and a search correctly;
- tracebacks in the server's log.

Prints markdown tables with a machine line, for BENCHMARKS.md (section Search). Exits 1 when
any request failed, the disconnect check failed, the server logged a traceback or did not
stop cleanly on Ctrl-C (SIGINT).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import queue
import random
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from importlib.metadata import version
from pathlib import Path
from urllib.parse import quote, urlencode

import numpy as np

HOST = "127.0.0.1"
K = 10


# ---- the server --------------------------------------------------------------------------
def serve_tiled(index: str, images: int, port: int, threads: int, device: str) -> None:
    """The server process of --images: `ssamt serve`'s app over the tiled index."""
    from bench_search import TiledSplit, tile_gallery

    from ssamt.commands.serve import serve_until_stopped
    from ssamt.search import Searcher
    from ssamt.serve.app import Gallery, create_app

    class ServedSplit:
        """TiledSplit's `n` images for the search, and the real split for the rest of what
        the app reads: its folders, and an image's scene (that of image i mod N, as its
        features and captions); ids are indices here."""

        ids = None

        def __init__(self, split, n: int) -> None:
            self.real, self.tiled = split, TiledSplit(split, n)
            # image i's file row is image i mod N's, so its picture (scene) is that one's
            self.rows = split.rows[np.arange(n) % split.num_images]

        def image_captions(self, i: int) -> list[str]:
            return self.tiled.image_captions(i)

        def __getattr__(self, name: str):
            return getattr(self.real, name)

    searcher = Searcher.open(index, device=device, threads=threads)
    gallery = Gallery(searcher)
    tile_gallery(searcher, images, ServedSplit)
    searcher._id_to_index = None  # as the split's ids (None): an image id is its index
    searcher.manifest = {**searcher.manifest, "num_images": images}
    print(f"serving {index} tiled to {images} images at http://{HOST}:{port}", flush=True)
    serve_until_stopped(create_app(gallery), HOST, port)


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def start_server(args: argparse.Namespace, port: int, log) -> subprocess.Popen:
    if args.images:
        cmd = [sys.executable, str(Path(__file__).resolve()), "--index", args.index,
               "--images", str(args.images), "--threads", str(args.threads),
               "--device", args.device, "--serve-port", str(port)]
    else:
        cmd = [sys.executable, "-m", "ssamt", "serve", "--index", args.index, "--host", HOST,
               "--port", str(port), "--threads", str(args.threads), "--device", args.device]
    return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)


def wait_ready(server: subprocess.Popen, port: int, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the server exited with {server.returncode} before it was ready")
        try:
            status, body = get_once(port, "/api/info")
            if status == 200:
                return json.loads(body)
        except OSError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"the server was not ready after {timeout:.0f} s")


def stop_server(server: subprocess.Popen) -> int | None:
    if server.poll() is None:
        server.send_signal(signal.SIGINT)  # ssamt serve's graceful stop
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    return server.returncode


def rss_mb(pid: int, key: str = "VmRSS") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process `pid` so far (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpus_allowed(pid: int) -> str:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Cpus_allowed_list:"):
            return line.split(":", 1)[1].strip()
    return "?"


# ---- the clients -------------------------------------------------------------------------
class Client:
    """One keep-alive connection; get() -> (status, body, seconds)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.conn = http.client.HTTPConnection(HOST, port, timeout=120)

    def get(self, path: str) -> tuple[int, bytes, float]:
        t0 = time.perf_counter()
        try:
            self.conn.request("GET", path)
            response = self.conn.getresponse()
            body = response.read()
        except Exception:
            self.conn.close()  # the next request opens a new connection
            raise
        return response.status, body, time.perf_counter() - t0

    def close(self) -> None:
        self.conn.close()


def get_once(port: int, path: str) -> tuple[int, bytes]:
    """One request on its own connection: (status, body)."""
    client = Client(port)
    try:
        return client.get(path)[:2]
    finally:
        client.close()


def search_path(query: str, rerank_k: int) -> str:
    return "/api/search/text?" + urlencode({"q": query, "k": K, "rerank_k": rerank_k})


def search_ok(status: int, body: bytes, rerank_k: int, expect: int) -> bool:
    if status != 200:
        return False
    out = json.loads(body)
    return (out.get("rerank_k") == rerank_k and len(out.get("results", ())) == expect
            and all("picture" in hit for hit in out["results"]))


class Load:
    """`clients` threads sending `requests` searches in all (a bounded loop over a shared
    queue), all started together; latencies of the successful ones, errors counted."""

    def __init__(self, port: int, queries: list[str], requests: int, clients: int,
                 rerank_k: int, expect: int) -> None:
        self.port, self.clients, self.rerank_k, self.expect = port, clients, rerank_k, expect
        self.todo: queue.Queue[str] = queue.Queue()
        for i in range(requests):
            self.todo.put(queries[i % len(queries)])
        self.requests = requests
        self.latencies: list[float] = []
        self.errors: list[str] = []
        self.lock = threading.Lock()
        self.start_line = threading.Barrier(clients + 1)
        self.threads = [threading.Thread(target=self._client, daemon=True)
                        for _ in range(clients)]
        self.seconds = float("nan")

    def _client(self) -> None:
        client = Client(self.port)
        self.start_line.wait()
        while True:
            try:
                query = self.todo.get_nowait()
            except queue.Empty:
                break
            try:
                status, body, seconds = client.get(search_path(query, self.rerank_k))
                ok = search_ok(status, body, self.rerank_k, self.expect)
                what = f"HTTP {status}: {body[:200]!r}"
            except Exception as exc:  # noqa: BLE001 (every failure is counted)
                ok, what = False, f"{type(exc).__name__}: {exc}"
            with self.lock:
                if ok:
                    self.latencies.append(seconds)
                else:
                    self.errors.append(what)
        client.close()

    def start(self) -> Load:
        for t in self.threads:
            t.start()
        self.start_line.wait()
        self.t0 = time.perf_counter()
        return self

    def done(self) -> bool:
        return not any(t.is_alive() for t in self.threads)

    def join(self) -> Load:
        for t in self.threads:
            t.join()
        self.seconds = time.perf_counter() - self.t0
        return self

    def run(self) -> Load:
        return self.start().join()

    def row(self) -> dict:
        p50, p99 = percentiles(self.latencies)
        return {"clients": self.clients, "requests": self.requests,
                "per_s": self.requests / self.seconds, "p50": p50, "p99": p99,
                "errors": len(self.errors)}


def percentiles(seconds: list[float]) -> tuple[float, float]:
    if not seconds:
        return float("nan"), float("nan")
    p50, p99 = np.percentile(np.asarray(seconds) * 1000, [50, 99])
    return float(p50), float(p99)


def probe(port: int, paths: list[str], stop, pause: float) -> dict[str, list[float]]:
    """Time each of `paths` in turn, `pause` s apart, until stop() (one connection)."""
    client, times, errors = Client(port), {p: [] for p in paths}, []
    while not stop():
        for path in paths:
            try:
                status, _, seconds = client.get(path)
                if status == 200:
                    times[path].append(seconds)
                else:
                    errors.append(f"{path}: HTTP {status}")
            except Exception as exc:  # noqa: BLE001
                errors.append(f"{type(exc).__name__}: {exc}")
            time.sleep(pause)
    client.close()
    times["errors"] = errors
    return times


class Countdown:
    """A stop() for probe(): True from the (n+1)-th call on."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __call__(self) -> bool:
        self.n -= 1
        return self.n < 0


def disconnects(port: int, queries: list[str], rerank_k: int, pause: float) -> list[str]:
    """Searches whose client closes its socket before the answer: at once, after `pause` s
    (while the server computes), and with a reset (SO_LINGER 0); 4 of each. Returns how
    each went (all are expected to go unanswered)."""
    done = []
    for i in range(12):
        how = ("closed at once", "closed mid-search", "reset mid-search")[i % 3]
        s = socket.create_connection((HOST, port), timeout=10)
        s.sendall(f"GET {search_path(queries[i], rerank_k)} HTTP/1.1\r\nHost: {HOST}\r\n\r\n"
                  .encode())
        if how != "closed at once":
            time.sleep(pause)
        if how == "reset mid-search":
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()
        done.append(how)
    return done


# ---- the benchmark -----------------------------------------------------------------------
def gallery_queries(index: str, n: int, seed: int) -> list[str]:
    """`n` distinct captions of the index's split (its data folder as in the manifest)."""
    from ssamt.data.precomp import split_paths
    from ssamt.search.manifest import read_manifest

    manifest = read_manifest(Path(index))
    path = split_paths(Path(manifest["data"]), manifest["split"])["caps"]
    captions = sorted({line.strip() for line in path.read_text(encoding="utf-8").splitlines()
                       if line.strip()})
    return random.Random(seed).sample(captions, min(n, len(captions)))


def ms(x: float) -> str:
    return f"{x:,.1f}"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--index", required=True, help="an index folder built by `ssamt index`")
    p.add_argument("--images", type=int, default=0,
                   help="serve the index tiled to this many images (default: as it is)")
    p.add_argument("--clients", type=int, nargs="+", default=[1, 4, 16])
    p.add_argument("--load-requests", type=int, default=500,
                   help="searches at each number of clients, and while probing (500)")
    p.add_argument("--requests", type=int, default=2000,
                   help="searches between the two memory readings (2000)")
    p.add_argument("--rerank-k", type=int, default=32, help="candidates re-ranked (32)")
    p.add_argument("--threads", type=int, default=1, help="the server's torch and FAISS threads")
    p.add_argument("--device", default="cpu", help="the server's device (cpu)")
    p.add_argument("--seed", type=int, default=0, help="which captions are the queries")
    p.add_argument("--startup-timeout", type=float, default=600)
    p.add_argument("--serve-port", type=int, help=argparse.SUPPRESS)  # the tiled server
    args = p.parse_args(argv)
    if args.serve_port is not None:
        serve_tiled(args.index, args.images, args.serve_port, args.threads, args.device)
        return 0

    command = " ".join(["python", "benchmarks/bench_serve_load.py", *sys.argv[1:]])
    started = datetime.now(timezone.utc)
    load_start = os.getloadavg()
    queries = gallery_queries(args.index, 500, args.seed)
    port = free_port()
    with tempfile.NamedTemporaryFile("w+", prefix="ssamt-serve-", suffix=".log") as log:
        t0 = time.perf_counter()
        server = start_server(args, port, log)
        try:
            info = wait_ready(server, port, args.startup_timeout)
            ready_s = time.perf_counter() - t0
            report = measure(args, server, port, info, queries)
        except BaseException:
            stop_server(server)
            log.seek(0)
            print(f"the server's log:\n{log.read()}", file=sys.stderr)
            raise
        exit_code = stop_server(server)
        log.seek(0)
        server_log = log.read()
    tracebacks = server_log.count("Traceback")
    report.update(ready_s=ready_s, exit_code=exit_code, tracebacks=tracebacks)
    print_report(args, report, info, command, started, load_start)
    if tracebacks:
        print(f"\nthe server's log holds {tracebacks} traceback(s):\n{server_log}")
    failed = report["errors"] > 0 or not report["healthy"] or tracebacks > 0 or exit_code != 0
    return 1 if failed else 0


def measure(args, server: subprocess.Popen, port: int, info: dict, queries: list[str]) -> dict:
    expect, rk, pid = min(K, info["num_images"]), args.rerank_k, server.pid
    out: dict = {"rss_ready": rss_mb(pid), "cpus": cpus_allowed(pid)}
    warm_up = Load(port, queries, 20, 1, rk, expect).run()  # spaCy, torch, FAISS
    failures = warm_up.errors

    picture = f"/api/images/{quote(str(info['example_id']), safe='')}/picture"
    paths = ["/api/info"] + [picture] * (get_once(port, picture)[0] == 200)
    idle = probe(port, paths, Countdown(100), 0.02)
    failures += idle.pop("errors")

    out["rows"] = []
    for c in args.clients:
        server_cpu, client_cpu = cpu_seconds(pid), time.process_time()
        load = Load(port, queries, args.load_requests, c, rk, expect).run()
        per = 1000 / load.requests  # ms per search
        out["rows"].append({**load.row(), "server_cpu": per * (cpu_seconds(pid) - server_cpu),
                            "client_cpu": per * (time.process_time() - client_cpu)})
        failures += load.errors

    load = Load(port, queries, args.load_requests, 16, rk, expect).start()
    busy = probe(port, paths, load.done, 0.02)
    load.join()
    failures += load.errors + busy.pop("errors")
    out["busy_search"] = load.row()
    out["probes"] = [(path, *percentiles(idle[path]), *percentiles(busy[path]), len(busy[path]))
                     for path in paths]

    before, hwm_before = rss_mb(pid), rss_mb(pid, "VmHWM")
    steps, sent, seconds, errors = [], 0, 0.0, 0
    for quarter in range(4):  # RSS after each quarter: a leak grows, a warm-up levels off
        n = args.requests * (quarter + 1) // 4 - sent
        memory = Load(port, queries[sent % len(queries):] + queries, n, 16, rk, expect).run()
        sent, seconds, errors = sent + n, seconds + memory.seconds, errors + len(memory.errors)
        failures += memory.errors
        steps.append(rss_mb(pid))
    out["memory"] = {"requests": sent, "before": before, "after": steps[-1], "steps": steps,
                     "hwm_before": hwm_before, "hwm_after": rss_mb(pid, "VmHWM"),
                     "errors": errors, "per_s": sent / seconds}

    one = next((row["p50"] for row in out["rows"] if row["clients"] == 1),
               warm_up.row()["p50"]) / 1000  # one search alone, s
    out["one_search_ms"] = 1000 * one
    one = one if one > 0 else 0.05  # (nan when no search succeeded)
    dropped = disconnects(port, queries, rk, one / 2)
    time.sleep(max(1.0, 20 * one))  # let the abandoned searches finish
    alive = server.poll() is None
    status, body = get_once(port, "/api/info")
    info_ok = status == 200 and json.loads(body)["num_images"] == info["num_images"]
    status, body = get_once(port, search_path(queries[0], rk))
    search_after = search_ok(status, body, rk, expect)
    out["disconnect"] = {"dropped": len(dropped), "alive": alive, "info": info_ok,
                         "search": search_after, "rss": rss_mb(pid)}
    out["healthy"] = alive and info_ok and search_after
    out["errors"], out["error_examples"] = len(failures), list(dict.fromkeys(failures))[:5]
    return out


def print_report(args, r: dict, info: dict, command: str, started: datetime,
                 load_start: tuple) -> None:
    ended = datetime.now(timezone.utc)
    print(f"machine: {socket.gethostname()}, {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPUs (server and clients on CPUs {r['cpus']}), Python "
          f"{platform.python_version()}, torch {version('torch')}, server torch / FAISS "
          f"threads {args.threads}, {started:%Y-%m-%d %H:%M}-{ended:%H:%M} UTC, load average "
          f"{load_start[0]:.2f} at the start, {os.getloadavg()[0]:.2f} at the end")
    print(f"command: {command}")
    tiled = f", tiled to {args.images:,} images" if args.images else ""
    print(f"gallery: {args.index} ({info['split']} split, {info['num_images']:,} images"
          f"{tiled}, {info['kind']} index); server ready in {r['ready_s']:.1f} s, "
          f"RSS {r['rss_ready']:.0f} MB; /api/search/text with k={K}, rerank_k={args.rerank_k}\n")
    print("| clients | searches | requests/s | p50 ms | p99 ms | errors | server CPU ms / search "
          "| clients' CPU ms / search |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for row in r["rows"]:
        print(f"| {row['clients']} | {row['requests']:,} | {row['per_s']:.1f} | {ms(row['p50'])} "
              f"| {ms(row['p99'])} | {row['errors']} | {ms(row['server_cpu'])} "
              f"| {ms(row['client_cpu'])} |")
    b = r["busy_search"]
    print(f"\nOther routes, idle and while 16 clients re-rank ({b['requests']:,} searches, "
          f"{b['per_s']:.1f}/s, search p50 {ms(b['p50'])} ms, p99 {ms(b['p99'])} ms):\n")
    print("| route | idle p50 ms | idle p99 ms | under load p50 ms | under load p99 ms | "
          "probes under load |")
    print("|---|---:|---:|---:|---:|---:|")
    for path, ip50, ip99, bp50, bp99, n in r["probes"]:
        print(f"| `{path}` | {ms(ip50)} | {ms(ip99)} | {ms(bp50)} | {ms(bp99)} | {n} |")
    one, info_p99 = r["one_search_ms"], r["probes"][0][4]
    verdict = ("blocked behind searches: check that no route runs the search on the event loop"
               if info_p99 >= one else "not blocked behind searches" if info_p99 < one
               else "no successful search to compare with")
    print(f"\n/api/info under load: p99 {ms(info_p99)} ms against {ms(one)} ms for one search "
          f"alone (p50, 1 client): {verdict}")
    m = r["memory"]
    steps = ", ".join(f"{x:.0f}" for x in m["steps"])
    print(f"\nMemory: server RSS {m['before']:.0f} MB before {m['requests']:,} searches from 16 "
          f"clients, {m['after']:.0f} MB after: **{m['after'] - m['before']:+.1f} MB** "
          f"(after each quarter: {steps} MB; peak {m['hwm_before']:.0f} -> "
          f"{m['hwm_after']:.0f} MB; {m['per_s']:.1f} searches/s; {m['errors']} errors)")
    d = r["disconnect"]
    print(f"Disconnects: {d['dropped']} searches whose client closed the socket before the "
          f"answer (at once, mid-search, reset); then server running: {d['alive']}, /api/info "
          f"correct: {d['info']}, a search correct: {d['search']}; RSS {d['rss']:.0f} MB")
    print(f"Errors: {r['errors']} failed requests in all; {r['tracebacks']} tracebacks in the "
          f"server's log; server exit code after Ctrl-C: {r['exit_code']}")
    for line in r["error_examples"][:5]:
        print(f"  e.g. {line}")


if __name__ == "__main__":
    sys.exit(main())
