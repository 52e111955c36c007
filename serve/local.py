"""A bundle run in this process, without a server: what `zoo predict` and `zoo generate` do.

Instances go through the server's own code (``serve.answers``): the same tokenizer, checks and
results, and the batcher's grouping (``serve.batching``), so a file of many lines runs in padded
batches of at most ``RUN_TOKENS`` rows x steps, as a server would run them. Instances are read
``CHUNK`` at a time, so a long file never sits in memory whole.
"""

import os
from dataclasses import replace
from itertools import islice
from pathlib import Path
from typing import Any, Dict, Iterable, Iterator, List, Optional, Tuple

import numpy as np

from serve.answers import decode_feeds, decode_results, decode_rows, decode_sequence, forward_results, forward_rows, generate_feeds, generated
from serve.batching import plan_batches, row_outputs, stack_rows
from serve.inputs import Tokenizer
from serve.limits import Limits
from serve.model import ServedModel, load_model

CHUNK = 256  # instances tokenized and held at once
MAX_BATCH = 64  # rows per model run
RUN_TOKENS = Limits().max_tokens  # rows x padded steps per model run, as the server's default
DECODE_STEPS_PER_SOURCE_STEP = 3  # a decode run costs its source plus up to 2 x source + 2 steps


class LocalModel:
    """One bundle, opened in onnxruntime or TorchScript (all cores: nothing else runs here)."""

    def __init__(self, bundle: Path, runtime: str, allow_unverified: bool = False, max_sequence: int = Limits().max_sequence) -> None:
        self.model: ServedModel = load_model(bundle, runtime, os.cpu_count() or 1, allow_unverified)
        manifest = self.model.manifest
        self.tokenizer = Tokenizer(manifest.get("tokenizer"), manifest.get("vocabulary"))
        # Per chunk: every instance may be as long as --max-sequence; runs are cut smaller below.
        self.limits = replace(Limits(), max_instances=CHUNK, max_sequence=max_sequence, max_tokens=CHUNK * max_sequence)

    @property
    def name(self) -> str:
        return self.model.name

    @property
    def task(self) -> str:
        return self.model.task

    def data_input(self) -> Dict[str, Any]:
        """The input that raw instances fill (the source of a seq2seq model)."""
        graph = self.model.graph("decode" if self.task == "seq2seq" else "forward")
        skip = set(self.model.state_pairs) | set(self.model.ragged) | {"max_len"}
        return next(t for t in graph["inputs"] if t["name"] not in skip)

    def predict(self, instances: Iterable[Tuple[str, Any]], top: int, max_len: Optional[int] = None) -> Iterator[Tuple[str, Dict[str, Any]]]:
        """(where it came from, result) for each (where it came from, instance), in order, each
        result as the server's ``/predict`` answers it."""
        iterator = iter(instances)
        while True:
            chunk = list(islice(iterator, CHUNK))
            if not chunk:
                return
            body: Dict[str, Any] = {"instances": [instance for _, instance in chunk]}
            if max_len is not None:
                body["max_len"] = max_len
            results = self._decode(body) if self.task == "seq2seq" else self._forward(body, top)
            yield from zip((source for source, _ in chunk), results)

    def _forward(self, body: Dict[str, Any], top: int) -> List[Dict[str, Any]]:
        raw = forward_rows(self.model, body, self.tokenizer, self.limits)
        graph = self.model.graph()
        lengths_of = {sequence: lengths for lengths, sequence in self.model.ragged.items()}
        outputs: List[Dict[str, np.ndarray]] = [{} for _ in raw.rows]
        for batch in plan_batches(raw.rows, lengths_of, MAX_BATCH, RUN_TOKENS):
            feeds, steps = stack_rows([raw.rows[i] for i in batch], graph["inputs"], self.model.state_pairs, lengths_of)
            ran = self.model.run(feeds)
            for position, index in enumerate(batch):
                outputs[index] = row_outputs(ran, graph["outputs"], position, None if steps is None else int(steps[position]))
        return forward_results(self.model, outputs, raw.unknown, self.tokenizer, top)

    def _decode(self, body: Dict[str, Any]) -> List[Dict[str, Any]]:
        raw = decode_rows(self.model, body, self.tokenizer, self.limits)
        sequence, lengths = decode_sequence(self.model)
        results: List[Dict[str, Any]] = [{} for _ in raw.rows]
        budget = RUN_TOKENS // DECODE_STEPS_PER_SOURCE_STEP
        for batch in plan_batches(raw.rows, {sequence: lengths}, MAX_BATCH, budget):
            feeds = decode_feeds(self.model, [raw.rows[i] for i in batch], body, self.limits)
            for index, result in zip(batch, decode_results(self.model.run(feeds, "decode"), self.tokenizer)):
                results[index] = result
        return results

    def generate(self, prefix: str, steps: int, temperature: float, top_k: int, seed: int) -> Dict[str, Any]:
        """What the server's ``/generate`` answers: the prefix, the text and the generated ids."""
        if "generate" not in self.model.runners:
            raise ValueError(f"{self.name} has no generate graph (only the character language models have one); use `zoo predict`")
        body = {"prefix": prefix, "steps": steps, "temperature": temperature, "top_k": top_k, "seed": seed}
        feeds = generate_feeds(self.model, body, self.tokenizer, self.limits)
        tokens = self.model.run(feeds, "generate")["tokens"][0]
        return generated(self.model, prefix, tokens, self.tokenizer)
