"""Serving the named-entity tagger (issue 15): raw text -> words with character offsets, word
and char ids; logits -> entity spans with offsets, type and score; the manifest's characters
record checked at load; hostile text refused with one line; and the spans of a real exported
``bilstm-tagger`` bundle over HTTP and `zoo predict`."""

import json
from pathlib import Path
from typing import Any, Dict, List

import numpy as np
import pytest

from serve.body import RequestError
from serve.inputs import Tokenizer, Words, raw_rows
from serve.limits import Limits
from serve.manifest_check import MAX_CHAR_WIDTH, check_manifest
from serve.outputs import json_bytes, span_bytes, task_result
from zoo.cli.predict import describe
from zoo.store import BundleError

PATTERN = r"\w+(?:[-'’.]\w+)*|[^\w\s]"  # a UD-like splitter: words (with inner - ' .) and single signs
WORDS = ["<pad>", "<unk>", "angela", "merkel", "visited", "paris", "."]
CHARS = ["<pad>", "<unk>", *"AMPaegilnrstv."]
LABELS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
WIDTH = 5


def _record(**changes: Any) -> Dict[str, Any]:
    characters = {"input": "chars", "width": WIDTH, "vocabulary": {"tokens": CHARS, "unknown": 1}}
    return {"kind": "words", "pattern": PATTERN, "lowercase": True, "characters": characters, "words_input": "words", **changes}


def _tokenizer(**changes: Any) -> Tokenizer:
    return Tokenizer(_record(**changes), {"tokens": WORDS, "unknown": 1})


def _graph() -> Dict[str, Any]:
    # chars first: the words input is found by name, not by position
    return {"inputs": [{"name": "chars", "dtype": "int64", "shape": ["batch", "time", WIDTH], "vocab": len(CHARS)},
                       {"name": "words", "dtype": "int64", "shape": ["batch", "time"], "vocab": len(WORDS)},
                       {"name": "lengths", "dtype": "int64", "shape": ["batch"]}],
            "outputs": [{"name": "logits", "dtype": "float32", "shape": ["batch", "time", len(LABELS)], "meaning": "logits"}]}  # fmt: skip


def _rows(*texts: Any, limits: Limits = Limits(), tokenizer: Tokenizer = None):  # type: ignore[assignment]
    return raw_rows({"instances": list(texts)}, _graph(), tokenizer or _tokenizer(), limits, {"lengths"})


def _logits(tags: List[str], steps: int = 0, low: float = -4.0) -> np.ndarray:
    """Logits that choose ``tags`` (then ``steps`` padded steps that would choose B-LOC)."""
    logits = np.full((len(tags) + steps, len(LABELS)), low, dtype=np.float32)
    for step, tag in enumerate(tags + ["B-LOC"] * steps):
        logits[step, LABELS.index(tag)] = 4.0
    return logits


def _spans(text: str, tags: List[str], **kwargs: Any) -> Dict[str, Any]:
    words = _rows(text).words[0]
    return task_result("tagging", {"logits": _logits(tags, **kwargs)}, _graph()["outputs"], LABELS, _tokenizer(), 5, words)


# --- the tokenizer: offsets on the original text --------------------------------------------

@pytest.mark.parametrize("text, offsets", [
    ("Angela Merkel visited Paris.", [(0, 6), (7, 13), (14, 21), (22, 27), (27, 28)]),
    # a combining accent after a precomposed ë is a sign of its own; inner ' and -; tabs; edges
    ("  Zoë\u0301 met O'Brien-Smith\tin Zürich!  ", [(2, 5), (5, 6), (7, 10), (11, 24), (25, 27), (28, 34), (34, 35)]),
    ("שלום Paris 😀 مرحبا", [(0, 4), (5, 10), (11, 12), (13, 18)]),  # right-to-left scripts, an emoji (one code point)
    ("İstanbul ẞtraße", [(0, 8), (9, 15)]),  # lower-cased, these grow: offsets come from the original
])  # fmt: skip
def test_words_keep_their_offsets_in_the_original_text(text, offsets):
    words = _tokenizer().split(text, 100)
    assert words.offsets == offsets and words.text is text
    assert _tokenizer().split(text, 2).offsets == offsets[:3]  # past the limit: one more, then it stops


