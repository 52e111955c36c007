"""Speed of the scripted zoo.nn.LSTM/GRU against torch.nn.LSTM/GRU in eager mode.

Prints median milliseconds and the ratio (zoo / torch) for inference-mode forward and for
forward + backward, I=64, H=128, batch 1/32/256, T=50/100, and a 2048^3 float32 matrix
product's rate for scale. It never asserts a timing: these machines are noisy, so read the
ratios, which are measured side by side in one run.

    python benchmarks/recurrent_speed.py [--repeats 15] [--threads 2]
"""

import argparse
import statistics
import time
from typing import Callable, List, Tuple

import torch
from torch import nn

import zoo.nn

INPUT, HIDDEN = 64, 128
SHAPES: List[Tuple[int, int]] = [(1, 50), (1, 100), (32, 50), (32, 100), (256, 50), (256, 100)]


def median_ms(fn: Callable[[], object], repeats: int, budget_s: float) -> float:
    """Median wall time of ``fn`` after warm-up (TorchScript's profiling executor optimises a
    graph only after its first two calls)."""
    for _ in range(3):
        fn()
    times = []
    deadline = time.perf_counter() + budget_s
    while len(times) < repeats and (len(times) < 3 or time.perf_counter() < deadline):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def matmul_gflops(repeats: int) -> float:
    a = torch.randn(2048, 2048)
    b = torch.randn(2048, 2048)
    ms = median_ms(lambda: torch.mm(a, b), repeats, 5.0)
    return 2 * 2048**3 / (ms * 1e-3) / 1e9


def forward(module: nn.Module, x: torch.Tensor) -> Callable[[], object]:
    def run() -> object:
        with torch.inference_mode():
            return module(x)

    return run


def forward_backward(module: nn.Module, x: torch.Tensor) -> Callable[[], object]:
    def run() -> object:
        x_grad = x.detach().requires_grad_()
        out, _ = module(x_grad)
        out.sum().backward()
        module.zero_grad(set_to_none=True)
        return out

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=15, help="timed runs per case (median)")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(), help="torch threads")
    parser.add_argument("--budget", type=float, default=4.0, help="seconds per case at most (after 3 runs)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    print(f"torch {torch.__version__}, {args.threads} threads, I={INPUT} H={HIDDEN}, float32")
    print(f"2048^3 float32 torch.mm: {matmul_gflops(args.repeats):.1f} GFLOP/s")
    header = f"{'layer':5} {'batch':>5} {'T':>4} | {'pass':16} | {'torch ms':>9} {'zoo ms':>9} {'ratio':>6}"
    print(header)
    print("-" * len(header))
    for name, ours_cls, ref_cls in (("LSTM", zoo.nn.LSTM, nn.LSTM), ("GRU", zoo.nn.GRU, nn.GRU)):
        ref = ref_cls(INPUT, HIDDEN, batch_first=True)
        ours = ours_cls(INPUT, HIDDEN, batch_first=True)
        ours.load_state_dict(ref.state_dict())
        scripted = torch.jit.script(ours)
        for batch, steps in SHAPES:
            x = torch.randn(batch, steps, INPUT)
            for label, make in (("forward (infer)", forward), ("forward+backward", forward_backward)):
                ref_ms = median_ms(make(ref, x), args.repeats, args.budget)
                zoo_ms = median_ms(make(scripted, x), args.repeats, args.budget)
                print(
                    f"{name:5} {batch:5d} {steps:4d} | {label:16} | {ref_ms:9.2f} {zoo_ms:9.2f} "
                    f"{zoo_ms / ref_ms:6.2f}x",
                    flush=True,
                )


if __name__ == "__main__":
    main()
