"""zoo.rebuild: a model's weights written through zoo.store and rebuilt give the same model, and
a run that cannot be rebuilt says why in one line."""

import numpy as np
import pytest
import torch

from zoo.rebuild import load_run, rebuild, weights_of
from zoo.registry import get_spec
from zoo.store import RunError, config_to_dict, read_weights, write_json, write_weights


@pytest.mark.parametrize("name", ["birnn-bn-classifier", "char-lstm", "mnist-cnn"])
def test_weights_written_and_rebuilt_give_the_same_state_and_outputs(name, tmp_path):
    spec = get_spec(name)
    config = spec.make_config()
    torch.manual_seed(0)
    model = spec.build(config).eval()
    write_weights(tmp_path / "weights.safetensors", weights_of(model))
    again = rebuild(spec, config, read_weights(tmp_path / "weights.safetensors"))
    assert not again.training
    before, after = model.state_dict(), again.state_dict()
    assert list(before) == list(after)
    for key in before:  # 0-d buffers (BatchNorm's num_batches_tracked) stay 0-d
        assert before[key].shape == after[key].shape and before[key].dtype == after[key].dtype, key
        assert torch.equal(before[key], after[key]), key
    args = spec.example_inputs(config, 2, 5, torch.Generator().manual_seed(1))
    with torch.no_grad():
        torch.testing.assert_close(again(*args), model(*args), rtol=0, atol=0)


def test_weights_that_do_not_fit_are_refused():
    spec = get_spec("name-gru")
    weights = weights_of(spec.build(spec.make_config()))
    weights.pop(next(iter(weights)))
    with pytest.raises(RuntimeError, match="Missing key"):
        rebuild(spec, spec.make_config(), weights)


def _run(tmp_path, name="name-gru", weights=True):  # type: ignore[no-untyped-def]
    spec = get_spec(name)
    config = spec.make_config()
    write_json(tmp_path / "config.json", {"model": name, "config": config_to_dict(config)})
    if weights:
        write_weights(tmp_path / "weights.safetensors", weights_of(spec.build(config)))
    return tmp_path


def test_load_run_builds_the_model_of_a_run(tmp_path):
    document, spec, config, model = load_run(_run(tmp_path))
    assert document["model"] == spec.name == "name-gru" and config == spec.make_config() and not model.training


@pytest.mark.parametrize(
    "spoil, message",
    [
        (lambda run: (run / "config.json").unlink(), "is not a run directory: it has no config.json"),
        (lambda run: (run / "config.json").write_text("{", encoding="utf-8"), "config.json is not a valid run config"),
        (lambda run: write_json(run / "config.json", {"model": "name-gur", "config": {}}), "not a valid run config.*did you mean 'name-gru'"),
        (lambda run: (run / "weights.safetensors").unlink(), "has no weights.safetensors: no epoch finished"),
        (lambda run: (run / "weights.safetensors").write_bytes(b"\x00" * 40), "weights.safetensors is corrupt or does not fit name-gru"),
        (lambda run: write_weights(run / "weights.safetensors", {"w": np.zeros(2, np.float32)}), "is corrupt or does not fit name-gru"),
    ],
)
def test_a_run_that_cannot_be_rebuilt_is_one_line(spoil, message, tmp_path):
    run = _run(tmp_path)
    spoil(run)
    with pytest.raises(RunError, match=message) as raised:
        load_run(run)
    assert "\n" not in str(raised.value)
