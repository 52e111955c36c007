"""zoo.store's config <-> dict and flatten/unflatten: what a run's config.json and a manifest's
``arguments`` go through."""

import json

import pytest

from zoo.registry import get_spec, iter_specs
from zoo.store import config_from_dict, config_to_dict, flatten, unflatten


@pytest.mark.parametrize("name", [spec.name for spec in iter_specs()])
def test_every_default_config_survives_json(name):
    spec = get_spec(name)
    config = spec.make_config()
    stored = json.loads(json.dumps(config_to_dict(config)))  # as config.json holds it
    assert config_from_dict(spec, stored) == config


def test_lists_become_tuples_only_where_the_field_is_a_tuple():
    spec = get_spec("mnist-mlp")
    field = next(f.name for f in spec.config_fields() if "Tuple" in str(f.type) or "tuple" in str(f.type))
    values = config_to_dict(spec.make_config())
    assert isinstance(values[field], list)
    assert isinstance(getattr(config_from_dict(spec, values), field), tuple)


def test_an_unknown_config_key_fails_with_a_suggestion():
    spec = get_spec("name-gru")
    values = config_to_dict(spec.make_config())
    values["hiden_size"] = values.pop("hidden_size")
    with pytest.raises(ValueError, match="did you mean 'hidden_size'"):
        config_from_dict(spec, values)


def test_flatten_and_unflatten_invert_each_other():
    nested = ("tokens", ["h_0", ("c_0", "d_0")], "lengths")
    flat = flatten(nested)
    assert flat == ["tokens", "h_0", "c_0", "d_0", "lengths"]
    assert unflatten(nested, [n.upper() for n in flat]) == ("TOKENS", ("H_0", ("C_0", "D_0")), "LENGTHS")
    assert unflatten(["h_0"], ["h_n"]) == ("h_n",)


def test_unflatten_refuses_too_few_or_too_many_values():
    with pytest.raises(ValueError, match="2 values for a template of 3 leaves"):
        unflatten(["a", ["b", "c"]], [1, 2])
    with pytest.raises(ValueError, match="4 values for a template of 3 leaves"):
        unflatten(["a", ["b", "c"]], [1, 2, 3, 4])
