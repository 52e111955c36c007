"""`zoo serve` under hostile and careless input, one test per case the attacker found: costs are
refused before any work (413), values that would give a meaningless answer are refused (422),
nothing is a 500, memory comes back, timed-out runs stop — and at the end a seeded schemathesis
run over the whole OpenAPI document finds no 5xx and no reply outside the schema."""

import asyncio
import json
import math
import shutil
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import pytest
from typer.testing import CliRunner

from zoo.store import BundleError
from serve.model import load_model
from tests.serve.conftest import rss_mib, running_server
from zoo.cli import app

SESSION_MB = 0.25  # char-lstm at hidden 16 holds 256 B of state per row: 1,024 rows in all


@pytest.fixture(scope="module")
def hostile(bundles):
    """A server with the default limits (but a small session budget), over three bundles."""
    with running_server([bundles["name-gru"], bundles["char-lstm"], bundles["manual-lstm"]], "--max-session-mb", str(SESSION_MB)) as (url, process):
        yield url, process.pid


def _post(url, path, body, **kwargs):
    content = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return httpx.post(url + path, content=content, headers={"content-type": "application/json"}, timeout=60, **kwargs)


def _error(response, status, *words):
    assert response.status_code == status, response.text
    message = response.json()["error"]["message"]
    assert "\n" not in message and all(w in message for w in words), message


def _settled_rss(pid, seconds=2.5):
    time.sleep(seconds)  # the trimming thread gives memory back within a second of the last run
    return rss_mib(pid)


# 1. one costly request, and the 133 KB version of it: refused before tokenizing or padding
@pytest.mark.parametrize("count, length", [(256, 4096), (32, 4096)])
def test_costly_requests_are_refused_before_any_work(hostile, count, length):
    url, pid = hostile
    before = rss_mib(pid)
    start = time.perf_counter()
    _error(_post(url, "/v1/models/name-gru/predict", {"instances": ["a" * length] * count}), 413, "the limit is 8192 per request", "--max-tokens")
    assert time.perf_counter() - start < 2
    assert rss_mib(pid) < before + 50


def test_the_largest_allowed_request_runs_and_memory_returns(hostile):
    url, pid = hostile
    idle = _settled_rss(pid, 0)
    reply = _post(url, "/v1/models/name-gru/predict", {"instances": ["a" * 4096] * 2})
    assert reply.status_code == 200 and len(reply.json()["results"]) == 2
    assert _settled_rss(pid) < idle * 1.1


# 2. a chunked body is counted while it streams
def test_a_chunked_body_is_cut_at_the_limit(hostile):
    url, pid = hostile
    before = rss_mib(pid)
    sent = 0

    def chunks():
        nonlocal sent
        for _ in range(500):  # 500 MiB if it were all read
            sent += 1
            yield b" " * (1 << 20)

    try:
        reply = httpx.post(url + "/v1/models/name-gru/predict", content=chunks(), timeout=60)
        _error(reply, 413, "over 2097152 bytes", "--max-body-kb")
    except httpx.TransportError:
        pass  # the server may close the connection while the client still writes: also a refusal
    assert sent < 500, "the whole body was read"
    assert rss_mib(pid) < before + 50


# 3. reply amplification: refused from the output shapes before running, or narrowed
def test_replies_over_the_size_budget_are_refused_with_a_hint(hostile):
    url, _ = hostile
    tokens = {"shape": [16, 500], "dtype": "int64", "data": [1] * 8000}
    _error(_post(url, "/v1/models/char-lstm/predict", {"inputs": {"tokens": tokens}}), 413, "the reply would be about", '"outputs"')
    narrowed = _post(url, "/v1/models/char-lstm/predict", {"inputs": {"tokens": tokens}, "outputs": ["h_n"]})
    assert narrowed.status_code == 200 and list(narrowed.json()["outputs"]) == ["h_n"]
    _error(_post(url, "/v1/models/char-lstm/predict", {"inputs": {"tokens": {"shape": [256, 400], "dtype": "int64", "data": [1] * 102400}}}),
           413, "runs 102400 rows x steps")  # fmt: skip


def test_a_session_step_returns_the_last_steps_top_k_unless_asked(hostile):
    url, _ = hostile
    key = httpx.post(url + "/v1/models/char-lstm/sessions").json()["session"]
    chunk = "First Citizen: Before we proceed any further, hear me speak. " * 13  # 806 characters
    reply = _post(url, f"/v1/models/char-lstm/sessions/{key}/step", {"instances": [chunk], "top_k": 3})
    assert reply.status_code == 200 and "outputs" not in reply.json() and len(reply.content) < 2000
    assert len(reply.json()["results"][0]["next"]) == 3
    httpx.delete(url + f"/v1/models/char-lstm/sessions/{key}")


