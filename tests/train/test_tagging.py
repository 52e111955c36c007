"""The tagging task on named entities: padded steps give no loss and no prediction, the decoding
to valid IOB2 tags, entity F1 through the task's label ids, the best epoch by F1, and the
per-type table a run writes. (Span extraction itself: tests/test_entities.py.)"""

import json
import math

import pytest
import torch
from torch.nn import functional as F

from tests.data.uner_files import write_uner
from zoo.data import load_dataset
from zoo.entities import best_tags
from zoo.registry import get_spec
from zoo.train import rundir, tasks
from zoo.train.loop import train
from zoo.train.request import TrainRequest

SMALL = {"word_dim": 8, "char_dim": 4, "char_features": 6, "hidden_size": 5}


@pytest.fixture(scope="module")
def task(tmp_path_factory):
    data = load_dataset("uner-ewt", str(write_uner(tmp_path_factory.mktemp("uner"))))
    spec = get_spec("bilstm-tagger")
    config = spec.make_config(vocab_size=data.dims["vocab"], char_vocab_size=data.dims["characters"], **SMALL)
    return tasks.make_task(spec, config, data, torch.device("cpu"))


def test_padded_steps_give_no_loss(task):
    (words, chars, lengths), target = batch = task.collate(task.data.splits["train"], [0, 1])
    assert lengths.tolist() == [7, 4] and words.shape == (2, 7) and chars.shape == (2, 7, 20)
    assert (target[1, 4:] == -100).all() and (words[1, 4:] == 0).all() and (chars[1, 4:] == 0).all()
    logits = torch.randn(2, 7, 7)
    terms = task.loss(lambda *args: logits, batch)
    expected = sum(F.cross_entropy(logits[r, :n], target[r, :n], reduction="sum") for r, n in enumerate([7, 4]))
    torch.testing.assert_close(terms.total, expected)
    assert float(terms.count) == 11 and terms.items == 11
    screaming = logits.clone()
    screaming[1, 4:] = 1e4  # padding: any value at all
    torch.testing.assert_close(task.loss(lambda *args: screaming, batch).total, expected)


def test_padded_steps_give_no_prediction(task):
    """A model that says O on every real token and B-PER on every padded step finds nothing."""
    person = task.data.labels.index("B-PER")

    def model(words, chars, lengths):
        logits = torch.zeros(*words.shape, 7)
        logits[..., 0] = 1.0
        padded = torch.arange(words.size(1)) >= lengths.unsqueeze(1)
        logits[padded] = torch.eye(7)[person] * 100
        return logits

    split = task.data.splits["val"]
    assert len({len(tags) for tags in split.tags}) > 1, "the split must hold sentences of several lengths"
    metrics = task.evaluate(model, "val")
    assert metrics["entities"]["micro"]["predicted"] == 0 and metrics["f1"] == 0.0
    outside = sum(t == 0 for tags in split.tags for t in tags) / sum(map(len, split.tags))
    assert metrics["token_accuracy"] == pytest.approx(outside)


def test_entity_f1_from_tag_ids(task):
    ids = {label: i for i, label in enumerate(task.data.labels)}
    gold = [["B-PER", "I-PER", "O", "B-LOC"], ["B-ORG", "O"]]
    guess = [["B-PER", "O", "O", "B-LOC"], ["I-ORG", "O"]]  # a short PER; an I- that starts ORG
    metrics = task.metrics([[ids[t] for t in s] for s in gold], [[ids[t] for t in s] for s in guess], loss_sum=3.0)
    # gold PER(0-1) LOC(3) ORG(0); found PER(0) wrong, LOC(3) and ORG(0) right: 2 of 3 each way.
    assert metrics["precision"] == metrics["recall"] == metrics["f1"] == pytest.approx(2 / 3)
    assert metrics["token_accuracy"] == pytest.approx(4 / 6) and metrics["loss"] == pytest.approx(0.5)
    per_type = metrics["entities"]
    assert per_type["PER"]["f1"] == 0.0 and per_type["LOC"]["f1"] == per_type["ORG"]["f1"] == 1.0


