"""The registry: naming rules, lookups with suggestions, and the script check of every model.

The per-model checks of each spec against its model are in ``tests/models``."""

from dataclasses import dataclass

import pytest

import zoo
from zoo.registry import ModelSpec, Signature, TensorSpec, UnknownModelError, iter_specs, register_model
from zoo.scriptcheck import check_scripting

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


def test_unknown_task_is_refused():
    spec = zoo.get_spec("manual-lstm")
    fake = ModelSpec(**{**spec.__dict__, "name": "bad-task-model", "task": "divination"})
    with pytest.raises(ValueError, match="unknown task 'divination'"):
        register_model(fake)


@pytest.mark.parametrize(
    "declared,message",
    [
        ({"data_fields": {"vocab_size": "vocab"}}, "'vocab_size' is not a config field"),
        ({"data_fields": {"hidden_size": "colours"}}, r"unknown data sizes \['colours'\]"),
        ({"embedding_field": "embedding_dim"}, "'embedding_dim' is not a config field"),
    ],
)
def test_data_fields_and_embedding_field_must_name_config_fields_and_known_sizes(declared, message):
    """A typo in a model's declarations fails when it registers, not in the middle of a run."""
    spec = zoo.get_spec("manual-lstm")
    fake = ModelSpec(**{**spec.__dict__, "name": "bad-declaration-model", **declared})
    with pytest.raises(ValueError, match=message):
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


@pytest.mark.parametrize("name", ALL_MODELS)
def test_every_model_scripts_saves_and_reloads(name):
    spec = zoo.get_spec(name)
    report = check_scripting(name, spec.make_config(), batch=3, time_steps=4)
    assert report.passed, report.outputs
    assert [o.name for o in report.outputs] == [s.name for s in spec.signature(spec.make_config()).outputs]


def test_every_spec_is_listed():
    assert [s.name for s in iter_specs()] == ALL_MODELS
