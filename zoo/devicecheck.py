"""Run a registered model on another device (CUDA) and compare it with the CPU.

The reference is the eager model on the CPU in float64; compared are the eager and scripted
models on the device in float32 (TF32 off, so that matrix products are true float32), and the
extra scripted loops (``generate``, ``decode``) token for token.
"""

import copy
from dataclasses import dataclass, field
from typing import Dict, List

import torch

from zoo.registry import get_spec
from zoo.scriptcheck import flatten


@dataclass
class DeviceReport:
    model: str
    device: str
    max_abs_error: Dict[str, float] = field(default_factory=dict)  # "eager:logits" -> error
    loops_equal: Dict[str, bool] = field(default_factory=dict)  # "generate" -> same tokens
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
            _compare_loops(name, model, runs["scripted"], target, report)
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = previous_tf32
    return report


def _compare_loops(name, cpu_model, device_scripted, target, report: DeviceReport) -> None:  # type: ignore[no-untyped-def]
    """The scripted loops on the device pick the same tokens as the eager loops on the CPU."""
    methods = get_spec(name).methods
    generator = torch.Generator().manual_seed(1)
    if "generate" in methods:
        vocab = get_spec(name).make_config().vocab_size
        prefix = torch.randint(0, vocab, (3, 5), generator=generator)
        for temperature, top_k in ((0.0, 0), (1.0, 0), (0.8, 10)):
            expected = cpu_model.generate(prefix, 30, temperature, top_k, 7)
            got = device_scripted.generate(prefix.to(target), 30, temperature, top_k, 7)
            report.loops_equal[f"generate(t={temperature}, k={top_k})"] = torch.equal(got.cpu(), expected)
    if "decode" in methods:
        config = get_spec(name).make_config()
        src = torch.randint(3, config.src_vocab_size, (3, 6), generator=generator)
        lengths = torch.tensor([6, 2, 4])
        expected = cpu_model.decode(src, lengths, 12)
        got = device_scripted.decode(src.to(target), lengths.to(target), 12)
        report.loops_equal["decode"] = torch.equal(got.cpu(), expected)
