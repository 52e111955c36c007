"""The data sets: documented split sizes, no leakage, seeded, and clear errors on bad files."""

import gzip
import re

import pytest
import torch

from zoo.data import DataFormatError, Vocabulary, dataset_names, load_dataset
from zoo.data.text_data import tokenize_words

# The sizes documented in zoo/data/README.md (seed 0).
SIZES = {
    "names": {"train": 14415, "val": 1794, "test": 1804},
    "tinyshakespeare": {"train": 1003854, "val": 55770, "test": 55770},
    "sentiment": {"train": 2400, "val": 300, "test": 300},
    "mnist": {"train": 8000, "val": 1000, "test": 1000},
    "diabetes": {"train": 532, "val": 113, "test": 113},
    "airline": {"train": 94, "val": 24, "test": 24},
    "hello": {"train": 1, "val": 1, "test": 1},
    "seq-reverse": {"train": 8000, "val": 1000, "test": 1000},
    "regression-toy": {"train": 80, "val": 10, "test": 10},
    "uner-ewt": {"train": 1750, "val": 251, "test": 2077},
    "copy-first": {"train": 4000, "val": 500, "test": 500},
    "copy-marked": {"train": 4000, "val": 500, "test": 500},
}


def test_every_data_set_is_documented():
    assert sorted(SIZES) == dataset_names()


@pytest.mark.parametrize("name", sorted(SIZES))
def test_split_sizes_and_seeded_loading(name):
    data = load_dataset(name)
    assert data.sizes() == SIZES[name]
    again = load_dataset(name)
    assert again.metadata() == data.metadata()


def test_names_split_keeps_every_name_on_one_side():
    data = load_dataset("names")
    sides = {
        split: {"".join(data.vocab.decode(ids)) for ids in data.splits[split].ids}
        for split in ("train", "val", "test")
    }
    assert not sides["train"] & sides["test"]
    assert not sides["train"] & sides["val"]
    assert not sides["val"] & sides["test"]
    assert len(data.labels) == 18 and data.dims == {"vocab": len(data.vocab), "classes": 18}
    # Deduplicated within a language: no (name, language) pair twice.
    pairs = [(tuple(i), l) for s in data.splits.values() for i, l in zip(s.ids, s.labels)]
    assert len(pairs) == len(set(pairs)) == 18013


def test_names_split_is_stratified():
    data = load_dataset("names")
    everything = [label for split in data.splits.values() for label in split.labels]
    for language in range(18):
        share = everything.count(language) / len(everything)
        for split in data.splits.values():
            assert abs(split.labels.count(language) / len(split.labels) - share) < 0.01


def test_another_seed_gives_another_split():
    assert load_dataset("names", seed=1).splits["test"].ids != load_dataset("names").splits["test"].ids


def test_sentiment_vocabulary_comes_from_train_only():
    data = load_dataset("sentiment")
    test_ids = {i for ids in data.splits["test"].ids for i in ids}
    assert 1 in test_ids, "some test words are unknown to a train-only vocabulary"
    assert data.vocab.tokens[:2] == ["<pad>", "<unk>"]


def test_mnist_is_normalised_digits():
    data = load_dataset("mnist")
    images = data.splits["train"].inputs
    assert images.shape == (8000, 1, 28, 28) and images.dtype == torch.float32
    assert abs(images.mean().item()) < 0.2  # normalised with MNIST's mean and std
    assert sorted(set(data.splits["test"].targets.tolist())) == list(range(10))


def test_generated_sets():
    hello = load_dataset("hello")
    assert "".join(hello.vocab.decode(hello.splits["train"].targets[0])) == "ohlol"
    reverse = load_dataset("seq-reverse")
    src, tgt = reverse.splits["train"].sources[0], reverse.splits["train"].targets[0]
    assert tgt == src[::-1] + [2]
    toy = load_dataset("regression-toy")
    torch.testing.assert_close(toy.splits["train"].targets, 2 * toy.splits["train"].inputs)
    passed = load_dataset("regression-toy", binary=True)
    assert set(passed.splits["train"].targets.view(-1).tolist()) == {0.0, 1.0}


def test_vocabulary_round_trip():
    vocab = Vocabulary(["<pad>", "<unk>", "a", "b"], unknown=1)
    assert Vocabulary.from_dict(vocab.to_dict()).encode(["a", "z"]) == [2, 1]


def test_user_files_in_the_same_format(tmp_path):
    (tmp_path / "Elvish.txt").write_text("Elrond\nGaladriel\nArwen\n\n", encoding="utf-8")
    (tmp_path / "Dwarvish.txt").write_text("\n".join(f"Gimli{i}" for i in range(30)), encoding="utf-8")
    data = load_dataset("names", str(tmp_path))
    assert data.labels == ["Dwarvish", "Elvish"]
    assert sum(data.sizes().values()) == 33
    assert data.source == str(tmp_path.resolve())
    elvish = data.labels.index("Elvish")
    for split in data.splits.values():  # 3 names: one in each split, even at 10% each
        assert split.labels.count(elvish) == 1


