"""Sequence to sequence: an LSTM encoder reads the source, an LSTM decoder writes the target.

Follows bentrevett/pytorch-seq2seq notebook 1 (Sutskever et al., 2014, "Sequence to Sequence
Learning with Neural Networks"): the encoder's final (h, c) of every layer starts the decoder,
which is trained with teacher forcing. Sized for the zoo's default task, reversing a digit
sequence (``seq-reverse``): 13 tokens (<pad>=0, <bos>=1, <eos>=2, digits 3-12).

``forward(src, src_lengths, tgt_in)`` is the teacher-forced pass; ``decode(src, src_lengths,
max_len)`` is a scripted greedy loop that stops each sequence at its end token and pads the
rest. Both LSTMs are ``zoo.nn`` twins of ``torch.nn.LSTM``, so ragged sources and the loops
export to ONNX.
"""

from dataclasses import dataclass
from typing import List, Tuple

import torch
from torch import Tensor, nn

from zoo import nn as znn
from zoo.models.common import option, ragged_lengths, token_ids
from zoo.models.graphs import decode_graph
from zoo.nn.checks import check_lengths, check_token_batch
from zoo.recipe import Recipe
from zoo.registry import ExampleInputs, ModelSpec, Signature, TensorSpec, register_model


@dataclass
class Seq2SeqConfig:
    src_vocab_size: int = option(13, "source tokens incl. <pad>=0 (seq-reverse: 3 specials + 10 digits)")
    tgt_vocab_size: int = option(13, "target tokens incl. <pad>, <bos>, <eos>")
    embedding_dim: int = option(32, "embedding size of source and target tokens")
    hidden_size: int = option(128, "LSTM hidden units (encoder and decoder)")
    num_layers: int = option(2, "LSTM layers; the encoder's final states start the decoder")
    dropout: float = option(0.0, "dropout on embeddings, between layers and before the output")
    pad_id: int = option(0, "padding token (target and source)")
    bos_id: int = option(1, "target start token fed to the decoder first")
    eos_id: int = option(2, "target end token; decoding stops after it")


class Seq2SeqLSTM(nn.Module):
    __constants__ = ["src_vocab_size", "tgt_vocab_size", "pad_id", "bos_id", "eos_id"]

    def __init__(self, cfg: Seq2SeqConfig) -> None:
        super().__init__()
        for what in ("pad_id", "bos_id", "eos_id"):
            if not 0 <= getattr(cfg, what) < cfg.tgt_vocab_size:
                raise ValueError(f"{what} must lie in [0, tgt_vocab_size), got {getattr(cfg, what)}")
        self.src_vocab_size = cfg.src_vocab_size
        self.tgt_vocab_size = cfg.tgt_vocab_size
        self.pad_id = cfg.pad_id
        self.bos_id = cfg.bos_id
        self.eos_id = cfg.eos_id
        inner_dropout = cfg.dropout if cfg.num_layers > 1 else 0.0
        self.src_embedding = nn.Embedding(cfg.src_vocab_size, cfg.embedding_dim, padding_idx=cfg.pad_id)
        self.tgt_embedding = nn.Embedding(cfg.tgt_vocab_size, cfg.embedding_dim, padding_idx=cfg.pad_id)
        self.encoder = znn.LSTM(cfg.embedding_dim, cfg.hidden_size, cfg.num_layers,
                                batch_first=True, dropout=inner_dropout)  # fmt: skip
        self.decoder = znn.LSTM(cfg.embedding_dim, cfg.hidden_size, cfg.num_layers,
                                batch_first=True, dropout=inner_dropout)  # fmt: skip
        self.dropout = nn.Dropout(cfg.dropout)
        self.output = nn.Linear(cfg.hidden_size, cfg.tgt_vocab_size)

    def _encode(self, src: Tensor, src_lengths: Tensor) -> Tuple[Tensor, Tensor]:
        check_token_batch(src, self.src_vocab_size, "src")
        check_lengths(src_lengths, src.size(0), src.size(1), "src_lengths")
        embedded = self.dropout(self.src_embedding(src))  # (B, S, E)
        _, state = self.encoder(embedded, None, src_lengths)  # 2 x (L, B, H)
        return state

    def forward(self, src: Tensor, src_lengths: Tensor, tgt_in: Tensor) -> Tensor:
        """Teacher forcing: ``tgt_in`` is the target shifted right (starting with <bos>)."""
        state = self._encode(src, src_lengths)
        check_token_batch(tgt_in, self.tgt_vocab_size, "tgt_in")
        if tgt_in.size(0) != src.size(0):
            raise ValueError(
                "tgt_in has {} sequences but src has {}".format(tgt_in.size(0), src.size(0))
            )
        output, _ = self.decoder(self.dropout(self.tgt_embedding(tgt_in)), state)  # (B, T, H)
        return self.output(self.dropout(output))  # (B, T, V)

    @torch.jit.export
    def decode(self, src: Tensor, src_lengths: Tensor, max_len: int) -> Tensor:
        """Greedy decoding: (B, max_len) token ids; after a row's <eos> come <pad>s."""
        if max_len < 0:
            raise ValueError("max_len must be >= 0, got {}".format(max_len))
        token, state, done = self.decode_start(src, src_lengths)
        batch = src.size(0)
        steps: List[Tensor] = []
        for _ in range(max_len):
            chosen, state, done = self.decode_step(token, state, done)
            steps.append(chosen)
            token = chosen.unsqueeze(1)
            if bool(done.all()):
                break
        padding = torch.full(
            [batch, max_len - len(steps)], self.pad_id, dtype=torch.long, device=src.device
        )
        if len(steps) == 0:
            return padding
        return torch.cat([torch.stack(steps, dim=1), padding], dim=1)

    def decode_start(self, src: Tensor, src_lengths: Tensor) -> Tuple[Tensor, Tuple[Tensor, Tensor], Tensor]:
        """What greedy decoding starts from: the <bos> tokens (B, 1), the encoder's final state and
        no row done (B,). ``decode`` and its exported loop (``zoo.models.graphs.DecodeGraph``) share it."""
        state = self._encode(src, src_lengths)
        batch = src.size(0)
        token = torch.full([batch, 1], self.bos_id, dtype=torch.long, device=src.device)
        done = torch.zeros([batch], dtype=torch.bool, device=src.device)
        return token, state, done

    def decode_step(
        self, token: Tensor, state: Tuple[Tensor, Tensor], done: Tensor
    ) -> Tuple[Tensor, Tuple[Tensor, Tensor], Tensor]:
        """One greedy step from the previous tokens (B, 1): the chosen tokens (B,), <pad> in the
        rows already done, the decoder's state and the rows done after it (<eos> chosen)."""
        output, state = self.decoder(self.tgt_embedding(token), state)  # (B, 1, H)
        chosen = self.output(output[:, 0]).argmax(dim=-1)  # (B,)
        chosen = chosen.masked_fill(done, self.pad_id)
        return chosen, state, done | (chosen == self.eos_id)