def test_word_ids_are_lower_cased_and_chars_keep_case_cut_to_the_width():
    raw = _rows("ANGELA merkel visited Paris.")
    row = raw.rows[0]
    assert row["words"].tolist() == [2, 3, 4, 5, 6] and raw.unknown == [0]
    index = {c: i for i, c in enumerate(CHARS)}
    assert row["chars"].shape == (5, WIDTH) and row["chars"].dtype == np.int64
    assert row["chars"][0].tolist() == [index["A"], 1, 1, 1, 1]  # N, G, E, L are unknown (only a, e, g, l are known): case is kept
    assert row["chars"][3].tolist() == [index[c] for c in "Paris"]
    assert row["chars"][2].tolist() == [index[c] for c in "visit"]  # the first WIDTH characters
    assert row["chars"][4].tolist() == [index["."], 0, 0, 0, 0]  # 0 pads


def test_unknown_words_with_known_characters_are_read():
    raw = _rows("Petra visited Ankara")
    assert raw.rows[0]["words"].tolist() == [1, 4, 1] and raw.unknown == [2]


def test_a_record_without_characters_fills_the_words_input_alone():
    words_only = Tokenizer({"kind": "words", "pattern": PATTERN, "lowercase": True, "words_input": "words"}, {"tokens": WORDS, "unknown": 1})
    graph = {**_graph(), "inputs": _graph()["inputs"][1:]}  # words and lengths
    raw = raw_rows({"instances": ["Angela visited İstanbul"]}, graph, words_only, Limits(), {"lengths"})
    assert list(raw.rows[0]) == ["words"] and raw.rows[0]["words"].tolist() == [2, 4, 1]
    assert raw.words[0].offsets == [(0, 6), (7, 14), (15, 23)]


def test_a_words_tokenizer_without_the_new_keys_behaves_as_before():
    old = Tokenizer({"kind": "words", "pattern": r"[a-z']+", "lowercase": True}, {"tokens": WORDS, "unknown": 1})
    assert not old.offsets
    assert old.encode("Angela VISITED Zürich") == [2, 4, 1, 1]  # the whole text lower-cased, then split
    graph = {"inputs": [{"name": "tokens", "dtype": "int64", "shape": ["batch", "time"]}, {"name": "lengths", "dtype": "int64", "shape": ["batch"]}],
             "outputs": [{"name": "logits", "dtype": "float32", "shape": ["batch", 2]}]}  # fmt: skip
    raw = raw_rows({"instances": ["Angela visited"]}, graph, old, Limits(), {"lengths"})
    assert raw.rows[0]["tokens"].tolist() == [2, 4] and raw.words == []


@pytest.mark.parametrize("text, status, words", [
    ("", 422, "is empty"),
    (" \t\n ", 422, "is empty"),
    ("☃ ☂ ☄", 422, "no word or character the model knows"),
    ("Paris \ud800", 422, "lone surrogate"),
    (42, 422, "must be a string"),
])  # fmt: skip
def test_hostile_text_is_one_line_4xx(text, status, words):
    with pytest.raises(RequestError) as caught:
        _rows("Paris", text)
    assert caught.value.status == status and words in str(caught.value) and "\n" not in str(caught.value)
    assert str(caught.value).startswith("instance 1")


def test_limits_count_words_before_any_array_is_built(monkeypatch):
    def no_arrays(*_: Any) -> None:
        raise AssertionError("arrays built for a request past the limits")

    monkeypatch.setattr(Tokenizer, "encode_words", no_arrays)
    huge = "Paris " * 2_000_000  # 12 MB, 2 million words: refused after 11 of them
    with pytest.raises(RequestError, match=r"has more than 10 words; the limit is 10 \(--max-sequence\)") as caught:
        _rows(huge, limits=Limits(max_sequence=10))
    assert caught.value.status == 413
    with pytest.raises(RequestError, match=r"hold 12 steps in all; the limit is 10 per request \(--max-tokens\)"):
        _rows("Paris " * 12, limits=Limits(max_tokens=10))


# --- the reply: spans from hand-made logits ------------------------------------------------

def test_entities_with_offsets_type_and_score():
    text = "Angela Merkel visited Paris."
    reply = _spans(text, ["B-PER", "I-PER", "O", "B-LOC", "O"])
    assert [(e["text"], e["type"], e["start"], e["end"]) for e in reply["entities"]] == [("Angela Merkel", "PER", 0, 13), ("Paris", "LOC", 22, 27)]
    assert all(text[e["start"]:e["end"]] == e["text"] for e in reply["entities"] + reply["tokens"])
    assert [t["tag"] for t in reply["tokens"]] == ["B-PER", "I-PER", "O", "B-LOC", "O"]
    assert reply["entities"][0]["score"] == pytest.approx(1 / (1 + 4 * np.exp(-8.0)))  # logit 4 against four of -4


