"""The extra graphs the model files declare (``ModelSpec.graphs``): a language model's sampling
loop ``generate`` and a seq2seq model's greedy ``decode``, each with its inputs, outputs,
examples, verification cases and the server endpoint that answers with it.

Each wraps the scripted method in a module whose arguments are all tensors: the ONNX exporter
takes tensors, not Python ints or floats, and so the method's loop becomes an ONNX ``Loop``
whose trip count is an input. Under ``torch.export`` the wrapper runs the same loop written as a
``while_loop`` over tensors instead (``exported``, ``zoo.nn.export_loop.module_while_loop``): torch.export traces
Python, so ``int(steps)``, a Python ``for`` over it and branches on tensor values (greedy or not,
every row done) cannot enter a program whose step count is an input.
"""

from typing import Any, Callable, List, Sequence, Tuple

import torch
from torch import Tensor, nn
from torch.utils._pytree import tree_map

from zoo.nn.export_loop import module_while_loop
from zoo.nn.sampling import next_state, sample_tokens_tensor, seed_streams_tensor, uniform
from zoo.registry import Config, Endpoint, ExampleInputs, ExtraGraph, Parameter, TensorSpec

SEED_MAX = 2**31 - 2  # the largest sampler seed: the Park-Miller state space (zoo/nn/sampling.py)
Example = Callable[[Config, int, int, torch.Generator], Tensor]


def _exporting() -> bool:
    # TorchScript compiles the wrappers too (the ONNX path) and cannot compile the export query.
    if not torch.jit.is_scripting():
        return torch.compiler.is_exporting()
    return False


def _length(count: Tensor) -> int:
    """A loop's step count (a 0-d input) as the size of the buffer it fills. torch.export makes
    it an unbacked size; a negative count fails the program's runtime assertion as the scripted
    methods' ValueError would fail them."""
    length = count.item()  # not int(): that would ask export for the value
    torch._check(length >= 0)
    return length


def _own(state: Any) -> Any:
    """A recurrent state (a tensor or the LSTM's pair) as fresh contiguous tensors. A carry must
    keep its strides from one iteration to the next and must not alias another output, while
    ``zoo.nn.LSTM`` returns h and c as views of one stacked tensor."""
    return tree_map(lambda t: t.clone(memory_format=torch.contiguous_format), state)


class GenerateGraph(nn.Module):
    """``model.generate`` with tensor arguments: prefix (B, T), steps, temperature, top_k, seed."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, prefix: Tensor, steps: Tensor, temperature: Tensor, top_k: Tensor, seed: Tensor) -> Tensor:
        if _exporting():
            return self.exported(prefix, steps, temperature, top_k, seed)
        return self.model.generate(prefix, int(steps), float(temperature), int(top_k), int(seed))

    @torch.jit.unused
    def exported(self, prefix: Tensor, steps: Tensor, temperature: Tensor, top_k: Tensor, seed: Tensor) -> Tensor:
        """``generate``'s tokens from a ``while_loop`` that carries the step, the samplers'
        streams, the last logits, the state and a (B, steps) buffer: the same draws and the same
        forward calls, plus one forward after the last token whose logits nobody reads."""
        batch = prefix.size(0)
        logits, state = self.model(prefix, self.model.init_state(batch))
        tokens = prefix.new_zeros(batch, _length(steps))

        def cond(carried: Tuple[Any, ...], given: Sequence[Tensor]) -> Tensor:
            return carried[0] < given[0]

        def body(carried: Tuple[Any, ...], given: Sequence[Tensor]) -> Tuple[Any, ...]:
            i, streams, last, state, tokens = carried
            streams = next_state(streams)
            token = sample_tokens_tensor(last, uniform(streams), given[1], given[2]).unsqueeze(1)  # (B, 1)
            logits, state = self.model(token, state)
            return i + 1, streams, logits[:, 0], _own(state), tokens.index_copy(1, i.view(1), token)

        start = torch.zeros((), dtype=torch.long, device=prefix.device)
        # contiguous: the carry must keep its strides, and a step's logits[:, 0] is contiguous.
        carried = (start, seed_streams_tensor(seed, batch), logits[:, -1].contiguous(), _own(state), tokens)
        return module_while_loop(self.model, cond, body, carried, (steps, temperature, top_k))[-1]


class DecodeGraph(nn.Module):
    """``model.decode`` with tensor arguments: src (B, S), src_lengths (B,), max_len."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, src: Tensor, src_lengths: Tensor, max_len: Tensor) -> Tensor:
        if _exporting():
            return self.exported(src, src_lengths, max_len)
        return self.model.decode(src, src_lengths, int(max_len))

    @torch.jit.unused
    def exported(self, src: Tensor, src_lengths: Tensor, max_len: Tensor) -> Tensor:
        """``decode``'s tokens from a ``while_loop`` over the model's ``decode_start`` and
        ``decode_step``; it stops once every row is done, and the <pad>s the buffer starts with
        stay after each row's <eos> as ``decode`` writes them."""
        token, state, done = self.model.decode_start(src, src_lengths)
        tokens = src.new_full((src.size(0), _length(max_len)), self.model.pad_id)

        def cond(carried: Tuple[Any, ...], given: Sequence[Tensor]) -> Tensor:
            return (carried[0] < given[0]) & ~carried[3].all()

        def body(carried: Tuple[Any, ...], given: Sequence[Tensor]) -> Tuple[Any, ...]:
            i, token, state, done, tokens = carried
            chosen, state, done = self.model.decode_step(token, state, done)
            token = chosen.unsqueeze(1)  # (B, 1)
            return i + 1, token, _own(state), done, tokens.index_copy(1, i.view(1), token)

        start = torch.zeros((), dtype=torch.long, device=src.device)
        return module_while_loop(self.model, cond, body, (start, token, _own(state), done, tokens), (max_len,))[-1]


