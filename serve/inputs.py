"""Request bodies -> arrays: raw instances the way a user has them, or explicit tensors.

Raw instances (``{"instances": [...]}``) are read by what the model's first input is:
- int64 ``(batch, time)`` token ids: strings, tokenized with the bundle's tokenizer and
  vocabulary (names, sentences, a text prefix); unknown tokens become ``<unk>`` where the
  vocabulary has one, else the request is refused; an empty string, or one with no token the
  model knows, is refused (the answer would not depend on it);
- float ``(batch, time, F)``: sequences, each a list of steps (a number when F = 1, else F numbers);
- float ``(batch, C, H, W)``: images as nested lists of that shape (or flat C*H*W numbers);
- float ``(batch, F)``: vectors of F numbers.
Each instance becomes one row (arrays without the batch axis); the batcher pads and stacks rows.
A words tokenizer whose record names its ``words_input`` or has a ``characters`` record (the
tagger's, issue 15) splits the ORIGINAL text with ``finditer``, so each word keeps its character
offsets for the reply (``Words``); the words fill the word-id input and, with a ``characters``
record, their first ``width`` characters (case kept) the ``(batch, time, width)`` char-id input.
Such a text is refused only when neither a word nor a character of it is known (the character
encoder still reads unknown words). Words are counted against the limits before any array is
built; the char array is ``width`` (at most ``serve.manifest_check.MAX_CHAR_WIDTH``, checked at
load) x words ids.
Explicit tensors (``{"inputs": {NAME: {"shape", "dtype", "data"}}}``) are used as given; state
inputs left out start at zeros and a left-out ``lengths`` means every step is valid.

Values are checked before anything runs: floats finite, token ids inside the vocabulary,
lengths in [1, T], and the request's cost (rows x steps) within ``Limits.max_tokens``.
"""

import math
import re
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Tuple

import numpy as np

from serve.body import RequestError, shown
from serve.limits import Limits
from zoo.store import Pairs, zero_state

Row = Dict[str, np.ndarray]


@dataclass(frozen=True)
class Words:
    """A text split into words: each word's character offsets in ``text`` (end exclusive)."""

    text: str
    offsets: List[Tuple[int, int]]

    def __len__(self) -> int:
        return len(self.offsets)

    def word(self, index: int) -> str:
        start, end = self.offsets[index]
        return self.text[start:end]