def test_the_tags_are_the_likeliest_valid_sequence_not_each_tokens_argmax():
    """Argmax would say B-PER I-LOC (conlleval: PER "Angela", LOC "Merkel"); the likeliest valid
    sequence is B-PER I-PER (4 + 3.5 against B-LOC I-LOC's 3 + 4), as the training task decodes."""
    logits = _logits(["B-PER", "I-LOC", "O"])
    logits[0, LABELS.index("B-LOC")] = 3.0
    logits[1, LABELS.index("I-PER")] = 3.5
    words = _rows("Angela Merkel visited").words[0]
    reply = task_result("tagging", {"logits": logits}, _graph()["outputs"], LABELS, _tokenizer(), 5, words)
    assert [t["tag"] for t in reply["tokens"]] == ["B-PER", "I-PER", "O"]
    assert [(e["text"], e["type"]) for e in reply["entities"]] == [("Angela Merkel", "PER")]


def test_a_sentence_never_starts_inside_an_entity_and_a_trailing_entity_ends_the_text():
    text = "Angela Merkel visited Paris Berlin"
    reply = _spans(text, ["I-PER", "I-PER", "O", "B-LOC", "I-LOC"])  # I-PER first: read as B-PER
    assert [t["tag"] for t in reply["tokens"]][:2] == ["B-PER", "I-PER"]
    assert [(e["text"], e["type"]) for e in reply["entities"]] == [("Angela Merkel", "PER"), ("Paris Berlin", "LOC")]
    assert reply["entities"][-1]["end"] == len(text)


def test_the_score_is_the_mean_probability_of_the_span_tags():
    logits = _logits(["B-PER", "I-PER", "O"])
    logits[1, LABELS.index("O")] = 3.0  # Merkel: I-PER, less sure
    words = _rows("Angela Merkel visited").words[0]
    reply = task_result("tagging", {"logits": logits}, _graph()["outputs"], LABELS, _tokenizer(), 5, words)
    probabilities = np.exp(logits.astype(np.float64)) / np.exp(logits.astype(np.float64)).sum(-1, keepdims=True)
    assert reply["entities"][0]["score"] == pytest.approx((probabilities[0, 1] + probabilities[1, 2]) / 2)
    outputs = [{**_graph()["outputs"][0], "meaning": "probability"}]  # an output that already holds probabilities
    given = task_result("tagging", {"logits": probabilities}, outputs, LABELS, _tokenizer(), 5, words)
    assert given["entities"][0]["score"] == pytest.approx(reply["entities"][0]["score"])


def test_padded_steps_are_never_reported():
    reply = _spans("Angela visited", ["B-PER", "O"], steps=3)  # three padded steps that would say B-LOC
    assert len(reply["tokens"]) == 2 and [e["text"] for e in reply["entities"]] == ["Angela"]


def test_a_tagger_without_iob_labels_keeps_its_reply():
    hello = Tokenizer({"kind": "characters"}, {"tokens": ["e", "h", "l", "o"], "unknown": None})
    logits = np.eye(4, dtype=np.float32)[[3, 1, 2, 3, 2]]
    outputs = [{"name": "logits", "dtype": "float32", "shape": ["batch", "time", 4]}]
    assert task_result("tagging", {"logits": logits}, outputs, None, hello) == {"tokens": [3, 1, 2, 3, 2], "text": "ohlol"}


def test_the_reply_size_estimate_bounds_the_reply():
    """Every word an entity of the longest tag, escaped characters: the estimate still holds."""
    long_labels = ["O", "B-" + "X" * 40, "I-" + "X" * 40]
    text = '\\"\x01 ' * 50 + " ".join(["Ünïcödé"] * 100) + " 😀"
    tokenizer = _tokenizer(characters={"input": "chars", "width": WIDTH, "vocabulary": {"tokens": CHARS + ["\\", '"', "\x01"], "unknown": 1}})
    words = tokenizer.split(text, 10_000)
    logits = np.zeros((len(words), 3), dtype=np.float32)
    logits[:, 1] = 1.0  # B- everywhere: one entity per word
    outputs = [{"name": "logits", "dtype": "float32", "shape": ["batch", "time", 3]}]
    reply = task_result("tagging", {"logits": logits}, outputs, long_labels, tokenizer, 5, words)
    assert len(reply["entities"]) == len(words)
    written = len(json.dumps(reply, ensure_ascii=False, separators=(",", ":")).encode())  # as the server writes it
    assert written <= span_bytes([words], long_labels) <= 4 * written
    assert json_bytes('a"\x01') == len(b'"a\\"\\u0001"')