def _scalar(name: str, dtype: str, doc: str) -> TensorSpec:
    return TensorSpec(name, dtype, (), doc)


def generate_graph(prompt: Callable[[Config], TensorSpec], prompt_example: Example) -> ExtraGraph:
    """``generate(prefix, steps, temperature, top_k, seed)`` of a language model whose token
    input is ``prompt`` (its vocabulary) with example ids from ``prompt_example``, answering
    ``/generate`` with the prefix continued."""

    def inputs(config: Config) -> Tuple[TensorSpec, ...]:
        return (
            TensorSpec("prefix", "int64", ("batch", "time"), "prompt token ids (at least one step)", prompt(config).vocab),
            _scalar("steps", "int64", "tokens to generate after the prefix"),
            _scalar("temperature", "float32", "softmax temperature; <= 0 is greedy"),
            _scalar("top_k", "int64", "sample among the k likeliest tokens; 0 = all"),
            _scalar("seed", "int64", "seed of the sampler (same seed, same tokens)"),
        )

    def outputs(config: Config) -> Tuple[TensorSpec, ...]:
        return (TensorSpec("tokens", "int64", ("batch", "steps"), "generated token ids"),)

    def example(config: Config, batch: int, time: int, generator: torch.Generator) -> ExampleInputs:
        prefix = prompt_example(config, batch, time, generator)
        return (prefix, torch.tensor(time + 3), torch.tensor(0.8), torch.tensor(5), torch.tensor(batch + time))

    def cases(config: Config) -> List[Tuple[str, ExampleInputs]]:
        """Greedy and sampled, with and without top-k, from short and long prompts."""
        chosen = []
        for batch, time in ((1, 1), (2, 17), (7, 5)):
            prefix = prompt_example(config, batch, time, torch.Generator().manual_seed(batch * 31 + time))
            for label, temperature, top_k in (("greedy", 0.0, 0), ("t0.8-top5", 0.8, 5), ("t1.0", 1.0, 0)):
                scalars = (torch.tensor(time + 8), torch.tensor(temperature), torch.tensor(top_k), torch.tensor(batch + time))
                chosen.append((f"b{batch}-t{time}-{label}", (prefix, *scalars)))
        return chosen

    parameters = (
        ("steps", Parameter(100, 1, "max_sequence")),
        ("temperature", Parameter(1.0, 1e-3, 1e3, zero=True)),
        ("top_k", Parameter(0, 0, "vocab")),
        ("seed", Parameter(0, 0, SEED_MAX)),
    )
    endpoint = Endpoint("generate", "continuation", parameters)
    return ExtraGraph("generate", inputs, outputs, example, GenerateGraph, cases, endpoint)


def decode_graph(
    source: Callable[[Config], Tuple[TensorSpec, TensorSpec]],
    target_vocab: Callable[[Config], int],
    source_example: Callable[[Config, int, int, torch.Generator], Tuple[Tensor, Tensor]],
) -> ExtraGraph:
    """``decode(src, src_lengths, max_len)`` of a seq2seq model whose forward's ``source`` inputs
    are (source ids, their lengths), with examples from ``source_example``, answering raw
    ``/predict`` instances with the decoded text."""

    def inputs(config: Config) -> Tuple[TensorSpec, ...]:
        return (*source(config), _scalar("max_len", "int64", "most target tokens to produce"))

    def outputs(config: Config) -> Tuple[TensorSpec, ...]:
        doc = "greedy target ids, padding after <eos>"
        return (TensorSpec("tokens", "int64", ("batch", "max_len"), doc, target_vocab(config)),)

    def example(config: Config, batch: int, time: int, generator: torch.Generator) -> ExampleInputs:
        src, lengths = source_example(config, batch, time, generator)
        return (src, lengths, torch.tensor(time + 2))

    endpoint = Endpoint("predict", "text", (("max_len", Parameter(2, 1, "max_sequence", per_step=2)),))
    return ExtraGraph("decode", inputs, outputs, example, DecodeGraph, None, endpoint)