class Tokenizer:
    """The bundle's tokenizer (characters or words) and vocabulary."""

    def __init__(self, description: Optional[Dict[str, Any]], vocabulary: Optional[Dict[str, Any]]) -> None:
        self.description = description
        self.tokens: List[str] = list(vocabulary["tokens"]) if vocabulary else []
        self.unknown: Optional[int] = vocabulary.get("unknown") if vocabulary else None
        self.index = {t: i for i, t in enumerate(self.tokens)}
        self.pattern = re.compile(description["pattern"]) if description and description["kind"] == "words" else None
        record = description if self.pattern is not None and description else {}
        chars = record.get("characters") or {}
        # Offsets: a record with the keys of issue 15 (older words tokenizers lower-case the whole
        # text before splitting it, and keep doing so).
        self.offsets = "characters" in record or "words_input" in record
        self.words_input: Optional[str] = record.get("words_input")
        self.chars_input: Optional[str] = chars.get("input")
        self.width = int(chars.get("width", 0))
        char_tokens = list((chars.get("vocabulary") or {}).get("tokens") or [])
        self.char_index = {t: i for i, t in enumerate(char_tokens)}
        self.char_unknown: Optional[int] = (chars.get("vocabulary") or {}).get("unknown")

    @property
    def ready(self) -> bool:
        return bool(self.description and self.tokens)

    @property
    def characters(self) -> bool:
        """One token per character: a text's length is its token count before tokenizing."""
        return self.pattern is None

    def encode(self, text: str, what: str = "the text") -> List[int]:
        if not self.ready:
            raise RequestError(422, "this bundle has no tokenizer (exported from a registry name, not a run); send explicit tensors under \"inputs\"")
        if self.pattern is not None:
            pieces = self.pattern.findall(text.lower() if self.description.get("lowercase") else text)  # type: ignore[union-attr]
        else:
            pieces = list(text)
        if not pieces:
            raise RequestError(422, f"{what} is empty: it has no tokens to run the model on")
        ids = []
        for piece in pieces:
            if piece in self.index:
                ids.append(self.index[piece])
            elif self.unknown is not None:
                ids.append(self.unknown)
            else:
                raise RequestError(422, f"{what}: {shown(piece)} is not in the model's vocabulary")
        if self.unknown is not None and all(i == self.unknown for i in ids):
            raise RequestError(422, f"{what} has no token the model knows (all {len(ids)} are unknown), so the answer would not depend on it")
        return ids

    def split(self, text: str, most: int) -> Words:
        """The words of ``text`` with their offsets, matched on the original text (lower-casing
        first could move them: "İ".lower() is two characters); at most ``most + 1`` of them, so
        that an instance past the limit costs no more than finding that it is. Empty matches
        are no words."""
        if not self.ready:
            raise RequestError(422, "this bundle has no tokenizer (exported from a registry name, not a run); send explicit tensors under \"inputs\"")
        offsets: List[Tuple[int, int]] = []
        for match in self.pattern.finditer(text):  # type: ignore[union-attr]
            if match.end() > match.start():
                offsets.append(match.span())
                if len(offsets) > most:
                    break
        return Words(text, offsets)

    def encode_words(self, words: Words, what: str = "the text") -> Tuple[np.ndarray, Optional[np.ndarray]]:
        """Word ids ``(n,)`` (looked up lower-cased when the record says so) and, with a
        characters record, char ids ``(n, width)`` of each word's first ``width`` characters."""
        if not len(words):
            raise RequestError(422, f"{what} is empty: it has no words to run the model on")
        lowercase = bool(self.description and self.description.get("lowercase"))
        ids = np.empty(len(words), dtype=np.int64)
        for position in range(len(words)):
            piece = words.word(position)
            found = self.index.get(piece.lower() if lowercase else piece, self.unknown)
            if found is None:
                raise RequestError(422, f"{what}: {shown(piece)} is not in the model's vocabulary")
            ids[position] = found
        chars = None
        if self.chars_input is not None:
            chars = np.zeros((len(words), self.width), dtype=np.int64)  # 0: padding
            missing = -1 if self.char_unknown is None else self.char_unknown
            for position in range(len(words)):
                for column, character in enumerate(words.word(position)[: self.width]):
                    chars[position, column] = self.char_index.get(character, missing)
            if (chars < 0).any():
                raise RequestError(422, f"{what} holds a character the model's character vocabulary lacks")
        words_known = self.unknown is None or bool((ids != self.unknown).any())
        chars_known = chars is not None and bool(((chars != 0) & (chars != (self.char_unknown or 0))).any())
        if not (words_known or chars_known):
            raise RequestError(422, f"{what} has no word or character the model knows (all {len(words)} words are unknown), so the answer would not depend on it")
        return ids, chars

    def unknown_count(self, ids: np.ndarray) -> int:
        return 0 if self.unknown is None else int((ids == self.unknown).sum())

    def decode(self, ids: List[int]) -> str:
        """Text of ``ids``, leaving out the special tokens (``<pad>``, ``<unk>``, ``<eos>``, ...)."""
        joiner = " " if self.pattern is not None else ""
        kept = [self.tokens[i] for i in ids if 0 <= i < len(self.tokens) and not _special(self.tokens[i])]
        return joiner.join(kept)


def _special(token: str) -> bool:
    return len(token) > 2 and token.startswith("<") and token.endswith(">")


def _instances(body: Dict[str, Any], limits: Limits) -> List[Any]:
    instances = body.get("instances")
    if not isinstance(instances, list) or not instances:
        raise RequestError(400, 'the body must hold "instances": a non-empty list (or explicit tensors under "inputs")')
    if len(instances) > limits.max_instances:
        raise RequestError(413, f"{len(instances)} instances in one request; the limit is {limits.max_instances} (--max-instances)")
    return instances


def _numbers(value: Any, what: str) -> np.ndarray:
    """A nested list of JSON numbers as an array; strings, booleans, nulls and ragged nesting
    are refused rather than converted (numpy would read true as 1.0 beside other numbers)."""
    if not isinstance(value, list):
        raise RequestError(422, f"{what} must be a list of numbers, got {shown(value)}")
    try:
        array = np.asarray(value)
    except (TypeError, ValueError, OverflowError, RecursionError):
        raise RequestError(422, f"{what} must be a regular nested list of numbers (every row the same length)") from None
    if array.dtype.kind not in "iuf" or _holds_booleans(value):
        raise RequestError(422, f"{what} must hold only numbers (no strings, booleans, nulls or uneven rows)")
    return array


