"""Hostile-input benchmark of `zoo serve`: every case of the hardening issue against a real
server over name-gru and char-lstm at their recipes' sizes, with the status it gets and the
server's resident memory before, at its peak and a few seconds after; then the memory budget
check and the load figures.

The budget check: each model's memory per token-step is measured with a 1,024-step request;
its documented budget is that x --max-tokens x --workers (two runs at the limit at once). The
largest requests the limits allow are then sent two at a time, and the peak must stay within
1.5 x the idle size + the budget, and the memory return to within 10% of idle.

Prints figures and pass/fail of those two ratios; never a timed test. Weights are seeded, not
trained: cost does not depend on them.

    .venv/bin/python benchmarks/serve_hostile.py [--load-seconds 30]
"""

import argparse
import asyncio
import json
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Dict, List

import httpx

from export.bundle import export_bundle
from export.source import from_data
from serve.limits import Limits
from serve_load import WARM_UP, _names, _rss_mib, load, start
from zoo.registry import get_spec

MODELS = ("name-gru", "char-lstm")
WORKERS = 2
SETTLE_S = 3.0  # the server trims its heap within a second of the last run


class Peak:
    """Samples a process's resident memory every 5 ms while in use."""

    def __init__(self, pid: int) -> None:
        self.pid, self.peak, self.running = pid, 0.0, False

    def __enter__(self) -> "Peak":
        self.peak, self.running = _rss_mib(self.pid), True
        self.thread = threading.Thread(target=self._watch, daemon=True)
        self.thread.start()
        return self

    def _watch(self) -> None:
        while self.running:
            self.peak = max(self.peak, _rss_mib(self.pid))
            time.sleep(0.005)

    def __exit__(self, *exc: Any) -> None:
        self.running = False
        self.thread.join()


def _bundles(root: Path) -> List[Path]:
    return [export_bundle(from_data(name, **get_spec(name).recipe.config), root / name, format="onnx", verify=False).bundle
            for name in MODELS]  # fmt: skip


def _post(url: str, path: str, body: Any) -> httpx.Response:
    content = body if isinstance(body, (bytes, str)) or callable(getattr(body, "__next__", None)) else json.dumps(body)
    return httpx.post(url + path, content=content, headers={"content-type": "application/json"}, timeout=120)


def _chunks(mib: int):  # type: ignore[no-untyped-def]
    for _ in range(mib):
        yield b" " * (1 << 20)


def _tokens(rows: int, steps: int) -> Dict[str, Any]:
    return {"shape": [rows, steps], "dtype": "int64", "data": [1] * (rows * steps)}


def measure(pid: int, label: str, send: Callable[[], List[str]]) -> Dict[str, Any]:
    before = _rss_mib(pid)
    start = time.perf_counter()
    with Peak(pid) as peak:
        outcome = send()
    seconds = time.perf_counter() - start
    time.sleep(SETTLE_S)
    return {"case": label, "outcome": ", ".join(outcome), "seconds": seconds, "before": before, "peak": peak.peak, "after": _rss_mib(pid)}


def _codes(*responses: httpx.Response) -> List[str]:
    codes = [str(r.status_code) for r in responses]
    return codes if len(codes) <= 3 else [f"{codes.count(c)} x {c}" for c in sorted(set(codes))]


def _sessions(url: str, count: int, rows: int) -> List[str]:
    """Opens ``count`` sessions and steps each once at batch ``rows``; then DELETEs them all."""
    statuses: Dict[int, int] = {}
    keys = []
    step = json.dumps({"inputs": {"tokens": _tokens(rows, 1)}})
    with httpx.Client(base_url=url, timeout=120) as client:
        for _ in range(count):
            opened = client.post("/v1/models/char-lstm/sessions")
            if opened.status_code != 200:
                statuses[opened.status_code] = statuses.get(opened.status_code, 0) + 1
                continue
            keys.append(opened.json()["session"])
            code = client.post(f"/v1/models/char-lstm/sessions/{keys[-1]}/step", content=step).status_code
            statuses[code] = statuses.get(code, 0) + 1
        for key in keys:
            client.delete(f"/v1/models/char-lstm/sessions/{key}")
    return [f"{n} x {code}" for code, n in sorted(statuses.items())] + ["all DELETEd"]


def _pair(url: str, path: str, body: Any) -> List[str]:
    """The same request from two clients at once (two workers run models in parallel)."""
    with ThreadPoolExecutor(2) as pool:
        return [str(r.status_code) for r in pool.map(lambda _: _post(url, path, body), range(2))]


