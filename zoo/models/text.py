"""Text and name classifiers: token ids -> embedding -> bidirectional recurrent layers -> head.

* ``text-classifier`` follows the "Upgraded Sentiment Analysis" tutorial (bentrevett/
  pytorch-sentiment-analysis, notebook 2): embedding with padding id 0, 2-layer BiLSTM with
  dropout 0.5, the final forward and backward states concatenated, dropout, linear. It can
  start from pretrained vectors (GloVe), frozen or not.
* ``sentiment-lstm`` follows TensorFlow's "Text classification with an RNN": embedding 64,
  stacked BiLSTMs, a 64-unit ReLU layer with dropout, one logit.
* ``name-gru`` is the course's RNNClassifier for surnames ("PyTorch深度学习实践", lecture 13):
  character embedding, 2-layer bidirectional GRU with 100 hidden units, linear over 18
  languages.

The recurrent layers are the ``zoo.nn`` twins of ``torch.nn.LSTM``/``GRU`` (same parameters):
their ragged-batch handling (``lengths``) scripts and exports as one ONNX ``Loop``, which the
``pack_padded_sequence`` route of the tutorials does not.
"""

from dataclasses import dataclass
from typing import Optional

import torch
from torch import Tensor, nn

from zoo.models.common import final_features, option, ragged_lengths, recurrent_layer, token_ids
from zoo.nn.checks import check_lengths, check_token_batch
from zoo.recipe import Recipe
from zoo.registry import ExampleInputs, ModelSpec, Signature, TensorSpec, register_model

PAD_ID = 0


@dataclass
class TextClassifierConfig:
    vocab_size: int = option(25002, "words incl. <pad>=0 and <unk> (tutorial: 25,000 + 2)")
    embedding_dim: int = option(100, "embedding size (100 matches GloVe 6B.100d)")
    hidden_size: int = option(256, "LSTM hidden units per direction")
    num_layers: int = option(2, "stacked LSTM layers")
    bidirectional: bool = option(True, "read the text both ways")
    dropout: float = option(0.5, "dropout between LSTM layers and before the head")
    num_classes: int = option(2, "output classes")


@dataclass
class SentimentLSTMConfig:
    vocab_size: int = option(1000, "words incl. <pad>=0 and <unk> (tutorial: 1,000)")
    embedding_dim: int = option(64, "embedding size")
    hidden_size: int = option(64, "LSTM hidden units per direction")
    num_layers: int = option(2, "stacked bidirectional LSTM layers")
    head_size: int = option(64, "units of the ReLU layer before the logit")
    dropout: float = option(0.5, "dropout after the ReLU layer")


@dataclass
class NameGRUConfig:
    vocab_size: int = option(128, "characters incl. padding 0 (course: the 128 ASCII codes)")
    hidden_size: int = option(100, "embedding size and GRU hidden units per direction")
    num_layers: int = option(2, "stacked GRU layers")
    bidirectional: bool = option(True, "read the name both ways")
    num_classes: int = option(18, "languages")
    dropout: float = option(0.0, "dropout between GRU layers and before the head (course: none)")


class TokenClassifier(nn.Module):
    """embedding -> recurrent layers -> final states of the top layer -> dropout -> head."""

    __constants__ = ["vocab_size", "directions", "is_lstm"]

    def __init__(
        self,
        vocab_size: int,
        embedding_dim: int,
        encoder: nn.Module,
        is_lstm: bool,
        directions: int,
        head: nn.Module,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.vocab_size = vocab_size
        self.directions = directions
        self.is_lstm = is_lstm
        self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=PAD_ID)
        self.encoder = encoder
        self.dropout = nn.Dropout(dropout)
        self.head = head

    def forward(self, tokens: Tensor, lengths: Optional[Tensor] = None) -> Tensor:
        check_token_batch(tokens, self.vocab_size, "tokens")
        if lengths is not None:
            check_lengths(lengths, tokens.size(0), tokens.size(1))
        embedded = self.embedding(tokens)  # (B, T, E)
        if self.is_lstm:  # a constant: TorchScript compiles only the branch taken
            _, (h_n, _) = self.encoder(embedded, None, lengths)
        else:
            _, h_n = self.encoder(embedded, None, lengths)
        features = final_features(h_n, self.directions)  # (B, directions * H)
        return self.head(self.dropout(features))

    @torch.jit.unused
    def use_pretrained_embeddings(self, vectors: Tensor, freeze: bool) -> None:
        """Copies ``vectors`` (vocab, dim) into the embedding; ``freeze`` stops its training.

        The padding row stays zero, as ``padding_idx`` expects.
        """
        expected = tuple(self.embedding.weight.shape)
        if tuple(vectors.shape) != expected:
            raise ValueError(
                f"pretrained embeddings have shape {tuple(vectors.shape)} but the model's "
                f"embedding is {expected}; set vocab_size/embedding_dim to match"
            )
        with torch.no_grad():
            self.embedding.weight.copy_(vectors)
            self.embedding.weight[PAD_ID].zero_()
        self.embedding.weight.requires_grad_(not freeze)