def _holds_booleans(value: List[Any]) -> bool:
    pending = [value]
    while pending:
        items = pending.pop()
        if any(type(item) is bool for item in items):
            return True
        pending += [item for item in items if type(item) is list]
    return False


def _float_array(value: Any, shape: Tuple[int, ...], what: str) -> np.ndarray:
    with np.errstate(over="ignore"):  # a number past float32 becomes inf, refused below
        array = _numbers(value, what).astype(np.float32)
    if array.size == int(np.prod(shape)) and array.shape != shape:
        array = array.reshape(shape)
    if array.shape != shape:
        raise RequestError(422, f"{what} must have shape {list(shape)}, got {list(array.shape)}")
    if not np.isfinite(array).all():
        raise RequestError(422, f"{what} holds NaN or infinity, or a number too large for float32")
    return array


def takes_text(spec: Mapping[str, Any]) -> bool:
    """An input of token ids, ``(batch, time)`` int64: its raw instances are texts."""
    return spec["dtype"] == "int64" and len(spec["shape"]) == 2


@dataclass
class RawRows:
    rows: List[Row]
    unknown: List[int]  # per row: tokens the vocabulary did not know (0 when not text)
    words: List[Words] = field(default_factory=list)  # per row, where the tokenizer keeps offsets; else empty


def raw_rows(body: Dict[str, Any], graph: Dict[str, Any], tokenizer: Tokenizer, limits: Limits,
             skip: set) -> RawRows:  # fmt: skip
    """One row per instance for the graph's data input (``skip``: state and lengths inputs), or
    for its words and chars inputs where the tokenizer keeps offsets (``RawRows.words``).

    Each instance's steps are counted against ``max_sequence`` and the running total against
    ``max_tokens`` before it is tokenized or converted, so an oversized request costs no more
    than reading it."""
    data = [t for t in graph["inputs"] if t["name"] not in skip]
    words_name = _words_input(data, tokenizer)
    if words_name is not None:
        return _word_rows(body, {t["name"]: t for t in data}, words_name, tokenizer, limits)
    if len(data) != 1:
        raise RequestError(422, f"this model takes {', '.join(t['name'] for t in data)}; send explicit tensors under \"inputs\"")
    spec = data[0]
    shape, name = spec["shape"], spec["name"]
    timed = len(shape) >= 2 and isinstance(shape[1], str)
    result = RawRows([], [])
    total = 0
    for number, instance in enumerate(_instances(body, limits)):
        what = f"instance {number}"
        if takes_text(spec):
            if not isinstance(instance, str):
                raise RequestError(422, f"{what} must be a string of text, got {shown(instance)}")
            if tokenizer.characters:
                total = _count(total, len(instance), what, limits)
            array = np.asarray(tokenizer.encode(instance, what), dtype=np.int64)
            if not tokenizer.characters:
                total = _count(total, len(array), what, limits)
            result.unknown.append(tokenizer.unknown_count(array))
        elif len(shape) == 3:  # (batch, time, features)
            if not isinstance(instance, list) or not instance:
                raise RequestError(422, f"{what} must be a non-empty list of steps")
            total = _count(total, len(instance), what, limits)
            array = _float_array(instance, (len(instance), shape[2]), what)
            result.unknown.append(0)
        else:
            total = _count(total, 1, what, limits)
            array = _float_array(instance, tuple(shape[1:]), what)
            result.unknown.append(0)
        if timed:
            _check_vocab(spec, array, what)
        result.rows.append({name: array})
    return result


def _words_input(data: List[Mapping[str, Any]], tokenizer: Tokenizer) -> Optional[str]:
    """The input the words fill when the tokenizer keeps offsets and its words (and chars) fill
    exactly the graph's data inputs; else None (the instances are read as before)."""
    if not tokenizer.offsets:
        return None
    specs = {t["name"]: t for t in data}
    chars = {tokenizer.chars_input} if tokenizer.chars_input else set()
    rest = set(specs) - chars
    if not chars <= set(specs) or len(rest) != 1 or (tokenizer.words_input and rest != {tokenizer.words_input}):
        return None
    name = rest.pop()
    return name if takes_text(specs[name]) else None


