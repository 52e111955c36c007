"""Seeded token sampling that gives the same tokens in eager mode, TorchScript and ONNX.

``torch.multinomial`` draws from a device-specific generator, and ONNX's random operators take
their seed as a fixed attribute, so neither lets an exported ``generate`` reproduce PyTorch's
samples. Instead each sequence carries its own Park-Miller "minimal standard" generator
(x <- 48271 x mod 2^31-1; Park & Miller 1988, the multiplier of their 1993 note), computed in
int64 arithmetic: the products stay below 2^47, so no runtime overflows and every runtime
computes the same integers. A uniform draw then picks a token by inverting the cumulative
distribution.
"""

import torch
from torch import Tensor

# The constants are written out inside the functions: TorchScript cannot read module-level
# ints. Modulus 2^31 - 1 (a Mersenne prime), multiplier 48271.


def seed_streams(seed: int, batch: int, device: torch.device) -> Tensor:
    """One generator state per sequence, in [1, 2^31 - 1), from ``seed`` and the row index."""
    rows = torch.arange(batch, dtype=torch.long, device=device)
    return _streams(rows * 7919 + seed)


def seed_streams_tensor(seed: Tensor, batch: int) -> Tensor:
    """``seed_streams`` with the seed a 0-d int64 tensor (an exported program's input)."""
    rows = torch.arange(batch, dtype=torch.long, device=seed.device)
    return _streams(rows * 7919 + seed.to(torch.long))


def _streams(mixed: Tensor) -> Tensor:
    state = torch.remainder(mixed, 2147483646) + 1
    # A few steps decorrelate the neighbouring rows' first draws.
    for _ in range(3):
        state = next_state(state)
    return state


def next_state(state: Tensor) -> Tensor:
    return torch.remainder(state * 48271, 2147483647)


def uniform(state: Tensor) -> Tensor:
    """A float32 draw in (0, 1) for each generator state."""
    return state.to(torch.float32) / 2147483647.0


def sample_tokens(logits: Tensor, draw: Tensor, temperature: float, top_k: int) -> Tensor:
    """Picks one token per row of ``logits`` (B, V) using the uniform ``draw`` (B,).

    ``temperature <= 0`` means greedy (argmax); ``top_k > 0`` keeps only the k most likely
    tokens before sampling.
    """
    if temperature <= 0.0:
        return logits.argmax(dim=-1)
    scaled = logits.float() / temperature
    vocab = scaled.size(-1)
    if 0 < top_k < vocab:
        kth = torch.topk(scaled, top_k, dim=-1).values[:, top_k - 1 :]
        scaled = scaled.masked_fill(scaled < kth, float("-inf"))
    cumulative = torch.softmax(scaled, dim=-1).cumsum(dim=-1)  # (B, V)
    # The first token whose cumulative probability reaches the draw; scaling by the total
    # absorbs the rounding that leaves cumulative[-1] slightly off 1.
    threshold = draw.unsqueeze(1) * cumulative[:, vocab - 1 :]
    index = (cumulative < threshold).sum(dim=-1)
    return index.clamp(max=vocab - 1)


def sample_tokens_tensor(logits: Tensor, draw: Tensor, temperature: Tensor, top_k: Tensor) -> Tensor:
    """``sample_tokens`` with ``temperature`` and ``top_k`` as 0-d tensors, for torch.export.

    Returns the same tokens for every temperature and k, but decides greedy vs sampled and
    whether to truncate with ``torch.where`` rather than Python branches on tensor values, which
    an exported program cannot hold; the k-th largest score comes from a full sort and a gather,
    since ``topk`` needs a concrete k. The sampled branch runs the same softmax, cumsum and
    threshold arithmetic as ``sample_tokens`` even when greedy wins, so its result is discarded
    rather than avoided.
    """
    vocab = logits.size(-1)
    greedy = logits.argmax(dim=-1)
    sampling = temperature > 0.0
    # Divide by 1 on the greedy path: its scores are never read, and 1 keeps them finite.
    scaled = logits.float() / torch.where(sampling, temperature, torch.ones_like(temperature))
    k = top_k.to(torch.long)
    truncate = (k > 0) & (k < vocab)
    ranked = scaled.sort(dim=-1, descending=True).values  # (B, V), column k - 1 is topk's last
    column = k.clamp(1, vocab).sub(1).expand(scaled.size(0), 1)
    kth = ranked.gather(1, column)  # (B, 1)
    scaled = scaled.masked_fill(truncate & (scaled < kth), float("-inf"))
    cumulative = torch.softmax(scaled, dim=-1).cumsum(dim=-1)  # (B, V)
    threshold = draw.unsqueeze(1) * cumulative[:, vocab - 1 :]
    index = (cumulative < threshold).sum(dim=-1).clamp(max=vocab - 1)
    return torch.where(sampling, index, greedy)
