"""From a data set's examples to model calls, a loss and metrics, one class per kind of task.

The model's spec says what it computes (its task and its signature's input and output names);
the data set says what it holds (its kind). ``make_task`` pairs them and refuses a pairing that
does not fit, naming both.
"""

import math
from typing import Any, Dict, Iterator, List, NamedTuple, Optional, Tuple

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from zoo.data.base import DataSet
from zoo.registry import ModelSpec
from zoo.train.batching import (
    Shard,
    effective_batch,
    epoch_batches,
    eval_batches,
    pad_ids,
    steps_per_epoch,
    unwrap,
)

Batch = Tuple[Tuple[Any, ...], Tensor]  # (model arguments, target)

# What picks a run's best epoch (the weights it keeps), by the model's task: a validation metric
# and whether higher is better. A tie goes to the lower validation loss (``loop._better``).
# `zoo models info`, `zoo train --dry-run` and the run's first lines all state it from here.
SELECTION: Dict[str, Tuple[str, bool]] = {
    "classification": ("accuracy", True),
    "binary-classification": ("accuracy", True),
    "regression": ("rmse", False),
    "tagging": ("accuracy", True),
    "seq2seq": ("exact_match", True),
    "language-model": ("loss", False),
    "forecasting": ("rmse", False),
}


def selection_rule(task: str) -> Optional[str]:
    """The best-epoch rule in words ("highest validation accuracy (...)"); None for a task
    `zoo train` does not train (an encoder)."""
    if task not in SELECTION:
        return None
    metric, higher = SELECTION[task]
    rule = f"{'highest' if higher else 'lowest'} validation {metric}"
    return rule if metric == "loss" else f"{rule} (a tie: the lower validation loss)"


class LossTerms(NamedTuple):
    """A training batch's loss as a sum and what its mean divides by. With several processes,
    each holding a share of the global batch, the loop divides every share's sum by the count
    of the whole batch: a mean over padded tokens or class weights is then the global one, not
    a mean of per-share means."""

    total: Tensor  # the summed (weighted) loss of the items this process holds
    count: Tensor  # what the mean divides by: items, tokens, or the sum of their class weights
    items: int  # examples or tokens, for the throughput


def _count(value: Any, like: Tensor) -> Tensor:
    return torch.as_tensor(value, dtype=torch.float32, device=like.device)


def _balanced_accuracy(confusion: Tensor) -> float:
    """Mean recall over the classes present in the targets."""
    support = confusion.sum(1)
    present = support > 0
    return float((confusion.diag()[present].double() / support[present]).mean())


def _shift_images(images: Tensor, offsets: Tensor, pixels: int) -> Tensor:
    """Each image (B, C, H, W) or (B, H, W) moved by its (dy, dx) in ``offsets`` (B, 2), values
    in [0, 2 * pixels] for shifts of -pixels..pixels; the uncovered border is the background
    (the minimum value)."""
    background = float(images.min())
    height, width = images.shape[-2], images.shape[-1]
    padded = F.pad(images, (pixels, pixels, pixels, pixels), value=background)
    return torch.stack([
        padded[i, ..., dy : dy + height, dx : dx + width] for i, (dy, dx) in enumerate(offsets.tolist())
    ])  # fmt: skip


class Task:
    """Base: subclasses say how to batch a split, compute the loss and measure a split."""

    def __init__(self, spec: ModelSpec, config: Any, data: DataSet, device: torch.device) -> None:
        self.primary_metric, self.higher_is_better = SELECTION.get(spec.task, ("loss", False))
        self.spec = spec
        self.config = config
        self.data = data
        self.device = device
        self.signature = spec.signature(config)

    # -- training -----------------------------------------------------------------------------
    def train_size(self) -> int:
        return len(self.data.splits["train"])

    def batch_size(self, requested: int, shard: Shard) -> int:
        return effective_batch(self.train_size(), requested, shard)

    def steps_per_epoch(self, batch_size: int) -> int:
        return steps_per_epoch(self.train_size(), batch_size)

    def train_batches(
        self, batch_size: int, seed: int, epoch: int, shard: Shard, start_step: int
    ) -> Iterator[Batch]:
        split = self.data.splits["train"]
        for indices in epoch_batches(len(split), batch_size, seed, epoch, shard, start_step):
            yield self.collate(split, indices)

    def collate(self, split: Any, indices: List[int]) -> Batch:
        raise NotImplementedError

    def loss(self, model: nn.Module, batch: Batch) -> LossTerms:
        """The training loss of ``batch`` as a sum, its divisor and its size."""
        raise NotImplementedError

    def start_epoch(self) -> None:
        """Called before each epoch (the language model resets its carried state)."""

    def carried_state(self) -> Dict[str, Tensor]:
        return {}

    def restore_carried_state(self, tensors: Dict[str, Tensor]) -> None:
        del tensors

    # -- evaluation ---------------------------------------------------------------------------
    def evaluate(self, model: nn.Module, split_name: str, batch_size: int = 256) -> Dict[str, Any]:
        raise NotImplementedError

    def _to_device(self, batch: Batch) -> Batch:
        args, target = batch
        return tuple(a.to(self.device) for a in args), target.to(self.device)