def _word_rows(body: Dict[str, Any], specs: Dict[str, Mapping[str, Any]], words_name: str, tokenizer: Tokenizer,
               limits: Limits) -> RawRows:  # fmt: skip
    """Rows of a tokenizer that keeps offsets: the word ids and (with a characters record) the
    char ids of each text, and its words for the reply. Words are counted before arrays exist."""
    result = RawRows([], [])
    total = 0
    for number, instance in enumerate(_instances(body, limits)):
        what = f"instance {number}"
        if not isinstance(instance, str):
            raise RequestError(422, f"{what} must be a string of text, got {shown(instance)}")
        try:
            instance.encode("utf-8")
        except UnicodeEncodeError as exc:  # a lone surrogate ("\ud800") could not be written back in the reply
            raise RequestError(422, f"{what} holds {shown(exc.object[exc.start:exc.end])}, not a Unicode character (a lone surrogate)") from None
        words = tokenizer.split(instance, limits.max_sequence)
        if len(words) > limits.max_sequence:  # the split stopped one word past the limit
            raise RequestError(413, f"{what} has more than {limits.max_sequence} words; the limit is {limits.max_sequence} (--max-sequence)")
        total = _count(total, len(words), what, limits)
        ids, chars = tokenizer.encode_words(words, what)
        row = {words_name: ids}
        _check_vocab(specs[words_name], ids, what)
        if chars is not None and tokenizer.chars_input is not None:
            _check_vocab(specs[tokenizer.chars_input], chars, what)
            row[tokenizer.chars_input] = chars
        result.rows.append(row)
        result.unknown.append(tokenizer.unknown_count(ids))
        result.words.append(words)
    return result


def _count(total: int, steps: int, what: str, limits: Limits) -> int:
    if steps > limits.max_sequence:
        raise RequestError(413, f"{what} has {steps} steps; the limit is {limits.max_sequence} (--max-sequence)")
    total += steps
    if total > limits.max_tokens:
        raise RequestError(413, f"the instances up to {what} hold {total} steps in all; the limit is {limits.max_tokens} per request (--max-tokens); split the request")
    return total


def _check_vocab(spec: Mapping[str, Any], array: np.ndarray, what: str) -> None:
    vocab = spec.get("vocab")
    if vocab is not None and array.size and (array.min() < 0 or array.max() >= vocab):
        raise RequestError(422, f"{what}: token ids of {spec['name']!r} must be in [0, {vocab}), got values in [{array.min()}, {array.max()}]")


_DTYPES = {"float32": np.float32, "float64": np.float64, "int64": np.int64, "int32": np.int32, "bool": np.bool_}
_MAX_RANK = 8


def _tensor(name: str, tensor: Any, spec: Mapping[str, Any]) -> np.ndarray:
    if not isinstance(tensor, dict) or not {"shape", "dtype", "data"} <= set(tensor):
        raise RequestError(400, f'input {name!r} must be {{"shape": [...], "dtype": "...", "data": [...]}}')
    dtype, shape = tensor["dtype"], tensor["shape"]
    if not isinstance(dtype, str) or dtype not in _DTYPES:
        raise RequestError(422, f"input {name!r}: unknown dtype {shown(dtype)}; use one of {', '.join(_DTYPES)}")
    if dtype != spec["dtype"]:
        raise RequestError(422, f"input {name!r} must be {spec['dtype']}, got {dtype}")
    if (not isinstance(shape, list) or len(shape) > _MAX_RANK
            or not all(isinstance(d, int) and not isinstance(d, bool) and 1 <= d <= 2**31 for d in shape)):  # fmt: skip
        raise RequestError(422, f"input {name!r}: shape must be a list of at most {_MAX_RANK} sizes >= 1, got {shown(shape)}")
    declared = list(spec["shape"])
    if len(shape) != len(declared) or any(isinstance(d, int) and d != size for d, size in zip(declared, shape)):
        shown_dims = ", ".join(str(d) for d in declared)
        raise RequestError(422, f"input {name!r} must have shape ({shown_dims}), got {shape}")
    data = tensor["data"]
    if not shape and not isinstance(data, list):
        data = [data]  # a scalar may come bare
    array = _numbers(data, f"input {name!r}")
    if array.dtype.kind == "f" and np.dtype(dtype).kind != "f":
        raise RequestError(422, f"input {name!r} is {dtype}: its data must be integers")
    if array.dtype.kind in "iu" and np.dtype(dtype).kind in "iu" and array.size:
        info = np.iinfo(dtype)
        if array.min() < info.min or array.max() > info.max:
            raise RequestError(422, f"input {name!r}: values must fit {dtype}")
    if array.size != math.prod(shape):  # Python integers: np.prod would wrap past 2^63
        raise RequestError(422, f"input {name!r}: {array.size} values do not fill shape {shape}")
    array = array.astype(_DTYPES[dtype]).reshape(shape)
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        raise RequestError(422, f"input {name!r} holds NaN or infinity, or a number too large for {dtype}")
    return array


