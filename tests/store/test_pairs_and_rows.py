"""zoo.store's pairs, zero state and padding: read from a schema-1 manifest as written before
the reader existed, and from a model's Signature."""

import numpy as np
import pytest

from zoo.registry import get_spec
from zoo.store import Pairs, cut_row, graph_pairs, pad_rows, pairs_entries, signature_pairs, zero_state

# The parts of a schema-1 seq2seq manifest the pairs come from, as `zoo export` wrote them.
SEQ2SEQ = {
    "schema_version": 1,
    "graphs": {
        "forward": {
            "inputs": [{"name": "src", "dtype": "int64", "shape": ["batch", "src_time"]},
                       {"name": "src_lengths", "dtype": "int64", "shape": ["batch"]},
                       {"name": "tgt", "dtype": "int64", "shape": ["batch", "tgt_time"]}],
            "outputs": [{"name": "logits", "dtype": "float32", "shape": ["batch", "tgt_time", 30]}],
        },
        "decode": {
            "inputs": [{"name": "src", "dtype": "int64", "shape": ["batch", "src_time"]},
                       {"name": "src_lengths", "dtype": "int64", "shape": ["batch"]},
                       {"name": "max_len", "dtype": "int64", "shape": []}],
            "outputs": [{"name": "tokens", "dtype": "int64", "shape": ["batch", "max_len"]}],
        },
    },
    "state_pairs": [],
    "ragged": [{"lengths": "src_lengths", "sequence": "src"}],
}  # fmt: skip

# A stateful language model's: forward carries state, generate takes none of it.
CHAR_LM = {
    "schema_version": 1,
    "graphs": {
        "forward": {
            "inputs": [{"name": "tokens", "dtype": "int64", "shape": ["batch", "time"]},
                       {"name": "h_0", "dtype": "float32", "shape": [2, "batch", 8]}],
            "outputs": [{"name": "logits", "dtype": "float32", "shape": ["batch", "time", 40]},
                        {"name": "h_n", "dtype": "float32", "shape": [2, "batch", 8]}],
        },
        "generate": {
            "inputs": [{"name": "prefix", "dtype": "int64", "shape": ["batch", "time"]},
                       {"name": "steps", "dtype": "int64", "shape": []}],
            "outputs": [{"name": "tokens", "dtype": "int64", "shape": ["batch", "steps"]}],
        },
    },
    "state_pairs": [{"input": "h_0", "output": "h_n"}],
    "ragged": [],
}  # fmt: skip


def test_each_graph_gets_the_pairs_that_name_its_tensors():
    assert graph_pairs(SEQ2SEQ) == Pairs((), (("src_lengths", "src"),))
    assert graph_pairs(SEQ2SEQ, "decode") == Pairs((), (("src_lengths", "src"),))
    assert graph_pairs(CHAR_LM) == Pairs((("h_0", "h_n"),), ())
    assert graph_pairs(CHAR_LM, "generate") == Pairs()


def test_the_views_of_the_pairs_point_both_ways():
    pairs = Pairs((("h_0", "h_n"), ("c_0", "c_n")), (("lengths", "tokens"),))
    assert pairs.state_output == {"h_0": "h_n", "c_0": "c_n"}
    assert pairs.state_input == {"h_n": "h_0", "c_n": "c_0"}
    assert pairs.sequence == {"lengths": "tokens"} and pairs.lengths == {"tokens": "lengths"}
    assert pairs.skipped() == {"h_0", "c_0", "lengths"}


@pytest.mark.parametrize("name", ["char-lstm", "seq2seq-lstm", "name-gru", "mnist-mlp"])
def test_signature_pairs_are_what_a_manifest_written_from_them_reads_back(name):
    spec = get_spec(name)
    signature = spec.signature(spec.make_config())
    pairs = signature_pairs(signature)
    assert pairs.state == tuple(signature.state_pairs) and pairs.ragged == tuple(signature.ragged)
    tensors = [{"name": t.name} for t in signature.inputs], [{"name": t.name} for t in signature.outputs]
    manifest = {"graphs": {"forward": {"inputs": tensors[0], "outputs": tensors[1]}}, **pairs_entries(pairs)}
    assert graph_pairs(manifest) == pairs


def test_zero_state_takes_named_sizes_and_keeps_fixed_ones():
    state = zero_state(CHAR_LM["graphs"]["forward"]["inputs"][1], {"batch": 3})
    assert state.shape == (2, 3, 8) and state.dtype == np.float32 and not state.any()
    with pytest.raises(ValueError, match="cannot size the zero state 'h_0': no input gives its 'batch' axis"):
        zero_state(CHAR_LM["graphs"]["forward"]["inputs"][1], {})


def test_ragged_rows_pad_with_zeros_and_cut_back_to_themselves():
    rows = [np.arange(1, 4, dtype=np.int64), np.arange(1, 2, dtype=np.int64), np.arange(1, 6, dtype=np.int64)]
    padded, lengths = pad_rows(rows)
    assert padded.shape == (3, 5) and padded.dtype == np.int64
    assert lengths.tolist() == [3, 1, 5] and lengths.dtype == np.int64
    for row, padded_row, steps in zip(rows, padded, lengths):
        np.testing.assert_array_equal(cut_row(padded_row, 0, int(steps)), row)
        assert not padded_row[steps:].any()


def test_padding_keeps_the_feature_axes():
    rows = [np.ones((2, 3), np.float32), np.ones((4, 3), np.float32)]
    padded, lengths = pad_rows(rows)
    assert padded.shape == (2, 4, 3) and lengths.tolist() == [2, 4]
    assert padded[0, 2:].sum() == 0 and padded[1].sum() == 12