def _text_classifier(cfg: TextClassifierConfig) -> nn.Module:
    encoder = recurrent_layer("lstm", True, cfg.embedding_dim, cfg.hidden_size, cfg.num_layers,
                              cfg.dropout, cfg.bidirectional)  # fmt: skip
    directions = 2 if cfg.bidirectional else 1
    head = nn.Linear(directions * cfg.hidden_size, cfg.num_classes)
    return TokenClassifier(cfg.vocab_size, cfg.embedding_dim, encoder, True, directions, head,
                           cfg.dropout)  # fmt: skip


def _sentiment_lstm(cfg: SentimentLSTMConfig) -> nn.Module:
    encoder = recurrent_layer("lstm", True, cfg.embedding_dim, cfg.hidden_size, cfg.num_layers,
                              bidirectional=True)  # fmt: skip
    head = nn.Sequential(
        nn.Linear(2 * cfg.hidden_size, cfg.head_size),
        nn.ReLU(),
        nn.Dropout(cfg.dropout),
        nn.Linear(cfg.head_size, 1),
    )
    return TokenClassifier(cfg.vocab_size, cfg.embedding_dim, encoder, True, 2, head)


def _name_gru(cfg: NameGRUConfig) -> nn.Module:
    encoder = recurrent_layer("gru", True, cfg.hidden_size, cfg.hidden_size, cfg.num_layers,
                              cfg.dropout if cfg.num_layers > 1 else 0.0, cfg.bidirectional)  # fmt: skip
    directions = 2 if cfg.bidirectional else 1
    head = nn.Linear(directions * cfg.hidden_size, cfg.num_classes)
    return TokenClassifier(cfg.vocab_size, cfg.hidden_size, encoder, False, directions, head,
                           cfg.dropout)  # fmt: skip


def _signature(vocab_size: int, outputs: int, what: str) -> Signature:
    return Signature(
        inputs=(
            TensorSpec("tokens", "int64", ("batch", "time"), "token ids, 0 = padding", vocab_size),
            TensorSpec("lengths", "int64", ("batch",), "valid tokens per sequence"),
        ),
        outputs=(TensorSpec("logits", "float32", ("batch", outputs), what),),
        ragged=(("lengths", "tokens"),),
    )


def _example(vocab_size: int, batch: int, time: int, generator: torch.Generator) -> ExampleInputs:
    lengths = ragged_lengths(batch, time, generator)
    return (token_ids(batch, time, vocab_size, lengths, generator), lengths)


def _register(name, config_cls, builder, task, outputs, what, default_data, description, origin, **declared):  # type: ignore[no-untyped-def]
    """``declared``: the spec's recipe, data_fields and embedding_field."""
    register_model(
        ModelSpec(
            name=name,
            config_cls=config_cls,
            builder=builder,
            task=task,
            signature=lambda cfg: _signature(cfg.vocab_size, outputs(cfg), what),
            example_inputs=lambda cfg, b, t, g: _example(cfg.vocab_size, b, t, g),
            stateful=False,
            default_data=default_data,
            description=description,
            origin=origin,
            **declared,
        )
    )


_register(
    "text-classifier", TextClassifierConfig, _text_classifier, "classification",
    lambda cfg: cfg.num_classes, "class scores", "sentiment",
    "embedding -> 2-layer BiLSTM (dropout 0.5) -> dropout -> linear; optional pretrained vectors",
    "bentrevett/pytorch-sentiment-analysis: Upgraded Sentiment Analysis",
    recipe=Recipe(epochs=10, batch_size=32, lr=1e-3, clip=5.0, schedule="cosine"),
    data_fields={"vocab_size": "vocab", "num_classes": "classes"},
    embedding_field="embedding_dim",
)  # fmt: skip
_register(
    "sentiment-lstm", SentimentLSTMConfig, _sentiment_lstm, "binary-classification",
    lambda cfg: 1, "positive-class logit", "sentiment",
    "embedding -> 2-layer BiLSTM -> 64-unit ReLU MLP with dropout -> 1 logit",
    "TensorFlow tutorial: Text classification with an RNN",
    recipe=Recipe(epochs=12, batch_size=32, lr=1e-3, clip=5.0, schedule="cosine"),
    data_fields={"vocab_size": "vocab"},  # one logit: no class count to take
    embedding_field="embedding_dim",
)  # fmt: skip
_register(
    "name-gru", NameGRUConfig, _name_gru, "classification",
    lambda cfg: cfg.num_classes, "language scores", "names",
    "character embedding -> 2-layer bidirectional GRU (100) -> linear over languages",
    "PyTorch深度学习实践 lecture 13: RNNClassifier for names",
    # Names are unbalanced (Russian ~47%): logit adjustment (tau 0.3) and label smoothing trade a
    # little plain accuracy for balanced accuracy; a wider GRU with dropout wins both back.
    recipe=Recipe(
        epochs=15, batch_size=64, lr=2e-3, clip=5.0, schedule="cosine", logit_adjustment=0.3,
        label_smoothing=0.1, config={"hidden_size": 200, "dropout": 0.3},
    ),
    data_fields={"vocab_size": "vocab", "num_classes": "classes"},
)  # fmt: skip