def _signature(cfg: Seq2SeqConfig) -> Signature:
    return Signature(
        inputs=(
            TensorSpec("src", "int64", ("batch", "src_time"), "source ids, 0 = padding", cfg.src_vocab_size),
            TensorSpec("src_lengths", "int64", ("batch",), "valid source tokens per sequence"),
            TensorSpec("tgt_in", "int64", ("batch", "tgt_time"), "<bos> + target, teacher forcing", cfg.tgt_vocab_size),
        ),
        outputs=(
            TensorSpec("logits", "float32", ("batch", "tgt_time", cfg.tgt_vocab_size), "next target-token scores"),
        ),
        ragged=(("src_lengths", "src"),),
    )  # fmt: skip


def _example(cfg: Seq2SeqConfig, batch: int, time: int, generator: torch.Generator) -> ExampleInputs:
    lengths = ragged_lengths(batch, time, generator)
    src = token_ids(batch, time, cfg.src_vocab_size, lengths, generator)
    tgt_in = torch.randint(1, cfg.tgt_vocab_size, (batch, time), generator=generator)
    tgt_in[:, 0] = cfg.bos_id
    return (src, lengths, tgt_in)


register_model(
    ModelSpec(
        name="seq2seq-lstm",
        config_cls=Seq2SeqConfig,
        builder=Seq2SeqLSTM,
        task="seq2seq",
        signature=_signature,
        example_inputs=_example,
        stateful=False,
        default_data="seq-reverse",
        recipe=Recipe(epochs=10, batch_size=64, lr=3e-3, clip=1.0, schedule="cosine"),
        # One vocabulary for both sides (the data's), as the reversal task has.
        data_fields={"src_vocab_size": "vocab", "tgt_vocab_size": "vocab"},
        description="LSTM encoder -> LSTM decoder, teacher-forced forward, scripted greedy decode()",
        origin="bentrevett/pytorch-seq2seq 1 (Sutskever et al. 2014)",
        methods=("decode",),
        graphs=(decode_graph(lambda cfg: _signature(cfg).inputs[:2], lambda cfg: cfg.tgt_vocab_size,
                             lambda cfg, b, t, g: _example(cfg, b, t, g)[:2]),),
    )
)
