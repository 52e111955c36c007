"""Character language models: token ids in, next-token logits out, state in and out.

* ``char-rnn``, ``char-lstm``, ``char-gru``: embedding -> recurrent layers -> linear decoder,
  the structure of pytorch/examples ``word_language_model`` with the sizes of karpathy/char-rnn
  (2 layers of 128, no dropout) for tinyshakespeare's 65 characters. ``forward(tokens, state)``
  returns ``(logits, state)`` so text can be fed window by window (truncated BPTT);
  ``init_state(batch)`` builds the zero state; ``generate`` is a scripted sampling loop.
* ``hello-rnncell``: the course's first RNN ("PyTorch深度学习实践", lecture 12): four
  characters one-hot encoded into an ``RNNCell`` of hidden size 4 whose state is read directly
  as the logits, learning "hello" -> "ohlol".

The language models use ``torch.nn``'s layers by default (fast to train); ``manual=true`` swaps
in the ``zoo.nn`` twins, whose parameters have the same names, so one set of weights serves both.
``hello-rnncell`` uses ``zoo.nn.RNNCell``, the twin of ``torch.nn.RNNCell``.
"""

from dataclasses import dataclass
from typing import List, Optional, Tuple

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from zoo import nn as znn
from zoo.models.common import option
from zoo.models.graphs import generate_graph
from zoo.nn.checks import check_state, check_token_batch
from zoo.nn.sampling import next_state, sample_tokens, seed_streams, uniform
from zoo.recipe import Recipe
from zoo.registry import ExampleInputs, ModelSpec, Signature, TensorSpec, register_model


@dataclass
class CharLMConfig:
    vocab_size: int = option(65, "characters (tinyshakespeare has 65)")
    embedding_dim: int = option(128, "embedding size")
    hidden_size: int = option(128, "hidden units per layer (char-rnn's rnn_size)")
    num_layers: int = option(2, "stacked recurrent layers")
    dropout: float = option(0.0, "dropout on the embedding, between layers and before the decoder")
    manual: bool = option(
        False, "use the hand-written zoo.nn layer instead of torch.nn's (same parameters)"
    )


@dataclass
class CharRNNConfig(CharLMConfig):
    nonlinearity: str = option("tanh", "'tanh' or 'relu'")


@dataclass
class HelloConfig:
    vocab_size: int = option(4, "characters: e, h, l, o")
    hidden_size: int = option(4, "RNNCell hidden units; the state is the logits, so = vocab_size")


class CharLM(nn.Module):
    """Embedding -> RNN/GRU layers -> linear decoder; the state is one tensor (L, B, H)."""

    __constants__ = ["vocab_size", "hidden_size", "num_layers"]

    def __init__(self, kind: str, cfg: CharLMConfig) -> None:
        super().__init__()
        self.vocab_size = cfg.vocab_size
        self.hidden_size = cfg.hidden_size
        self.num_layers = cfg.num_layers
        self.embedding = nn.Embedding(cfg.vocab_size, cfg.embedding_dim)
        # No ragged batches here, so torch.nn's layer (a compiled loop, cuDNN on CUDA) is used
        # bare, and its parameter names equal the zoo.nn twin's: weights move between the two.
        layers = znn if cfg.manual else nn
        kwargs = dict(num_layers=cfg.num_layers, batch_first=True,
                      dropout=cfg.dropout if cfg.num_layers > 1 else 0.0)  # fmt: skip
        if kind == "rnn":
            kwargs["nonlinearity"] = getattr(cfg, "nonlinearity", "tanh")
        layer_cls = {"rnn": layers.RNN, "lstm": layers.LSTM, "gru": layers.GRU}[kind]
        self.rnn = layer_cls(cfg.embedding_dim, cfg.hidden_size, **kwargs)
        self.dropout = nn.Dropout(cfg.dropout)
        self.decoder = nn.Linear(cfg.hidden_size, cfg.vocab_size)

    def forward(self, tokens: Tensor, state: Optional[Tensor] = None) -> Tuple[Tensor, Tensor]:
        check_token_batch(tokens, self.vocab_size, "tokens")
        x = self.dropout(self.embedding(tokens))  # (B, T, E)
        output, state = self.rnn(x, state)  # (B, T, H), (L, B, H)
        return self.decoder(self.dropout(output)), state  # (B, T, V)

    @torch.jit.export
    def init_state(self, batch: int) -> Tensor:
        """The zero state for ``batch`` sequences, on the model's device and dtype."""
        weight = self.decoder.weight
        return weight.new_zeros([self.num_layers, batch, self.hidden_size])

    @torch.jit.export
    def generate(
        self, prefix: Tensor, steps: int, temperature: float = 1.0, top_k: int = 0, seed: int = 0
    ) -> Tensor:
        """Reads ``prefix`` (B, P) and samples ``steps`` more tokens per row: (B, steps).

        ``temperature <= 0`` is greedy; ``top_k > 0`` samples among the k likeliest tokens. The
        same ``seed`` gives the same tokens in eager mode, TorchScript and ONNX (see
        ``zoo.nn.sampling``). Call ``eval()`` first unless dropout noise is wanted.
        """
        check_token_batch(prefix, self.vocab_size, "prefix")
        if steps < 0:
            raise ValueError("steps must be >= 0, got {}".format(steps))
        batch = prefix.size(0)
        logits, state = self.forward(prefix, self.init_state(batch))
        last = logits[:, -1]  # (B, V)
        streams = seed_streams(seed, batch, prefix.device)
        tokens: List[Tensor] = []
        for step in range(steps):
            streams = next_state(streams)
            token = sample_tokens(last, uniform(streams), temperature, top_k)  # (B,)
            tokens.append(token)
            if step + 1 < steps:
                logits, state = self.forward(token.unsqueeze(1), state)
                last = logits[:, 0]
        if steps == 0:
            return prefix.new_zeros([batch, 0])
        return torch.stack(tokens, dim=1)


