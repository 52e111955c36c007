"""`zoo train --grad-norms`: the norms against the analytic values of a linear RNN, the eager
unroll against the layers it replaces, the rows and the plot of a run, and nothing when off."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn
from typer.testing import CliRunner

from zoo import nn as znn
from zoo.cli import app
from zoo.nn.packed import PackedLSTM, PackedRNN
from zoo.train import loop as train_loop
from zoo.train.gradnorms import ROW_TYPE, measure, unrolled

runner = CliRunner()
HIDDEN, STEPS = 3, 7
# Positive weights and inputs: every pre-activation is positive, so the relu RNN is linear and
# dLoss/dh_{T-1-k} = (W_hh^T)^k c for the loss c . h_{T-1}.
W_HH = torch.tensor([[0.5, 0.2, 0.1], [0.1, 0.6, 0.2], [0.3, 0.1, 0.4]])
C = torch.tensor([1.0, 2.0, 0.5])


class _Holder(nn.Module):
    def __init__(self, layer: nn.Module) -> None:
        super().__init__()
        self.rnn = layer


def _linear_rnn(cls: type) -> nn.Module:
    layer = cls(2, HIDDEN, nonlinearity="relu", batch_first=True)
    with torch.no_grad():
        layer.weight_hh_l0.copy_(W_HH)
        layer.weight_ih_l0.fill_(0.3)
        layer.bias_ih_l0.fill_(0.1)
        layer.bias_hh_l0.fill_(0.1)
    return layer


def _analytic(rows_reaching: list) -> np.ndarray:
    """||(W^T)^k c|| for each row of the batch whose sequence reaches k steps back."""
    return np.array([float((torch.linalg.matrix_power(W_HH.t(), k) @ C).norm()) * np.sqrt(n)
                     for k, n in enumerate(rows_reaching)])  # fmt: skip


@pytest.mark.parametrize("cls", [nn.RNN, znn.RNN], ids=["torch.nn", "zoo.nn"])
def test_linear_rnn_norms_are_the_analytic_ones(cls):
    holder = _Holder(_linear_rnn(cls))
    x = torch.rand(1, STEPS, 2)
    found = measure(holder, lambda model: (model.rnn(x)[1][-1] * C).sum())
    assert [(e["module"], e["layer"], e["direction"]) for e in found["layers"]] == [("rnn", 0, "forward")]
    np.testing.assert_allclose(found["layers"][0]["norms"], _analytic([1] * STEPS), rtol=1e-5)


@pytest.mark.parametrize("wrap", [lambda: PackedRNN(_linear_rnn(nn.RNN)), lambda: _linear_rnn(znn.RNN)],
                         ids=["torch.nn packed", "zoo.nn"])  # fmt: skip
def test_a_ragged_batch_is_aligned_on_each_rows_last_step(wrap):
    holder = _Holder(wrap())
    x, lengths = torch.rand(2, STEPS, 2), torch.tensor([STEPS, STEPS - 3])
    found = measure(holder, lambda model: (model.rnn(x, None, lengths)[1][-1] * C).sum(), lengths)
    reaching = [2] * (STEPS - 3) + [1] * 3  # the short row reaches 3 steps less far back
    np.testing.assert_allclose(found["layers"][0]["norms"], _analytic(reaching), rtol=1e-5)


LAYERS = [
    (nn.RNN, znn.RNN, {"nonlinearity": "tanh"}),
    (nn.LSTM, znn.LSTM, {}),
    (nn.GRU, znn.GRU, {}),
]


@pytest.mark.parametrize("torch_cls, zoo_cls, extra", LAYERS, ids=["rnn", "lstm", "gru"])
def test_torch_and_zoo_layers_give_the_same_norms(torch_cls, zoo_cls, extra):
    torch.manual_seed(0)
    kwargs = dict(input_size=4, hidden_size=5, num_layers=2, bidirectional=True, batch_first=True, **extra)
    reference = torch_cls(**kwargs)
    twin = zoo_cls(**kwargs)
    twin.load_state_dict(reference.state_dict())
    packed = (PackedLSTM if torch_cls is nn.LSTM else PackedRNN)(reference)
    x, lengths = torch.randn(3, 6, 4), torch.tensor([6, 2, 4])
    head = torch.randn(10)

    def loss_of(model: nn.Module) -> torch.Tensor:
        output, state = model.rnn(x, None, lengths)
        h_n = state[0] if isinstance(state, tuple) else state
        return (torch.cat([h_n[-2], h_n[-1]], 1) @ head).sum() + output.sum() * 0.1

    results = []
    for layer in (packed, twin):
        holder = _Holder(layer)
        # The eager unroll computes what the layer computes, and the parameters' gradients the
        # probe reports are those of an ordinary backward pass through the layer itself.
        with torch.no_grad(), unrolled(holder):
            unrolled_loss = loss_of(holder)
        holder.zero_grad()
        loss_of(holder).backward()
        found = measure(holder, loss_of, lengths)
        assert found["loss"] == pytest.approx(float(unrolled_loss), rel=1e-5)
        for name, p in holder.named_parameters():
            assert found["parameters"][name] == pytest.approx(float(p.grad.norm()), rel=1e-4, abs=1e-7)
        assert len(found["layers"]) == 4 and all(len(e["norms"]) == 6 for e in found["layers"])
        results.append(found)
    for a, b in zip(*(r["layers"] for r in results)):
        assert (a["layer"], a["direction"]) == (b["layer"], b["direction"])
        np.testing.assert_allclose(a["norms"], b["norms"], rtol=1e-4, atol=1e-9)
    assert not hasattr(packed, "forward") or "forward" not in vars(packed)  # the swap is undone


def _rows(run: Path):
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


# A constant rate: the resumed run then does what one two-epoch run does (cosine depends on --epochs).
TINY = ["--data", "copy-first:6", "--limit-batches", "2", "--batch-size", "8", "--set", "hidden_size=4", "--schedule", "constant"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The same tiny two-epoch run with --grad-norms (one epoch, then --resume without the
    flag: the run's own arguments keep it) and without it (where a probe would fail)."""
    root = tmp_path_factory.mktemp("gradnorms")
    on, off = str(root / "on"), str(root / "off")
    for arguments in (["--epochs", "1", "--grad-norms", "--out", on], ["--epochs", "2", "--resume", "--out", on]):
        result = runner.invoke(app, ["train", "rnn-classifier", *TINY, *arguments])
        assert result.exit_code == 0, result.output

    def no_probe(*args, **kwargs):
        raise AssertionError("probed without --grad-norms")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(train_loop, "probe_row", no_probe)  # off: not one extra pass
        result = runner.invoke(app, ["train", "rnn-classifier", *TINY, "--epochs", "2", "--out", off])
    assert result.exit_code == 0, result.output
    return root


