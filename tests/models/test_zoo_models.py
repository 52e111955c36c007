"""Every registered model, generically over its spec (timm's ``tests/test_models.py`` style).

No model is excluded: each test reads what it needs (time axes, state pairs, ragged pairs, token
vocabularies) from the model's signature and skips only where that part does not exist, saying
so.
"""

import io

import pytest
import torch

import zoo
from tests.models.registry_inputs import (
    axis_of,
    call,
    concrete,
    has_time,
    is_time,
    named_inputs,
    scripted_model,
    seeded_model,
)
from zoo.registry import TASKS

ALL_MODELS = zoo.list_models()
STATEFUL = [n for n in ALL_MODELS if zoo.get_spec(n).stateful]
RAGGED = [n for n in ALL_MODELS if zoo.get_spec(n).signature(zoo.get_spec(n).make_config()).ragged]
SCRIPT_ATOL = 1e-6  # scripted vs eager, float32 (the bound)
EXACT_ATOL = 1e-10  # float64 runs that must agree up to rounding order


def _signature(name):
    spec = zoo.get_spec(name)
    return spec.signature(spec.make_config())


def _sizes(name):
    times = (1, 7) if has_time(_signature(name)) else (1,)  # time is ignored without a time axis
    return [(b, t) for b in (1, 3) for t in times]


SIZES = [(name, b, t) for name in ALL_MODELS for b, t in _sizes(name)]


@pytest.mark.parametrize("name,batch,time", SIZES)
def test_outputs_match_the_signature(name, batch, time):
    """Forward on example inputs: count, dtype and shape as declared; every value finite."""
    signature = _signature(name)
    like, inputs = named_inputs(name, batch, time)
    assert [t.dtype for t in inputs.values()] == [s.torch_dtype for s in signature.inputs]
    assert [tuple(t.shape) for t in inputs.values()] == [
        concrete(s.shape, batch, time) for s in signature.inputs
    ]
    with torch.no_grad():
        outputs = call(seeded_model(name), like, inputs)
    assert len(outputs) == len(signature.outputs)
    assert [t.dtype for t in outputs] == [s.torch_dtype for s in signature.outputs]
    assert [tuple(t.shape) for t in outputs] == [
        concrete(s.shape, batch, time) for s in signature.outputs
    ]
    for spec, t in zip(signature.outputs, outputs):
        assert torch.isfinite(t).all(), f"{spec.name} has NaN or inf"


@pytest.mark.parametrize("name", ALL_MODELS)
def test_spec_is_complete(name):
    spec = zoo.get_spec(name)
    signature = _signature(name)
    names_in = [s.name for s in signature.inputs]
    names_out = [s.name for s in signature.outputs]
    assert len(set(names_in + names_out)) == len(names_in) + len(names_out), "names must be unique"
    for state_in, state_out in signature.state_pairs:
        assert state_in in names_in and state_out in names_out
    for lengths, sequence in signature.ragged:
        assert lengths in names_in and sequence in names_in
    assert spec.stateful == bool(signature.state_pairs)
    assert spec.task in TASKS
    assert spec.description and spec.origin
    assert spec.default_data in {
        None, "names", "tinyshakespeare", "sentiment", "mnist", "diabetes", "airline", "hello",
        "seq-reverse", "regression-toy", "uner-ewt",
    }  # fmt: skip


@pytest.mark.parametrize("name,batch,time", SIZES)
def test_scripted_equals_eager(name, batch, time):
    like, inputs = named_inputs(name, batch, time, seed=1)
    with torch.no_grad():
        eager = call(seeded_model(name), like, inputs)
        scripted = call(scripted_model(name), like, inputs)
    for e, s in zip(eager, scripted, strict=True):
        assert e.dtype == s.dtype and e.shape == s.shape
        torch.testing.assert_close(s, e, atol=SCRIPT_ATOL, rtol=0)


@pytest.mark.parametrize("name", ALL_MODELS)
def test_save_load_round_trip(name):
    """torch.jit.save/load keeps outputs and every extra scripted method."""
    scripted = scripted_model(name)
    buffer = io.BytesIO()
    torch.jit.save(scripted, buffer)
    buffer.seek(0)
    reloaded = torch.jit.load(buffer)
    like, inputs = named_inputs(name, 2, 5, seed=2)
    with torch.no_grad():
        for a, b in zip(call(scripted, like, inputs), call(reloaded, like, inputs), strict=True):
            torch.testing.assert_close(b, a, atol=0, rtol=0)
    for method in zoo.get_spec(name).methods:
        assert hasattr(reloaded, method), f"{method} lost in save/load"