def explicit_feeds(body: Dict[str, Any], graph: Dict[str, Any], pairs: Pairs, limits: Limits) -> Dict[str, np.ndarray]:
    """``{"inputs": {NAME: {"shape", "dtype", "data"}}}`` -> checked arrays; zeros for missing
    state, full lengths for a missing ``lengths`` (``pairs``: the graph's)."""
    states, ragged = pairs.state_output, pairs.sequence
    given = body.get("inputs")
    if not isinstance(given, dict) or not given:
        raise RequestError(400, '"inputs" must map input names to {"shape", "dtype", "data"}')
    specs = {t["name"]: t for t in graph["inputs"]}
    unknown = [n for n in given if n not in specs]
    if unknown:
        raise RequestError(422, f"unknown input {shown(unknown[0])}; this model takes {', '.join(specs)}")
    feeds = {name: _tensor(name, tensor, specs[name]) for name, tensor in given.items()}
    sizes = symbolic_sizes(graph["inputs"], feeds)
    if sizes.get("batch", 1) > limits.max_instances:
        raise RequestError(413, f"batch {sizes['batch']} in one request; the limit is {limits.max_instances} (--max-instances)")
    longest = max((size for dim, size in sizes.items() if dim != "batch"), default=0)
    if longest > limits.max_sequence:
        raise RequestError(413, f"an axis of {longest} steps is longer than the limit of {limits.max_sequence} (--max-sequence)")
    check_cost(sizes, limits)
    for name in list(states) + list(ragged):
        if name in feeds or name not in specs:
            continue
        if name in states:
            feeds[name] = zero_state(specs[name], {"batch": sizes.get("batch", 1)})
        elif ragged[name] in feeds:
            sequence = feeds[ragged[name]]
            feeds[name] = np.full(sequence.shape[0], sequence.shape[1], dtype=np.int64)
    check_values(graph["inputs"], feeds, ragged)
    return feeds


def symbolic_sizes(inputs: List[Mapping[str, Any]], feeds: Mapping[str, np.ndarray]) -> Dict[str, int]:
    """The size of every named axis (``batch``, ``time``, ...) and the value of every scalar
    input (``steps``, ``max_len``: output axes are named after them)."""
    sizes: Dict[str, int] = {}
    for spec in inputs:
        array = feeds.get(spec["name"])
        if array is None:
            continue
        if not spec["shape"]:
            if array.dtype.kind in "iu" and array.size == 1:
                sizes[spec["name"]] = int(array.reshape(-1)[0])
            continue
        for dim, size in zip(spec["shape"], array.shape):
            if isinstance(dim, str):
                sizes.setdefault(dim, int(size))
    return sizes


def cost(sizes: Mapping[str, int]) -> int:
    """Rows x steps: the batch times every other named axis or step count summed (a seq2seq
    model runs its source and its target; generate runs the prefix and the steps)."""
    steps = sum(size for dim, size in sizes.items() if dim != "batch")
    return sizes.get("batch", 1) * max(1, steps)


def check_cost(sizes: Mapping[str, int], limits: Limits) -> None:
    spent = cost(sizes)
    if spent > limits.max_tokens:
        raise RequestError(413, f"the request runs {spent} rows x steps; the limit is {limits.max_tokens} (--max-tokens); send fewer rows or shorter sequences")


def check_values(inputs: List[Mapping[str, Any]], feeds: Mapping[str, np.ndarray], ragged: Mapping[str, str]) -> None:
    """Token ids inside the vocabulary and lengths in [1, T], before the model sees them
    (finite floats are checked as each tensor is read)."""
    for spec in inputs:
        array = feeds.get(spec["name"])
        if array is None or not array.size:
            continue
        if spec.get("vocab") is not None:
            _check_vocab(spec, array, f"input {spec['name']!r}")
        if spec["name"] in ragged and ragged[spec["name"]] in feeds:
            sequence = feeds[ragged[spec["name"]]]
            steps = sequence.shape[1] if sequence.ndim >= 2 else 0
            if array.min() < 1 or array.max() > steps:
                raise RequestError(422, f"input {spec['name']!r} must be in [1, {steps}] (the time axis of {ragged[spec['name']]!r}), got values in [{array.min()}, {array.max()}]")
