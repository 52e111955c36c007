"""A run's checkpoint (``last/``) for an exact resume, written so that a crash never leaves one
half-written, and read back without unpickling arbitrary objects (safetensors through
``zoo.store``, JSON, and ``torch.load(weights_only=True)``)."""

import io
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional

import numpy as np
import torch
from torch import Tensor, nn

from zoo.rebuild import load_weights, to_arrays, to_tensors, weights_of
from zoo.store import WEIGHTS, atomic, read_json, read_weights, weights_bytes


def torch_bytes(data: Any) -> bytes:
    buffer = io.BytesIO()
    torch.save(data, buffer)
    return buffer.getvalue()


def _load_torch(path: Path) -> Any:
    return torch.load(path, map_location="cpu", weights_only=True)


COMPLETE = "complete"  # written last into a checkpoint: everything before it is whole


@dataclass
class RankStates:
    """What differs between the processes of a data-parallel run, one entry per rank: the RNG
    states (each rank draws its own dropout masks) and the carried state (a language model's
    state between windows, for that rank's rows)."""

    rng: List[Dict[str, Tensor]]  # {"torch": CPU generator state[, "cuda": this device's]}
    carried: List[Dict[str, Tensor]]


def _staging(directory: Path) -> Path:
    return directory.with_name(directory.name + ".tmp")


def _previous(directory: Path) -> Path:
    return directory.with_name(directory.name + ".old")


def _swap_in(staging: Path, directory: Path) -> None:
    """Two renames: ``directory`` -> ``.old``, ``staging`` -> ``directory``; then drop ``.old``.
    A crash between them leaves ``.old`` and a complete ``.tmp``: ``recover_checkpoint``."""
    previous = _previous(directory)
    if directory.exists():
        if previous.exists():
            shutil.rmtree(previous)
        os.replace(directory, previous)
    os.replace(staging, directory)
    if previous.exists():
        shutil.rmtree(previous)


# Every file goes through zoo.store.atomic.write_bytes, the one function that puts a run's bytes
# on disk (Python's own I/O: a full disk is an OSError); the full-disk test fails it there.
def _write_checkpoint(  # the arguments of save_checkpoint, into the staging directory
    staging: Path, model: nn.Module, optimizer: torch.optim.Optimizer, scheduler: Any,
    trainer: Dict[str, Any], ranks: RankStates,
) -> None:  # fmt: skip
    atomic.write_bytes(staging / WEIGHTS, weights_bytes(weights_of(model)))
    atomic.write_bytes(staging / "optimizer.pt", torch_bytes(optimizer.state_dict()))
    atomic.write_bytes(staging / "scheduler.pt", torch_bytes(scheduler.state_dict()))
    rng: Dict[str, List[Tensor]] = {"torch": [r["torch"] for r in ranks.rng]}
    if all("cuda" in r for r in ranks.rng):
        rng["cuda"] = [r["cuda"] for r in ranks.rng]
    atomic.write_bytes(staging / "rng.pt", torch_bytes(rng))
    carried = {f"rank{rank}.{key}": t for rank, tensors in enumerate(ranks.carried) for key, t in tensors.items()}
    atomic.write_bytes(staging / "carried.safetensors", weights_bytes(to_arrays(carried) or {"none": np.zeros(0, np.float32)}))
    (staging / "trainer.json").write_text(json.dumps(trainer, indent=2) + "\n", encoding="utf-8")
    (staging / COMPLETE).write_text("every file of this checkpoint is written\n", encoding="utf-8")


def save_checkpoint(
    directory: Path,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    trainer: Dict[str, Any],
    ranks: RankStates,
) -> None:
    """Everything needed to continue exactly: written to ``<dir>.tmp``, marked complete, and
    swapped in whole. A write that fails (a full disk) removes the partial ``.tmp`` and leaves
    the previous checkpoint in place, so the run can still be resumed."""
    staging = _staging(directory)
    if staging.exists():
        shutil.rmtree(staging)
    try:
        staging.mkdir(parents=True)
        _write_checkpoint(staging, model, optimizer, scheduler, trainer, ranks)
    except OSError as error:
        shutil.rmtree(staging, ignore_errors=True)
        kept = "the previous checkpoint is kept, so --resume continues from it" if directory.exists() else "no checkpoint yet"
        raise OSError(error.errno, f"{error.strerror or error} while saving a checkpoint; {kept}", str(directory)) from error
    _swap_in(staging, directory)


