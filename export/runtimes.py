"""The runtimes a bundle is checked on, behind one call: flat numpy inputs -> flat numpy outputs.

- ``reference``: the eager model in float64 (the truth): the exporting model itself, or for `zoo verify BUNDLE` the one rebuilt from ``weights.safetensors``.
- ``eager-fp32``/``eager-cuda``: the same eager model in float32.
- ``torchscript``/``torchscript-cuda``: ``model.pt`` through ``torch.jit.load``.
- ``pt2``/``pt2-cuda``: a graph's ``torch.export`` program (``model.pt2``) through
  ``torch.export.load(...).module()``; ``aoti``: its AOTInductor package through
  ``torch._inductor.aoti_load_package``.
- ``onnxruntime-cpu``/``onnxruntime-cuda``: the ONNX file in an ``InferenceSession``; a CUDA
  session that did not get ``CUDAExecutionProvider`` is an error, never a silent CPU run.
- ``onnx-reference``: ``onnx.reference.ReferenceEvaluator``, an independent implementation of
  the ONNX operators in numpy (slow: the smallest case only).
"""

from pathlib import Path
from typing import Any, Callable, List, Sequence

import numpy as np
import torch
from torch import nn

from export.graphs import Args, Graph, call
from zoo.store import flatten, unflatten

Runner = Callable[[List[np.ndarray]], List[np.ndarray]]


class RuntimeUnavailable(RuntimeError):
    """A runtime asked for that this machine cannot provide (no CUDA, no CUDA provider)."""


def torch_runner(module: nn.Module, graph: Graph, template: Sequence[object], dtype: torch.dtype, device: str) -> Runner:
    """Runs ``graph`` on a torch module (eager or scripted) with floats in ``dtype``."""

    def run(inputs: List[np.ndarray]) -> List[np.ndarray]:
        tensors = []
        for array in inputs:
            tensor = torch.from_numpy(np.array(array, copy=True))  # writable, contiguous
            if tensor.is_floating_point() and tensor.dim() > 0:
                tensor = tensor.to(dtype)
            tensors.append(tensor.to(device))
        args: Args = unflatten(template, tensors)
        with torch.no_grad():
            outputs = flatten(call(graph, module, args))
        return [o.detach().cpu().numpy() for o in outputs]

    return run


def program_runner(module: Any, template: Sequence[object], device: str) -> Runner:
    """Runs a program's module (an exported program's ``.module()`` or an AOTInductor package):
    the graph itself, so an extra graph takes its wrapper's tensor arguments directly."""

    def run(inputs: List[np.ndarray]) -> List[np.ndarray]:
        tensors = [torch.from_numpy(np.array(array, copy=True)).to(device) for array in inputs]
        with torch.no_grad():
            outputs = flatten(module(*unflatten(template, tensors)))
        return [o.detach().cpu().numpy() for o in outputs]

    return run


def onnxruntime_runner(model_bytes: bytes, graph: Graph, device: str) -> Runner:
    import onnxruntime as ort

    provider = "CUDAExecutionProvider" if device == "cuda" else "CPUExecutionProvider"
    if provider not in ort.get_available_providers():
        raise RuntimeUnavailable(
            f"onnxruntime {ort.__version__} has no {provider} (available: {', '.join(ort.get_available_providers())}); "
            "install onnxruntime-gpu for --device cuda"
        )
    if device == "cuda" and hasattr(ort, "preload_dlls"):
        # onnxruntime-gpu finds CUDA, cuBLAS, cuFFT and cuDNN in the nvidia-* wheels torch brought.
        ort.preload_dlls()
    options = ort.SessionOptions()
    options.log_severity_level = 3  # the CUDA provider warns about Loop nodes it leaves to the CPU
    # TF32 off on CUDA, as for torch: the comparison is against true float32 arithmetic.
    providers = [(provider, {"use_tf32": "0"})] if device == "cuda" else [provider]
    session = ort.InferenceSession(model_bytes, options, providers=providers)
    if session.get_providers()[0] != provider:
        raise RuntimeUnavailable(f"onnxruntime fell back to {session.get_providers()} instead of {provider}")
    names = [t.name for t in graph.inputs]

    def run(inputs: List[np.ndarray]) -> List[np.ndarray]:
        return session.run(None, dict(zip(names, inputs)))

    return run


def onnx_reference_runner(model_bytes: bytes, graph: Graph) -> Runner:
    from onnx.reference import ReferenceEvaluator

    evaluator = ReferenceEvaluator(model_bytes)
    names = [t.name for t in graph.inputs]

    def run(inputs: List[np.ndarray]) -> List[np.ndarray]:
        return [np.asarray(o) for o in evaluator.run(None, dict(zip(names, inputs)))]

    return run


def onnx_reference_gap(proto: "onnx.ModelProto") -> str:
    """Why ``onnx.reference`` cannot evaluate this graph, or "" when it can. Its ``RNN`` knows
    only the ``Tanh`` activation (``Relu`` raises). It also ignores ``sequence_lens``, which the
    smallest case it runs (one row at full length) does not need."""
    from export.onnx_export import iter_nodes

    for node in iter_nodes(proto.graph):
        if node.op_type == "RNN":
            for attribute in node.attribute:
                names = {a.decode() for a in attribute.strings} if attribute.name == "activations" else set()
                if names - {"Tanh"}:
                    return f"onnx.reference's RNN operator implements only the Tanh activation; this graph uses {', '.join(sorted(names))}"
    return ""


def load_torchscript(path: Path, device: str) -> Any:
    return torch.jit.load(str(path), map_location=device).eval()


def require_cuda() -> None:
    if not torch.cuda.is_available():
        raise RuntimeUnavailable("--device cuda needs a CUDA GPU and a CUDA build of torch; none here")
    # TF32 would change float32 matrix products on Ampere and later: compare true float32.
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
