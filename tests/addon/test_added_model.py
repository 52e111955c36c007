"""A model added from a file in tests/ trains, exports, verifies and serves through the same
commands as the zoo's own, with no change to any other file (README "Adding a model").

The `zoo` commands run in subprocesses that import the model's module, named in ``ZOO_MODULES``:
the registry of this test process stays the zoo's own, so the zoo-wide tests do not see the
added model. `zoo serve` runs without it: a bundle carries all the server needs.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import numpy as np
import onnxruntime as ort
import torch

from tests.serve.conftest import running_server

ROOT = Path(__file__).resolve().parents[2]
NAME = "surname-embedder"  # not imported: this process's registry stays the zoo's own
MODULE = "tests.addon.surname_embedder"


def _zoo(*arguments: str) -> str:
    """`zoo ARGS...` with the added model's module in ZOO_MODULES."""
    environment = {**os.environ, "ZOO_MODULES": MODULE}
    result = subprocess.run([sys.executable, "-m", "zoo", *arguments], cwd=ROOT, env=environment, capture_output=True,
                            text=True, timeout=600)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_a_model_from_tests_trains_exports_verifies_and_serves(tmp_path):
    assert NAME in _zoo("models", "list")
    run, bundle = tmp_path / "run", tmp_path / "bundle"
    _zoo("train", NAME, "--epochs", "1", "--limit-batches", "8", "--out", str(run))
    config = json.loads((run / "config.json").read_text())
    # Its own recipe (lr 5e-3, hidden 20) and the data's sizes (vocabulary, 18 languages).
    assert config["training"]["lr"] == 5e-3, config["training"]
    assert config["config"]["hidden_size"] == 20 and config["config"]["num_classes"] == 18

    assert "verification passed" in _zoo("export", str(run), "--out", str(bundle))
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert set(manifest["graphs"]) == {"forward", "embed"}
    _zoo("verify", str(bundle))  # exit 0: every case of both graphs within tolerance
    rows = json.loads((bundle / "parity.json").read_text())["rows"]
    assert {"embed", "forward"} <= {row["graph"] for row in rows}
    assert all(row["passed"] for row in rows)

    # embed.onnx computes the method the model declared (model.pt's scripted embed): unit vectors.
    scripted = torch.jit.load(str(bundle / "model.pt"))
    ids = {token: i for i, token in enumerate(manifest["vocabulary"]["tokens"])}
    tokens = torch.tensor([[ids[c] for c in "Schmidt"], [ids[c] for c in "Kim"] + [0] * 4])
    lengths = torch.tensor([7, 3])
    expected = scripted.embed(tokens, lengths).detach().numpy()
    session = ort.InferenceSession(str(bundle / manifest["graphs"]["embed"]["onnx"]))
    (embedding,) = session.run(None, {"tokens": tokens.numpy(), "lengths": lengths.numpy()})
    np.testing.assert_allclose(embedding, expected, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(embedding, axis=1), 1.0, atol=1e-5)

    with running_server([bundle]) as (url, _):
        reply = httpx.post(f"{url}/v1/models/{NAME}/predict", json={"instances": ["Schmidt", "Kim"]}, timeout=30)
    assert reply.status_code == 200, reply.text
    labels = set(manifest["labels"]) if isinstance(manifest.get("labels"), list) else None
    for result in reply.json()["results"]:
        assert 0.0 <= result["probability"] <= 1.0
        assert labels is None or result["label"] in labels



def test_nproc_passes_a_model_imported_by_a_script_on_to_the_processes_it_launches():
    """A script that imports its model and calls zoo (README): `zoo train --nproc` launches
    processes that run `python -m zoo`; they find the model through ZOO_MODULES and PYTHONPATH."""
    script = ("import json, tests.addon.surname_embedder; from zoo.registry import get_spec; "
              "from zoo.train.distributed import launch_environment; "
              f"e = launch_environment(get_spec({NAME!r})); print(json.dumps([e['ZOO_MODULES'], e['PYTHONPATH']]))")  # fmt: skip
    environment = {k: v for k, v in os.environ.items() if k not in ("ZOO_MODULES", "PYTHONPATH")}
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    modules, path = json.loads(result.stdout)
    assert modules == MODULE and path.split(os.pathsep)[0] == str(ROOT)