def test_a_run_writes_the_probe_rows_and_the_plot(runs):
    rows = _rows(runs / "on")
    probes = [r for r in rows if r.get("type") == ROW_TYPE]
    # Before training, after epoch 1 and, resumed, after epoch 2 (the last).
    assert [p["after_epoch"] for p in probes] == [0, 1, 2] and [p["global_step"] for p in probes] == [0, 2, 4]
    for probe in probes:
        assert probe["probe"] == {"split": "val", "examples": 64}
        (entry,) = probe["layers"]
        assert entry["module"] == "encoder" and len(entry["norms"]) == 6 and all(n > 0 for n in entry["norms"])
        assert set(probe["parameters"]) == {"encoder.layer.weight_ih_l0", "encoder.layer.weight_hh_l0",
                                            "encoder.layer.bias_ih_l0", "encoder.layer.bias_hh_l0",
                                            "head.weight", "head.bias"}  # fmt: skip
    # The epochs first, the probes, then the test row last, as readers of metrics.jsonl expect.
    assert [r.get("epoch") for r in rows[:2]] == [1, 2] and rows[-1]["split"] == "test"
    assert (runs / "on" / "gradnorms.png").stat().st_size > 0
    assert json.loads((runs / "on" / "config.json").read_text())["training"]["grad_norms"] is True


def test_the_probe_changes_nothing_and_off_records_nothing(runs):
    def epochs(name):
        return [{k: v for k, v in r.items() if k != "seconds"} for r in _rows(runs / name) if r.get("type") != ROW_TYPE]

    assert epochs("on") == epochs("off")  # eval mode, no RNG drawn, no .grad touched
    assert not any(r.get("type") == ROW_TYPE for r in _rows(runs / "off"))
    assert not (runs / "off" / "gradnorms.png").exists()
    assert "gradnorms" not in json.loads((runs / "off" / "last" / "trainer.json").read_text())


def test_dry_run_shows_the_flag(runs):
    plan = runner.invoke(app, ["train", "rnn-classifier", "--resume", "--epochs", "3", "--dry-run", "--out", str(runs / "on")])
    assert plan.exit_code == 0, plan.output
    (line,) = [line for line in plan.output.splitlines() if "--grad-norms" in line]
    assert "True" in line and "run" in line  # taken from the resumed run's config.json


@pytest.mark.parametrize("model, message", [
    ("hello-rnncell", "has a loss at every step"),
    ("mnist-mlp", "has no torch.nn or zoo.nn RNN/LSTM/GRU layer"),
])  # fmt: skip
def test_models_it_cannot_measure_are_refused_in_one_line(model, message, tmp_path):
    result = runner.invoke(app, ["train", model, "--grad-norms", "--out", str(tmp_path / "run")])
    assert result.exit_code == 2 and message in result.output, result.output
    assert len(result.output.strip().splitlines()) == 1 and not (tmp_path / "run").exists()