# 4. session state is counted against its budget, refused before running, freed on DELETE
def test_session_state_has_a_budget_and_delete_frees_it(hostile):
    url, _ = hostile
    rows = {"inputs": {"tokens": {"shape": [256, 1], "dtype": "int64", "data": [1] * 256}}}
    keys, statuses = [], []
    for _ in range(6):
        key = httpx.post(url + "/v1/models/char-lstm/sessions").json()["session"]
        keys.append(key)
        statuses.append(_post(url, f"/v1/models/char-lstm/sessions/{key}/step", rows).status_code)
    assert statuses == [200, 200, 200, 200, 429, 429], statuses
    for key in keys:
        assert httpx.delete(url + f"/v1/models/char-lstm/sessions/{key}").status_code == 200
    key = httpx.post(url + "/v1/models/char-lstm/sessions").json()["session"]
    assert _post(url, f"/v1/models/char-lstm/sessions/{key}/step", rows).status_code == 200
    httpx.delete(url + f"/v1/models/char-lstm/sessions/{key}")


def test_refused_bodies_do_not_stay_in_memory(hostile):
    """A handled exception's traceback held the request's frames, and with them the parsed
    body, in a cycle that only a full garbage collection frees: every refused 2 MB body stayed."""
    url, pid = hostile
    body = json.dumps({"instances": [[0.5] * 400_000]})  # 2 MB: 13 MB of Python floats once parsed
    before = _settled_rss(pid, 0)
    for _ in range(16):
        _error(_post(url, "/v1/models/name-gru/predict", body), 422, "must be a string of text")
    assert _settled_rss(pid) < before + 30


def test_a_stateful_encoder_session_answers_its_tensors(hostile):
    url, _ = hostile
    key = httpx.post(url + "/v1/models/manual-lstm/sessions").json()["session"]
    steps = np.random.default_rng(0).standard_normal((3, 64)).tolist()
    for _ in range(2):
        reply = _post(url, f"/v1/models/manual-lstm/sessions/{key}/step", {"instances": [steps]})
        assert reply.status_code == 200, reply.text
    result = reply.json()["results"][0]
    assert set(result) == {"output"} and result["output"]["shape"] == [3, 128]  # the state stays with the session
    assert reply.json()["steps"] == 6
    httpx.delete(url + f"/v1/models/manual-lstm/sessions/{key}")


# 6. values that would give a meaningless answer
_STATE = {"shape": [2, 1, 16], "dtype": "float32"}


@pytest.mark.parametrize(
    "path, body, status, words",
    [
        ("/v1/models/char-lstm/predict", {"inputs": {"tokens": {"shape": [1, 2], "dtype": "int64", "data": [3, 4]},
                                                     "h_0": {**_STATE, "data": [math.nan] * 32}}}, 422, ["'h_0' holds NaN or infinity"]),  # fmt: skip
        ("/v1/models/char-lstm/predict", {"inputs": {"tokens": {"shape": [1, 2], "dtype": "int64", "data": [3, 4]},
                                                     "h_0": {**_STATE, "data": [1e39] * 32}}}, 422, ["too large for float32"]),  # fmt: skip
        ("/v1/models/name-gru/predict", {"inputs": {"tokens": {"shape": [1, 2], "dtype": "int64", "data": [-1, 4]}}}, 422, ["must be in [0, 88)"]),
        ("/v1/models/name-gru/predict", {"inputs": {"tokens": {"shape": [1, 2], "dtype": "int64", "data": [88, 4]}}}, 422, ["must be in [0, 88)"]),
        ("/v1/models/name-gru/predict", {"inputs": {"tokens": {"shape": [1, 2], "dtype": "int64", "data": [3, 4]},
                                                    "lengths": {"shape": [1], "dtype": "int64", "data": [0]}}}, 422, ["'lengths' must be in [1, 2]"]),  # fmt: skip
        ("/v1/models/name-gru/predict", {"inputs": {"tokens": {"shape": [1, 2], "dtype": "int64", "data": [3, 4]},
                                                    "lengths": {"shape": [1], "dtype": "int64", "data": [-3]}}}, 422, ["'lengths' must be in [1, 2]"]),  # fmt: skip
        ("/v1/models/name-gru/predict", {"inputs": {"tokens": {"shape": [1, 2], "dtype": "int64", "data": [3, 4]},
                                                    "lengths": {"shape": [1], "dtype": "int64", "data": [3]}}}, 422, ["'lengths' must be in [1, 2]"]),  # fmt: skip
        ("/v1/models/char-lstm/generate", {"prefix": "ROMEO", "temperature": -1}, 422, ['"temperature" must be 0 or a number in [0.001, 1000]']),
        ("/v1/models/char-lstm/generate", {"prefix": "ROMEO", "temperature": 1e-9}, 422, ['"temperature" must be 0 or a number in [0.001, 1000]']),
        ("/v1/models/char-lstm/generate", '{"prefix": "ROMEO", "temperature": NaN}', 422, ['"temperature" must be 0 or a number']),
        ("/v1/models/name-gru/predict", {"instances": [""]}, 422, ["instance 0 is empty"]),
        ("/v1/models/name-gru/predict", {"instances": ["Li", "😀😀"]}, 422, ["instance 1 has no token the model knows (all 2 are unknown)"]),
    ],
)
def test_meaningless_input_is_refused(hostile, path, body, status, words):
    _error(_post(hostile[0], path, body), status, *words)


