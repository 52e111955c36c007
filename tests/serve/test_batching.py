"""The batcher's grouping: every row once, no padded batch past the token budget (a long row
runs alone), at most max_batch rows, and a request's rows reassembled in order however they
were split."""

import asyncio

import numpy as np

from serve.batching import Batcher, BatchPolicy, _Pending
from zoo.store import Pairs

GRAPH = {
    "inputs": [{"name": "tokens", "dtype": "int64", "shape": ["batch", "time"]},
               {"name": "lengths", "dtype": "int64", "shape": ["batch"]}],  # fmt: skip
    "outputs": [{"name": "logits", "dtype": "float32", "shape": ["batch", "time", 2]}],
}


def _batcher(max_batch: int, max_tokens: int, run=None) -> Batcher:  # type: ignore[no-untyped-def]
    return Batcher(GRAPH, Pairs(ragged=(("lengths", "tokens"),)), run, BatchPolicy(max_batch, 0.0, max_tokens, 2))


def test_batches_never_pad_past_the_budget_and_keep_every_row_once():
    lengths = [90, 3, 5, 2, 50, 4, 4, 7, 1, 60]
    pending = _Pending([{"tokens": np.ones(n, np.int64)} for n in lengths], future=None)  # type: ignore[arg-type]
    batches = _batcher(max_batch=4, max_tokens=100)._batches([pending])
    seen = sorted(index for batch in batches for _, index in batch)
    assert seen == list(range(len(lengths)))
    for batch in batches:
        longest = max(lengths[index] for _, index in batch)
        assert len(batch) <= 4 and (len(batch) * longest <= 100 or len(batch) == 1)
    assert [len(b) for b in batches if max(lengths[i] for _, i in b) == 90] == [1]  # the long row alone


def test_a_request_split_across_batches_gets_its_rows_back_in_order():
    class Run:
        def __init__(self, feeds):  # type: ignore[no-untyped-def]
            self.feeds = feeds

        async def result(self):  # type: ignore[no-untyped-def]
            tokens = self.feeds["tokens"]
            return {"logits": np.stack([tokens, -tokens], axis=-1).astype(np.float32)}

        def cancel(self) -> None:
            pass

    async def main():  # type: ignore[no-untyped-def]
        batcher = _batcher(max_batch=3, max_tokens=12, run=Run)
        batcher.start()
        rows = [{"tokens": np.arange(1, n + 1, dtype=np.int64)} for n in (9, 2, 6, 1, 3)]
        outputs = await batcher.submit(rows)
        await batcher.stop()
        return rows, outputs

    rows, outputs = asyncio.run(main())
    for row, output in zip(rows, outputs):
        np.testing.assert_array_equal(output["logits"][:, 0], row["tokens"])
