"""Image augmentation: every training image moved by a few pixels (``--shift-augment``)."""

import torch
from torch import Tensor
from torch.nn import functional as F


def shift_offsets(count: int, pixels: int, seed: int, epoch: int, step: int) -> Tensor:
    """(count, 2) offsets in [0, 2 * pixels] for one global batch, drawn from (seed, epoch,
    step): each process takes its share of the same draw, so the shifts are the same with one
    process or many, and after a resume."""
    generator = torch.Generator().manual_seed(((seed * 1_000_003 + epoch) * 1_000_003 + step) % 2**64)
    return torch.randint(0, 2 * pixels + 1, (count, 2), generator=generator)


def shift_images(images: Tensor, offsets: Tensor, pixels: int) -> Tensor:
    """Each image (B, C, H, W) or (B, H, W) moved by its (dy, dx) in ``offsets`` (B, 2), values
    in [0, 2 * pixels] for shifts of -pixels..pixels; the uncovered border is the background
    (the minimum value)."""
    background = float(images.min())
    height, width = images.shape[-2], images.shape[-1]
    padded = F.pad(images, (pixels, pixels, pixels, pixels), value=background)
    return torch.stack([
        padded[i, ..., dy : dy + height, dx : dx + width] for i, (dy, dx) in enumerate(offsets.tolist())
    ])  # fmt: skip
