"""uner-ewt: whole documents held out for validation, vocabularies from train, the tokenizer
record a server reads, and malformed files named by file and line."""

import re

import pytest

from tests.data.uner_files import DEV_DOCUMENTS, write_uner
from zoo.data import BUNDLED, DataFormatError, load_dataset
from zoo.data.uner import held_out_documents, read_iob2


def test_documents_are_held_out_whole_and_vocabularies_come_from_train(tmp_path):
    data = load_dataset("uner-ewt", str(write_uner(tmp_path / "uner")))
    assert data.kind == "tagged" and data.sizes() == {"train": 14, "val": 2, "test": 2}
    # The held-out document's two sentences are the validation split: its own word "Bob<d>".
    val_tokens = data.splits["val"].tokens
    held = [d for d in DEV_DOCUMENTS if any(f"Bob{d[-1]}" in s for s in val_tokens)]
    assert len(held) == 1 and val_tokens == [[t for t, _ in s] for s in DEV_DOCUMENTS[held[0]]]
    assert not any(f"Bob{held[0][-1]}" in s for s in data.splits["train"].tokens)
    vocab = data.vocab
    assert vocab.tokens[:2] == ["<pad>", "<unk>"] and "anna" in vocab.tokens and "Anna" not in vocab.tokens
    assert data.splits["val"].words[0][3] == 1  # Bob<held> is not a training word: <unk>
    assert data.splits["test"].words[0][0] == 1  # nor is Zoe
    characters = data.tokenizer["characters"]["vocabulary"]["tokens"]
    assert "A" in characters and "a" in characters and "Z" not in characters  # case kept; train only
    assert data.splits["test"].chars[0][0][0] == 1  # so Zoe's Z is <unk>
    assert data.labels == ["O", "B-LOC", "I-LOC", "B-ORG", "I-ORG", "B-PER", "I-PER"]
    assert data.dims == {"vocab": len(vocab), "characters": len(characters), "classes": 7}
    assert data.splits["test"].tags[0] == [5, 0, 1, 2]  # Zoe/B-PER visited New/B-LOC York/I-LOC


def test_held_out_documents_are_seeded():
    documents = [f"d{i}" for i in range(20) for _ in range(3)]  # 20 documents of 3 sentences
    chosen = held_out_documents(documents, seed=0)
    assert len(chosen) == 3 and chosen == held_out_documents(documents, seed=0)
    assert chosen != held_out_documents(documents, seed=1)
    with pytest.raises(ValueError, match="needs at least 2"):
        held_out_documents(["only"] * 5, seed=0)


def test_tokenizer_record_reproduces_the_dev_files_tokens():
    """A server splits raw text with the pattern: the dev file's `# text` lines must give back its
    tokens (99.4% of them; the share the memo and the loader's comment state)."""
    data = load_dataset("uner-ewt")
    tokenizer = data.tokenizer
    assert tokenizer["kind"] == "words" and tokenizer["lowercase"] and tokenizer["words_input"] == "words"
    assert tokenizer["characters"]["input"] == "chars" and tokenizer["characters"]["width"] == 20
    assert tokenizer["characters"]["vocabulary"]["unknown"] == 1
    path = BUNDLED / "uner-ewt" / "en_ewt-ud-dev.iob2"
    texts = [line[len("# text = ") :] for line in path.read_text(encoding="utf-8").splitlines() if line.startswith("# text = ")]
    sentences = read_iob2(path)
    pattern = re.compile(tokenizer["pattern"])
    same = sum(len(s.tokens) for text, s in zip(texts, sentences) if pattern.findall(text) == s.tokens)
    assert same / sum(len(s.tokens) for s in sentences) > 0.9  # whole sentences alike; by token: 99.4%


@pytest.mark.parametrize(
    "line,replacement,message",
    [  # the first sentence: line 4 is "1 Anna B-PER", line 5 "2 Lee I-PER", line 6 "3 met O"
        ("2\tLee\tI-PER\t-\t-", "2\tLee", r"xx-ud-dev.iob2:5: expected 'index<TAB>token<TAB>tag'"),
        ("2\tLee\tI-PER\t-\t-", "2\tLee\tI_PER", r"xx-ud-dev.iob2:5: .*a tag O, B-TYPE or I-TYPE, got '2\\tLee\\tI_PER'"),
        ("3\tmet\tO\t-\t-", "4\tmet\tO\t-\t-", r"xx-ud-dev.iob2:6: expected .* with index 3"),
    ],
)
def test_malformed_line_names_file_and_line(tmp_path, line, replacement, message):
    folder = write_uner(tmp_path / "uner")
    dev = folder / "xx-ud-dev.iob2"
    dev.write_text(dev.read_text(encoding="utf-8").replace(line, replacement, 1), encoding="utf-8")
    with pytest.raises(DataFormatError, match=message):
        load_dataset("uner-ewt", str(folder))


def test_a_folder_needs_one_dev_and_one_test_file(tmp_path):
    folder = write_uner(tmp_path / "uner")
    (folder / "xx-ud-test.iob2").unlink()
    with pytest.raises(DataFormatError, match=r"needs exactly one \*test.iob2 file \(found none\)"):
        load_dataset("uner-ewt", str(folder))