def test_temperature_zero_is_greedy_and_partly_unknown_text_is_flagged(hostile):
    url, _ = hostile
    greedy = [_post(url, "/v1/models/char-lstm/generate", {"prefix": "ROMEO", "steps": 8, "temperature": 0, "seed": s}).json() for s in (1, 2)]
    assert greedy[0]["tokens"] == greedy[1]["tokens"]  # the seed plays no part
    results = _post(url, "/v1/models/name-gru/predict", {"instances": ["Li😀", "Li"]}).json()["results"]
    assert results[0]["unknown_tokens"] == 1 and "unknown_tokens" not in results[1]


# 7. what used to be 500s
@pytest.mark.parametrize(
    "path, body, status, words",
    [
        ("/v1/models/name-gru/predict", "[" * 100_000 + "]" * 100_000, 413, ["more than 65536 JSON lists and objects"]),
        ("/v1/models/name-gru/predict", "[" * 5_000 + "]" * 5_000, 400, ["nested too deeply"]),
        ("/v1/models/name-gru/predict", {"inputs": {"tokens": {"shape": [1, 1], "dtype": {}, "data": [1]}}}, 422, ["unknown dtype {}"]),
        ("/v1/models/name-gru/predict", {"inputs": {"tokens": {"shape": [1, 1], "dtype": [], "data": [1]}}}, 422, ["unknown dtype []"]),
        ("/v1/models/name-gru/predict", {"inputs": {"tokens": {"shape": [1, 2], "dtype": "int64", "data": "12"}}}, 422, ["must be a list of numbers"]),
        ("/v1/models/name-gru/predict", {"inputs": {"tokens": {"shape": [1, 1], "dtype": "int64", "data": [2**63]}}}, 422, ["must fit int64"]),
        ("/v1/models/name-gru/predict", {"inputs": {"tokens": {"shape": [1, 1], "dtype": "int64", "data": [2**70]}}}, 422, ["must hold only numbers"]),
        ("/v1/models/name-gru/predict", {"inputs": {"tokens": {"shape": [1, 1], "dtype": "int64", "data": [1.5]}}}, 422, ["its data must be integers"]),
        ("/v1/models/name-gru/predict", {"inputs": {"tokens": {"shape": [1, 2], "dtype": "int64", "data": [[1], [2, 3]]}}}, 422, ["regular nested list"]),
        ("/v1/models/name-gru/predict", {"inputs": {"tokens": {"shape": [0, 2], "dtype": "int64", "data": []}}}, 422, ["sizes >= 1"]),
        ("/v1/models/name-gru/predict", {"inputs": {"nope": {"shape": [1], "dtype": "int64", "data": [1]}}}, 422, ["unknown input 'nope'"]),
        ("/v1/models/name-gru/predict", {"instances": ["Li"], "top_k": 2**63}, 422, ['"top_k" must be an integer in [1, 100]']),
        ("/v1/models/char-lstm/generate", {"prefix": "ROMEO", "top_k": 2**63}, 422, ['"top_k" must be an integer in [0, 65]']),
        ("/v1/models/char-lstm/generate", {"prefix": "ROMEO", "seed": 2**63}, 422, ['"seed" must be an integer in [0, 2147483646]']),
        ("/v1/models/char-lstm/generate", {"prefix": "ROMEO", "steps": True}, 422, ['"steps" must be an integer']),
        ("/v1/models/char-lstm/generate", {"prefix": "ROMEO", "stpes": 3}, 400, ["unknown key 'stpes'"]),
        ("/v1/models/name-gru/predict", b"\xff\xfe", 400, ["not valid JSON"]),
        ("/v1/models/name-gru/predict", {"inputs": {"tokens": {"shape": [3], "dtype": "int64", "data": [3, 4, 5]}}}, 422, ["must have shape (batch, time), got [3]"]),
        ("/v1/models/manual-lstm/predict", {"inputs": {"input": {"shape": [2**31, 2**31, 64], "dtype": "float32", "data": []}}}, 422, ["do not fill shape"]),
        ("/v1/models/char-lstm/predict", {"inputs": {"tokens": {"shape": [1, 2], "dtype": "int64", "data": [3, 4]},
                                                     "h_0": {**_STATE, "data": [True] + [0.5] * 31}}}, 422, ["must hold only numbers"]),  # fmt: skip
        ("/v1/models/char-lstm/generate", {"prefix": "ROMEO", "steps": 4097}, 413, ['"steps" must be an integer in [1, 4096] (--max-sequence)']),
        ("/v1/models/name-gru/predict", '{"instances": ["Li"], "top_k": ' + "9" * 5000 + "}", 400, ["too many digits"]),
    ],
)
def test_former_server_errors_are_client_errors(hostile, path, body, status, words):
    _error(_post(hostile[0], path, body), status, *words)