def test_the_command_line_shows_the_entities():
    reply = _spans("Angela Merkel visited Paris.", ["B-PER", "I-PER", "O", "B-LOC", "O"])
    score = 1 / (1 + 4 * np.exp(-8.0))  # each tag's probability: logit 4 against four of -4
    assert describe("tagging", reply) == f"PER 'Angela Merkel' [0:13] {score:.4f}; LOC 'Paris' [22:27] {score:.4f}"
    assert describe("tagging", _spans("visited Paris", ["O", "O"])) == "no entities in 2 words"


# --- the manifest's record, checked at load ------------------------------------------------

def _manifest(tokenizer: Any) -> Dict[str, Any]:
    return {"model": {"name": "bilstm-tagger", "task": "tagging"}, "graphs": {"forward": _graph()}, "state_pairs": [],
            "ragged": [{"lengths": "lengths", "sequence": "words"}], "labels": LABELS,
            "vocabulary": {"tokens": WORDS, "unknown": 1}, "tokenizer": tokenizer}  # fmt: skip


def test_the_record_of_the_data_set_passes():
    check_manifest(Path("b"), _manifest(_record()))


@pytest.mark.parametrize("change, words", [
    ({"pattern": "(unclosed"}, "pattern does not compile"),
    ({"pattern": r"\w*"}, "matches the empty string"),
    ({"lowercase": "yes"}, "lowercase is 'yes'"),
    ({"words_input": "tokens"}, "words_input 'tokens' is not an int64 (batch, time) forward input"),
    ({"words_input": "lengths"}, "words_input 'lengths' is not an int64 (batch, time)"),
    ({"characters": ["chars"]}, "characters record is ['chars']"),
    ({"characters": {"input": "words", "width": WIDTH, "vocabulary": {"tokens": CHARS, "unknown": 1}}}, "input 'words' is not an int64 (batch, time, width)"),
    ({"characters": {"input": "chars", "width": 0, "vocabulary": {"tokens": CHARS, "unknown": 1}}}, f"width is 0, not a number of characters in [1, {MAX_CHAR_WIDTH}]"),
    ({"characters": {"input": "chars", "width": 10**9, "vocabulary": {"tokens": CHARS, "unknown": 1}}}, "width is 1000000000"),
    ({"characters": {"input": "chars", "width": True, "vocabulary": {"tokens": CHARS, "unknown": 1}}}, "width is True"),
    ({"characters": {"input": "chars", "width": 7, "vocabulary": {"tokens": CHARS, "unknown": 1}}}, "width 7 but its input 'chars' has shape"),
    ({"characters": {"input": "chars", "width": WIDTH, "vocabulary": {"tokens": CHARS, "unknown": 0}}}, "unknown: null or an index past the padding 0"),
    ({"characters": {"input": "chars", "width": WIDTH, "vocabulary": {"tokens": [1, 2]}}}, "vocabulary is not {tokens: [strings]"),
    ({"characters": {"input": "chars", "width": WIDTH}}, "vocabulary is not"),
    ({"characters": {"input": "chars", "width": WIDTH, "vocabulary": {"tokens": CHARS + ["x"], "unknown": 1}}}, "17 characters in its characters vocabulary but its input 'chars' takes ids below 16"),
])  # fmt: skip
def test_a_broken_characters_record_refuses_the_bundle_in_one_line(change, words):
    with pytest.raises(BundleError) as caught:
        check_manifest(Path("b"), _manifest(_record(**change)))
    message = str(caught.value)
    assert words in message and "\n" not in message and message.endswith("; export it again")


# --- a real exported bilstm-tagger bundle: over HTTP and `zoo predict` ----------------------
# Seeded fresh weights (``from_data``, as tests/serve/conftest.py's bundles) with the data set's
# tokenizer, vocabularies and labels: its tags are arbitrary but fixed, and tag many entities,
# which is what the offsets need. Which spans it finds is checked against the model run offline
# on the data set's OWN encoding of a test sentence, so serving tokenizes as training did.