def _log_probabilities(rows, labels):
    """Per-token log-probabilities from {tag: probability} rows (the rest share what is left)."""
    table = []
    for row in rows:
        rest = (1.0 - sum(row.values())) / (len(labels) - len(row))
        table.append([math.log(row.get(label, rest)) for label in labels])
    return table


@pytest.mark.parametrize(
    "rows,argmax,best",
    [  # argmax's "O I-PER" (a span starting at I-) becomes the likelier valid "B-PER I-PER"
        ([{"O": 0.5, "B-PER": 0.45}, {"I-PER": 0.5, "O": 0.3}, {"O": 0.9}], ["O", "I-PER", "O"], ["B-PER", "I-PER", "O"]),
        # a type change inside a run: the likelier of the two consistent readings
        ([{"B-PER": 0.6, "B-LOC": 0.3}, {"I-LOC": 0.5, "I-PER": 0.4}], ["B-PER", "I-LOC"], ["B-PER", "I-PER"]),
        ([{"I-PER": 0.9, "B-PER": 0.05}], ["I-PER"], ["B-PER"]),  # never an I- first
        ([{"B-PER": 0.9}, {"B-PER": 0.9}], ["B-PER", "B-PER"], ["B-PER", "B-PER"]),  # valid: kept
    ],
)
def test_decoding_picks_the_likeliest_valid_iob2_sequence(rows, argmax, best):
    labels = ["O", "B-LOC", "I-LOC", "B-ORG", "I-ORG", "B-PER", "I-PER"]
    table = _log_probabilities(rows, labels)
    assert [labels[max(range(7), key=row.__getitem__)] for row in table] == argmax
    assert [labels[i] for i in best_tags(table, labels)] == best
    assert best_tags([], labels) == []


def test_the_data_kind_picks_the_class_and_the_rule():
    assert tasks.task_class("tagging", "tagged") is tasks.EntityTaggingTask
    assert tasks.task_class("tagging", "pairs") is tasks.TaggingTask
    assert tasks.selection_rule("tagging", "tagged") == "highest validation f1 (a tie: the lower validation loss)"
    assert tasks.selection_rule("tagging", "pairs") == "highest validation accuracy (a tie: the lower validation loss)"
    both = tasks.selection_rule("tagging")
    assert "accuracy (a tie: the lower validation loss) on pairs data" in both and "f1" in both
    hello = get_spec("hello-rnncell")
    with pytest.raises(ValueError, match="hello-rnncell takes tokens, h_0; tagging 'uner-ewt' needs a model that takes 'words'"):
        tasks.make_task(hello, hello.make_config(), load_dataset("uner-ewt"), torch.device("cpu"))
    tagger = get_spec("bilstm-tagger")
    with pytest.raises(ValueError, match="bilstm-tagger takes words, chars; tagging 'hello' \\(pairs\\) needs a model that reads one"):
        tasks.make_task(tagger, tagger.make_config(), load_dataset("hello"), torch.device("cpu"))


def test_a_run_picks_by_f1_and_writes_the_per_type_table(tmp_path):
    out = tmp_path / "run"
    overrides = {**SMALL, "char_encoder": "lstm"}  # the variant the recipe does not train
    result = train(TrainRequest("bilstm-tagger", data=str(write_uner(tmp_path / "uner")), overrides=overrides, epochs=2, out=out))
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    best = max(rows[:2], key=lambda r: (r["val"]["f1"], -r["val"]["loss"]))
    assert rows[2]["best_epoch"] == best["epoch"] and set(rows[2]["entities"]) == {"LOC", "ORG", "PER", "micro"}
    assert result.test["f1"] == rows[2]["f1"]
    table = (out / "entities.md").read_text()
    assert "| type | precision | recall | F1 | gold | predicted | correct |" in table
    assert "| PER |" in table and "| micro |" in table and not (out / "confusion.png").exists()
    # entities.md is a run's own file: --overwrite replaces the run (it used to call the folder
    # "not a run directory").
    rundir.check_out(out, resume=False, overwrite=True)
