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

from serve.answers import (
    forward_results,
    forward_rows,
    instance_feeds,
    instance_results,
    instance_rows,
    prompt_feeds,
    prompt_reply,
)
from serve.batching import plan_batches, row_outputs, stack_rows
from serve.endpoints import endpoints
from serve.inputs import Tokenizer
from serve.limits import Limits
from serve.model import ServedModel, load_model

CHUNK = 256  # instances tokenized and held at once
MAX_BATCH = 64  # rows per model run
RUN_TOKENS = Limits().max_tokens  # rows x padded steps per model run, as the server's default
# A run of an extra graph that answers raw instances costs its instances' steps plus what it
# produces, which its parameters bound (decode: up to 2 x source + 2 steps).
EXTRA_STEPS_PER_INSTANCE_STEP = 3


class LocalModel:
    """One bundle, opened in onnxruntime or TorchScript (all cores: nothing else runs here)."""

    def __init__(self, bundle: Path, runtime: str, allow_unverified: bool = False, max_sequence: int = Limits().max_sequence) -> None:
        self.model: ServedModel = load_model(bundle, runtime, os.cpu_count() or 1, allow_unverified)
        manifest = self.model.manifest
        self.tokenizer = Tokenizer(manifest.get("tokenizer"), manifest.get("vocabulary"))
        self.endpoints = endpoints(manifest, bundle)  # route -> the extra graph that answers it
        # Per chunk: every instance may be as long as --max-sequence; runs are cut smaller below.
        self.limits = replace(Limits(), max_instances=CHUNK, max_sequence=max_sequence, max_tokens=CHUNK * max_sequence)

    @property
    def name(self) -> str:
        return self.model.name

    @property
    def task(self) -> str:
        return self.model.task

    def data_input(self) -> Dict[str, Any]:
        """The input that raw instances fill (the token input of an extra graph that answers them)."""
        served = self.endpoints.get("predict")
        if served is not None:
            return served.prompt
        skip = self.model.pairs().skipped()
        inputs = [t for t in self.model.graph()["inputs"] if t["name"] not in skip]
        # A tagger's words (its chars come from the same text) whatever the order of its inputs.
        return next((t for t in inputs if t["name"] == self.tokenizer.words_input), inputs[0])

    def predict(self, instances: Iterable[Tuple[str, Any]], top: int, parameters: Optional[Dict[str, Any]] = None) -> Iterator[Tuple[str, Dict[str, Any]]]:
        """(where it came from, result) for each (where it came from, instance), in order, each
        result as the server's ``/predict`` answers it; ``parameters``: body keys for the scalar
        inputs of an extra graph that answers raw instances (``max_len``), where given."""
        served = self.endpoints.get("predict")
        # Forward reads only the instances: a parameter no graph takes is left unread, as the option's help says.
        given = {k: v for k, v in (parameters or {}).items() if v is not None and served is not None}
        iterator = iter(instances)
        while True:
            chunk = list(islice(iterator, CHUNK))
            if not chunk:
                return
            body: Dict[str, Any] = {"instances": [instance for _, instance in chunk], **given}
            results = self._instances(body) if served is not None else self._forward(body, top)
            yield from zip((source for source, _ in chunk), results)

    def _forward(self, body: Dict[str, Any], top: int) -> List[Dict[str, Any]]:
        raw = forward_rows(self.model, body, self.tokenizer, self.limits)
        graph = self.model.graph()
        lengths_of = self.model.pairs().lengths
        outputs: List[Dict[str, np.ndarray]] = [{} for _ in raw.rows]
        for batch in plan_batches(raw.rows, lengths_of, MAX_BATCH, RUN_TOKENS):
            feeds, steps = stack_rows([raw.rows[i] for i in batch], graph["inputs"], self.model.pairs())
            ran = self.model.run(feeds)
            for position, index in enumerate(batch):
                outputs[index] = row_outputs(ran, graph["outputs"], position, None if steps is None else int(steps[position]))
        return forward_results(self.model, outputs, raw, self.tokenizer, top)

    def _instances(self, body: Dict[str, Any]) -> List[Dict[str, Any]]:
        """Raw instances through the extra graph that answers them, in batches of similar lengths."""
        served = self.endpoints["predict"]
        if served.graph not in self.model.runners:
            raise ValueError(f"{self.model.bundle} has no {served.graph} graph for --runtime {self.model.runtime}")
        raw = instance_rows(self.model, served, body, self.tokenizer, self.limits)
        lengths_of = {served.prompt["name"]: served.lengths} if served.lengths else {}
        results: List[Dict[str, Any]] = [{} for _ in raw.rows]
        budget = RUN_TOKENS // EXTRA_STEPS_PER_INSTANCE_STEP
        for batch in plan_batches(raw.rows, lengths_of, MAX_BATCH, budget):
            feeds = instance_feeds(self.model, served, [raw.rows[i] for i in batch], body, self.limits)
            for index, result in zip(batch, instance_results(served, self.model.run(feeds, served.graph), self.tokenizer)):
                results[index] = result
        return results

    def generate(self, body: Dict[str, Any]) -> Dict[str, Any]:
        """What the server's ``/generate`` answers to ``body`` (for a language model: the prefix,
        the text and the generated ids)."""
        served = self.endpoints.get("generate")
        if served is None:
            raise ValueError(f"{self.name} has no generate graph (a language model has one); use `zoo predict`")
        if served.graph not in self.model.runners:
            raise ValueError(f"{self.name}'s {served.graph} graph does not run in {self.model.runtime}; try the other --runtime")
        unknown = sorted(set(body) - set(served.keys))
        if unknown:
            raise ValueError(f"{self.name}'s generate graph takes no {', '.join(unknown)}; it takes {', '.join(served.keys)}")
        feeds = prompt_feeds(self.model, served, body, self.tokenizer, self.limits)
        return prompt_reply(self.model, served, body, self.model.run(feeds, served.graph), self.tokenizer)