class CharLSTM(CharLM):
    """The LSTM variant: the state is the pair (h, c), each (L, B, H)."""

    def forward(
        self, tokens: Tensor, state: Optional[Tuple[Tensor, Tensor]] = None
    ) -> Tuple[Tensor, Tuple[Tensor, Tensor]]:
        check_token_batch(tokens, self.vocab_size, "tokens")
        x = self.dropout(self.embedding(tokens))
        output, state = self.rnn(x, state)
        return self.decoder(self.dropout(output)), state

    @torch.jit.export
    def init_state(self, batch: int) -> Tuple[Tensor, Tensor]:
        weight = self.decoder.weight
        zeros = weight.new_zeros([self.num_layers, batch, self.hidden_size])
        return zeros, zeros.clone()


class HelloRNNCell(nn.Module):
    """One-hot characters -> RNNCell(4, 4) stepped over time; the hidden state is the logits."""

    __constants__ = ["vocab_size", "hidden_size"]

    def __init__(self, cfg: HelloConfig) -> None:
        super().__init__()
        if cfg.hidden_size != cfg.vocab_size:
            raise ValueError(
                f"hello-rnncell reads its state as the logits, so hidden_size must equal "
                f"vocab_size ({cfg.vocab_size}), got {cfg.hidden_size}"
            )
        self.vocab_size = cfg.vocab_size
        self.hidden_size = cfg.hidden_size
        self.cell = znn.SteppedRNNCell(cfg.vocab_size, cfg.hidden_size)

    def forward(self, tokens: Tensor, state: Optional[Tensor] = None) -> Tuple[Tensor, Tensor]:
        check_token_batch(tokens, self.vocab_size, "tokens")
        if state is None:
            h = self.init_state(tokens.size(0))
        else:
            check_state(state, [tokens.size(0), self.hidden_size], "h_0")
            h = state
        one_hot = F.one_hot(tokens, self.vocab_size).to(h.dtype)  # (B, T, V)
        return self.cell.over_time(one_hot, h)  # the course's loop of cell calls: (B, T, V), (B, H)

    @torch.jit.export
    def init_state(self, batch: int) -> Tensor:
        return self.cell.weight_hh.new_zeros([batch, self.hidden_size])


def _char_signature(cfg: CharLMConfig, states: List[str]) -> Signature:
    state_shape = (cfg.num_layers, "batch", cfg.hidden_size)
    inputs = [TensorSpec("tokens", "int64", ("batch", "time"), "character ids", cfg.vocab_size)]
    outputs = [TensorSpec("logits", "float32", ("batch", "time", cfg.vocab_size), "next-character scores")]
    for s in states:
        inputs.append(TensorSpec(f"{s}_0", "float32", state_shape, f"previous {s} (zeros to start)"))
        outputs.append(TensorSpec(f"{s}_n", "float32", state_shape, f"{s} after the last step"))
    pairs = tuple((f"{s}_0", f"{s}_n") for s in states)
    return Signature(tuple(inputs), tuple(outputs), pairs)


