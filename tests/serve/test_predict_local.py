"""`zoo predict` and `zoo generate`: a bundle's answers without a server, through the server's
input and output code; compared with the server's replies and with each instance run alone."""

import json

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from export.bundle import export_bundle
from export.source import from_data
from serve.local import LocalModel
from zoo.cli import app

runner = CliRunner()
NAMES = ["Nakamura", "Schmidt", "O'Brien", "Li", "Abramovich", "Dvořák"]


def _predict(*arguments: str) -> list:
    result = runner.invoke(app, ["predict", *arguments, "--json", "--allow-unverified"])
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_a_batch_of_ragged_rows_gives_what_each_gives_alone(bundles, tmp_path):
    lines = tmp_path / "names.txt"
    lines.write_text("\n".join(NAMES[3:]) + "\n\n", encoding="utf-8")  # a blank line is skipped
    together = _predict(str(bundles["name-gru"]), *NAMES[:3], "--lines", str(lines))
    assert [r["input"] for r in together] == NAMES
    for name, result in zip(NAMES, together):
        assert _predict(str(bundles["name-gru"]), name) == [result]
    model = LocalModel(bundles["name-gru"], "torchscript", allow_unverified=True)
    for (source, result), expected in zip(model.predict(((n, n) for n in NAMES), 5), together):
        assert source == expected["input"] and result["label"] == expected["label"]
        assert result["probability"] == pytest.approx(expected["probability"], abs=1e-6)


def test_an_image_file_is_scaled_like_the_training_data(bundles, tmp_path):
    pixels = np.random.default_rng(1).integers(0, 256, (28, 28), dtype=np.uint8)
    Image.fromarray(pixels).save(tmp_path / "digit.png")
    scaling = json.loads((bundles["mnist-cnn"] / "manifest.json").read_text())["data"]["pixels"]
    np.save(tmp_path / "digit.npy", ((pixels / 255.0 - scaling["mean"]) / scaling["std"])[None])
    from_file, from_array = _predict(str(bundles["mnist-cnn"]), str(tmp_path / "digit.png"), str(tmp_path / "digit.npy"))
    assert [t["label"] for t in from_file["top"]] == [t["label"] for t in from_array["top"]]
    assert [t["probability"] for t in from_file["top"]] == pytest.approx([t["probability"] for t in from_array["top"]], abs=1e-6)
    assert scaling == {"scale": 1 / 255, "mean": 0.1307, "std": 0.3081}


def test_seq2seq_decodes(tmp_path):
    bundle = export_bundle(from_data("seq2seq-lstm"), tmp_path / "s2s", verify=False).bundle
    (result,) = _predict(str(bundle), "12345", "--max-len", "4")
    assert result["input"] == "12345" and len(result["tokens"]) == 4 and isinstance(result["text"], str)


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["name-gru"], "give at least one INPUT, or --lines FILE"),
        (["name-gru", ""], "instance 0 is empty"),
        (["name-gru", "x", "--lines", "/nonexistent/names.txt"], "--lines /nonexistent/names.txt: no such file"),
        (["mnist-cnn", "1,2,3"], "instance 0 must have shape [1, 28, 28], got [3]"),
        (["mnist-cnn", "missing.png"], "missing.png: no such file"),
        (["mnist-cnn", "1,x"], "is not a list of numbers"),
        (["name-gru", "Nakamura", "--top-k", "0"], "--top-k"),
        (["char-lstm", "To be", "--max-sequence", "3"], "limit is 3 (--max-sequence)"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(bundles, arguments, message):
    result = runner.invoke(app, ["predict", str(bundles[arguments[0]]), *arguments[1:], "--allow-unverified"])
    assert result.exit_code == 2, result.output
    assert message in result.output and len(result.output.strip().splitlines()) == 1, result.output


def test_hostile_files_are_refused_before_they_are_read_whole(bundles, tmp_path):
    """An endless line, a directory, an array far larger than an instance (refused from its
    header), JSON nested 100,000 deep, a number past float32: one line each, exit 2."""
    (tmp_path / "long.txt").write_text("a" * (2**20 + 1), encoding="utf-8")
    np.lib.format.open_memmap(tmp_path / "big.npy", mode="w+", dtype=np.float32, shape=(100_000, 28, 28)).flush()
    (tmp_path / "deep.json").write_text("[" * 100_000, encoding="utf-8")
    cases = [
        (["name-gru", "--lines", str(tmp_path / "long.txt")], "line 1 is over 1,048,576 characters"),
        (["name-gru", "--lines", str(tmp_path)], "not a regular file"),
        (["mnist-cnn", str(tmp_path / "big.npy")], "holds 78,400,000 numbers of shape [100000, 28, 28]; an instance of this model holds at most 784"),
        (["mnist-cnn", str(tmp_path / "deep.json")], "JSON nested too deep to read"),
        (["mnist-cnn", "--", ",".join(["1e39"] * 784)], "holds NaN or infinity, or a number too large for float32"),
    ]
    for arguments, message in cases:
        result = runner.invoke(app, ["predict", str(bundles[arguments[0]]), "--allow-unverified", *arguments[1:]])
        assert result.exit_code == 2 and message in result.output, result.output
        assert len(result.output.strip().splitlines()) == 1, result.output


def test_generate_refuses_a_model_without_a_generate_graph_and_unverified_bundles(bundles):
    result = runner.invoke(app, ["generate", str(bundles["name-gru"]), "--allow-unverified"])
    assert result.exit_code == 2 and "has no generate graph" in result.output
    result = runner.invoke(app, ["predict", str(bundles["name-gru"]), "Nakamura"])
    assert result.exit_code == 2 and "was never verified" in result.output and "--allow-unverified" in result.output
