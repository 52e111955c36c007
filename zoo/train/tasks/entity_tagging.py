"""Named-entity tagging: a tag per token of ragged sentences, scored by whole entities.

The model reads the words, each word's characters and the sentence lengths (the inputs the data
set's tokenizer names: ``words_input``, ``characters.input``, and the lengths input the model's
ragged pairs give them). Padded steps give no loss and no prediction. A sentence's tags are
the likeliest valid IOB2 sequence under the model's per-token probabilities
(``zoo.entities.best_tags``, the server's decoding too). A split's metrics are
conlleval's entity-level precision, recall and F1 (``zoo.entities``: exact span and type,
micro-averaged over all entities, and per type) and the token accuracy; the best epoch is the one
of the highest validation F1. The test split's per-type scores go to the run's ``entities.md``
(where a classifier draws its confusion matrix).
"""

from typing import Any, Dict, List, Tuple

import torch
from torch import Tensor, nn
from torch.nn import functional as F
from torch.nn.utils.rnn import pad_sequence

from zoo.data.base import DataSet, TaggedSentences
from zoo.entities import best_tags, entity_scores
from zoo.registry import ModelSpec
from zoo.store.pairs import signature_pairs
from zoo.train.batching import eval_batches, pad_ids
from zoo.train.tasks.base import Batch, LossTerms, Task, arguments

IGNORED = -100  # the target of a padded step: cross_entropy's ignore_index


def entity_table(scores: Dict[str, Dict[str, float]], title: str) -> str:
    """``entity_scores``'s result as a Markdown table: one row per type, then micro."""
    lines = [f"{title}", "", "| type | precision | recall | F1 | gold | predicted | correct |", "|---|---:|---:|---:|---:|---:|---:|"]
    for kind in [k for k in scores if k != "micro"] + ["micro"]:
        s = scores[kind]
        lines.append(f"| {kind} | {s['precision']:.4f} | {s['recall']:.4f} | {s['f1']:.4f} | {s['gold']} | "
                     f"{s['predicted']} | {s['correct']} |")  # fmt: skip
    return "\n".join(lines) + "\n"


class EntityTaggingTask(Task):
    task = "tagging"
    kinds = ("tagged",)
    selection = ("f1", True)

    def __init__(self, spec: ModelSpec, config: Any, data: DataSet, device: torch.device) -> None:
        super().__init__(spec, config, data, device)
        tokenizer = data.tokenizer or {}
        characters = tokenizer.get("characters") or {}
        self.words, self.chars = tokenizer.get("words_input"), characters.get("input")
        specs = {s.name: s for s in self.signature.inputs}
        lengths_of = signature_pairs(self.signature).lengths
        self.lengths = lengths_of.get(self.words or "")
        if self.words not in specs or self.chars not in specs or self.lengths is None or len(specs) != 3:
            raise ValueError(f"{spec.name} takes {', '.join(specs)}; tagging {data.name!r} needs a model that takes "
                             f"{self.words!r} (word ids), {self.chars!r} (character ids) and their lengths")  # fmt: skip
        self.width = specs[self.chars].shape[-1]
        self._rows: Dict[int, List[Tensor]] = {}  # id of a split -> its sentences' characters
        if self.width != characters.get("width"):
            raise ValueError(f"{spec.name} reads {self.width} characters per word but {data.name!r} gives "
                             f"{characters.get('width')} (its tokenizer's width): set max_word_chars={characters.get('width')}")  # fmt: skip

    def _char_rows(self, split: TaggedSentences) -> List[Tensor]:
        """Each sentence's characters as a (tokens, width) tensor, made once per split."""
        if id(split) not in self._rows:
            rows = []
            for sentence in split.chars:
                row = torch.zeros(len(sentence), self.width, dtype=torch.long)
                for step, word in enumerate(sentence):
                    kept = word[: self.width]  # a longer word keeps its first characters
                    row[step, : len(kept)] = torch.tensor(kept, dtype=torch.long)
                rows.append(row)
            self._rows[id(split)] = rows
        return self._rows[id(split)]

    def collate(self, split: TaggedSentences, indices: List[int]) -> Batch:
        rows = self._char_rows(split)
        values = {
            self.words: pad_ids([split.words[i] for i in indices]),
            self.chars: pad_sequence([rows[i] for i in indices], batch_first=True),  # (B, T, W)
            self.lengths: torch.tensor([len(split.words[i]) for i in indices]),
        }
        return arguments(self.signature, values), pad_ids([split.tags[i] for i in indices], IGNORED)

    def loss(self, model: nn.Module, batch: Batch) -> LossTerms:
        """Summed over the real tokens (padded steps are ignored) and divided by their count."""
        args, target = self._to_device(batch)
        logits = model(*args)  # (B, T, tags)
        total = F.cross_entropy(logits.flatten(0, 1), target.flatten(), ignore_index=IGNORED, reduction="sum")
        tokens = int((target != IGNORED).sum())
        return LossTerms(total, torch.tensor(float(tokens), device=total.device), tokens)

    def predict(self, model: nn.Module, split: TaggedSentences, batch_size: int = 256) -> Tuple[List[List[int]], float]:
        """Each sentence's predicted tag ids (its own length, no padding: ``best_tags``, the
        likeliest valid IOB2 sequence, as the server decodes) and the summed loss."""
        # Sentences of similar length batched together: less padding to compute.
        order = sorted(range(len(split)), key=lambda i: len(split.words[i]))
        predicted: List[List[int]] = [[] for _ in range(len(split))]
        loss_sum = 0.0
        for chunk in eval_batches(len(order), batch_size):
            indices = [order[c] for c in chunk]
            args, target = self._to_device(self.collate(split, indices))
            logits = model(*args)
            loss_sum += F.cross_entropy(logits.flatten(0, 1), target.flatten(), ignore_index=IGNORED, reduction="sum").item()
            log_probabilities = F.log_softmax(logits.float(), dim=-1).cpu()
            for row, i in enumerate(indices):
                steps = len(split.tags[i])
                predicted[i] = best_tags(log_probabilities[row, :steps].tolist(), self.data.labels or [])
        return predicted, loss_sum

    @torch.no_grad()
    def evaluate(self, model: nn.Module, split_name: str, batch_size: int = 256) -> Dict[str, Any]:
        split = self.data.splits[split_name]
        predicted, loss_sum = self.predict(model, split, batch_size)
        return self.metrics(split.tags, predicted, loss_sum)

    def metrics(self, gold: List[List[int]], predicted: List[List[int]], loss_sum: float) -> Dict[str, Any]:
        labels = self.data.labels or []
        tokens = sum(len(tags) for tags in gold)
        correct = sum(g == p for truth, guess in zip(gold, predicted) for g, p in zip(truth, guess))
        scores = entity_scores([[labels[t] for t in tags] for tags in gold], [[labels[t] for t in tags] for tags in predicted])
        micro = scores["micro"]
        return {"loss": loss_sum / max(tokens, 1), "precision": micro["precision"], "recall": micro["recall"],
                "f1": micro["f1"], "token_accuracy": correct / max(tokens, 1), "entities": scores}  # fmt: skip

    def tables(self, metrics: Dict[str, Any]) -> Dict[str, str]:
        return {"entities.md": entity_table(metrics["entities"], f"{self.spec.name} on {self.data.name}: entities of the "
                                                                 "test split (exact span and type)")}  # fmt: skip