def hostile_cases(url: str, pid: int) -> List[Dict[str, Any]]:
    nan_state = {"tokens": _tokens(1, 2), "h_0": {"shape": [1, 1, 512], "dtype": "float32", "data": [0.0] * 511 + ["NaN"]}}
    cases: List[tuple] = [
        ("1. 256 names x 4,096 chars (1 MB) to name-gru", lambda: _codes(_post(url, "/v1/models/name-gru/predict", {"instances": ["a" * 4096] * 256}))),
        ("1. 32 names x 4,096 chars (133 KB)", lambda: _codes(_post(url, "/v1/models/name-gru/predict", {"instances": ["a" * 4096] * 32}))),
        ("2. 500 MiB chunked body", lambda: _codes(_post(url, "/v1/models/name-gru/predict", _chunks(500)))),
        ("3. explicit tokens [256, 400] to char-lstm", lambda: _codes(_post(url, "/v1/models/char-lstm/predict", {"inputs": {"tokens": _tokens(256, 400)}}))),
        ("3. explicit tokens [16, 500], all logits", lambda: _codes(_post(url, "/v1/models/char-lstm/predict", {"inputs": {"tokens": _tokens(16, 500)}}))),
        ("4. 879 sessions stepped at batch 256", lambda: _sessions(url, 879, 256)),
        ("6. NaN in an explicit state", lambda: _codes(_post(url, "/v1/models/char-lstm/predict", json.dumps({"inputs": nan_state}).replace('"NaN"', "NaN")))),
        ("6. token id -1 / lengths 0 / temperature -1", lambda: _codes(
            _post(url, "/v1/models/name-gru/predict", {"inputs": {"tokens": {"shape": [1, 1], "dtype": "int64", "data": [-1]}}}),
            _post(url, "/v1/models/name-gru/predict", {"inputs": {"tokens": _tokens(1, 2), "lengths": {"shape": [1], "dtype": "int64", "data": [0]}}}),
            _post(url, "/v1/models/char-lstm/generate", {"prefix": "ROMEO", "temperature": -1}))),
        ('6. "" / "😀😀" to name-gru', lambda: _codes(_post(url, "/v1/models/name-gru/predict", {"instances": [""]}),
                                                      _post(url, "/v1/models/name-gru/predict", {"instances": ["😀😀"]}))),
        ("7. JSON nested 100,000 deep / 5,000 deep", lambda: _codes(_post(url, "/v1/models/name-gru/predict", "[" * 100_000 + "]" * 100_000),
                                                                 _post(url, "/v1/models/name-gru/predict", "[" * 5_000 + "]" * 5_000))),
        ("1b. 16 refused 2 MB bodies (400k floats each to name-gru)", lambda: _codes(*[
            _post(url, "/v1/models/name-gru/predict", json.dumps({"instances": [[0.5] * 400_000]})) for _ in range(16)])),
        ('7. dtype {} / "data": "12" / top_k 2^63', lambda: _codes(
            _post(url, "/v1/models/name-gru/predict", {"inputs": {"tokens": {"shape": [1, 1], "dtype": {}, "data": [1]}}}),
            _post(url, "/v1/models/name-gru/predict", {"inputs": {"tokens": {"shape": [1, 2], "dtype": "int64", "data": "12"}}}),
            _post(url, "/v1/models/char-lstm/generate", {"prefix": "ROMEO", "top_k": 2**63}))),
        ("7. token id = vocabulary size / lengths > T", lambda: _codes(
            _post(url, "/v1/models/name-gru/predict", {"inputs": {"tokens": {"shape": [1, 1], "dtype": "int64", "data": [88]}}}),
            _post(url, "/v1/models/name-gru/predict", {"inputs": {"tokens": _tokens(1, 2), "lengths": {"shape": [1], "dtype": "int64", "data": [3]}}}))),
        ("7. PUT /predict", lambda: [f"{r.status_code} Allow: {r.headers.get('allow')}" for r in [httpx.put(url + "/v1/models/name-gru/predict")]]),
    ]
    return [measure(pid, label, send) for label, send in cases]