def test_405_carries_allow_and_the_schema_declares_bodies_and_errors(hostile):
    url, _ = hostile
    response = httpx.put(url + "/v1/models/name-gru/predict")
    assert response.status_code == 405 and response.headers["allow"] == "POST"
    document = httpx.get(url + "/openapi.json").json()
    predict = document["paths"]["/v1/models/{name}/predict"]["post"]
    assert predict["requestBody"]["content"]["application/json"]["schema"]["oneOf"]
    assert {"400", "404", "413", "422", "504"} <= set(predict["responses"])
    assert predict["parameters"][0]["schema"]["enum"] == ["name-gru", "char-lstm", "manual-lstm"]


# timeouts: the run stops instead of holding a worker
def test_a_cancelled_run_stops_early(bundles):
    model = load_model(bundles["name-gru-loop"], "onnxruntime", allow_unverified=True)
    feeds = {"tokens": np.ones((2, 4096), np.int64), "lengths": np.full(2, 4096, np.int64)}
    async def cancelled():
        run = model.start(feeds, ThreadPoolExecutor(1))
        await asyncio.sleep(0.05)
        run.cancel()
        start = time.perf_counter()
        with pytest.raises(Exception, match="terminate"):
            await run.result()
        return time.perf_counter() - start

    assert asyncio.run(cancelled()) < 0.3  # the whole run takes about a second


def test_a_timed_out_request_is_504_and_the_server_keeps_serving(bundles):
    with running_server([bundles["name-gru-loop"]], "--timeout-s", "0.2") as (url, _):
        long = {"inputs": {"tokens": {"shape": [2, 4096], "dtype": "int64", "data": [1] * 8192}}}
        _error(_post(url, "/v1/models/name-gru/predict", long), 504, "0.2 s timeout", "run was stopped")
        start = time.perf_counter()
        assert _post(url, "/v1/models/name-gru/predict", {"instances": ["Li"]}).status_code == 200
        assert time.perf_counter() - start < 0.5


# connections: idle, slow, oversized headers, stalled bodies
def _raw(port: int, data: bytes = b"") -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    if data:
        sock.sendall(data)
    return sock


def _answer(sock: socket.socket) -> tuple:
    received = b""
    while b"\r\n\r\n" not in received or not received.rstrip().endswith(b"}"):
        piece = sock.recv(65536)
        if not piece:
            break
        received += piece
    head, _, body = received.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)["error"]["message"]


