"""Everything a training run needs, built and checked before any file is written.

``prepare`` turns a request into a ``Run``: the recipe with its options (each checked), the
data (each file checked), the model config, the model, the task, the batch sizes, the optimizer
and the schedule. Any mistake in any of them is a ValueError naming it, raised while the run
directory is still untouched; the CLI also calls it before it launches ``--nproc`` processes.
"""

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Dict, Optional

import torch
from torch import nn
from torch.optim.lr_scheduler import LambdaLR

from zoo.config import model_config
from zoo.data import DataSet, dataset_names, is_dataset_name, load_dataset
from zoo.registry import ModelSpec, get_spec
from zoo.store import config_from_dict
from zoo.train import distributed, rundir
from zoo.train.batching import Shard
from zoo.train.checkpoint import stored_trainer_state
from zoo.train.embeddings import read_vectors, vector_size
from zoo.train.gradnorms import check_grad_norms
from zoo.recipe import Recipe
from zoo.train.request import TrainRequest, out_dir, recipe_of, resumed, stored_run
from zoo.train.syncbn import sync_batch_norm
from zoo.train.tasks import Task, make_task


@dataclass
class Run:
    """One run's parts, all checked."""

    request: TrainRequest  # on --resume, with the run's own arguments filled in
    spec: ModelSpec
    recipe: Recipe
    out: Path
    device: torch.device
    shard: Shard
    data: DataSet
    config: Any
    model: nn.Module
    task: Task
    batch_size: int  # global batch, as used
    steps: int  # per epoch
    optimizer: torch.optim.Optimizer
    scheduler: LambdaLR
    embedding_note: Optional[str] = None
    # --resume: the checkpoint's loop state (epochs done, step, best), read before any write so
    # that the run, and --dry-run, can say where it continues.
    resume_from: Optional[Dict[str, Any]] = None

    @property
    def writer(self) -> bool:
        """Only rank 0 writes files."""
        return self.shard.rank == 0

    def training_record(self) -> Dict[str, Any]:
        """config.json's "training" section: the arguments `--resume` restores, and what they gave."""
        request = self.request
        return {**asdict(self.recipe), "device": str(self.device), "world_size": self.shard.world,
                "requested_batch_size": self.recipe.batch_size, "batch_size": self.batch_size,
                "steps_per_epoch": self.steps, "limit_batches": request.limit_batches, "data_argument": request.data,
                "embeddings": str(request.embeddings) if request.embeddings else None,
                "freeze_embeddings": request.freeze_embeddings, "grad_norms": request.grad_norms}  # fmt: skip


