"""Script a registered model, run it, save and reload it, and compare against eager mode.

The quickest proof that a model is TorchScript-ready: ``zoo models check NAME`` renders the
report made here.
"""

import io
import time
from dataclasses import dataclass, field
from typing import Any, List, Tuple

import torch

from zoo.registry import Config, get_spec
from zoo.store import flatten


@dataclass
class OutputDiff:
    name: str
    dtype: str
    shape: Tuple[int, ...]
    max_abs_diff: float  # scripted vs eager
    reload_max_abs_diff: float  # reloaded (torch.jit.save/load) vs scripted


@dataclass
class ScriptCheckReport:
    model: str
    config: Config
    batch: int
    time: int
    script_seconds: float
    eager_ms: float
    scripted_ms: float
    atol: float
    outputs: List[OutputDiff] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(
            o.max_abs_diff <= self.atol and o.reload_max_abs_diff <= self.atol
            for o in self.outputs
        )


def _timed(fn: Any, args: Tuple[Any, ...]) -> Tuple[Any, float]:
    start = time.perf_counter()
    out = fn(*args)
    return out, (time.perf_counter() - start) * 1e3


def check_scripting(
    name: str, config: Config, batch: int = 2, time_steps: int = 7, seed: int = 0, atol: float = 1e-5
) -> ScriptCheckReport:
    """Builds ``name`` with seeded weights, scripts it, and compares eager, scripted, reloaded."""
    if batch < 1 or time_steps < 1:
        raise ValueError(f"batch and time must be >= 1, got batch={batch}, time={time_steps}")
    spec = get_spec(name)
    torch.manual_seed(seed)
    model = spec.build(config).eval()
    generator = torch.Generator().manual_seed(seed)
    args = spec.example_inputs(config, batch, time_steps, generator)

    start = time.perf_counter()
    scripted = torch.jit.script(model)
    script_seconds = time.perf_counter() - start
    buffer = io.BytesIO()
    torch.jit.save(scripted, buffer)
    buffer.seek(0)
    reloaded = torch.jit.load(buffer)

    with torch.inference_mode():
        eager_out, eager_ms = _timed(model, args)
        scripted_out, scripted_ms = _timed(scripted, args)
        reloaded_out = reloaded(*args)

    names = [o.name for o in spec.signature(config).outputs]
    eager_t, scripted_t, reloaded_t = flatten(eager_out), flatten(scripted_out), flatten(reloaded_out)
    if not len(eager_t) == len(scripted_t) == len(reloaded_t) == len(names):
        raise RuntimeError(
            f"{name}: output count differs (signature {len(names)}, eager {len(eager_t)}, "
            f"scripted {len(scripted_t)}, reloaded {len(reloaded_t)})"
        )
    report = ScriptCheckReport(
        name, config, batch, time_steps, script_seconds, eager_ms, scripted_ms, atol
    )
    for out_name, e, s, r in zip(names, eager_t, scripted_t, reloaded_t):
        if e.dtype != s.dtype or e.shape != s.shape:
            raise RuntimeError(
                f"{name}: output {out_name} is {e.dtype} {tuple(e.shape)} eager but "
                f"{s.dtype} {tuple(s.shape)} scripted"
            )
        report.outputs.append(
            OutputDiff(
                out_name,
                str(e.dtype).removeprefix("torch."),
                tuple(e.shape),
                (e.double() - s.double()).abs().max().item() if e.numel() else 0.0,
                (s.double() - r.double()).abs().max().item() if s.numel() else 0.0,
            )
        )
    return report