@pytest.fixture(scope="session")
def tagger_bundle(tmp_path_factory) -> Path:
    from export.bundle import export_bundle
    from export.source import from_data

    source = from_data("bilstm-tagger", hidden_size=16, word_dim=16, char_features=8)
    return export_bundle(source, tmp_path_factory.mktemp("tagger") / "bilstm-tagger", verify=False).bundle


@pytest.fixture(scope="module")
def tagger_server(tagger_bundle):
    from tests.serve.conftest import running_server

    with running_server([tagger_bundle]) as (url, _):
        yield url + "/v1/models/bilstm-tagger/predict"


def _test_sentence(pattern: str):
    """The first test sentence of uner-ewt with an entity whose tokens, joined by spaces, split
    back into themselves; with its index in the split."""
    import re

    from zoo.data import load_dataset

    split = load_dataset("uner-ewt").splits["test"]
    for index, tokens in enumerate(split.tokens):
        if len(tokens) >= 6 and any(t != 0 for t in split.tags[index]) and re.findall(pattern, " ".join(tokens)) == tokens:
            return split, index
    raise AssertionError("no test sentence splits back into its own tokens")


def _expected_entities(bundle: Path, split, index: int) -> List[Dict[str, Any]]:
    """The entities of the bundle's ONNX model run on the data set's encoding of the sentence."""
    import onnxruntime as ort
    import torch

    from zoo.entities import best_tags, spans

    manifest = json.loads((bundle / "manifest.json").read_text())
    width = manifest["tokenizer"]["characters"]["width"]
    tokens = split.tokens[index]
    chars = np.zeros((1, len(tokens), width), dtype=np.int64)
    for step, word in enumerate(split.chars[index]):
        chars[0, step, : len(word[:width])] = word[:width]
    feeds = {"words": np.array([split.words[index]], dtype=np.int64), "chars": chars, "lengths": np.array([len(tokens)], dtype=np.int64)}
    logits = torch.from_numpy(ort.InferenceSession(str(bundle / "model.onnx"), providers=["CPUExecutionProvider"]).run(None, feeds)[0][0])
    log_probabilities = torch.log_softmax(logits.double(), -1)
    best = best_tags(log_probabilities.tolist(), manifest["labels"])  # as the training task decodes
    chosen = log_probabilities.exp()[torch.arange(len(best)), best].numpy()
    starts = np.cumsum([0] + [len(t) + 1 for t in tokens])  # offsets in " ".join(tokens)
    return [{"text": " ".join(tokens[first:last]), "type": kind, "start": int(starts[first]), "end": int(starts[last - 1] + len(tokens[last - 1])),
             "score": float(chosen[first:last].mean())} for kind, first, last in spans([manifest["labels"][i] for i in best])]  # fmt: skip


def _approx(entities: List[Dict[str, Any]], tolerance: float = 1e-5) -> List[Dict[str, Any]]:
    """``entities`` with each score compared within ``tolerance`` (the rest exactly)."""
    return [{**e, "score": pytest.approx(e["score"], abs=tolerance)} for e in entities]


def _consistent(text: str, result: Dict[str, Any], labels: List[str]) -> None:
    """Offsets, types and tags of one reply agree with the text, the labels and each other."""
    tokens = result["tokens"]
    assert all(text[t["start"]:t["end"]] == t["text"] and t["tag"] in labels for t in tokens)
    assert all(a["end"] <= b["start"] for a, b in zip(tokens, tokens[1:]))
    bounds = {t["start"] for t in tokens}, {t["end"] for t in tokens}
    for entity in result["entities"]:
        assert text[entity["start"]:entity["end"]] == entity["text"] and f"B-{entity['type']}" in labels
        assert entity["start"] in bounds[0] and entity["end"] in bounds[1] and 0 < entity["score"] <= 1


