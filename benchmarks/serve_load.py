"""Load benchmark of `zoo serve` against name-gru on loopback: requests/s, p50 and p99 latency
with 1, 8 and 32 concurrent clients, dynamic batching on (--max-batch 32) and off (--max-batch 1),
and the server's resident memory before and after 10,000 requests.

Prints figures and the batching speed-up; never a timed test. The model is name-gru at its
recipe's size with the names vocabulary and seeded weights (speed does not depend on them).
Each request is one real surname from the bundled test split.

    .venv/bin/python benchmarks/serve_load.py [--requests 2000] [--memory-requests 10000]
"""

import argparse
import asyncio
import json
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List

import httpx

from export.bundle import export_bundle
from export.source import from_data
from zoo.data import load_dataset
from zoo.registry import get_spec

CLIENTS = (1, 8, 32)
WARM_UP = 2000  # requests from 32 clients before measuring (the first thousand run up to ~100 ms slower)


def _bundle(root: Path) -> Path:
    source = from_data("name-gru", **get_spec("name-gru").recipe.config)
    return export_bundle(source, root / "bundle", format="onnx", verify=False).bundle


def _names() -> List[str]:
    data = load_dataset("names")
    return ["".join(data.vocab.decode(ids)) for ids in data.splits["test"].ids]


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(bundles: List[Path], *options: str) -> tuple:
    """`zoo serve` over ``bundles`` (seeded, so --allow-unverified) once ready: (process, url)."""
    port = _free_port()
    process = subprocess.Popen([sys.executable, "-m", "zoo", "serve", *map(str, bundles), "--port", str(port),
                                "--allow-unverified", *options], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if httpx.get(url + "/readyz", timeout=1).status_code == 200:
                return process, url
        except httpx.TransportError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError("the server did not start")


async def _client(host: str, port: int, path: str, bodies: List[bytes], counter, latencies: List[float]) -> int:
    """One keep-alive HTTP/1.1 connection sending requests one at a time; returns non-200s.

    Written on asyncio streams rather than an HTTP library: with 32 clients on the same 2 cores
    as the server, a full client library's own CPU time would be what gets measured.
    """
    reader, writer = await asyncio.open_connection(host, port)
    errors = 0
    for number in counter:
        body = bodies[number % len(bodies)]
        head = f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        start = time.perf_counter()
        writer.write(head.encode() + body)
        status_line = await reader.readline()
        length = 0
        while True:
            line = await reader.readline()
            if line in (b"\r\n", b""):
                break
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        await reader.readexactly(length)
        latencies.append((time.perf_counter() - start) * 1e3)
        errors += b" 200 " not in status_line
    writer.close()
    return errors


async def load(url: str, clients: int, requests: int, names: List[str]) -> Dict[str, float]:
    """``clients`` connections send ``requests`` in all, one at a time each; latencies in ms."""
    host, port = url.removeprefix("http://").split(":")
    rng = random.Random(0)
    bodies = [json.dumps({"instances": [rng.choice(names)]}).encode() for _ in range(1000)]
    latencies: List[float] = []
    counter = iter(range(requests))
    start = time.perf_counter()
    errors = await asyncio.gather(*(_client(host, int(port), "/v1/models/name-gru/predict", bodies, counter, latencies)
                                    for _ in range(clients)))  # fmt: skip
    seconds = time.perf_counter() - start
    latencies.sort()
    return {"rps": requests / seconds, "p50": statistics.median(latencies),
            "p99": latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))], "max": latencies[-1], "errors": sum(errors)}  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000, help="requests per (clients, batching) case")
    parser.add_argument("--memory-requests", type=int, default=10000)
    args = parser.parse_args()
    names = _names()
    with tempfile.TemporaryDirectory() as scratch:
        bundle = _bundle(Path(scratch))
        results: Dict[tuple, Dict[str, float]] = {}
        for max_batch, label in ((32, "on"), (1, "off")):
            process, url = start([bundle], "--max-batch", str(max_batch), "--max-delay-ms", "5")
            try:
                asyncio.run(load(url, 32, WARM_UP, names))  # a steady server: batch shapes seen, allocator warm
                for clients in CLIENTS:
                    results[(label, clients)] = asyncio.run(load(url, clients, args.requests, names))
                if label == "on":
                    before = _rss_mib(process.pid)
                    memory = asyncio.run(load(url, 32, args.memory_requests, names))
                    after = _rss_mib(process.pid)
            finally:
                process.terminate()
                process.wait()
    print(f"name-gru, {args.requests} requests per case, one name per request, loopback, 2 CPU cores shared by clients and server")
    print("| batching | clients | requests/s | p50 ms | p99 ms | errors |")
    print("|---|---:|---:|---:|---:|---:|")
    for (label, clients), r in results.items():
        print(f"| {label} | {clients} | {r['rps']:.0f} | {r['p50']:.1f} | {r['p99']:.1f} | {r['errors']:.0f} |")
    speedup = results[("on", 32)]["rps"] / results[("off", 32)]["rps"]
    print(f"32 clients: batching gives {speedup:.2f}x the requests/s of no batching (target >= 4x); "
          f"p99 {results[('on', 32)]['p99']:.1f} ms (target < 50 ms)")  # fmt: skip
    print(f"resident memory: {before:.1f} MiB before, {after:.1f} MiB after {args.memory_requests} requests "
          f"(+{after - before:.1f} MiB; {memory['rps']:.0f} requests/s, {memory['errors']:.0f} errors)")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
