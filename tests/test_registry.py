"""The registry: naming rules, lookups with suggestions, and every spec against its model."""

from dataclasses import dataclass

import pytest
import torch

import zoo
from zoo.registry import ModelSpec, Signature, TensorSpec, UnknownModelError, iter_specs, register_model
from zoo.scriptcheck import check_scripting, flatten

ALL_MODELS = zoo.list_models()


def test_list_is_sorted_and_filters_by_pattern():
    assert ALL_MODELS == sorted(ALL_MODELS)
    assert {"manual-rnn", "manual-lstm", "manual-gru"} <= set(ALL_MODELS)
    assert zoo.list_models("*lstm*") == [n for n in ALL_MODELS if "lstm" in n]
    assert zoo.list_models("no-such-*") == []


def test_duplicate_name_is_refused():
    spec = zoo.get_spec("manual-lstm")
    with pytest.raises(ValueError, match="already registered"):
        register_model(spec)


def test_config_must_be_a_dataclass():
    spec = zoo.get_spec("manual-lstm")
    fake = ModelSpec(**{**spec.__dict__, "name": "not-a-dataclass-config", "config_cls": dict})
    with pytest.raises(TypeError, match="must be a dataclass"):
        register_model(fake)


def test_unknown_name_suggests_the_closest():
    with pytest.raises(UnknownModelError, match=r"unknown model 'manual-lstn' \(did you mean 'manual-lstm'"):
        zoo.get_spec("manual-lstn")
    with pytest.raises(UnknownModelError, match="zoo models list"):
        zoo.create_model("completely-different")


def test_unknown_config_key_is_refused_with_suggestion():
    with pytest.raises(ValueError, match=r"no config field 'hiden_size' \(did you mean 'hidden_size'"):
        zoo.create_model("manual-gru", hiden_size=8)


def test_create_model_applies_config():
    model = zoo.create_model("manual-lstm", input_size=5, hidden_size=7, num_layers=2, bidirectional=True)
    assert isinstance(model, zoo.nn.LSTM)
    assert model.weight_ih_l1_reverse.shape == (28, 14)


def test_signature_dynamic_axes():
    @dataclass
    class Cfg:
        pass

    sig = Signature(
        inputs=(TensorSpec("x", "float32", ("batch", "time", 3)),),
        outputs=(TensorSpec("y", "float32", ("batch", 4)),),
    )
    assert sig.dynamic_axes() == {"x": {0: "batch", 1: "time"}, "y": {0: "batch"}}


def _concrete(shape, batch, time):
    return tuple({"batch": batch, "time": time}.get(d, d) for d in shape)


@pytest.mark.parametrize("name", ALL_MODELS)
def test_spec_describes_its_model(name):
    """Example inputs run; outputs match the signature in count, dtype and shape; state pairs
    name real tensors."""
    spec = zoo.get_spec(name)
    config = spec.make_config()
    model = spec.build(config).eval()
    signature = spec.signature(config)
    batch, time = 3, 5
    args = spec.example_inputs(config, batch, time, torch.Generator().manual_seed(0))
    inputs = flatten(args)
    assert [t.dtype for t in inputs] == [s.torch_dtype for s in signature.inputs]
    assert [tuple(t.shape) for t in inputs] == [_concrete(s.shape, batch, time) for s in signature.inputs]
    with torch.no_grad():
        outputs = flatten(model(*args))
    assert len(outputs) == len(signature.outputs)
    assert [t.dtype for t in outputs] == [s.torch_dtype for s in signature.outputs]
    assert [tuple(t.shape) for t in outputs] == [_concrete(s.shape, batch, time) for s in signature.outputs]
    assert all(torch.isfinite(t).all() for t in outputs)
    names_in = {s.name for s in signature.inputs}
    names_out = {s.name for s in signature.outputs}
    for state_in, state_out in signature.state_pairs:
        assert state_in in names_in and state_out in names_out
    assert spec.stateful == bool(signature.state_pairs)
    assert spec.description and spec.task


@pytest.mark.parametrize("name", ALL_MODELS)
def test_every_model_scripts_saves_and_reloads(name):
    spec = zoo.get_spec(name)
    report = check_scripting(name, spec.make_config(), batch=3, time_steps=4)
    assert report.passed, report.outputs
    assert [o.name for o in report.outputs] == [s.name for s in spec.signature(spec.make_config()).outputs]


def test_every_spec_is_listed():
    assert [s.name for s in iter_specs()] == ALL_MODELS