def test_served_spans_are_the_models_on_the_training_encoding(tagger_bundle, tagger_server):
    import httpx

    manifest = json.loads((tagger_bundle / "manifest.json").read_text())
    split, index = _test_sentence(manifest["tokenizer"]["pattern"])
    sentence = " ".join(split.tokens[index])
    odd = "  Zoë\u0301 met שלום in Zürich 😀 — O'Brien's   "  # a combining accent, right-to-left, an emoji
    together = httpx.post(tagger_server, json={"instances": [odd, sentence, "Angela Merkel visited Paris."]}, timeout=60)
    alone = httpx.post(tagger_server, json={"instances": [sentence]}, timeout=60)
    assert together.status_code == 200 and alone.status_code == 200, together.text + alone.text
    results = together.json()["results"]
    for text, result in zip([odd, sentence, "Angela Merkel visited Paris."], results):
        _consistent(text, result, manifest["labels"])
    served = results[1]
    assert [t["text"] for t in served["tokens"]] == split.tokens[index]
    expected = _expected_entities(tagger_bundle, split, index)
    assert expected, "the seeded model tags no entity in the sentence: pick another seed or sentence"
    assert served["entities"] == _approx(expected)
    assert alone.json()["results"][0] == {**served, "entities": _approx(served["entities"], 1e-6)}  # padded in a batch = alone


@pytest.mark.parametrize("body, status, words", [
    pytest.param('{"instances": [""]}', 422, "is empty", id="empty"),
    pytest.param('{"instances": ["  \\t "]}', 422, "is empty", id="blank"),
    pytest.param('{"instances": ["\\u2603 \\u2602"]}', 422, "no word or character the model knows", id="unknown"),
    pytest.param('{"instances": ["Paris \\ud800"]}', 422, "lone surrogate", id="surrogate"),
    pytest.param('{"instances": [["Paris"]]}', 422, "must be a string", id="not-text"),
    pytest.param(json.dumps({"instances": ["Paris " * 5000]}), 413, "(--max-sequence)", id="long"),
    pytest.param(json.dumps({"instances": ["Paris " * 3000] * 3}), 413, "(--max-tokens)", id="many"),
    # 1 MB of one sign: words are found up to the limit, and finding each costs no rescan of the rest
    pytest.param(json.dumps({"instances": ["+" * 1_000_000]}), 413, "(--max-sequence)", id="signs"),
    pytest.param(json.dumps({"instances": ["a" * 1_500_000]}), 413, "(--max-reply-kb)", id="one-huge-word"),  # echoed back
])  # fmt: skip
def test_hostile_text_over_http_is_a_one_line_4xx(tagger_server, body, status, words):
    import time

    import httpx

    start = time.perf_counter()
    reply = httpx.post(tagger_server, content=body, headers={"content-type": "application/json"}, timeout=60)
    assert reply.status_code == status, reply.text
    message = reply.json()["error"]["message"]
    assert words in message and "\n" not in message
    assert time.perf_counter() - start < 3  # refused before the cost: no quadratic tokenizing, no model run


def test_zoo_predict_prints_the_served_entities(tagger_bundle, tagger_server):
    import httpx
    from typer.testing import CliRunner

    from zoo.cli import app

    text = "Angela Merkel visited Paris with Barack Obama."
    served = httpx.post(tagger_server, json={"instances": [text]}, timeout=60).json()["results"][0]
    runner = CliRunner()
    as_json = runner.invoke(app, ["predict", str(tagger_bundle), text, "--json", "--allow-unverified"])
    assert as_json.exit_code == 0, as_json.output
    local = json.loads(as_json.stdout)
    assert local.pop("input") == text and local["tokens"] == served["tokens"]
    assert local["entities"] == _approx(served["entities"], 1e-6)
    shown = runner.invoke(app, ["predict", str(tagger_bundle), text, "--allow-unverified"])
    assert shown.exit_code == 0 and shown.stdout.strip() == f"{json.dumps(text)}  ->  {describe('tagging', local)}"
    empty = runner.invoke(app, ["predict", str(tagger_bundle), "   ", "--allow-unverified"])
    assert empty.exit_code == 2 and "is empty" in empty.output


def test_a_bundle_with_a_broken_characters_record_is_refused_at_load(tagger_bundle, tmp_path):
    import shutil

    from serve.model import load_model

    broken = tmp_path / "broken"
    shutil.copytree(tagger_bundle, broken)
    manifest = json.loads((broken / "manifest.json").read_text())
    manifest["tokenizer"]["characters"]["width"] = 21  # the chars input reads 20
    (broken / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match=r"characters record of width 21 but its input 'chars' has shape \['batch', 'time', 20\]"):
        load_model(broken, "onnxruntime", allow_unverified=True)
