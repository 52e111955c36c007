"""`zoo serve` as a real process on a loopback port: every endpoint, three model kinds (a text
classifier with ragged inputs, a language model with state, an image CNN), dynamic batching
under 32 concurrent requests equal to unbatched runs, a session fed in 4 chunks equal to the
whole sequence offline, each limit and bad input with its status code, and still healthy after;
`zoo predict`/`zoo generate` give the server's answers without it."""

import asyncio
import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
import onnxruntime as ort
import pytest
from typer.testing import CliRunner

from serve.body import RequestError
from serve.inputs import Tokenizer
from serve.limits import Limits
from serve.model import load_model
from serve.server import Server, Settings
from tests.serve.conftest import running_server
from zoo.cli import app

NAMES = ["Nakamura", "Schmidt", "O'Brien", "Li", "Abandonato", "Dvorak", "Kowalski", "Papadopoulos"]


@pytest.fixture(scope="module")
def server(bundles):
    options = ["--max-batch", "32", "--max-delay-ms", "20", "--max-body-kb", "64", "--max-instances", "40",
               "--max-sequence", "64", "--max-sessions", "3"]  # fmt: skip
    with running_server([bundles[n] for n in ("name-gru", "char-lstm", "mnist-cnn")], *options) as (url, _):
        yield url


def _offline(bundle, feeds):
    session = ort.InferenceSession(str(bundle / "model.onnx"), providers=["CPUExecutionProvider"])
    return dict(zip([o.name for o in session.get_outputs()], session.run(None, feeds)))


def _tokenizer(bundle):
    manifest = json.loads((bundle / "manifest.json").read_text())
    return Tokenizer(manifest["tokenizer"], manifest["vocabulary"])


def _zero_state(bundle):
    manifest = json.loads((bundle / "manifest.json").read_text())
    inputs = {t["name"]: t for t in manifest["graphs"]["forward"]["inputs"]}
    return {p["input"]: np.zeros([1 if d == "batch" else d for d in inputs[p["input"]]["shape"]], np.float32)
            for p in manifest["state_pairs"]}  # fmt: skip


def _softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def test_health_models_metrics_docs(server):
    assert httpx.get(server + "/healthz").json() == {"status": "ok"}
    assert httpx.get(server + "/readyz").json()["models"] == ["name-gru", "char-lstm", "mnist-cnn"]
    models = {m["name"]: m for m in httpx.get(server + "/v1/models").json()["models"]}
    assert models["char-lstm"]["stateful"] and not models["name-gru"]["stateful"]
    assert models["name-gru"]["ragged"] == [{"lengths": "lengths", "sequence": "tokens"}]
    assert "generate" in models["char-lstm"]["graphs"]
    assert "swagger" in httpx.get(server + "/docs").text.lower()
    assert httpx.get(server + "/openapi.json").json()["info"]["title"] == "zoo serve"
    metrics = httpx.get(server + "/metrics").text
    assert "zoo_open_sessions" in metrics and "zoo_request_seconds" in metrics


def test_text_classifier_with_ragged_names(server, bundles):
    reply = httpx.post(server + "/v1/models/name-gru/predict", json={"instances": NAMES}).json()
    tokenizer = _tokenizer(bundles["name-gru"])
    for name, result in zip(NAMES, reply["results"]):
        ids = np.array([tokenizer.encode(name)], dtype=np.int64)
        logits = _offline(bundles["name-gru"], {"tokens": ids, "lengths": np.array([ids.shape[1]])})["logits"][0]
        probabilities = _softmax(logits.astype(np.float64))
        assert result["probability"] == pytest.approx(probabilities.max(), abs=1e-6)
        assert len(result["top"]) == 5 and isinstance(result["label"], str)


def test_language_model_next_token_and_generate(server, bundles):
    reply = httpx.post(server + "/v1/models/char-lstm/predict", json={"instances": ["To be, or no"]}).json()
    ids = np.array([_tokenizer(bundles["char-lstm"]).encode("To be, or no")], dtype=np.int64)
    logits = _offline(bundles["char-lstm"], {"tokens": ids, **_zero_state(bundles["char-lstm"])})["logits"][0, -1]
    assert reply["results"][0]["next"][0]["probability"] == pytest.approx(_softmax(logits.astype(np.float64)).max(), abs=1e-6)
    body = {"prefix": "ROMEO:", "steps": 30, "temperature": 0.8, "top_k": 5, "seed": 7}
    first, second = (httpx.post(server + "/v1/models/char-lstm/generate", json=body).json() for _ in range(2))
    assert first["text"].startswith("ROMEO:") and len(first["tokens"]) == 30 and first == second


