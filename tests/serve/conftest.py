"""Bundles and real `zoo serve` processes shared by the server tests (made once per session)."""

import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Dict, Iterator, List

import httpx
import pytest

from export.bundle import export_bundle
from export.source import from_data, from_registry


@pytest.fixture(scope="session")
def bundles(tmp_path_factory) -> Dict[str, Path]:
    """name-gru, char-lstm and mnist-cnn with their data's tokenizers and labels, manual-lstm from the registry,
    and name-gru exported with --recurrent loop; without verification (the server tests pass
    --allow-unverified)."""
    root = tmp_path_factory.mktemp("serve")
    made = {name: export_bundle(from_data(name, hidden_size=16), root / name, verify=False).bundle
            for name in ("name-gru", "char-lstm")}  # fmt: skip
    made["mnist-cnn"] = export_bundle(from_data("mnist-cnn"), root / "mnist-cnn", verify=False).bundle  # images; pixel scaling
    made["manual-lstm"] = export_bundle(from_registry("manual-lstm"), root / "manual-lstm", verify=False).bundle  # float steps, state, lengths
    # The loop translation runs long enough to be stopped part way: onnxruntime checks
    # RunOptions.terminate between nodes and Loop iterations, and a native node is one node.
    made["name-gru-loop"] = export_bundle(from_data("name-gru", hidden_size=16), root / "name-gru-loop",
                                          verify=False, recurrent="loop").bundle  # fmt: skip
    return made


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running_server(bundles: List[Path], *options: str) -> Iterator[tuple]:
    """`zoo serve` on a free loopback port until ready; yields (url, process)."""
    port = free_port()
    command = [sys.executable, "-m", "zoo", "serve", *map(str, bundles), "--port", str(port), "--allow-unverified", *options]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 90
    try:
        while time.time() < deadline:
            try:
                if httpx.get(url + "/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
            if process.poll() is not None:
                pytest.fail(f"the server exited: {process.stdout.read()}")
        yield url, process
    finally:
        process.terminate()
        process.wait(timeout=10)


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")
