"""Each zoo model holds the same parameters as the tutorial model it follows.

The tutorials' models are written out plainly below with ``torch.nn`` (as the tutorials write
them, at their hyperparameters); a zoo model must match the parameter count and the multiset of
parameter shapes, at the default config and at the tutorial variants named in its origin.
"""

import pytest
import torch
from torch import nn

import zoo


def _directions(bidirectional):
    return 2 if bidirectional else 1


class BasicRNN(nn.Module):
    """BasicRNN / BasicLSTM / BasicGRU, TwoLayerLSTM, DropoutGRU, BiLSTM: layer + linear."""

    def __init__(self, layer, input_size=28, hidden_size=128, num_layers=1, num_classes=10,
                 bidirectional=False, dropout=0.0):  # fmt: skip
        super().__init__()
        self.rnn = layer(input_size, hidden_size, num_layers, batch_first=True,
                         bidirectional=bidirectional, dropout=dropout)  # fmt: skip
        self.fc = nn.Linear(hidden_size * _directions(bidirectional), num_classes)


class BiRNNBatchNorm(nn.Module):
    def __init__(self, input_size=28, hidden_size=128, num_classes=10):
        super().__init__()
        self.rnn = nn.RNN(input_size, hidden_size, batch_first=True, bidirectional=True)
        self.bn = nn.BatchNorm1d(2 * hidden_size)
        self.fc = nn.Linear(2 * hidden_size, num_classes)


class StackedLSTM(nn.Module):
    def __init__(self, input_size=28, hidden_size=128, num_layers=2, num_classes=10):
        super().__init__()
        self.lstms = nn.ModuleList(
            nn.LSTM(input_size if i == 0 else hidden_size, hidden_size, batch_first=True)
            for i in range(num_layers)
        )
        self.fc = nn.Linear(hidden_size, num_classes)


class UpgradedSentimentRNN(nn.Module):
    """bentrevett notebook 2's RNN (output 2 classes instead of 1 logit)."""

    def __init__(self, vocab_size=25002, embedding_dim=100, hidden_dim=256, output_dim=2,
                 n_layers=2, bidirectional=True, dropout=0.5, pad_idx=0):  # fmt: skip
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=pad_idx)
        self.rnn = nn.LSTM(embedding_dim, hidden_dim, num_layers=n_layers,
                           bidirectional=bidirectional, dropout=dropout)  # fmt: skip
        self.fc = nn.Linear(hidden_dim * 2, output_dim)
        self.dropout = nn.Dropout(dropout)


class TFTextRNN(nn.Module):
    def __init__(self, vocab_size=1000, embedding_dim=64, hidden=64):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=0)
        self.lstm = nn.LSTM(embedding_dim, hidden, num_layers=2, bidirectional=True)
        self.dense = nn.Linear(2 * hidden, 64)
        self.out = nn.Linear(64, 1)


class RNNClassifier(nn.Module):
    """The course's names classifier (lecture 13)."""

    def __init__(self, input_size=128, hidden_size=100, output_size=18, n_layers=2, bidirectional=True):
        super().__init__()
        self.embedding = nn.Embedding(input_size, hidden_size)
        self.gru = nn.GRU(hidden_size, hidden_size, n_layers, bidirectional=bidirectional)
        self.fc = nn.Linear(hidden_size * _directions(bidirectional), output_size)


class CharModel(nn.Module):
    """word_language_model's RNNModel at char-rnn's sizes."""

    def __init__(self, layer, ntoken=65, ninp=128, nhid=128, nlayers=2):
        super().__init__()
        self.encoder = nn.Embedding(ntoken, ninp)
        self.rnn = layer(ninp, nhid, nlayers)
        self.decoder = nn.Linear(nhid, ntoken)


class Seq2Seq(nn.Module):
    def __init__(self, vocab=13, emb=32, hid=128, n_layers=2):
        super().__init__()
        self.enc_embedding = nn.Embedding(vocab, emb)
        self.enc_rnn = nn.LSTM(emb, hid, n_layers)
        self.dec_embedding = nn.Embedding(vocab, emb)
        self.dec_rnn = nn.LSTM(emb, hid, n_layers)
        self.fc_out = nn.Linear(hid, vocab)


class AirModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(input_size=1, hidden_size=50, num_layers=1, batch_first=True)
        self.linear = nn.Linear(50, 1)


class LampleTagger(nn.Module):
    """The NER exercise as Lample et al. 2016 / Ma & Hovy 2016 write it, without the CRF: word
    embedding, a character CNN per word, a BiLSTM over the sentence, a linear tag layer."""

    def __init__(self, words=4359, chars=96, tags=7, word_dim=100, char_dim=25, filters=50, hidden=128):
        super().__init__()
        self.word_embeds = nn.Embedding(words, word_dim, padding_idx=0)
        self.char_embeds = nn.Embedding(chars, char_dim, padding_idx=0)
        self.char_cnn = nn.Conv1d(char_dim, filters, 3, padding=1)
        self.lstm = nn.LSTM(word_dim + filters, hidden, bidirectional=True, batch_first=True)
        self.hidden2tag = nn.Linear(2 * hidden, tags)


def _sequential(*sizes):
    layers = []
    for a, b in zip(sizes, sizes[1:]):
        layers += [nn.Linear(a, b), nn.Sigmoid()]
    return nn.Sequential(*layers)


class CourseCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 10, kernel_size=5)
        self.conv2 = nn.Conv2d(10, 20, kernel_size=5)
        self.pooling = nn.MaxPool2d(2)
        self.fc = nn.Linear(320, 10)


class CourseInceptionA(nn.Module):
    def __init__(self, in_channels):
        super().__init__()
        self.branch1x1 = nn.Conv2d(in_channels, 16, kernel_size=1)
        self.branch5x5_1 = nn.Conv2d(in_channels, 16, kernel_size=1)
        self.branch5x5_2 = nn.Conv2d(16, 24, kernel_size=5, padding=2)
        self.branch3x3_1 = nn.Conv2d(in_channels, 16, kernel_size=1)
        self.branch3x3_2 = nn.Conv2d(16, 24, kernel_size=3, padding=1)
        self.branch3x3_3 = nn.Conv2d(24, 24, kernel_size=3, padding=1)
        self.branch_pool = nn.Conv2d(in_channels, 24, kernel_size=1)


class CourseInceptionNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 10, kernel_size=5)
        self.conv2 = nn.Conv2d(88, 20, kernel_size=5)
        self.incep1 = CourseInceptionA(in_channels=10)
        self.incep2 = CourseInceptionA(in_channels=20)
        self.mp = nn.MaxPool2d(2)
        self.fc = nn.Linear(1408, 10)


class CourseResidualBlock(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, kernel_size=3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, kernel_size=3, padding=1)


class CourseResNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, kernel_size=5)
        self.conv2 = nn.Conv2d(16, 32, kernel_size=5)
        self.mp = nn.MaxPool2d(2)
        self.rblock1 = CourseResidualBlock(16)
        self.rblock2 = CourseResidualBlock(32)
        self.fc = nn.Linear(512, 10)


def _mnist_mlp():
    sizes = [784, 512, 256, 128, 64, 32, 10]
    return nn.Sequential(*[nn.Linear(a, b) for a, b in zip(sizes, sizes[1:])])