def test_image_cnn(server, bundles):
    image = np.random.default_rng(0).standard_normal((1, 28, 28)).astype(np.float32)
    reply = httpx.post(server + "/v1/models/mnist-cnn/predict", json={"instances": [image.tolist(), image.reshape(-1).tolist()]}).json()
    logits = _offline(bundles["mnist-cnn"], {"image": image[None]})["logits"][0]
    assert reply["results"][0]["label"] == str(int(logits.argmax())) == reply["results"][1]["label"]
    explicit = httpx.post(server + "/v1/models/mnist-cnn/predict",
                          json={"inputs": {"image": {"shape": [1, 1, 28, 28], "dtype": "float32", "data": image.reshape(-1).tolist()}}}).json()  # fmt: skip
    np.testing.assert_allclose(explicit["outputs"]["logits"]["data"], logits, rtol=1e-6, atol=1e-6)


def _cli(arguments):
    """`zoo predict|generate ... --json`: one JSON object per line."""
    result = CliRunner().invoke(app, [*arguments, "--json", "--allow-unverified"])
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_zoo_predict_and_generate_answer_what_the_server_answers(server, bundles, tmp_path):
    image = np.random.default_rng(0).standard_normal((2, 1, 28, 28)).astype(np.float32)
    np.save(tmp_path / "digits.npy", image)
    cases = [
        ("name-gru", NAMES, NAMES),
        ("char-lstm", ["To be, or no", "ROMEO:"], ["To be, or no", "ROMEO:"]),
        ("mnist-cnn", [str(tmp_path / "digits.npy")], image.tolist()),
    ]
    for name, arguments, instances in cases:
        local = _cli(["predict", str(bundles[name]), *arguments, "--top-k", "5"])
        served = httpx.post(f"{server}/v1/models/{name}/predict", json={"instances": instances, "top_k": 5}).json()["results"]
        assert [{k: v for k, v in r.items() if k != "input"} for r in local] == served, name
    body = {"prefix": "ROMEO:", "steps": 30, "temperature": 0.8, "top_k": 5, "seed": 7}
    served = httpx.post(f"{server}/v1/models/char-lstm/generate", json=body).json()
    arguments = ["--prefix", "ROMEO:", "--steps", "30", "--temperature", "0.8", "--top-k", "5", "--seed", "7"]
    assert _cli(["generate", str(bundles["char-lstm"]), *arguments]) == [served]


def test_batched_equals_unbatched_under_32_concurrent_requests(server, bundles):
    names = [NAMES[i % len(NAMES)] + "a" * (i % 5) for i in range(32)]
    alone = [httpx.post(server + "/v1/models/name-gru/predict", json={"instances": [n]}).json()["results"][0] for n in names]

    def batch_count():
        line = next(l for l in httpx.get(server + "/metrics").text.splitlines() if l.startswith('zoo_batch_size_count{model="name-gru"}'))
        return float(line.split()[-1])

    before = batch_count()
    with httpx.Client() as client, ThreadPoolExecutor(32) as pool:
        together = list(pool.map(lambda n: client.post(server + "/v1/models/name-gru/predict", json={"instances": [n]}).json()["results"][0], names))
    runs = batch_count() - before
    assert runs < 32, "no two of 32 concurrent requests shared a batch"
    for a, b in zip(alone, together):
        assert a["label"] == b["label"] and a["probability"] == pytest.approx(b["probability"], abs=1e-6)


def test_session_in_four_chunks_equals_the_whole_sequence(server, bundles):
    text = "First Citizen: Before we proceed"
    chunks = [text[0:5], text[5:13], text[13:14], text[14:]]
    session = httpx.post(server + "/v1/models/char-lstm/sessions").json()["session"]
    logits = []
    for chunk in chunks:
        reply = httpx.post(server + f"/v1/models/char-lstm/sessions/{session}/step", json={"instances": [chunk], "outputs": ["logits"]}).json()
        out = reply["outputs"]["logits"]
        logits.append(np.array(out["data"], np.float32).reshape(out["shape"]))
    assert reply["steps"] == len(text)
    ids = np.array([_tokenizer(bundles["char-lstm"]).encode(text)], dtype=np.int64)
    whole = _offline(bundles["char-lstm"], {"tokens": ids, **_zero_state(bundles["char-lstm"])})["logits"]
    np.testing.assert_allclose(np.concatenate(logits, axis=1), whole, rtol=1e-5, atol=1e-6)
    assert httpx.delete(server + f"/v1/models/char-lstm/sessions/{session}").json()["closed"] is True
    assert httpx.post(server + f"/v1/models/char-lstm/sessions/{session}/step", json={"instances": ["x"]}).status_code == 404


