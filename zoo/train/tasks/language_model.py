"""Language modelling: truncated backpropagation through time over one token stream.

The training stream is cut into ``batch`` parallel rows (as word_language_model's
``batchify``); each step reads the next ``bptt`` tokens of every row, and the state carries
over from the previous window, detached, so gradients stop at the window's start.
"""

import math
from typing import Any, Dict, Iterator, Optional

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from zoo.data.base import DataSet
from zoo.recipe import Recipe
from zoo.registry import ModelSpec
from zoo.train.batching import Shard, unwrap
from zoo.train.tasks.base import Batch, LossTerms, Task, count_of


class LanguageModelTask(Task):
    task = "language-model"
    kinds = ("stream",)
    selection = ("loss", False)

    def __init__(self, spec: ModelSpec, config: Any, data: DataSet, device: torch.device) -> None:
        super().__init__(spec, config, data, device)
        self.bptt = 100
        self.state: Optional[Any] = None

    def configure(self, recipe: Recipe) -> None:
        super().configure(recipe)
        if recipe.bptt < 1:
            raise ValueError(f"--bptt must be >= 1, got {recipe.bptt}")
        self.bptt = recipe.bptt

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
        return LossTerms(total, count_of(target.numel(), total), target.numel())

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
        """``length`` tokens the model's ``generate`` writes after a newline (temperature 0.8)."""
        vocab = self.data.vocab
        start = vocab.index.get("\n", 0) if vocab else 0
        prefix = torch.tensor([[start]], device=self.device)
        ids = unwrap(model).generate(prefix, length, 0.8, 0, seed)[0].tolist()
        return "".join(vocab.decode(ids)) if vocab else " ".join(map(str, ids))
