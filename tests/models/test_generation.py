"""The scripted loops: language models' ``generate`` and seq2seq's greedy ``decode``."""

import pytest
import torch

import zoo
from tests.models.registry_inputs import scripted_model, seeded_model

CHAR_MODELS = ["char-rnn", "char-lstm", "char-gru"]
PREFIX = torch.tensor([[5, 9, 3], [7, 1, 2], [0, 64, 30]])


@pytest.mark.parametrize("name", CHAR_MODELS)
def test_generate_is_deterministic_for_a_seed_in_eager_and_scripted(name):
    model, scripted = seeded_model(name), scripted_model(name)
    with torch.no_grad():
        first = model.generate(PREFIX, 25, 1.0, 0, 11)
        again = model.generate(PREFIX, 25, 1.0, 0, 11)
        other = model.generate(PREFIX, 25, 1.0, 0, 12)
        from_script = scripted.generate(PREFIX, 25, 1.0, 0, 11)
    assert first.shape == (3, 25) and first.dtype == torch.long
    assert torch.equal(first, again)
    assert torch.equal(first, from_script)
    assert not torch.equal(first, other), "another seed should sample other text"
    assert int(first.min()) >= 0 and int(first.max()) < 65


@pytest.mark.parametrize("steps", [0, 1, 4])
@pytest.mark.parametrize("name", CHAR_MODELS)
def test_generate_respects_steps(name, steps):
    with torch.no_grad():
        assert scripted_model(name).generate(PREFIX, steps, 0.8, 5, 0).shape == (3, steps)


@pytest.mark.parametrize("name", CHAR_MODELS)
def test_greedy_generation_follows_the_argmax(name):
    """temperature 0 (and top_k 1) pick the most likely token, step by step through forward."""
    model = seeded_model(name)
    with torch.no_grad():
        greedy = model.generate(PREFIX, 6, 0.0, 0, 0)
        assert torch.equal(model.generate(PREFIX, 6, 1.0, 1, 99), greedy)
        logits, state = model(PREFIX, model.init_state(3))
        expected = []
        for _ in range(6):
            token = logits[:, -1].argmax(-1)
            expected.append(token)
            logits, state = model(token.unsqueeze(1), state)
    assert torch.equal(greedy, torch.stack(expected, 1))


@pytest.mark.parametrize("name", CHAR_MODELS)
def test_top_k_limits_the_choice(name):
    model = seeded_model(name)
    with torch.no_grad():
        logits, _ = model(PREFIX, model.init_state(3))
        allowed = torch.topk(logits[:, -1], 3).indices
        first = torch.stack([model.generate(PREFIX, 1, 2.0, 3, seed)[:, 0] for seed in range(40)], 1)
    for row in range(3):
        assert set(first[row].tolist()) <= set(allowed[row].tolist())
        assert len(set(first[row].tolist())) > 1, "a high temperature should use more than one"


@pytest.mark.parametrize("name", CHAR_MODELS)
def test_generate_rejects_bad_arguments(name):
    model = seeded_model(name)
    with pytest.raises(ValueError, match="prefix holds token ids"):
        model.generate(torch.tensor([[65]]), 3, 1.0, 0, 0)
    with pytest.raises(ValueError, match="steps must be >= 0"):
        model.generate(PREFIX, -1, 1.0, 0, 0)
    with pytest.raises(ValueError, match="prefix must hold at least one step"):
        model.generate(torch.zeros(2, 0, dtype=torch.long), 3, 1.0, 0, 0)


SRC = torch.tensor([[3, 4, 5, 6, 0], [7, 8, 9, 10, 11], [12, 0, 0, 0, 0]])
SRC_LENGTHS = torch.tensor([4, 5, 1])


def test_decode_is_deterministic_and_scripted_equals_eager():
    model, scripted = seeded_model("seq2seq-lstm"), scripted_model("seq2seq-lstm")
    with torch.no_grad():
        eager = model.decode(SRC, SRC_LENGTHS, 9)
        assert torch.equal(eager, model.decode(SRC, SRC_LENGTHS, 9))
        assert torch.equal(eager, scripted.decode(SRC, SRC_LENGTHS, 9))
    assert eager.shape == (3, 9) and eager.dtype == torch.long


@pytest.mark.parametrize("max_len", [0, 1, 6])
def test_decode_respects_max_len(max_len):
    with torch.no_grad():
        assert scripted_model("seq2seq-lstm").decode(SRC, SRC_LENGTHS, max_len).shape == (3, max_len)


def test_decode_agrees_with_teacher_forcing():
    """Feeding the decoded tokens back as tgt_in reproduces them as the argmax of forward."""
    model = seeded_model("seq2seq-lstm")
    with torch.no_grad():
        decoded = model.decode(SRC, SRC_LENGTHS, 7)
        tgt_in = torch.cat([torch.full((3, 1), 1), decoded[:, :-1]], dim=1)
        predicted = model(SRC, SRC_LENGTHS, tgt_in.clamp(min=0)).argmax(-1)
    for row in range(3):
        tokens = decoded[row].tolist()
        end = tokens.index(2) + 1 if 2 in tokens else len(tokens)
        assert predicted[row, :end].tolist() == tokens[:end]


def test_decode_stops_each_sequence_at_its_end_token():
    """A decoder that prefers <eos> only after reading a given token stops rows independently."""
    config = zoo.get_spec("seq2seq-lstm").make_config()
    model = seeded_model("seq2seq-lstm")
    with torch.no_grad():
        model.output.bias[config.eos_id] += 50.0  # <eos> first everywhere
        decoded = model.decode(SRC, SRC_LENGTHS, 5)
    assert decoded[:, 0].tolist() == [config.eos_id] * 3
    assert (decoded[:, 1:] == config.pad_id).all()


def test_decode_rows_end_at_different_steps():
    """Against a plain greedy loop that never stops: rows that reached <eos> are padded while the
    others go on (with these seeded weights row 2 ends at step 2, rows 0 and 1 never do)."""
    model = seeded_model("seq2seq-lstm")
    with torch.no_grad():
        decoded = model.decode(SRC, SRC_LENGTHS, 12)
        _, state = model.encoder(model.src_embedding(SRC), None, SRC_LENGTHS)
        token, plain = torch.full((3, 1), 1), []
        for _ in range(12):
            output, state = model.decoder(model.tgt_embedding(token), state)
            token = model.output(output).argmax(-1)
            plain.append(token[:, 0])
    plain = torch.stack(plain, 1).tolist()
    ends = []
    for row, expected in zip(decoded.tolist(), plain):
        end = expected.index(2) + 1 if 2 in expected else 12
        ends.append(end)
        assert row == expected[:end] + [0] * (12 - end)
    assert len(set(ends)) > 1, "the case needs rows that end at different steps"