@pytest.mark.parametrize(
    "name,filename,content,message",
    [
        ("sentiment", "x_labelled.txt", "good movie\t1\nno label here\n", r"x_labelled.txt:2: expected 'sentence<TAB>0'"),
        ("sentiment", "x_labelled.txt", "good movie\t7\n", r"x_labelled.txt:1: expected"),
        ("diabetes", "d.csv", "1,2,3,4,5,6,7,8,0\n1,2,x,4,5,6,7,8,1\n", r"d.csv:2: column 3 is 'x', not a number$"),
        ("diabetes", "d.csv", "1,2,3,4,5,6,7,8,0\n1,nan,3,4,5,6,7,8,1\n", r"d.csv:2: column 2 is nan, not a finite number$"),
        ("diabetes", "d.csv", "1,2,3,4,5,6,7,1e400,0\n", r"d.csv:1: column 8 is 1e400, not a finite number$"),
        ("diabetes", "d.csv", "1,2,3,4,5,6,7,8,7\n", r"d.csv:1: the outcome \(column 9\) is 7; it must be 0 or 1$"),
        ("diabetes", "d.csv", "1,2,3,4,5,6,7,8,9,0\n", r"d.csv:1: expected 9 values \(8 features and a 0/1 outcome\), got 10$"),
        ("diabetes", "d.csv", "1,2,3,4,5,6,7,8,0\n" * 5 + "1,2,3,4,5,6,7,8,1\n" * 2,
         r"d.csv: outcome 'diabetes \(1\)' has 2 rows; every outcome needs at least 3 \(one per split"),
        ("airline", "a.csv", "Month,Passengers\n1949-01,112\n1949-02,lots\n", r"a.csv:3: the passenger count \(last column\) is 'lots', not a number$"),
        ("airline", "a.csv", "Month,Passengers\n1949-01,112\n1949-02,inf\n", r"a.csv:3: the passenger count \(last column\) is inf, not a finite number$"),
        ("airline", "a.csv", "Month,Passengers\n1949-01,112\n", r"a.csv: holds 1 months"),
        ("names", "Empty.md", "x", r"holds no <Language>.txt files"),
        ("tinyshakespeare", "input.txt", "to be", r"input.txt: holds only 6 characters"),
    ],
)
def test_malformed_files_name_the_file_and_line(tmp_path, name, filename, content, message):
    (tmp_path / filename).write_text(content, encoding="utf-8")
    target = tmp_path if name in ("names", "sentiment") else tmp_path / filename
    with pytest.raises(DataFormatError, match=message):
        load_dataset(name, str(target))


@pytest.mark.parametrize(
    "files,message",
    [
        ({"Elvish.txt": "", "Dwarvish.txt": "Gimli\nGloin\nOin\n"}, r"language 'Elvish' has 0 surnames; every language needs at least 3"),
        ({"Elvish.txt": "Elrond\nArwen\n"}, r"language 'Elvish' has 2 surnames; every language needs at least 3 \(one per split"),
        ({"Elvish.txt": "Elrond\nArwen\nLegolas\n"}, r"holds 1 language\(s\); a classifier needs at least 2"),
        ({"a_labelled.txt": "good\t1\nbad\t0\n" * 3, "b_labelled.txt": "\n"}, r"b_labelled.txt: holds no labelled sentences"),
        ({"a_labelled.txt": "good\t1\n" * 5 + "bad\t0\n"}, r"class 'negative' has 1 sentences; every class needs at least 3"),
    ],
)
def test_too_few_examples_of_a_class_name_the_class(tmp_path, files, message):
    """Before: a language of 2 names failed inside torch.cat, an empty one trained silently."""
    for name, content in files.items():
        (tmp_path / name).write_text(content, encoding="utf-8")
    kind = "sentiment" if "_labelled" in next(iter(files)) else "names"
    with pytest.raises(DataFormatError, match=message) as error:
        load_dataset(kind, str(tmp_path))
    assert "\n" not in str(error.value)


def test_mnist_label_outside_the_digits(tmp_path):
    (tmp_path / "t10k-images-idx3-ubyte").write_bytes(b"\x00\x00\x08\x03" + (2).to_bytes(4, "big") + (28).to_bytes(4, "big") * 2 + bytes(2 * 784))
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(b"\x00\x00\x08\x01" + (2).to_bytes(4, "big") + bytes([3, 17]))
    with pytest.raises(DataFormatError, match=r"t10k-labels-idx1-ubyte: label 17 \(item 2\) is not a digit 0-9"):
        load_dataset("mnist", str(tmp_path))


def test_malformed_mnist(tmp_path):
    (tmp_path / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(b"\x00\x00\x08\x01" + bytes(12)))
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(b"\x00\x00\x08\x01" + bytes(4))
    with pytest.raises(DataFormatError, match=r"t10k-images-idx3-ubyte.gz: is not an IDX image file"):
        load_dataset("mnist", str(tmp_path))


def test_non_utf8_text_names_the_line(tmp_path):
    (tmp_path / "Latin.txt").write_bytes(b"Marcus\nJ\xfalius\n")
    with pytest.raises(DataFormatError, match=r"Latin.txt:2: is not UTF-8"):
        load_dataset("names", str(tmp_path))


def test_unknown_data_set_and_missing_path():
    with pytest.raises(ValueError, match=r"unknown data set 'name' \(did you mean 'names'\?\)"):
        load_dataset("name")
    with pytest.raises(ValueError, match="no such file or directory"):
        load_dataset("names", "/no/such/place")
    with pytest.raises(ValueError, match="generated from the seed; drop --data"):
        load_dataset("hello", "/tmp")


def test_tokenizer_description_reproduces_the_tokenization():
    """A server meets raw text: the metadata's tokenizer must give the tokens the data used."""
    words = load_dataset("sentiment").metadata()["tokenizer"]
    text = "Not bad at ALL -- I'd say it's great!"
    assert words["kind"] == "words" and words["lowercase"]
    assert re.findall(words["pattern"], text.lower()) == tokenize_words(text)
    for name in ("names", "tinyshakespeare", "hello", "seq-reverse"):
        assert load_dataset(name).metadata()["tokenizer"] == {"kind": "characters"}