class ExampleTask(Task):
    """Independent examples: sequences of ids, images or feature vectors, one target each.

    Covers ``classification``, ``binary-classification`` and ``regression``.
    """

    def __init__(self, spec: ModelSpec, config: Any, data: DataSet, device: torch.device) -> None:
        super().__init__(spec, config, data, device)
        self.first_input = self.signature.inputs[0]
        self.output_name = self.signature.outputs[0].name
        self.class_weights: Optional[Tensor] = None
        self.logit_offsets: Optional[Tensor] = None
        self.max_shift = 0  # images: random translation of training batches, in pixels
        self.label_smoothing = 0.0  # classification: training targets 1 - eps (+ eps / classes)

    def augment_shift(self, pixels: int) -> None:
        if pixels and self.data.kind != "images":
            raise ValueError(f"shift augmentation needs images, not {self.data.kind}")
        self.max_shift = pixels

    def train_batches(
        self, batch_size: int, seed: int, epoch: int, shard: Shard, start_step: int
    ) -> Iterator[Batch]:
        split = self.data.splits["train"]
        every = epoch_batches(len(split), batch_size, seed, epoch, Shard(), start_step)
        for step, indices in enumerate(every, start=start_step):
            args, target = self.collate(split, shard.part(indices))
            if self.max_shift:
                # Drawn for the global batch from (seed, epoch, step), then this process's share:
                # the same shifts with one process or many, and after a resume.
                generator = torch.Generator().manual_seed(((seed * 1_000_003 + epoch) * 1_000_003 + step) % 2**64)
                offsets = torch.randint(0, 2 * self.max_shift + 1, (len(indices), 2), generator=generator)
                mine = offsets[torch.tensor(shard.part(list(range(len(indices)))), dtype=torch.long)]
                args = (_shift_images(args[0], mine, self.max_shift),) + args[1:]
            yield args, target

    def _train_prior(self) -> Tensor:
        if self.spec.task != "classification":
            raise ValueError(f"class rebalancing needs a multi-class classifier, not {self.spec.task}")
        split = self.data.splits["train"]
        labels = torch.tensor(split.labels) if self.data.kind == "sequences" else split.targets
        counts = torch.bincount(labels, minlength=len(self.data.labels or [])).double().clamp(min=1)
        return counts / counts.sum()

    def weight_classes(self, power: float) -> None:
        """Training loss weight prior^-power per class, mean 1 (0: unweighted)."""
        if power == 0.0:
            self.class_weights = None
            return
        weights = self._train_prior().pow(-power)
        self.class_weights = (weights / weights.mean()).float().to(self.device)

    def adjust_logits(self, tau: float) -> None:
        """Logit-adjusted training loss (Menon et al. 2021, "Long-tail learning via logit
        adjustment"): cross-entropy of logits + tau * log(prior). The model's own logits then
        rank classes as if they were balanced, which raises balanced accuracy."""
        if tau == 0.0:
            self.logit_offsets = None
            return
        self.logit_offsets = (tau * self._train_prior().log()).float().to(self.device)

    def loss(self, model: nn.Module, batch: Batch) -> LossTerms:
        args, target = self._to_device(batch)
        output = model(*args)
        if self.spec.task == "classification":
            if self.logit_offsets is not None:
                output = output + self.logit_offsets
            total = F.cross_entropy(output, target, weight=self.class_weights, label_smoothing=self.label_smoothing,
                                    reduction="sum")  # fmt: skip
            # A weighted mean divides by the weights of the batch's targets, not by its size.
            count = self.class_weights[target].sum() if self.class_weights is not None else _count(target.size(0), total)
            return LossTerms(total, count, target.size(0))
        total = self.criterion(output, target, "sum")
        return LossTerms(total, _count(target.numel(), total), target.size(0))

    def collate(self, split: Any, indices: List[int]) -> Batch:
        kind = self.data.kind
        if kind == "sequences":
            ids = [split.ids[i] for i in indices]
            args: Tuple[Any, ...] = (pad_ids(ids), torch.tensor([len(s) for s in ids]))
            target = torch.tensor([split.labels[i] for i in indices])
        else:
            index = torch.tensor(indices, dtype=torch.long)
            x, target = split.inputs[index], split.targets[index]
            if kind == "images" and self.first_input.name != "image":
                rows = x[:, 0]  # (B, 28, 28): a digit read one row per step
                args = (rows, torch.full((rows.size(0),), rows.size(1), dtype=torch.long))
            else:
                args = (x,)
        if self.spec.task == "binary-classification" and target.dim() == 1:
            target = target.float().unsqueeze(1)
        return args, target

    def criterion(self, output: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
        """The plain loss (what validation and test report)."""
        if self.spec.task == "classification":
            return F.cross_entropy(output, target, reduction=reduction)
        if self.spec.task == "binary-classification":
            if self.output_name == "probability":  # the course's sigmoid models, BCELoss
                return F.binary_cross_entropy(output, target, reduction=reduction)
            return F.binary_cross_entropy_with_logits(output, target, reduction=reduction)
        return F.mse_loss(output, target, reduction=reduction)

    def _predicted_labels(self, output: Tensor) -> Tensor:
        if self.spec.task == "classification":
            return output.argmax(1)
        threshold = 0.5 if self.output_name == "probability" else 0.0
        return (output[:, 0] > threshold).long()

    @torch.no_grad()
    def evaluate(self, model: nn.Module, split_name: str, batch_size: int = 256) -> Dict[str, Any]:
        split = self.data.splits[split_name]
        total, count = 0.0, 0
        outputs, targets = [], []
        for indices in eval_batches(len(split), batch_size):
            args, target = self._to_device(self.collate(split, indices))
            output = model(*args)
            total += self.criterion(output, target).item() * target.size(0)
            count += target.size(0)
            outputs.append(output.float().cpu())
            targets.append(target.cpu())
        output, target = torch.cat(outputs), torch.cat(targets)
        metrics: Dict[str, Any] = {"loss": total / max(count, 1)}
        if self.spec.task == "regression":
            metrics["rmse"] = float((output - target).pow(2).mean().sqrt())
            metrics["mae"] = float((output - target).abs().mean())
            return metrics
        labels = target.long().view(-1)
        predicted = self._predicted_labels(output)
        classes = max(len(self.data.labels or []), int(labels.max()) + 1, int(predicted.max()) + 1)
        confusion = torch.zeros(classes, classes, dtype=torch.long)
        confusion.index_put_((labels, predicted), torch.ones_like(labels), accumulate=True)
        metrics["accuracy"] = float((predicted == labels).double().mean())
        metrics["balanced_accuracy"] = _balanced_accuracy(confusion)
        metrics["confusion"] = confusion.tolist()
        return metrics


class TaggingTask(Task):
    """One class per input step (``hello`` -> ``ohlol``)."""

    def collate(self, split: Any, indices: List[int]) -> Batch:
        tokens = torch.tensor([split.sources[i] for i in indices], dtype=torch.long)
        return (tokens,), torch.tensor([split.targets[i] for i in indices], dtype=torch.long)

    def loss(self, model: nn.Module, batch: Batch) -> LossTerms:
        (tokens,), target = self._to_device(batch)
        logits, _ = model(tokens)
        total = F.cross_entropy(logits.flatten(0, 1), target.flatten(), reduction="sum")
        return LossTerms(total, _count(target.numel(), total), target.numel())

    @torch.no_grad()
    def evaluate(self, model: nn.Module, split_name: str, batch_size: int = 256) -> Dict[str, Any]:
        split = self.data.splits[split_name]
        (tokens,), target = self._to_device(self.collate(split, list(range(len(split)))))
        logits, _ = model(tokens)
        predicted = logits.argmax(-1)
        vocab = self.data.vocab
        return {
            "loss": F.cross_entropy(logits.flatten(0, 1), target.flatten()).item(),
            "accuracy": float((predicted == target).double().mean()),
            "exact_match": float((predicted == target).all(1).double().mean()),
            "prediction": "".join(vocab.decode(predicted[0].tolist())) if vocab else "",
        }


class Seq2SeqTask(Task):
    """Teacher-forced training; greedy decoding measures whole-sequence accuracy."""

    def collate(self, split: Any, indices: List[int]) -> Batch:
        sources = [split.sources[i] for i in indices]
        targets = [split.targets[i] for i in indices]
        pad, bos = self.config.pad_id, self.config.bos_id
        tgt_in = pad_ids([[bos] + t[:-1] for t in targets], pad)
        args = (pad_ids(sources, pad), torch.tensor([len(s) for s in sources]), tgt_in)
        return args, pad_ids(targets, pad)

    def loss(self, model: nn.Module, batch: Batch) -> LossTerms:
        """Summed over the target tokens that are not padding, and divided by their count."""
        args, target = self._to_device(batch)
        logits = model(*args)
        total = F.cross_entropy(logits.flatten(0, 1), target.flatten(), ignore_index=self.config.pad_id,
                                reduction="sum")  # fmt: skip
        return LossTerms(total, (target != self.config.pad_id).sum().float(), target.size(0))

    @torch.no_grad()
    def evaluate(self, model: nn.Module, split_name: str, batch_size: int = 256) -> Dict[str, Any]:
        split = self.data.splits[split_name]
        pad = self.config.pad_id
        loss_sum, tokens, correct, exact = 0.0, 0, 0, 0
        for indices in eval_batches(len(split), batch_size):
            args, target = self._to_device(self.collate(split, indices))
            logits = model(*args)
            mask = target != pad
            loss_sum += F.cross_entropy(logits[mask], target[mask], reduction="sum").item()
            tokens += int(mask.sum())
            correct += int((logits.argmax(-1) == target)[mask].sum())
            decoded = unwrap(model).decode(args[0], args[1], target.size(1))
            exact += int(((decoded == target) | ~mask).all(1).sum())
        return {
            "loss": loss_sum / max(tokens, 1),
            "token_accuracy": correct / max(tokens, 1),
            "exact_match": exact / max(len(split), 1),
        }


class LanguageModelTask(Task):
    """Truncated backpropagation through time over one token stream.

    The training stream is cut into ``batch`` parallel rows (as word_language_model's
    ``batchify``); each step reads the next ``bptt`` tokens of every row, and the state carries
    over from the previous window, detached, so gradients stop at the window's start.
    """

    def __init__(self, spec: ModelSpec, config: Any, data: DataSet, device: torch.device) -> None:
        super().__init__(spec, config, data, device)
        self.bptt = 100
        self.state: Optional[Any] = None

    def set_bptt(self, bptt: int) -> None:
        if bptt < 1:
            raise ValueError(f"--bptt must be >= 1, got {bptt}")
        self.bptt = bptt

    def batch_size(self, requested: int, shard: Shard) -> int:
        return requested

    def _rows(self, stream: Tensor, rows: int) -> Tensor:
        length = stream.numel() // rows
        if length < 2:
            raise ValueError(f"the stream of {stream.numel()} tokens is too short for {rows} rows")
        return stream[: rows * length].view(rows, length)

    def steps_per_epoch(self, batch_size: int) -> int:
        length = self.data.splits["train"].ids.numel() // batch_size
        return max(1, (length - 1) // self.bptt)

    def train_batches(
        self, batch_size: int, seed: int, epoch: int, shard: Shard, start_step: int
    ) -> Iterator[Batch]:
        rows = self._rows(self.data.splits["train"].ids, batch_size)
        mine = rows[torch.tensor(shard.part(list(range(batch_size))))]
        for step in range(start_step, self.steps_per_epoch(batch_size)):
            start = step * self.bptt
            yield (mine[:, start : start + self.bptt],), mine[:, start + 1 : start + 1 + self.bptt]

    def start_epoch(self) -> None:
        self.state = None

    def carried_state(self) -> Dict[str, Tensor]:
        if self.state is None:
            return {}
        parts = self.state if isinstance(self.state, tuple) else (self.state,)
        return {f"state_{i}": t.detach().cpu() for i, t in enumerate(parts)}

    def restore_carried_state(self, tensors: Dict[str, Tensor]) -> None:
        if not tensors:
            self.state = None
            return
        parts = tuple(tensors[f"state_{i}"].to(self.device) for i in range(len(tensors)))
        self.state = parts if len(parts) > 1 else parts[0]

    def loss(self, model: nn.Module, batch: Batch) -> LossTerms:
        (tokens,), target = self._to_device(batch)
        logits, state = model(tokens, self.state)
        self.state = tuple(s.detach() for s in state) if isinstance(state, tuple) else state.detach()
        total = F.cross_entropy(logits.flatten(0, 1), target.flatten(), reduction="sum")
        return LossTerms(total, _count(target.numel(), total), target.numel())

    @torch.no_grad()
    def evaluate(self, model: nn.Module, split_name: str, batch_size: int = 16) -> Dict[str, Any]:
        rows = self._rows(self.data.splits[split_name].ids, min(batch_size, 16)).to(self.device)
        state = None
        loss_sum, tokens = 0.0, 0
        for start in range(0, rows.size(1) - 1, self.bptt):
            x = rows[:, start : start + self.bptt]
            y = rows[:, start + 1 : start + 1 + self.bptt]
            x = x[:, : y.size(1)]
            logits, state = model(x, state)
            loss_sum += F.cross_entropy(logits.flatten(0, 1), y.flatten(), reduction="sum").item()
            tokens += y.numel()
        loss = loss_sum / max(tokens, 1)
        return {"loss": loss, "perplexity": math.exp(min(loss, 50.0)), "bits_per_token": loss / math.log(2)}

    @torch.no_grad()
    def sample(self, model: nn.Module, length: int = 300, seed: int = 0) -> str:
        vocab = self.data.vocab
        start = vocab.index.get("\n", 0) if vocab else 0
        prefix = torch.tensor([[start]], device=self.device)
        ids = unwrap(model).generate(prefix, length, 0.8, 0, seed)[0].tolist()
        return "".join(vocab.decode(ids)) if vocab else " ".join(map(str, ids))


class ForecastTask(Task):
    """One series: predict each next value from everything before it (state carries it)."""

    def train_size(self) -> int:
        return 1

    def batch_size(self, requested: int, shard: Shard) -> int:
        if shard.world > 1:
            raise ValueError(f"{self.spec.name} trains on one series; use --nproc 1")
        return 1

    def steps_per_epoch(self, batch_size: int) -> int:
        return 1

    def _window(self, split_name: str) -> Batch:
        split = self.data.splits[split_name]
        series = split.values[: split.end].unsqueeze(0)  # (1, end, F)
        return (series[:, :-1],), series[:, split.start : split.end]

    def train_batches(
        self, batch_size: int, seed: int, epoch: int, shard: Shard, start_step: int
    ) -> Iterator[Batch]:
        if start_step == 0:
            yield self._window("train")

    def loss(self, model: nn.Module, batch: Batch) -> LossTerms:
        (series,), target = self._to_device(batch)
        prediction, _ = model(series)
        start = series.size(1) + 1 - target.size(1)  # the first predicted month
        total = F.mse_loss(prediction[:, start - 1 :], target, reduction="sum")
        return LossTerms(total, _count(target.numel(), total), target.size(1))

    @torch.no_grad()
    def evaluate(self, model: nn.Module, split_name: str, batch_size: int = 1) -> Dict[str, Any]:
        split = self.data.splits[split_name]
        (series,), target = self._to_device(self._window(split_name))
        prediction, _ = model(series)
        predicted = prediction[:, split.start - 1 :]  # (1, end - start, F)
        actual = split.levels[split.start : split.end]
        naive = split.levels[split.start - 12 : split.end - 12]  # the same month a year before
        rmse = float((split.to_levels(predicted[0, :, 0].cpu()) - actual).pow(2).mean().sqrt())
        naive_rmse = float((naive - actual).pow(2).mean().sqrt())
        return {"loss": F.mse_loss(predicted, target).item(), "rmse": rmse,
                "seasonal_naive_rmse": naive_rmse, "rmse_vs_naive": rmse / naive_rmse}  # fmt: skip


def make_task(spec: ModelSpec, config: Any, data: DataSet, device: torch.device) -> Task:
    """The task class for this model and data set; a mismatch fails naming both."""
    kinds = {
        "classification": ("sequences", "images", "vectors"),
        "binary-classification": ("sequences", "vectors"),
        "regression": ("vectors",),
        "tagging": ("pairs",),
        "seq2seq": ("pairs",),
        "language-model": ("stream",),
        "forecasting": ("series",),
    }
    if spec.task not in kinds:
        raise ValueError(f"{spec.name} is an {spec.task}, which `zoo train` does not train on its own")
    if data.kind not in kinds[spec.task]:
        raise ValueError(
            f"{spec.name} ({spec.task}) cannot train on {data.name!r} ({data.kind}); "
            f"pick a data set of kind {' or '.join(kinds[spec.task])}"
        )
    cls = {
        "tagging": TaggingTask,
        "seq2seq": Seq2SeqTask,
        "language-model": LanguageModelTask,
        "forecasting": ForecastTask,
    }.get(spec.task, ExampleTask)
    return cls(spec, config, data, device)
