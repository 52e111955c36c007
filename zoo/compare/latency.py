"""Inference latency of a trained model on the CPU, as a user of the eager model would see it:
eval mode, no autograd, real validation inputs, a few warm-up calls (the first calls allocate
and pick kernels), then the median of several timed calls (robust to a stray slow one).

One thread: with two, on a machine whose other cores are busy, a 45-parameter MLP took 8 ms
per call instead of 0.03 ms (each parallel region waits for a descheduled thread), so the
numbers said more about the machine's load than about the models; a server also answers one
request per thread."""

from dataclasses import dataclass
from statistics import median
from time import perf_counter
from typing import Any, Dict, List, Tuple

import torch
from torch import nn

from zoo.train.tasks import ForecastTask, LanguageModelTask, Task

BATCHES = (1, 64)
WARMUP = 3
RUNS = 15  # timed calls per batch size, at most
BUDGET_S = 2.0  # ... and no more timed calls past this many seconds (at least MIN_RUNS)
MIN_RUNS = 5
THREADS = 1


@dataclass(frozen=True)
class Latency:
    milliseconds: Dict[int, float]  # {batch: median ms per call}
    runs: Dict[int, int]  # {batch: timed calls}
    examples: int  # distinct validation examples the inputs were drawn from
    threads: int  # torch's intra-op threads while timing


def _rows(count: int, batch: int, call: int) -> List[int]:
    """Call ``call``'s examples: the next ``batch`` of the split, cycling when it holds fewer."""
    return [(call * batch + i) % count for i in range(batch)]


def inputs(task: Task, batch: int, call: int) -> Tuple[Any, ...]:
    """``forward``'s arguments for ``batch`` validation examples, as the task feeds them."""
    split = task.data.splits["val"]
    if isinstance(task, LanguageModelTask):  # ``batch`` windows of the stream, the state starting at zeros
        stream, width = split.ids, task.bptt
        starts = _rows(examples(task), batch, call)
        return torch.stack([stream[s * width : s * width + width] for s in starts]), None
    if isinstance(task, ForecastTask):  # one series: the validation window, repeated
        series = split.values[: split.end].unsqueeze(0)[:, :-1]  # (1, T, F)
        return (series.expand(batch, -1, -1).contiguous(),)
    args, _ = task.collate(split, _rows(len(split), batch, call))
    return args


def examples(task: Task) -> int:
    """How many distinct inputs ``inputs`` draws from: examples, a stream's windows, or the one series."""
    split = task.data.splits["val"]
    if isinstance(task, LanguageModelTask):
        return max(1, (split.ids.numel() - 1) // task.bptt)
    return 1 if isinstance(task, ForecastTask) else len(split)


def measure(model: nn.Module, task: Task) -> Latency:
    """``model`` (on the CPU, in eval mode) timed at each of ``BATCHES`` on ``THREADS`` threads;
    the inputs are made before the clock starts, a different slice of the validation split for
    each call."""
    threads = torch.get_num_threads()
    torch.set_num_threads(THREADS)
    try:
        milliseconds, runs = _timed(model.eval(), task)
    finally:
        torch.set_num_threads(threads)
    return Latency(milliseconds, runs, examples(task), THREADS)


@torch.inference_mode()
def _timed(model: nn.Module, task: Task) -> Tuple[Dict[int, float], Dict[int, int]]:
    milliseconds: Dict[int, float] = {}
    runs: Dict[int, int] = {}
    for batch in BATCHES:
        calls = [inputs(task, batch, call) for call in range(WARMUP + RUNS)]
        for args in calls[:WARMUP]:
            model(*args)
        times: List[float] = []
        started = perf_counter()
        for args in calls[WARMUP:]:
            begin = perf_counter()
            model(*args)
            times.append(perf_counter() - begin)
            if len(times) >= MIN_RUNS and perf_counter() - started > BUDGET_S:
                break
        milliseconds[batch], runs[batch] = 1000.0 * median(times), len(times)
    return milliseconds, runs
