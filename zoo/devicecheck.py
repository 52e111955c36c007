"""Run a registered model on another device (CUDA) and compare it with the CPU.

The reference is the eager model on the CPU in float64; compared are the eager and scripted
models on the device in float32 (TF32 off, so that matrix products are true float32), and the
spec's extra graphs (``ModelSpec.graphs``: ``generate``, ``decode``, ...) token for token on
their verification cases.
"""

import copy
from dataclasses import dataclass, field
from typing import Any, Dict, List

import torch
from torch import nn

from zoo.registry import Config, ModelSpec, get_spec
from zoo.store import flatten


@dataclass
class DeviceReport:
    model: str
    device: str
    max_abs_error: Dict[str, float] = field(default_factory=dict)  # "eager:logits" -> error
    loops_equal: Dict[str, bool] = field(default_factory=dict)  # "generate(b1-t1-greedy)" -> same tokens
    problems: List[str] = field(default_factory=list)

    def passed(self, atol: float) -> bool:
        return (
            not self.problems
            and all(e <= atol for e in self.max_abs_error.values())
            and all(self.loops_equal.values())
        )


def _to(value, device: torch.device, dtype: torch.dtype):  # type: ignore[no-untyped-def]
    if isinstance(value, torch.Tensor):
        return value.to(device, dtype) if value.is_floating_point() else value.to(device)
    return type(value)(_to(v, device, dtype) for v in value)


def check_device(
    name: str, device: str = "cuda", batch: int = 3, time_steps: int = 7, seed: int = 0
) -> DeviceReport:
    spec = get_spec(name)
    config = spec.make_config()
    torch.manual_seed(seed)
    model = spec.build(config).eval()
    args = spec.example_inputs(config, batch, time_steps, torch.Generator().manual_seed(seed))
    target = torch.device(device)
    report = DeviceReport(name, device)
    previous_tf32 = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    try:
        with torch.no_grad():
            # Module.to/.double move in place: each role gets its own copy.
            reference_model = copy.deepcopy(model).double()
            reference = flatten(reference_model(*_to(args, torch.device("cpu"), torch.float64)))
            on_device = copy.deepcopy(model).to(target)
            runs = {"eager": on_device, "scripted": torch.jit.script(on_device)}
            names = [o.name for o in spec.signature(config).outputs]
            for label, runner in runs.items():
                outputs = flatten(runner(*_to(args, target, torch.float32)))
                for out_name, expected, got in zip(names, reference, outputs):
                    if got.device.type != target.type:
                        report.problems.append(f"{label}:{out_name} came back on {got.device}")
                    error = (got.cpu().double() - expected).abs().max().item() if got.numel() else 0.0
                    report.max_abs_error[f"{label}:{out_name}"] = error
            _compare_graphs(spec, config, model, reference_model, runs["scripted"], target, report)
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = previous_tf32
    return report


def _compare_graphs(
    spec: ModelSpec, config: Config, cpu_model: nn.Module, reference_model: nn.Module, device_scripted: Any,
    target: torch.device, report: DeviceReport,
) -> None:  # fmt: skip
    """Each extra graph, scripted on the device, on its verification cases (its example, batch 3
    x time 6, when it declares none): token outputs equal those of the eager model on the CPU,
    real-valued ones are within the tolerance of the float64 model's."""
    for graph in spec.graphs:
        if graph.cases is not None:
            cases = list(graph.cases(config))
        else:
            cases = [("b3-t6", graph.example(config, 3, 6, torch.Generator().manual_seed(1)))]
        picks_tokens = not any(spec.torch_dtype.is_floating_point for spec in graph.outputs(config))
        for label, args in cases:
            key = f"{graph.name}({label})"
            got = flatten(graph.call(device_scripted, _to(args, target, torch.float32)))
            if picks_tokens:  # a loop that picks tokens: the same ids as on the CPU
                expected = flatten(graph.call(cpu_model, args))
                report.loops_equal[key] = len(got) == len(expected) and all(
                    torch.equal(g.cpu(), e) for g, e in zip(got, expected)
                )
                continue
            truth = flatten(graph.call(reference_model, _to(args, torch.device("cpu"), torch.float64)))
            for index, (g, t) in enumerate(zip(got, truth)):
                report.max_abs_error[f"{key}:{index}"] = (g.cpu().double() - t.double()).abs().max().item() if g.numel() else 0.0