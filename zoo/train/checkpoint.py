"""Files of a run, written so that a crash never leaves one half-written, and read back without
unpickling arbitrary objects (safetensors, JSON, and ``torch.load(weights_only=True)``)."""

import json
import os
import shutil
from pathlib import Path
from typing import Any, Callable, Dict

import torch
from safetensors.torch import load_file, save_file
from torch import Tensor, nn


def write_atomic(path: Path, write: Callable[[Path], None]) -> None:
    """Calls ``write(temporary path)`` and renames the result over ``path``."""
    temporary = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        write(temporary)
        os.replace(temporary, path)
    finally:
        if temporary.exists():
            temporary.unlink()


def write_json(path: Path, data: Any) -> None:
    text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    write_atomic(path, lambda p: p.write_text(text, encoding="utf-8"))


def write_jsonl(path: Path, rows: list) -> None:
    text = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    write_atomic(path, lambda p: p.write_text(text, encoding="utf-8"))


def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def state_tensors(model: nn.Module) -> Dict[str, Tensor]:
    """The model's state dict as contiguous CPU tensors (safetensors refuses shared storage)."""
    return {k: v.detach().cpu().contiguous().clone() for k, v in model.state_dict().items()}


def save_weights(path: Path, model: nn.Module) -> None:
    tensors = state_tensors(model)
    write_atomic(path, lambda p: save_file(tensors, str(p)))


def load_weights(path: Path, model: nn.Module) -> None:
    model.load_state_dict(load_file(str(path)))


def _save_torch(path: Path, data: Any) -> None:
    write_atomic(path, lambda p: torch.save(data, p))


def _load_torch(path: Path) -> Any:
    return torch.load(path, map_location="cpu", weights_only=True)


def save_checkpoint(
    directory: Path,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    trainer: Dict[str, Any],
    carried: Dict[str, Tensor],
) -> None:
    """Everything needed to continue exactly: written to ``<dir>.tmp`` and swapped in whole."""
    staging = directory.with_name(directory.name + ".tmp")
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir(parents=True)
    save_file(state_tensors(model), str(staging / "weights.safetensors"))
    torch.save(optimizer.state_dict(), staging / "optimizer.pt")
    torch.save(scheduler.state_dict(), staging / "scheduler.pt")
    rng = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        rng["cuda"] = torch.cuda.get_rng_state_all()
    torch.save(rng, staging / "rng.pt")
    save_file(carried or {"none": torch.zeros(0)}, str(staging / "carried.safetensors"))
    (staging / "trainer.json").write_text(json.dumps(trainer, indent=2) + "\n", encoding="utf-8")
    previous = directory.with_name(directory.name + ".old")
    if directory.exists():
        os.replace(directory, previous)
    os.replace(staging, directory)
    if previous.exists():
        shutil.rmtree(previous)


def load_checkpoint(
    directory: Path, model: nn.Module, optimizer: torch.optim.Optimizer, scheduler: Any
) -> tuple[Dict[str, Any], Dict[str, Tensor]]:
    """Restores model, optimizer, scheduler and RNG; returns the trainer state and the carried
    tensors (a language model's state between windows)."""
    previous = directory.with_name(directory.name + ".old")
    if not directory.exists() and previous.exists():
        os.replace(previous, directory)  # a crash between the two renames of save_checkpoint
    if not (directory / "trainer.json").exists():
        raise FileNotFoundError(f"{directory} holds no checkpoint to resume from")
    load_weights(directory / "weights.safetensors", model)
    optimizer.load_state_dict(_load_torch(directory / "optimizer.pt"))
    scheduler.load_state_dict(_load_torch(directory / "scheduler.pt"))
    rng = _load_torch(directory / "rng.pt")
    torch.set_rng_state(rng["torch"])
    if "cuda" in rng and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(rng["cuda"])
    carried = load_file(str(directory / "carried.safetensors"))
    carried = {k: v for k, v in carried.items() if k != "none"}
    return read_json(directory / "trainer.json"), carried