def checkpoint_exists(directory: Path) -> bool:
    """A checkpoint is there, or ``recover_checkpoint`` can put one back. Reads only."""
    staging, previous = _staging(directory), _previous(directory)
    return any(
        (place / "trainer.json").exists() and (place is not staging or (place / COMPLETE).exists())
        for place in (directory, staging, previous)
    )


def stored_trainer_state(directory: Path) -> Optional[Dict[str, Any]]:
    """The trainer.json (epoch, step, best) of the checkpoint ``recover_checkpoint`` would put
    in place, without moving anything: what --resume and --dry-run report before any write."""
    staging, previous = _staging(directory), _previous(directory)
    if (staging / COMPLETE).exists() and (staging / "trainer.json").exists():
        return read_json(staging / "trainer.json")
    for place in (directory, previous):
        if (place / "trainer.json").exists():
            return read_json(place / "trainer.json")
    return None


def recover_checkpoint(directory: Path) -> bool:
    """Finishes or undoes a ``save_checkpoint`` that a crash (kill -9, out of memory)
    stopped; True when ``directory`` then holds a checkpoint.

    A complete ``.tmp`` is the newest whole state (its marker is written after every file), so
    it wins over ``directory`` and ``.old``; an incomplete one is discarded, and ``.old`` comes
    back when the crash fell between the two renames."""
    staging, previous = _staging(directory), _previous(directory)
    if staging.exists() and (staging / COMPLETE).exists():
        _swap_in(staging, directory)
    elif not directory.exists() and previous.exists():
        os.replace(previous, directory)
    for leftover in (staging, previous):
        if leftover.exists():
            shutil.rmtree(leftover)
    return (directory / "trainer.json").exists()


def _own(tensors: Dict[str, Tensor], rank: int) -> Dict[str, Tensor]:
    """This rank's carried tensors ("rank1.state_0" -> "state_0"); runs saved before the state
    was kept per rank hold one process's, unprefixed."""
    prefix = f"rank{rank}."
    if any(k.startswith("rank") for k in tensors):
        return {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}
    return {k: v for k, v in tensors.items() if k != "none"}


def load_checkpoint(
    directory: Path, model: nn.Module, optimizer: torch.optim.Optimizer, scheduler: Any, rank: int = 0
) -> tuple[Dict[str, Any], Dict[str, Tensor]]:
    """Restores model, optimizer, scheduler and this rank's RNG; returns the trainer state and
    this rank's carried tensors (a language model's state between windows)."""
    if not (directory / "trainer.json").exists():
        raise FileNotFoundError(f"{directory} holds no checkpoint to resume from")
    load_weights(model, read_weights(directory / WEIGHTS))
    optimizer.load_state_dict(_load_torch(directory / "optimizer.pt"))
    scheduler.load_state_dict(_load_torch(directory / "scheduler.pt"))
    rng = _load_torch(directory / "rng.pt")
    # Runs saved before the RNG was kept per rank hold one state, not a list.
    states = rng["torch"] if isinstance(rng["torch"], list) else [rng["torch"]]
    if rank >= len(states):
        raise ValueError(f"{directory} was saved by {len(states)} process(es); resume with --nproc {len(states)}")
    torch.set_rng_state(states[rank])
    cuda = rng.get("cuda")
    if isinstance(cuda, list) and torch.cuda.is_available():
        torch.cuda.set_rng_state(cuda[rank])  # the current device's, which this rank uses
    carried = _own(to_tensors(read_weights(directory / "carried.safetensors")), rank)
    return read_json(directory / "trainer.json"), carried