@pytest.mark.parametrize("name", STATEFUL)
def test_chunks_with_state_equal_the_whole_sequence(name):
    """20 steps fed whole == 4 chunks of 5 with each chunk's final state fed to the next."""
    signature = _signature(name)
    pairs = dict(signature.state_pairs)
    lengths_names = {lengths for lengths, _ in signature.ragged}
    model = seeded_model(name).double()
    like, inputs = named_inputs(name, 2, 20, seed=3)
    inputs = {k: v.double() if v.is_floating_point() else v for k, v in inputs.items()}
    for lengths in lengths_names:  # chunking a ragged batch is not defined; use full rows
        inputs[lengths] = torch.full_like(inputs[lengths], 20)
    with torch.no_grad():
        whole = dict(zip([s.name for s in signature.outputs], call(model, like, inputs)))
        state = {k: inputs[k] for k in pairs}
        pieces = {s.name: [] for s in signature.outputs if any(map(is_time, s.shape))}
        for start in range(0, 20, 5):
            chunk = {}
            for spec in signature.inputs:
                value = inputs[spec.name]
                if spec.name in pairs:
                    value = state[spec.name]
                elif spec.name in lengths_names:
                    value = torch.full_like(value, 5)
                elif any(map(is_time, spec.shape)):
                    value = value.narrow(axis_of(spec.shape, is_time), start, 5)
                chunk[spec.name] = value
            out = dict(zip([s.name for s in signature.outputs], call(model, like, chunk)))
            state = {i: out[o] for i, o in pairs.items()}
            for key in pieces:
                pieces[key].append(out[key])
    for spec in signature.outputs:
        if spec.name in pieces:
            chunked = torch.cat(pieces[spec.name], dim=axis_of(spec.shape, is_time))
            torch.testing.assert_close(chunked, whole[spec.name], atol=EXACT_ATOL, rtol=0)
    for state_in, state_out in pairs.items():
        torch.testing.assert_close(state[state_in], whole[state_out], atol=EXACT_ATOL, rtol=0)


@pytest.mark.parametrize("name", RAGGED)
def test_padded_row_equals_the_row_alone(name):
    """Each sequence of a ragged, padded batch gives what it gives alone and unpadded."""
    signature = _signature(name)
    model = seeded_model(name).double()
    like, inputs = named_inputs(name, 4, 7, seed=4)
    inputs = {k: v.double() if v.is_floating_point() else v for k, v in inputs.items()}
    specs = {s.name: s for s in signature.inputs}
    ragged = signature.ragged  # one lengths input may give several sequences their steps
    time_axis_name = {
        lengths: specs[seq].shape[axis_of(specs[seq].shape, is_time)] for lengths, seq in ragged
    }
    assert any(int(inputs[k].min()) < 7 for k, _ in ragged), "the example must be ragged"
    with torch.no_grad():
        batch_out = call(model, like, inputs)
        for row in range(4):
            alone = {}
            for spec in signature.inputs:
                value = inputs[spec.name].narrow(axis_of(spec.shape, lambda d: d == "batch"), row, 1)
                for lengths, seq in ragged:
                    if spec.name == seq:
                        length = int(inputs[lengths][row])
                        value = value.narrow(axis_of(spec.shape, is_time), 0, length)
                alone[spec.name] = value
            for spec, full, single in zip(signature.outputs, batch_out, call(model, like, alone)):
                expected = full.narrow(axis_of(spec.shape, lambda d: d == "batch"), row, 1)
                for lengths, axis_name in time_axis_name.items():
                    if axis_name in spec.shape:
                        length = int(inputs[lengths][row])
                        expected = expected.narrow(spec.shape.index(axis_name), 0, length)
                torch.testing.assert_close(single, expected, atol=EXACT_ATOL, rtol=0)


def _bad_cases(name):
    """(case id, input name, replacement function, message pattern) for the model's inputs."""
    signature = _signature(name)
    state_inputs = {i for i, _ in signature.state_pairs}
    lengths_inputs = {lengths for lengths, _ in signature.ragged}
    cases = []
    for spec in signature.inputs:
        if spec.name in state_inputs:
            continue
        if spec.name in lengths_inputs:
            cases.append(("lengths_past_time", spec.name, lambda t, d: t + d * (8 - t), r"must lie in \[1, 7\]"))
            continue
        if spec.torch_dtype.is_floating_point:
            cases.append(("integer_dtype", spec.name, lambda t, d: t.long(), r"floating-point"))
        else:
            cases.append(("float_dtype", spec.name, lambda t, d: t.float(), r"int64"))
        if spec.vocab is not None:
            vocab = spec.vocab
            cases.append(("id_too_large", spec.name, lambda t, d, v=vocab: t.clamp(max=v - 1) + d * v, r"token ids"))
            cases.append(("id_negative", spec.name, lambda t, d: t - d * (t + 1), r"token ids"))
        for axis, dim in enumerate(spec.shape):
            if isinstance(dim, int):
                cases.append((f"size_axis_{axis}", spec.name, lambda t, d, a=axis: torch.cat([t, t.narrow(a, 0, 1)], a), r""))
    return cases  # fmt: skip


BAD_CASES = [(name, *case) for name in ALL_MODELS for case in _bad_cases(name)]


@pytest.mark.parametrize("mode", ["eager", "scripted"])
@pytest.mark.parametrize(
    "name,case,input_name,spoil,pattern", BAD_CASES, ids=[f"{c[0]}-{c[1]}-{c[2]}" for c in BAD_CASES]
)
def test_bad_input_raises_value_error_naming_it(name, case, input_name, spoil, pattern, mode):
    like, inputs = named_inputs(name, 3, 7, seed=5)
    # ``delta`` is 1 on the first row only: one bad row in an otherwise good batch is caught.
    delta = torch.zeros(inputs[input_name].shape[0], dtype=torch.long)
    delta[0] = 1
    delta = delta.view(-1, *([1] * (inputs[input_name].dim() - 1)))
    inputs[input_name] = spoil(inputs[input_name], delta)
    model = seeded_model(name) if mode == "eager" else scripted_model(name)
    expected = ValueError if mode == "eager" else torch.jit.Error
    prefix = "" if mode == "eager" else "ValueError: .*"
    with pytest.raises(expected, match=f"{prefix}{input_name}.*{pattern}") as raised:
        call(model, like, inputs)
    if mode == "eager":
        assert "\n" not in str(raised.value), "the message is one line"
