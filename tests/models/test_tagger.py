"""bilstm-tagger beyond the zoo-wide tests (which run its default, character CNN, config: a
padded row equals the row alone, scripting, bad inputs, export): the character BiLSTM variant,
and word dropout, which acts in training only and only on known words."""

import pytest
import torch

import zoo
from zoo.models.tagger import _example

SMALL = dict(vocab_size=30, char_vocab_size=12, word_dim=8, char_dim=4, char_features=6, hidden_size=5)


def test_character_bilstm_row_alone_equals_its_padded_row_eager_and_scripted():
    spec = zoo.get_spec("bilstm-tagger")
    config = spec.make_config(char_encoder="lstm", **SMALL)
    torch.manual_seed(0)
    model = spec.build(config).eval()
    words, chars, lengths = _example(config, 4, 7, torch.Generator().manual_seed(1))
    scripted = torch.jit.script(model)
    with torch.no_grad():
        torch.testing.assert_close(scripted(words, chars, lengths), model(words, chars, lengths), atol=1e-6, rtol=0)
        model = model.double()
        batch = model(words, chars, lengths)
        for row in range(4):
            steps = int(lengths[row])
            alone = model(words[row : row + 1, :steps], chars[row : row + 1, :steps], lengths[row : row + 1])
            torch.testing.assert_close(alone, batch[row : row + 1, :steps], atol=1e-10, rtol=0)


def test_word_dropout_only_in_training_and_only_on_known_words():
    spec = zoo.get_spec("bilstm-tagger")
    config = spec.make_config(dropout=0.0, word_dropout=0.5, **SMALL)
    torch.manual_seed(0)
    model = spec.build(config)
    words, chars, lengths = _example(config, 3, 6, torch.Generator().manual_seed(2))
    model.eval()
    with torch.no_grad():
        plain = model(words, chars, lengths)
        unknown = words.clamp(max=1)  # every word <unk> (padding stays 0)
        plain_unknown = model(unknown, chars, lengths)
        model.train()
        torch.manual_seed(3)
        assert not torch.equal(model(words, chars, lengths), plain)  # some known words dropped
        # <unk> and padding have nothing to drop: training reads them as evaluation does.
        torch.testing.assert_close(model(unknown, chars, lengths), plain_unknown, atol=0, rtol=0)


def test_bad_config_is_refused():
    spec = zoo.get_spec("bilstm-tagger")
    with pytest.raises(ValueError, match="char_encoder must be one of 'cnn', 'lstm', got 'gru'"):
        spec.build(spec.make_config(char_encoder="gru", **SMALL))
    with pytest.raises(ValueError, match="char_features must be even"):
        spec.build(spec.make_config(char_encoder="lstm", **{**SMALL, "char_features": 5}))