# (model name, config overrides, the tutorial's model at the same hyperparameters)
CASES = [
    ("manual-rnn", {}, lambda: nn.RNN(64, 128, batch_first=True)),
    ("manual-lstm", {"num_layers": 2, "bidirectional": True}, lambda: nn.LSTM(64, 128, 2, bidirectional=True)),
    ("manual-gru", {}, lambda: nn.GRU(64, 128)),
    ("rnn-classifier", {}, lambda: BasicRNN(nn.RNN)),
    ("lstm-classifier", {}, lambda: BasicRNN(nn.LSTM)),
    ("lstm-classifier", {"num_layers": 2}, lambda: BasicRNN(nn.LSTM, num_layers=2)),  # TwoLayerLSTM
    ("lstm-classifier", {"bidirectional": True}, lambda: BasicRNN(nn.LSTM, bidirectional=True)),  # BiLSTM
    ("gru-classifier", {}, lambda: BasicRNN(nn.GRU)),
    ("gru-classifier", {"num_layers": 2, "dropout": 0.2}, lambda: BasicRNN(nn.GRU, num_layers=2, dropout=0.2)),  # DropoutGRU
    ("manual-rnn-classifier", {}, lambda: BasicRNN(nn.RNN)),
    ("manual-lstm-classifier", {}, lambda: BasicRNN(nn.LSTM)),
    ("manual-gru-classifier", {"bidirectional": True}, lambda: BasicRNN(nn.GRU, bidirectional=True)),
    ("birnn-bn-classifier", {}, BiRNNBatchNorm),
    ("stacked-lstm-classifier", {}, StackedLSTM),
    ("stacked-lstm-classifier", {"num_layers": 3}, lambda: StackedLSTM(num_layers=3)),
    ("text-classifier", {}, UpgradedSentimentRNN),
    ("sentiment-lstm", {}, TFTextRNN),
    ("name-gru", {}, RNNClassifier),
    ("bilstm-tagger", {}, LampleTagger),
    ("bilstm-tagger", {"char_features": 100}, lambda: LampleTagger(filters=100)),  # the recipe's
    ("char-rnn", {}, lambda: CharModel(nn.RNN)),
    ("char-lstm", {}, lambda: CharModel(nn.LSTM)),
    ("char-gru", {}, lambda: CharModel(nn.GRU)),
    ("hello-rnncell", {}, lambda: nn.RNNCell(input_size=4, hidden_size=4)),
    ("seq2seq-lstm", {}, Seq2Seq),
    ("lstm-forecaster", {}, AirModel),
    ("linear-regression", {}, lambda: nn.Linear(1, 1)),
    ("logistic-regression", {}, lambda: nn.Linear(1, 1)),
    ("diabetes-mlp", {}, lambda: _sequential(8, 6, 4, 1)),
    ("mnist-mlp", {}, _mnist_mlp),
    ("mnist-cnn", {}, CourseCNN),
    ("mnist-inception", {}, CourseInceptionNet),
    ("mnist-resnet", {}, CourseResNet),
]  # fmt: skip


def _shapes(module):
    return sorted(tuple(p.shape) for p in module.parameters())


def test_every_model_has_a_reference():
    assert sorted({name for name, _, _ in CASES}) == zoo.list_models()


@pytest.mark.parametrize("name,overrides,reference", CASES, ids=[f"{c[0]}-{c[1]}" for c in CASES])
def test_parameters_match_the_tutorial(name, overrides, reference):
    model = zoo.create_model(name, **overrides)
    tutorial = reference()
    assert sum(p.numel() for p in model.parameters()) == sum(p.numel() for p in tutorial.parameters())
    assert _shapes(model) == _shapes(tutorial)


def test_tutorial_weights_load_into_the_name_classifier():
    """Same layout, not only the same count: the course's GRU weights load into name-gru."""
    tutorial = RNNClassifier()
    model = zoo.create_model("name-gru").eval()
    model.encoder.load_state_dict(tutorial.gru.state_dict())
    model.embedding.load_state_dict(tutorial.embedding.state_dict())
    model.head.load_state_dict(tutorial.fc.state_dict())
    tokens = torch.tensor([[5, 9, 3, 0], [7, 1, 2, 4]])
    lengths = torch.tensor([3, 4])
    with torch.no_grad():
        embedded = tutorial.embedding(tokens.t())  # (T, B, H), the course is time-major
        packed = nn.utils.rnn.pack_padded_sequence(embedded, lengths, enforce_sorted=False)
        _, hidden = tutorial.gru(packed)
        expected = tutorial.fc(torch.cat([hidden[-2], hidden[-1]], dim=1))
        torch.testing.assert_close(model(tokens, lengths), expected, atol=1e-6, rtol=0)