def test_idle_slow_and_oversized_connections_are_refused_in_json(bundles):
    with running_server([bundles["mnist-cnn"]], "--max-client-connections", "4", "--header-timeout-s", "0.5") as (url, _):
        port = int(url.rsplit(":", 1)[1])
        idle = [_raw(port) for _ in range(4)]  # connected, never sending a request
        status, message = _answer(_raw(port))
        assert status == 429 and "holds 4 connections, the limit per client (--max-client-connections)" in message
        assert [_answer(sock)[0] for sock in idle] == [408] * 4  # closed after 0.5 s without headers
        status, message = _answer(_raw(port, b"GET /healthz HTTP/1.1\r\nX-A: " + b"a" * 100_000))
        assert status == 431 and "headers are over 65536 bytes" in message
        stalled = [_raw(port, b"POST /v1/models/mnist-cnn/predict HTTP/1.1\r\nContent-Length: 2097152\r\n\r\n{\"instances\"")
                   for _ in range(3)]  # fmt: skip
        start = time.perf_counter()
        image = np.zeros((1, 28, 28)).tolist()
        assert httpx.post(url + "/v1/models/mnist-cnn/predict", json={"instances": [image]}).status_code == 200
        assert time.perf_counter() - start < 2, "stalled uploads held up a small request"
        for sock in stalled:
            sock.close()


def test_a_hand_edited_manifest_is_one_line(bundles, tmp_path):
    edits = {
        "a words tokenizer whose pattern does not compile": lambda m: m.update(tokenizer={"kind": "words", "pattern": "("}),
        "state_pairs that do not pair forward inputs with outputs": lambda m: m.pop("state_pairs"),
        "a vocabulary that is not": lambda m: m.update(vocabulary={"tokens": 5}),
    }
    for number, (message, edit) in enumerate(edits.items()):
        copy = tmp_path / str(number)
        shutil.copytree(bundles["char-lstm"], copy)
        manifest = json.loads((copy / "manifest.json").read_text())
        edit(manifest)
        (copy / "manifest.json").write_text(json.dumps(manifest))
        with pytest.raises(BundleError, match=f"is refused: its manifest.json has {message}"):
            load_model(copy, "onnxruntime", allow_unverified=True)


def test_serve_options_must_be_finite(bundles):
    result = CliRunner().invoke(app, ["serve", str(bundles["mnist-cnn"]), "--max-session-mb", "inf"])
    assert result.exit_code == 2 and result.stderr.strip() == "error: --max-session-mb inf: give a finite number"


# 16. a busy port
def test_a_busy_port_is_one_line_before_any_announcement(bundles):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen(1)
        port = holder.getsockname()[1]
        result = subprocess.run([sys.executable, "-m", "zoo", "serve", str(bundles["mnist-cnn"]), "--port", str(port), "--allow-unverified"],
                                capture_output=True, text=True, timeout=60)  # fmt: skip
    assert result.returncode == 2 and "serving" not in result.stdout
    assert result.stderr.strip().count("\n") == 0 and f"cannot listen on 127.0.0.1:{port}" in result.stderr


def test_unverified_bundles_are_refused_unless_allowed(bundles, tmp_path):
    failed = tmp_path / "failed"
    shutil.copytree(bundles["mnist-cnn"], failed)
    manifest = json.loads((failed / "manifest.json").read_text())
    (failed / "manifest.json").write_text(json.dumps({**manifest, "parity": {"passed": False}}))
    with pytest.raises(BundleError, match="failed its verification"):
        load_model(failed, "onnxruntime")
    with pytest.raises(BundleError, match="was never verified; run `zoo verify .*` \\(or use it anyway with --allow-unverified\\)"):
        load_model(bundles["mnist-cnn"], "onnxruntime")
    assert load_model(bundles["mnist-cnn"], "onnxruntime", allow_unverified=True).name == "mnist-cnn"


# the schema-driven fuzzer, last: it may leave sessions open
def test_schemathesis_finds_no_server_error_and_no_schema_violation(hostile, tmp_path):
    url, pid = hostile
    command = [sys.executable, "-m", "schemathesis.cli", "--config-file", str(Path(__file__).with_name("schemathesis.toml")),
               "run", url + "/openapi.json", "--checks", "all",
               "--exclude-checks", "ignored_auth,object_level_authorization,positive_data_acceptance",
               "--phases", "examples,coverage,fuzzing,stateful", "--max-examples", "25", "--seed", "20261127",
               "--workers", "1", "--request-timeout", "30"]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=tmp_path)  # it writes .schemathesis/ there
    assert result.returncode == 0, result.stdout[-6000:]
    assert " passed" in result.stdout and "failed" not in result.stdout.split("SUMMARY")[-1]
    assert httpx.get(url + "/healthz").status_code == 200