def _char_example(
    cfg: CharLMConfig, batch: int, time: int, generator: torch.Generator, states: int
) -> ExampleInputs:
    tokens = torch.randint(0, cfg.vocab_size, (batch, time), generator=generator)
    shape = (cfg.num_layers, batch, cfg.hidden_size)
    hx = [0.5 * torch.randn(shape, generator=generator) for _ in range(states)]
    return (tokens, (hx[0], hx[1]) if states == 2 else hx[0])


def _register_char(kind: str, config_cls: type, model_cls: type, states: List[str], recipe: Recipe) -> None:
    register_model(
        ModelSpec(
            name=f"char-{kind}",
            config_cls=config_cls,
            builder=lambda cfg: model_cls(kind, cfg),
            task="language-model",
            signature=lambda cfg: _char_signature(cfg, states),
            example_inputs=lambda cfg, b, t, g: _char_example(cfg, b, t, g, len(states)),
            stateful=True,
            default_data="tinyshakespeare",
            recipe=recipe,
            data_fields={"vocab_size": "vocab"},
            description=f"character {kind.upper()} language model with a scripted generate()",
            origin="karpathy/char-rnn sizes, pytorch/examples word_language_model structure",
            methods=("init_state", "generate"),
            graphs=(generate_graph(lambda cfg: _char_signature(cfg, states).inputs[0],
                                   lambda cfg, b, t, g: _char_example(cfg, b, t, g, len(states))[0]),),
        )
    )


_CHAR_RECIPE = Recipe(epochs=4, batch_size=64, lr=2e-3, clip=5.0, bptt=100, schedule="cosine")
_register_char("rnn", CharRNNConfig, CharLM, ["h"], _CHAR_RECIPE)
# One wide LSTM trains faster per quality on a CPU than char-rnn's 2x128: 10 epochs, ~12 min.
_register_char("lstm", CharLMConfig, CharLSTM, ["h", "c"], Recipe(
    epochs=10, batch_size=64, lr=3e-3, clip=5.0, bptt=100, schedule="cosine",
    config={"hidden_size": 512, "num_layers": 1, "embedding_dim": 64, "dropout": 0.2},
))  # fmt: skip
_register_char("gru", CharLMConfig, CharLM, ["h"], _CHAR_RECIPE)


def _hello_signature(cfg: HelloConfig) -> Signature:
    state = ("batch", cfg.hidden_size)
    return Signature(
        inputs=(
            TensorSpec("tokens", "int64", ("batch", "time"), "character ids", cfg.vocab_size),
            TensorSpec("h_0", "float32", state, "previous state (zeros to start)"),
        ),
        outputs=(
            TensorSpec("logits", "float32", ("batch", "time", cfg.vocab_size), "scores per step"),
            TensorSpec("h_n", "float32", state, "state after the last step"),
        ),
        state_pairs=(("h_0", "h_n"),),
    )


def _hello_example(cfg: HelloConfig, batch: int, time: int, generator: torch.Generator) -> ExampleInputs:
    tokens = torch.randint(0, cfg.vocab_size, (batch, time), generator=generator)
    return (tokens, 0.5 * torch.randn(batch, cfg.hidden_size, generator=generator))


register_model(
    ModelSpec(
        name="hello-rnncell",
        config_cls=HelloConfig,
        builder=HelloRNNCell,
        task="tagging",
        signature=_hello_signature,
        example_inputs=_hello_example,
        stateful=True,
        default_data="hello",
        # The course: Adam lr 0.1, 15 epochs; a few more steps make every seed's run converge.
        recipe=Recipe(epochs=100, batch_size=1, lr=0.1, seed=2),
        # The state is the logits, so the hidden size is the vocabulary's too.
        data_fields={"vocab_size": "vocab", "hidden_size": "vocab"},
        description='one-hot chars -> RNNCell(4, 4), learns "hello" -> "ohlol"; the smoke-test model',
        origin="PyTorch深度学习实践 lecture 12: RNNCell",
        methods=("init_state",),
    )
)
