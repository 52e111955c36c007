"""A BiLSTM named-entity tagger: a word embedding and a character-level encoder of each word ->
bidirectional LSTM -> one tag score vector per token.

Follows the tutorials' closing exercise ("implement a BiLSTM-based named-entity recognition
model") in the shape of Lample et al. 2016, "Neural Architectures for Named Entity
Recognition" (word embedding + a character encoder of each word, so that unseen names are not
all ``<unk>``; word dropout to ``<unk>``; dropout; a BiLSTM over the sentence; without the CRF)
and Ma & Hovy 2016 for the character CNN with max-pooling. The character encoder is a CNN
(default) or a small BiLSTM (``char_encoder="lstm"``).

Inputs: ``words`` (B, T) lower-cased word ids (0 padding, 1 unknown), ``chars`` (B, T, W) the
first W characters of each token (case kept, 0 padding), ``lengths`` (B,) tokens per sentence.
Tags past a sentence's length are scores of padding: the training task ignores them. The tags
are read from the scores as the likeliest valid IOB2 sequence (``zoo.entities.best_tags``), in
training's metrics and by the server alike.
"""

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from zoo.models.common import check_choice, option, ragged_lengths, recurrent_layer, token_ids
from zoo.nn.checks import check_dims, check_lengths, check_token_batch, check_token_ids
from zoo.recipe import Recipe
from zoo.registry import ExampleInputs, ModelSpec, Signature, TensorSpec, register_model

PAD_ID, UNK_ID = 0, 1
CHAR_ENCODERS = ("cnn", "lstm")


@dataclass
class BiLSTMTaggerConfig:
    vocab_size: int = option(4359, "words incl. <pad>=0 and <unk>=1 (uner-ewt's training words)")
    char_vocab_size: int = option(96, "characters incl. <pad>=0 and <unk>=1 (uner-ewt's: 96)")
    num_tags: int = option(7, "tags (O and B-/I- of PER, ORG, LOC)")
    max_word_chars: int = option(20, "characters read per word (the data's tokenizer width)")
    word_dim: int = option(100, "word embedding size")
    char_dim: int = option(25, "character embedding size")
    char_encoder: str = option("cnn", "'cnn' (convolution + max-pool) or 'lstm' (BiLSTM, final states)")
    char_features: int = option(50, "character features per word (CNN filters; BiLSTM: both directions)")
    char_kernel: int = option(3, "CNN kernel width in characters")
    hidden_size: int = option(128, "sentence LSTM hidden units per direction")
    num_layers: int = option(1, "stacked bidirectional sentence LSTM layers")
    dropout: float = option(0.5, "dropout on the token features and before the tag scores")
    word_dropout: float = option(0.1, "training only: share of known words read as <unk>")