def device_for(choice: str) -> torch.device:
    if choice not in ("auto", "cpu", "cuda"):
        raise ValueError(f"--device {choice}: use auto, cpu or cuda")
    if choice == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda: no CUDA device is available here; use --device cpu")
    if choice == "cpu" or (choice == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    return distributed.local_cuda_device() if distributed.launched() else torch.device("cuda")


def resolve_data(spec: ModelSpec, argument: Optional[str], seed: int) -> DataSet:
    binary = spec.task == "binary-classification"
    if argument is None or is_dataset_name(argument):
        name = argument or spec.default_data
        if name is None:
            raise ValueError(f"{spec.name} has no default data set (it is a building block); pass --data NAME")
        return load_dataset(name, None, seed, binary)
    if not Path(argument).expanduser().exists():
        raise ValueError(
            f"--data {argument}: neither a data set ({', '.join(dataset_names())}) nor an existing path"
        )
    if spec.default_data is None:
        raise ValueError(f"{spec.name} has no default data format; pass --data NAME")
    return load_dataset(spec.default_data, argument, seed, binary)


def _optimizer(model: nn.Module, recipe: Recipe) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    if recipe.optimizer == "sgd":
        return torch.optim.SGD(params, lr=recipe.lr, momentum=recipe.momentum, weight_decay=recipe.weight_decay)
    return torch.optim.Adam(params, lr=recipe.lr, weight_decay=recipe.weight_decay)  # check_recipe: adam


def _scheduler(optimizer: torch.optim.Optimizer, recipe: Recipe, total_steps: int) -> LambdaLR:
    if recipe.schedule == "cosine":
        return LambdaLR(optimizer, lambda step: 0.5 * (1.0 + math.cos(math.pi * min(step, total_steps) / total_steps)))
    return LambdaLR(optimizer, lambda step: 1.0)  # check_recipe: constant


def _pretrained(spec: ModelSpec, config: Any, model: nn.Module, request: TrainRequest, data: DataSet, seed: int) -> Optional[str]:
    """Fills the word embedding the spec declares (``embedding_field``) from --embeddings."""
    if request.embeddings is None:
        return None
    if spec.embedding_field is None or data.vocab is None:
        raise ValueError(f"{request.model} has no word embedding to initialise; drop --embeddings")
    size = getattr(config, spec.embedding_field)
    matrix, found = read_vectors(request.embeddings, data.vocab, size, seed)
    model.use_pretrained_embeddings(matrix, request.freeze_embeddings)
    return f"{found}/{len(data.vocab)} words found in {request.embeddings}"


def _model_config(spec: ModelSpec, request: TrainRequest, recipe: Recipe, data: DataSet, document: Any) -> Any:
    if document is not None:  # --resume: the run's own config (a conflicting --set was refused)
        rundir.check_same_run(out_dir(request), document, spec.name, data)
        return config_from_dict(spec, document["config"])
    overrides = dict(request.overrides)
    field = spec.embedding_field
    if request.embeddings is not None and field is not None and field not in overrides:
        overrides[field] = vector_size(request.embeddings)
    return model_config(spec, data, recipe.config, overrides)


def _resume_position(out: Path, recipe: Recipe) -> Dict[str, Any]:
    """The loop state --resume continues from; fewer --epochs than it has done is refused."""
    position = stored_trainer_state(out / rundir.LAST)
    if position is None:  # check_out found a checkpoint; it went away since
        raise ValueError(f"--resume: {out} holds no checkpoint (no {rundir.LAST}/); drop --resume to start")
    if recipe.epochs < position["epoch"]:
        raise ValueError(f"--epochs {recipe.epochs}: {out} has already trained {position['epoch']} epochs; "
                         f"give --epochs {position['epoch']} or more, or leave it out")  # fmt: skip
    return position


def prepare(request: TrainRequest, shard: Shard, device: torch.device) -> Run:
    """Builds and checks every part of the run; reads the run directory (on --resume) but writes
    nothing."""
    spec = get_spec(request.model)
    rundir.check_out(out_dir(request), request.resume, request.overwrite)
    document, position = None, None
    if request.resume:
        document = stored_run(out_dir(request))
        request = resumed(request, document, shard.world)
    recipe = recipe_of(spec, request)
    if request.resume:
        position = _resume_position(out_dir(request), recipe)
    if request.embeddings is not None and not Path(request.embeddings).is_file():
        raise ValueError(f"--embeddings {request.embeddings}: no such file")
    data = resolve_data(spec, request.data, recipe.seed)
    config = _model_config(spec, request, recipe, data, document)
    torch.manual_seed(recipe.seed)  # the same weights on every process
    model = spec.build(config)
    embedding_note = _pretrained(spec, config, model, request, data, recipe.seed)
    if shard.world > 1:
        model = sync_batch_norm(model, device)
        # Each process draws its own dropout masks, as one process draws a different mask for
        # every example of the batch.
        torch.manual_seed(distributed.rank_seed(recipe.seed, shard.rank))
    model.to(device)
    task = make_task(spec, config, data, device)
    task.configure(recipe)  # a task option this task cannot take is refused, naming it
    batch_size = task.batch_size(recipe.batch_size, shard)
    shard.check_batch(batch_size)
    steps = task.steps_per_epoch(batch_size)
    if request.limit_batches is not None:
        steps = min(steps, request.limit_batches)
    if request.grad_norms:
        check_grad_norms(spec.name, task, model)
    optimizer = _optimizer(model, recipe)
    scheduler = _scheduler(optimizer, recipe, recipe.epochs * steps)
    return Run(request=request, spec=spec, recipe=recipe, out=out_dir(request), device=device, shard=shard,
               data=data, config=config, model=model, task=task, batch_size=batch_size, steps=steps,
               optimizer=optimizer, scheduler=scheduler, embedding_note=embedding_note, resume_from=position)  # fmt: skip
