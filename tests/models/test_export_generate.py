"""torch.export programs of the extra graphs: ``generate`` and ``decode`` as ``while_loop``s.

One program per model, traced with batch, time and the step count all dynamic, must give the
eager methods' tokens at every batch, prompt length and step count, and its sampler must pick
the tokens ``sample_tokens`` picks for every temperature and top-k.
"""

import itertools
import warnings

import pytest
import torch
from torch.export import Dim

import zoo
from zoo.models.graphs import DecodeGraph, GenerateGraph
from zoo.nn.sampling import next_state, sample_tokens, sample_tokens_tensor, seed_streams, seed_streams_tensor, uniform

VOCAB = 11
TINY = dict(vocab_size=VOCAB, embedding_dim=6, hidden_size=8, num_layers=2, manual=True)
# (label, temperature, top_k): greedy, truncated, plain, k = 1 (greedy by another road), k = vocab.
SAMPLERS = [("greedy", 0.0, 0), ("t0.8-top3", 0.8, 3), ("t1.0", 1.0, 0), ("t1.5-top1", 1.5, 1), ("t2.0-topV", 2.0, VOCAB)]


def _export(module: torch.nn.Module, args: tuple, dynamic_shapes: tuple) -> torch.nn.Module:
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # while_loop is a prototype and says so on every trace
        return torch.export.export(module, args, dynamic_shapes=dynamic_shapes).module()


@pytest.mark.parametrize("vocab", [1, 2, 7, 65])
def test_tensor_sampler_picks_the_tokens_of_sample_tokens(vocab):
    generator = torch.Generator().manual_seed(vocab)
    logits = 3 * torch.randn(17, vocab, generator=generator)
    logits[:, : vocab // 2] = logits[:, : vocab // 2].round()  # ties at the k-th score
    streams = seed_streams(5, 17, torch.device("cpu"))
    temperatures = (-1.0, 0.0, 1e-3, 0.3, 1.0, 2.5, 1e3)
    ks = sorted({-2, 0, 1, 2, vocab - 1, vocab, vocab + 1, 100})
    for _ in range(5):
        streams = next_state(streams)
        draw = uniform(streams)
        for temperature, k in itertools.product(temperatures, ks):
            expected = sample_tokens(logits, draw, temperature, k)
            actual = sample_tokens_tensor(logits, draw, torch.tensor(temperature), torch.tensor(k))
            assert torch.equal(actual, expected), (temperature, k)


def test_tensor_seeds_give_the_same_streams():
    for seed in (-5, 0, 7, 2**40):
        assert torch.equal(seed_streams_tensor(torch.tensor(seed), 4), seed_streams(seed, 4, torch.device("cpu")))


def _char_model(name: str) -> torch.nn.Module:
    spec = zoo.get_spec(name)
    torch.manual_seed(0)
    return spec.build(spec.make_config(**TINY)).eval()


@pytest.fixture(scope="module", params=["char-lstm", pytest.param("char-gru", marks=pytest.mark.exhaustive),
                                        pytest.param("char-rnn", marks=pytest.mark.exhaustive)])  # fmt: skip
def generate_program(request):
    """(eager model, its generate program traced at batch 3, prompt 5, 4 steps)."""
    model = _char_model(request.param)
    args = (torch.randint(0, VOCAB, (3, 5)), torch.tensor(4), torch.tensor(0.8), torch.tensor(3), torch.tensor(7))
    dims = ({0: Dim("batch", min=1), 1: Dim("time", min=1)}, None, None, None, None)
    return model, _export(GenerateGraph(model).eval(), args, dims)


@pytest.mark.parametrize("label,temperature,top_k", SAMPLERS)
def test_generate_program_equals_eager_generate(generate_program, label, temperature, top_k):
    model, program = generate_program
    for batch, time, steps in itertools.product((1, 3), (1, 9), (0, 1, 12)):
        seed = 10 * batch + time
        prefix = torch.randint(0, VOCAB, (batch, time), generator=torch.Generator().manual_seed(seed))
        with torch.no_grad():
            expected = model.generate(prefix, steps, temperature, top_k, seed)
            actual = program(prefix, torch.tensor(steps), torch.tensor(temperature), torch.tensor(top_k), torch.tensor(seed))
        assert actual.dtype == torch.long and actual.shape == (batch, steps)
        assert torch.equal(actual, expected), (batch, time, steps)


def test_generate_program_rejects_negative_steps(generate_program):
    _, program = generate_program
    with pytest.raises(RuntimeError):
        program(torch.zeros(1, 2, dtype=torch.long), torch.tensor(-1), torch.tensor(1.0), torch.tensor(0), torch.tensor(0))


PAD, EOS = 0, 2


def _sources(batch: int, time: int, seed: int) -> tuple:
    generator = torch.Generator().manual_seed(seed)
    lengths = torch.randint(1, time + 1, (batch,), generator=generator)
    lengths[0] = time
    src = torch.randint(3, 13, (batch, time), generator=generator)
    return src.masked_fill(torch.arange(time) >= lengths.unsqueeze(1), PAD), lengths


@pytest.fixture(scope="module")
def decode_program():
    """(eager seq2seq, its decode program). Weights scaled up and an <eos> bias make rows end
    after 2 to 4 tokens, each at its own step, so that one max_len stops the loop early (every row
    done) and a shorter one stops it with rows unfinished."""
    spec = zoo.get_spec("seq2seq-lstm")
    torch.manual_seed(0)
    model = spec.build(spec.make_config(embedding_dim=6, hidden_size=8, num_layers=1, pad_id=PAD, eos_id=EOS)).eval()
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.mul_(4)
        model.output.bias[EOS] = 1.5
    batch = Dim("batch", min=1)
    dims = ({0: batch, 1: Dim("src_time", min=1)}, {0: batch}, None)
    return model, _export(DecodeGraph(model).eval(), (*_sources(3, 5, 0), torch.tensor(7)), dims)


@pytest.mark.parametrize("batch,time", [(1, 1), (3, 4), (6, 9)])
def test_decode_program_equals_eager_decode(decode_program, batch, time):
    model, program = decode_program
    src, lengths = _sources(batch, time, batch + time)
    for max_len in (0, 1, 2, 12):
        with torch.no_grad():
            expected = model.decode(src, lengths, max_len)
            actual = program(src, lengths, torch.tensor(max_len))
        assert actual.dtype == torch.long and actual.shape == (batch, max_len)
        assert torch.equal(actual, expected), max_len


def test_decode_cases_cover_early_stops_and_unfinished_rows(decode_program):
    """The cases above are only telling if rows end at different steps, all before 12 (the loop
    stops on ``done``) and not all by step 2 (the loop stops on max_len)."""
    model, _ = decode_program
    src, lengths = _sources(6, 9, 15)
    with torch.no_grad():
        tokens = model.decode(src, lengths, 12)
    ends = [row.tolist().index(EOS) for row in tokens]
    assert len(set(ends)) > 1 and max(ends) < 11 and max(ends) >= 2, ends
    assert bool((tokens[:, max(ends) + 1 :] == PAD).all())
