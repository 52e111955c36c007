"""What a manifest records about its extra graphs and output meanings, and how the server reads
it: the declared endpoint, the same endpoint from a manifest written before the record, and a
record that does not fit its graph refused in one line."""

import copy
import re

import numpy as np
import pytest

import zoo
from export.graphs import graph_entry, graphs_of
from serve.endpoints import endpoints
from serve.inputs import Tokenizer
from serve.outputs import meaning, task_result
from zoo.registry import Endpoint, ExtraGraph, ModelSpec, Parameter, register_model
from zoo.store import BundleError, pairs_entries, signature_pairs


def _manifest(name: str) -> dict:
    spec = zoo.get_spec(name)
    config = spec.make_config()
    return {
        "model": {"name": name, "task": spec.task},
        "graphs": {g.name: graph_entry(g) for g in graphs_of(spec, config)},
        **pairs_entries(signature_pairs(spec.signature(config))),
    }


def _before_the_record(manifest: dict) -> dict:
    """The manifest as an export before ``meaning`` and ``endpoint`` wrote it."""
    old = copy.deepcopy(manifest)
    for entry in old["graphs"].values():
        entry.pop("endpoint", None)
        for output in entry["outputs"]:
            del output["meaning"]
    return old


def test_the_manifest_records_each_extra_graphs_endpoint():
    generate = endpoints(_manifest("char-lstm"), "b")["generate"]
    assert (generate.graph, generate.reply, generate.output, generate.lengths) == ("generate", "continuation", "tokens", None)
    assert generate.keys == ("prefix", "steps", "temperature", "top_k", "seed")
    assert generate.vocab == 65 and set(generate.axes) == {"batch", "time", "steps"}
    decode = endpoints(_manifest("seq2seq-lstm"), "b")["predict"]
    assert (decode.graph, decode.reply, decode.prompt["name"], decode.lengths) == ("decode", "text", "src", "src_lengths")
    (max_len,) = decode.parameters
    assert (max_len.name, max_len.integer, max_len.default, max_len.per_step, max_len.maximum) == ("max_len", True, 2, 2, "max_sequence")
    assert endpoints(_manifest("name-gru"), "b") == {}


@pytest.mark.parametrize("name", ["char-lstm", "seq2seq-lstm", "name-gru"])
def test_a_manifest_from_before_the_record_is_served_as_before(name):
    manifest = _manifest(name)
    assert endpoints(_before_the_record(manifest), "b") == endpoints(manifest, "b")


@pytest.mark.parametrize(
    "edit, problem",
    [
        (lambda e: e.update(route="stream"), "the route or reply"),
        (lambda e: e["parameters"].pop(), "no parameter for the scalar input(s) seed"),
        (lambda e: e["parameters"][0].update(name="stepz"), "parameter 'stepz' is not a scalar input"),
        (lambda e: e["parameters"][1].update(maximum="many"), "parameter 'temperature' has a default or range"),
        (lambda e: e.update(route="predict"), "a continuation answers /generate only"),
    ],
)
def test_an_endpoint_that_does_not_fit_its_graph_is_refused(edit, problem):
    manifest = _manifest("char-lstm")
    edit(manifest["graphs"]["generate"]["endpoint"])
    with pytest.raises(BundleError, match=f"b is refused: its manifest.json graph 'generate' has an endpoint .*{re.escape(problem)}"):
        endpoints(manifest, "b")


def test_output_meaning_is_read_from_the_manifest_or_the_old_name_convention():
    recorded = _manifest("diabetes-mlp")["graphs"]["forward"]["outputs"]
    assert [o["meaning"] for o in recorded] == ["probability"]
    assert [o["meaning"] for o in _manifest("name-gru")["graphs"]["forward"]["outputs"]] == ["logits"]
    assert meaning({"name": "probability"}) == "probability" and meaning({"name": "logits"}) == "logits"
    tokenizer = Tokenizer(None, None)
    as_probability = task_result("binary-classification", {"p": np.array([0.25])}, [{"name": "p", "meaning": "probability"}], None, tokenizer)
    as_logit = task_result("binary-classification", {"p": np.array([0.0])}, [{"name": "p", "meaning": "logits"}], None, tokenizer)
    assert as_probability == {"label": "0", "probability": 0.25} and as_logit == {"label": "1", "probability": 0.5}


def test_an_extra_graph_must_be_a_listed_method():
    spec = zoo.get_spec("char-lstm")
    graph = ExtraGraph("sample", spec.graphs[0].inputs, spec.graphs[0].outputs, spec.graphs[0].example, spec.graphs[0].wrapper,
                       endpoint=Endpoint("generate", "text", (("steps", Parameter(1, 1, 2)),)))  # fmt: skip
    unlisted = ModelSpec("test-unlisted-graph", spec.config_cls, spec.builder, spec.task, spec.signature, spec.example_inputs,
                         True, None, "", graphs=(graph,))  # fmt: skip
    with pytest.raises(ValueError, match="extra graph 'sample' must be named once, not forward, and listed in methods"):
        register_model(unlisted)


def test_raw_instances_of_a_model_whose_extra_graph_answers_them(tmp_path):
    """seq2seq's decode answers /predict's raw instances over HTTP as `zoo predict` does, and the
    body schema takes its max_len."""
    import asyncio

    import httpx

    from export.bundle import export_bundle
    from export.source import from_data
    from serve.app import Settings, create_app
    from serve.local import LocalModel
    from serve.model import load_model

    bundle = export_bundle(from_data("seq2seq-lstm"), tmp_path / "s2s", verify=False).bundle
    local = list(LocalModel(bundle, "onnxruntime", allow_unverified=True).predict([("a", "12345"), ("b", "98")], 5, {"max_len": 4}))
    app = create_app([load_model(bundle, "onnxruntime", allow_unverified=True)], Settings())
    url = "/v1/models/seq2seq-lstm"

    async def ask() -> list:
        # In process: these routes need no batcher, so the app's start-up need not run.
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://zoo") as client:
            return [
                await client.post(url + "/predict", json={"instances": ["12345", "98"], "max_len": 4}),
                await client.post(url + "/predict", json={"inputs": {"src": {"shape": [1, 1], "dtype": "int64", "data": [3]}}, "max_len": 4}),
                await client.post(url + "/predict", json={"instances": ["12345"], "max_len": 5000}),
                await client.post(url + "/generate", json={"prefix": "1"}),
                await client.get("/openapi.json"),
            ]

    reply, explicit, too_long, no_generate, document = asyncio.run(ask())
    assert reply.status_code == 200 and reply.json()["results"] == [result for _, result in local]
    assert [len(r["tokens"]) for r in reply.json()["results"]] == [4, 4]
    assert explicit.status_code == 400 and '"max_len" is for raw instances' in explicit.json()["error"]["message"]
    assert too_long.status_code == 413 and "(--max-sequence)" in too_long.json()["error"]["message"]
    assert no_generate.status_code == 404 and "has no generate graph" in no_generate.json()["error"]["message"]
    body = document.json()["paths"][url.replace("seq2seq-lstm", "{name}") + "/predict"]["post"]["requestBody"]
    assert body["content"]["application/json"]["schema"]["properties"]["max_len"]["minimum"] == 1