def budget_check(url: str, pid: int, limits: Limits, idle: float) -> List[Dict[str, Any]]:
    probes = {
        "name-gru": ("/v1/models/name-gru/predict", {"instances": ["a" * 1024]}),
        "char-lstm": ("/v1/models/char-lstm/predict", {"instances": ["a" * 1024]}),
    }
    worst = {
        "name-gru": [("2 x 4,096 characters", "/v1/models/name-gru/predict", {"instances": ["a" * 4096] * 2}),
                     ("256 x 32 characters", "/v1/models/name-gru/predict", {"instances": ["Nakamura" * 4] * 256})],
        "char-lstm": [("2 x 4,096 characters", "/v1/models/char-lstm/predict", {"instances": ["a" * 4096] * 2}),
                      ("explicit [8, 1024], h_n only", "/v1/models/char-lstm/predict", {"inputs": {"tokens": _tokens(8, 1024)}, "outputs": ["h_n"]}),
                      ("generate 4,096 + 4,096 steps", "/v1/models/char-lstm/generate", {"prefix": "a" * 4096, "steps": 4096})],
    }  # fmt: skip
    rows = []
    for model, (path, body) in probes.items():
        probe = measure(pid, f"{model}: probe, 1,024 steps", lambda: _codes(_post(url, path, body)))
        per_step = max(probe["peak"] - probe["before"], 0.0) / 1024
        budget = per_step * limits.max_tokens * WORKERS
        rows.append({**probe, "budget": None})
        for label, path_, body_ in worst[model]:
            row = measure(pid, f"{model}: {label}, two at once", lambda: _pair(url, path_, body_))
            row["budget"] = budget
            row["within"] = row["peak"] <= 1.5 * idle + budget and row["after"] <= 1.1 * idle
            rows.append(row)
    sessions = measure(pid, f"sessions: fill the {limits.max_session_bytes >> 20} MiB budget at batch 256", lambda: _sessions(url, 200, 256))
    sessions["budget"] = limits.max_session_bytes / 2**20
    sessions["within"] = sessions["peak"] <= 1.5 * idle + sessions["budget"] and sessions["after"] <= 1.1 * idle
    rows.append(sessions)
    return rows


def load_with_big_requests(url: str, pid: int, seconds: float) -> Dict[str, Any]:
    """32 clients for ``seconds`` on name-gru, with three 133 KB requests (refused) mixed in."""
    names = _names()
    per_second = 1000
    before = _rss_mib(pid)
    with Peak(pid) as peak, ThreadPoolExecutor(1) as pool:
        big = pool.submit(lambda: [(_post(url, "/v1/models/name-gru/predict", {"instances": ["a" * 4096] * 32}), time.sleep(seconds / 4))[0].status_code
                                   for _ in range(3)])  # fmt: skip
        figures = asyncio.run(load(url, 32, int(seconds * per_second), names))
        big_codes = big.result()
    time.sleep(SETTLE_S)
    return {**figures, "before": before, "peak": peak.peak, "after": _rss_mib(pid), "big": big_codes}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--load-seconds", type=float, default=30.0, help="length of the 32-client load")
    args = parser.parse_args()
    limits = Limits()
    with tempfile.TemporaryDirectory() as scratch:
        process, url = start(_bundles(Path(scratch)))
        try:
            asyncio.run(load(url, 32, WARM_UP, _names()))  # a steady server: batch shapes seen, allocator warm
            time.sleep(SETTLE_S)
            idle = _rss_mib(process.pid)
            cases = hostile_cases(url, process.pid)
            budget = budget_check(url, process.pid, limits, idle)
            loaded = load_with_big_requests(url, process.pid, args.load_seconds)
        finally:
            process.terminate()
            process.wait()
    print(f"zoo serve, name-gru + char-lstm at recipe size, default limits; idle resident memory {idle:.0f} MiB")
    print("| case | status | s | RSS before MiB | peak | after |")
    print("|---|---|---:|---:|---:|---:|")
    for row in cases:
        print(f"| {row['case']} | {row['outcome']} | {row['seconds']:.2f} | {row['before']:.0f} | {row['peak']:.0f} | {row['after']:.0f} |")
    print("\nlargest allowed requests (budget = memory per token-step x --max-tokens x --workers)")
    print("| case | status | s | before | peak | after | budget MiB | peak <= 1.5 x idle + budget, after <= 1.1 x idle |")
    print("|---|---|---:|---:|---:|---:|---:|---|")
    for row in budget:
        budget_text = "" if row.get("budget") is None else f"{row['budget']:.0f}"
        within = "" if "within" not in row else ("yes" if row["within"] else "NO")
        print(f"| {row['case']} | {row['outcome']} | {row['seconds']:.2f} | {row['before']:.0f} | {row['peak']:.0f} | {row['after']:.0f} | {budget_text} | {within} |")
    print(f"\n5. 32 clients, {args.load_seconds:.0f} s of name-gru predict with three 133 KB requests mixed in ({', '.join(map(str, loaded['big']))}): "
          f"{loaded['rps']:.0f} requests/s, p50 {loaded['p50']:.1f} ms, p99 {loaded['p99']:.1f} ms, max {loaded['max']:.0f} ms, {loaded['errors']:.0f} errors; "
          f"RSS {loaded['before']:.0f} -> peak {loaded['peak']:.0f} -> {loaded['after']:.0f} MiB")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