class CharCNN(nn.Module):
    """Character embedding -> 1-D convolution -> ReLU -> max over each word's characters."""

    def __init__(self, vocab_size: int, dim: int, features: int, kernel: int) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, dim, padding_idx=PAD_ID)
        self.conv = nn.Conv1d(dim, features, kernel, padding=kernel // 2)

    def forward(self, chars: Tensor) -> Tensor:
        batch, time, width = chars.size(0), chars.size(1), chars.size(2)
        flat = chars.reshape(batch * time, width)  # (B*T, W)
        x = self.embedding(flat).transpose(1, 2)  # (B*T, E, W)
        y = torch.relu(self.conv(x))[:, :, :width]  # (B*T, F, W); an even kernel makes one more
        # ReLU outputs are >= 0, so zeroing the padding leaves each word's maximum as it was (and
        # a padding word gets zeros).
        y = y.masked_fill((flat == 0).unsqueeze(1), 0.0)
        return y.amax(dim=2).reshape(batch, time, -1)  # (B, T, F)


class CharBiLSTM(nn.Module):
    """Character embedding -> BiLSTM over each word's characters -> both final states."""

    def __init__(self, vocab_size: int, dim: int, features: int) -> None:
        super().__init__()
        if features % 2:
            raise ValueError(f"char_features must be even for the character BiLSTM (two directions), got {features}")
        self.embedding = nn.Embedding(vocab_size, dim, padding_idx=PAD_ID)
        self.rnn = recurrent_layer("lstm", False, dim, features // 2, bidirectional=True)

    def forward(self, chars: Tensor) -> Tensor:
        batch, time, width = chars.size(0), chars.size(1), chars.size(2)
        flat = chars.reshape(batch * time, width)  # (B*T, W)
        # A padding word reads one padding character: every sequence needs a step.
        lengths = (flat != 0).sum(1).clamp(min=1)
        _, (h_n, _) = self.rnn(self.embedding(flat), None, lengths)  # h_n (2, B*T, F/2)
        return torch.cat([h_n[0], h_n[1]], dim=1).reshape(batch, time, -1)  # (B, T, F)


class BiLSTMTagger(nn.Module):
    """[word embedding ; character features] -> dropout -> BiLSTM -> dropout -> linear."""

    __constants__ = ["vocab_size", "char_vocab_size", "max_word_chars", "word_dropout"]

    def __init__(self, cfg: BiLSTMTaggerConfig) -> None:
        super().__init__()
        check_choice(cfg.char_encoder, CHAR_ENCODERS, "char_encoder")
        if not 0.0 <= cfg.word_dropout < 1.0:
            raise ValueError(f"word_dropout must be in [0, 1), got {cfg.word_dropout}")
        self.vocab_size = cfg.vocab_size
        self.char_vocab_size = cfg.char_vocab_size
        self.max_word_chars = cfg.max_word_chars
        self.word_dropout = cfg.word_dropout
        self.embedding = nn.Embedding(cfg.vocab_size, cfg.word_dim, padding_idx=PAD_ID)
        if cfg.char_encoder == "cnn":
            self.chars: nn.Module = CharCNN(cfg.char_vocab_size, cfg.char_dim, cfg.char_features, cfg.char_kernel)
        else:
            self.chars = CharBiLSTM(cfg.char_vocab_size, cfg.char_dim, cfg.char_features)
        self.encoder = recurrent_layer("lstm", False, cfg.word_dim + cfg.char_features, cfg.hidden_size,
                                       cfg.num_layers, cfg.dropout if cfg.num_layers > 1 else 0.0, True)  # fmt: skip
        self.dropout = nn.Dropout(cfg.dropout)
        self.head = nn.Linear(2 * cfg.hidden_size, cfg.num_tags)

    def _check(self, words: Tensor, chars: Tensor, lengths: Tensor) -> None:
        check_token_batch(words, self.vocab_size, "words")
        check_dims(chars, 3, "(batch, time, characters) character ids", "chars")
        check_token_ids(chars, self.char_vocab_size, "chars")
        expected = [words.size(0), words.size(1), self.max_word_chars]
        if list(chars.size()) != expected:
            raise ValueError(
                "chars has shape {} but {} was expected (the batch and time of words, max_word_chars "
                "characters per word)".format(list(chars.size()), expected)
            )
        check_lengths(lengths, words.size(0), words.size(1))

    def forward(self, words: Tensor, chars: Tensor, lengths: Tensor) -> Tensor:
        self._check(words, chars, lengths)
        if self.training and self.word_dropout > 0.0:
            # Known words read as <unk> now and then, so the model learns to tag an unknown word
            # from its characters and neighbours (Lample et al. 2016).
            dropped = (torch.rand(words.size(), device=words.device) < self.word_dropout) & (words > 1)
            words = words.masked_fill(dropped, 1)  # UNK_ID (TorchScript reads no globals)
        x = torch.cat([self.embedding(words), self.chars(chars)], dim=2)  # (B, T, E + F)
        output, _ = self.encoder(self.dropout(x), None, lengths)  # (B, T, 2H)
        return self.head(self.dropout(output))  # (B, T, tags)


def _signature(cfg: BiLSTMTaggerConfig) -> Signature:
    return Signature(
        inputs=(
            TensorSpec("words", "int64", ("batch", "time"), "lower-cased word ids, 0 = padding, 1 = unknown", cfg.vocab_size),
            TensorSpec("chars", "int64", ("batch", "time", cfg.max_word_chars),
                       "each token's first characters (case kept), 0 = padding", cfg.char_vocab_size),  # fmt: skip
            TensorSpec("lengths", "int64", ("batch",), "tokens per sentence"),
        ),
        outputs=(TensorSpec("logits", "float32", ("batch", "time", cfg.num_tags), "tag scores per token"),),
        ragged=(("lengths", "words"), ("lengths", "chars")),
    )


def _example(cfg: BiLSTMTaggerConfig, batch: int, time: int, generator: torch.Generator) -> ExampleInputs:
    """Ragged sentences of words 1 to max_word_chars characters long; zeros past every end."""
    lengths = ragged_lengths(batch, time, generator)
    words = token_ids(batch, time, cfg.vocab_size, lengths, generator)
    width = cfg.max_word_chars
    chars = torch.randint(1, cfg.char_vocab_size, (batch, time, width), generator=generator)
    word_chars = torch.randint(1, width + 1, (batch, time, 1), generator=generator)
    chars = chars.masked_fill(torch.arange(width) >= word_chars, PAD_ID)
    return words, chars.masked_fill((words == PAD_ID).unsqueeze(2), PAD_ID), lengths


register_model(
    ModelSpec(
        name="bilstm-tagger",
        config_cls=BiLSTMTaggerConfig,
        builder=BiLSTMTagger,
        task="tagging",
        signature=_signature,
        example_inputs=_example,
        stateful=False,
        default_data="uner-ewt",
        description="word embedding + character CNN of each word -> BiLSTM -> tag scores per token (named entities)",
        origin="tutorials' exercise: a BiLSTM NER model; Lample et al. 2016 (word dropout), Ma & Hovy 2016 (char CNN)",
        # Picked on uner-ewt by validation F1 (issue 15): 100 CNN filters and word dropout 0.3 beat 50
        # and 0.1; a character BiLSTM, a 200-wide or 2-layer sentence LSTM, word_dim 50, dropout 0.3
        # or 0.6, tag weights, batch 8 and 40 epochs at lr 3e-3 validated lower.
        recipe=Recipe(epochs=25, batch_size=16, lr=5e-3, clip=5.0, schedule="cosine",
                      config={"char_features": 100, "word_dropout": 0.3}),
        data_fields={"vocab_size": "vocab", "char_vocab_size": "characters", "num_tags": "classes"},
    )
)
