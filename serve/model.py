"""One served bundle: its manifest, a runtime for each graph, and runs that can be stopped.

The bundle is read through ``zoo.store`` (torch-free): its manifest, the gate on its files, and
each graph's state and ragged pairs, read once here and asked of ``ServedModel.pairs``.
"""

import asyncio
import threading
from concurrent.futures import Executor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np

from export.feeds import check_feeds
from serve import memory
from serve.manifest_check import check_manifest
from zoo.store import MODEL_PT, BundleError, Pairs, check_files, flatten, graph_pairs, read_manifest, unflatten

RUNTIMES = ("onnxruntime", "torchscript")
Arrays = Dict[str, np.ndarray]
Runner = Callable[[Arrays, Any], Arrays]  # (feeds, onnxruntime RunOptions or None) -> outputs


def _onnx_runner(path: Path, threads: int) -> Runner:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    # Without the arena, a large run's buffers go back to the allocator when it ends, so the
    # server's memory returns to its idle size instead of staying at its largest request.
    options.enable_cpu_mem_arena = False
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]

    def run(feeds: Arrays, run_options: Any) -> Arrays:
        return dict(zip(names, session.run(None, feeds, run_options)))

    return run


def _arguments(structure: List[Any], feeds: Arrays, scalars: Dict[str, str]) -> Tuple[Any, ...]:
    """Positional arguments from the manifest's nesting; scalar inputs become Python numbers
    (generate/decode take ``steps: int``, ``temperature: float``, ...)."""
    import torch

    def value(name: str) -> Any:
        if name in scalars:
            number = feeds[name].item()
            return float(number) if scalars[name].startswith("float") else int(number)
        return torch.from_numpy(np.array(feeds[name], copy=True))

    return unflatten(structure, [value(name) for name in flatten(structure)])


def _torchscript_runner(path: Path, graph: str, entry: Dict[str, Any], threads: int) -> Runner:
    import torch

    torch.set_num_threads(threads)
    module = torch.jit.load(str(path)).eval()
    method = module if graph == "forward" else getattr(module, graph)
    names = [o["name"] for o in entry["outputs"]]
    scalars = {t["name"]: t["dtype"] for t in entry["inputs"] if not t["shape"]}

    def run(feeds: Arrays, run_options: Any) -> Arrays:
        with torch.no_grad():
            outputs = flatten(method(*_arguments(entry["arguments"], feeds, scalars)))
        return {n: o.numpy() for n, o in zip(names, outputs)}

    return run


class ModelRun:
    """One model run in a worker thread. ``cancel`` stops an onnxruntime run between two
    operators (``RunOptions.terminate``, also inside a ``Loop``); a TorchScript run cannot be
    stopped and finishes, its cost bounded by the request limits."""

    def __init__(self, future: "asyncio.Future[Arrays]", run_options: Any) -> None:
        self.future = future
        self.run_options = run_options

    def cancel(self) -> None:
        if self.run_options is not None and not self.future.done():
            self.run_options.terminate = True

    async def result(self) -> Arrays:
        try:
            return await self.future
        except asyncio.CancelledError:  # the request gave up (timeout, client gone): stop the run
            self.cancel()
            raise


@dataclass
class ServedModel:
    name: str
    bundle: Path
    manifest: Dict[str, Any]
    runtime: str
    runners: Dict[str, Runner] = field(default_factory=dict)
    graph_pairs: Dict[str, Pairs] = field(default_factory=dict)  # graph -> its state and ragged pairs
    # onnxruntime sessions are thread-safe; a TorchScript module is run by one thread at a time.
    lock: Optional[threading.Lock] = None

    @property
    def task(self) -> str:
        return self.manifest["model"]["task"]

    def graph(self, name: str = "forward") -> Dict[str, Any]:
        return self.manifest["graphs"][name]

    def pairs(self, graph: str = "forward") -> Pairs:
        """The state and ragged pairs of graph ``graph``, as the manifest gives them."""
        return self.graph_pairs[graph]

    def run(self, feeds: Arrays, graph: str = "forward", run_options: Any = None) -> Arrays:
        check_feeds(self.graph(graph)["inputs"], feeds)
        try:
            if self.lock is None:
                return self.runners[graph](feeds, run_options)
            with self.lock:
                return self.runners[graph](feeds, run_options)
        finally:
            memory.after_run()

    def start(self, feeds: Arrays, executor: Executor, graph: str = "forward") -> ModelRun:
        """Starts a run in ``executor``; call from the event loop."""
        run_options = self._run_options()
        future = asyncio.get_running_loop().run_in_executor(executor, self.run, feeds, graph, run_options)
        return ModelRun(future, run_options)

    def _run_options(self) -> Any:
        if self.runtime != "onnxruntime":
            return None
        import onnxruntime as ort

        options = ort.RunOptions()
        options.log_severity_level = 4  # a stopped run is expected; real failures are logged by the server
        return options

    def signature(self) -> Dict[str, Any]:
        """What ``GET /v1/models`` shows."""
        return {
            "name": self.name,
            "task": self.task,
            "task_meaning": self.manifest["model"].get("task_meaning"),
            "runtime": self.runtime,
            "stateful": bool(self.pairs().state),
            "graphs": {g: {"inputs": e["inputs"], "outputs": e["outputs"]} for g, e in self.manifest["graphs"].items()},
            "state_pairs": self.manifest["state_pairs"],
            "ragged": self.manifest["ragged"],
            "labels": self.manifest["labels"],
            "tokenizer": self.manifest.get("tokenizer"),
            "verified": _verified(self.manifest),
        }


def _verified(manifest: Dict[str, Any]) -> bool:
    parity = manifest.get("parity")
    return isinstance(parity, dict) and parity.get("passed") is True


def load_model(bundle: Path, runtime: str, threads: int = 1, allow_unverified: bool = False) -> ServedModel:
    """Reads and checks a bundle, and opens one runtime per graph it has a file for."""
    if runtime not in RUNTIMES:
        raise ValueError(f"--runtime must be one of {', '.join(RUNTIMES)}, got {runtime!r}")
    manifest = read_manifest(bundle)
    check_files(bundle, manifest)
    check_manifest(bundle, manifest)
    if not allow_unverified and not _verified(manifest):
        state = "failed its verification" if isinstance(manifest.get("parity"), dict) else "was never verified"
        raise BundleError(f"{bundle} {state}; run `zoo verify {bundle}` (or use it anyway with --allow-unverified)")
    model = ServedModel(manifest["model"]["name"], bundle, manifest, runtime,
                        graph_pairs={graph: graph_pairs(manifest, graph) for graph in manifest["graphs"]})  # fmt: skip
    for graph, entry in manifest["graphs"].items():
        try:
            if runtime == "onnxruntime":
                if entry.get("onnx"):
                    model.runners[graph] = _onnx_runner(bundle / entry["onnx"], threads)
            elif (bundle / MODEL_PT).is_file():
                model.runners[graph] = _torchscript_runner(bundle / MODEL_PT, graph, entry, threads)
                model.lock = threading.Lock()
        except Exception as exc:  # noqa: BLE001 - the runtimes raise their own types for a file they cannot load
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise BundleError(f"{bundle}: the {graph} graph does not load in {runtime} ({first[:200]}); export it again") from None
    if "forward" not in model.runners:
        wanted = "model.onnx" if runtime == "onnxruntime" else MODEL_PT
        raise ValueError(f"{bundle} has no {wanted} for --runtime {runtime}; export it with --format all")
    return model