@pytest.mark.parametrize(
    "method, path, body, status, message",
    [
        ("post", "/v1/models/name-gru/predict", b"{not json", 400, "not valid JSON"),
        ("post", "/v1/models/name-gru/predict", {"texts": ["x"]}, 400, "unknown key 'texts' in the body"),
        ("post", "/v1/models/name-gru/predict", {"instances": []}, 400, '"instances": a non-empty list'),
        ("post", "/v1/models/nope/predict", {"instances": ["x"]}, 404, "no model 'nope' is served"),
        ("post", "/v1/models/name-gru/generate", {"prefix": "x"}, 404, "has no generate graph"),
        ("post", "/v1/models/name-gru/sessions", None, 404, "carries no state"),
        ("post", "/v1/models/char-lstm/sessions/unknown/step", {"instances": ["x"]}, 404, "no open session"),
        ("get", "/v2/nothing", None, 404, "Not Found"),
        ("post", "/v1/models/name-gru/predict", {"instances": ["x" * 70_000]}, 413, "the limit is 65536 (--max-body-kb)"),
        ("post", "/v1/models/name-gru/predict", {"instances": ["ab"] * 41}, 413, "41 instances in one request; the limit is 40"),
        ("post", "/v1/models/name-gru/predict", {"instances": ["a" * 65]}, 413, "65 steps; the limit is 64"),
        ("post", "/v1/models/name-gru/predict", {"instances": [3]}, 422, "instance 0 must be a string"),
        ("post", "/v1/models/mnist-cnn/predict", {"instances": [[1.0, 2.0]]}, 422, "must have shape [1, 28, 28]"),
        ("post", "/v1/models/mnist-cnn/predict", {"inputs": {"image": {"shape": [1, 28, 28], "dtype": "float32", "data": [0.0] * 784}}}, 422, "must have shape (batch, 1, 28, 28), got [1, 28, 28]"),
        ("post", "/v1/models/char-lstm/generate", {"prefix": "x", "steps": 65}, 413, '"steps" must be an integer in [1, 64] (--max-sequence), got 65'),
    ],
)
def test_limits_and_bad_input(server, method, path, body, status, message):
    if isinstance(body, bytes):
        response = httpx.request(method, server + path, content=body)
    else:
        response = httpx.request(method, server + path, json=body)
    assert response.status_code == status, response.text
    assert message in response.json()["error"]["message"]


def test_session_cap_then_still_healthy(server):
    opened = [httpx.post(server + "/v1/models/char-lstm/sessions") for _ in range(4)]
    assert [r.status_code for r in opened] == [200, 200, 200, 429]
    assert "3 sessions are open, the limit" in opened[-1].json()["error"]["message"]
    for reply in opened[:3]:
        httpx.delete(server + f"/v1/models/char-lstm/sessions/{reply.json()['session']}")
    assert httpx.get(server + "/healthz").status_code == 200
    assert httpx.post(server + "/v1/models/name-gru/predict", json={"instances": ["Smith"]}).status_code == 200
    assert 'status="429"' in httpx.get(server + "/metrics").text


def test_torchscript_runtime_gives_the_onnx_numbers(bundles):
    feeds = {"tokens": np.array([[5, 9, 3, 0], [7, 2, 2, 8]], np.int64), "lengths": np.array([3, 4], np.int64)}
    onnx_logits = load_model(bundles["name-gru"], "onnxruntime", allow_unverified=True).run(feeds)["logits"]
    script_logits = load_model(bundles["name-gru"], "torchscript", allow_unverified=True).run(feeds)["logits"]
    np.testing.assert_allclose(script_logits, onnx_logits, rtol=1e-5, atol=1e-6)
    state = _zero_state(bundles["char-lstm"])
    lm = load_model(bundles["char-lstm"], "torchscript", allow_unverified=True)
    out = lm.run({"tokens": np.array([[3, 4, 5]], np.int64), **state})
    assert out["logits"].shape == (1, 3, 65) and out["h_n"].shape == state["h_0"].shape
    tokens = lm.run({"prefix": np.array([[3, 4]], np.int64), "steps": np.array(6), "temperature": np.array(0.0, np.float32),
                     "top_k": np.array(0), "seed": np.array(0)}, "generate")["tokens"]  # fmt: skip
    assert tokens.shape == (1, 6)


def test_request_timeout_is_504(bundles):
    server = Server([load_model(bundles["mnist-cnn"], "onnxruntime", allow_unverified=True)], Settings(limits=Limits(timeout_s=0.05)))

    async def slow():
        await asyncio.sleep(1)

    response = asyncio.run(server.timed("mnist-cnn", "predict", slow))
    assert response.status_code == 504 and b"0.05 s timeout" in response.body


def test_serve_refuses_a_missing_bundle(tmp_path):
    result = subprocess.run([sys.executable, "-m", "zoo", "serve", str(tmp_path)], capture_output=True, text=True)
    assert result.returncode == 2 and "is not a bundle: it has no manifest.json" in result.stderr


def test_tokenizer_refuses_unknown_characters_without_unk():
    tokenizer = Tokenizer({"kind": "characters"}, {"tokens": ["<pad>", "a", "b", "<", "<eos>"], "unknown": None})
    assert tokenizer.encode("ab<") == [1, 2, 3]
    assert tokenizer.decode([1, 3, 4, 0, 2]) == "a<b"
    with pytest.raises(RequestError, match="'c' is not in the model's vocabulary"):
        tokenizer.encode("abc")
