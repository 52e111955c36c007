"""Seeded sampling: right distribution, top-k and greedy, same numbers eager and scripted."""

import pytest
import torch

from zoo.nn.sampling import next_state, sample_tokens, seed_streams, uniform


def test_streams_are_deterministic_in_range_and_differ_by_seed_and_row():
    a = seed_streams(7, 1000, torch.device("cpu"))
    assert torch.equal(a, seed_streams(7, 1000, torch.device("cpu")))
    assert not torch.equal(a, seed_streams(8, 1000, torch.device("cpu")))
    assert len(set(a.tolist())) == 1000
    for _ in range(50):
        a = next_state(a)
        assert int(a.min()) >= 1 and int(a.max()) < 2**31 - 1
    draws = uniform(a)
    assert 0.0 < float(draws.min()) and float(draws.max()) < 1.0
    assert abs(float(draws.mean()) - 0.5) < 0.03


def test_negative_and_large_seeds_work():
    for seed in (-5, 0, 2**40):
        streams = seed_streams(seed, 4, torch.device("cpu"))
        assert int(streams.min()) >= 1 and int(streams.max()) < 2**31 - 1


def test_samples_follow_the_softmax_distribution():
    logits = torch.tensor([2.0, 1.0, 0.0, -1.0]).repeat(40000, 1)
    draws = uniform(next_state(seed_streams(3, 40000, torch.device("cpu"))))
    tokens = sample_tokens(logits, draws, 1.0, 0)
    frequencies = torch.bincount(tokens, minlength=4).double() / 40000
    torch.testing.assert_close(frequencies, torch.softmax(logits[0].double(), 0), atol=0.01, rtol=0)


def test_temperature_sharpens_and_top_k_truncates():
    logits = torch.tensor([2.0, 1.0, 0.0, -1.0]).repeat(20000, 1)
    draws = uniform(next_state(seed_streams(4, 20000, torch.device("cpu"))))
    cold = torch.bincount(sample_tokens(logits, draws, 0.25, 0), minlength=4).double() / 20000
    torch.testing.assert_close(cold, torch.softmax(logits[0].double() / 0.25, 0), atol=0.01, rtol=0)
    top2 = sample_tokens(logits, draws, 1.0, 2)
    assert set(top2.tolist()) == {0, 1}
    assert torch.equal(sample_tokens(logits, draws, 0.0, 0), torch.zeros(20000, dtype=torch.long))


@pytest.mark.parametrize("temperature,top_k", [(1.0, 0), (0.7, 3), (0.0, 0)])
def test_scripted_sampling_matches_eager(temperature, top_k):
    logits = torch.randn(64, 10, generator=torch.Generator().manual_seed(0))
    streams = seed_streams(9, 64, torch.device("cpu"))
    scripted = torch.jit.script(sample_tokens)
    draws = uniform(torch.jit.script(next_state)(streams))
    assert torch.equal(scripted(logits, draws, temperature, top_k), sample_tokens(logits, draws, temperature, top_k))
    assert torch.equal(torch.jit.script(seed_streams)(9, 64, torch.device("cpu")), streams)
