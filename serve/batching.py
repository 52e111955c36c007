"""Dynamic batching: concurrent requests to one model run as one batch.

Each request brings rows (one per instance, arrays without the batch axis). The worker takes
the first waiting request, then whatever else arrives within ``max_delay`` until ``max_batch``
rows, groups rows that can share a batch, and runs each group once in a worker thread:
- a ragged model's sequences are padded to the longest with a ``lengths`` input, which by the
  zoo's contract gives each row exactly what it gives alone;
- other inputs must have the same shape to stack (a language model's chunks of one length);
- state inputs start at zeros (``/predict`` is stateless; sessions carry state themselves).
Per-row outputs are cut back to the row's own length along time.
"""

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np

from serve.inputs import Row, pad_rows, zero_state

Run = Callable[[Dict[str, np.ndarray]], Dict[str, np.ndarray]]


@dataclass
class _Pending:
    rows: List[Row]
    future: asyncio.Future
    arrived: float = field(default_factory=time.perf_counter)


class Batcher:
    def __init__(self, graph: Dict[str, Any], states: Dict[str, str], ragged: Dict[str, str], run: Run,
                 max_batch: int, max_delay_s: float, executor: ThreadPoolExecutor,
                 on_batch: Optional[Callable[[int], None]] = None) -> None:  # fmt: skip
        self.inputs = graph["inputs"]
        self.outputs = graph["outputs"]
        self.states = states
        self.lengths_of = {sequence: lengths for lengths, sequence in ragged.items()}
        self.lengths_names = set(ragged)
        self.run = run
        self.max_batch = max_batch
        self.max_delay_s = max_delay_s
        self.executor = executor
        self.on_batch = on_batch or (lambda size: None)
        self.queue: "asyncio.Queue[_Pending]" = asyncio.Queue()
        self.worker: Optional[asyncio.Task] = None

    def start(self) -> None:
        self.worker = asyncio.get_running_loop().create_task(self._work())

    async def stop(self) -> None:
        if self.worker is not None:
            self.worker.cancel()

    async def submit(self, rows: List[Row]) -> List[Dict[str, np.ndarray]]:
        future = asyncio.get_running_loop().create_future()
        await self.queue.put(_Pending(rows, future))
        return await future

    async def _work(self) -> None:
        while True:
            first = await self.queue.get()
            taken = [first]
            count = len(first.rows)
            deadline = first.arrived + self.max_delay_s
            while count < self.max_batch:
                remaining = deadline - time.perf_counter()
                if remaining <= 0 and self.queue.empty():
                    break
                try:
                    pending = self.queue.get_nowait() if remaining <= 0 else await asyncio.wait_for(self.queue.get(), remaining)
                except asyncio.TimeoutError:
                    break
                taken.append(pending)
                count += len(pending.rows)
            await self._run_groups(taken)

    async def _run_groups(self, taken: List[_Pending]) -> None:
        groups: Dict[Tuple, List[Tuple[_Pending, int]]] = {}
        for pending in taken:
            for index, row in enumerate(pending.rows):
                groups.setdefault(self._key(row), []).append((pending, index))
        results: Dict[int, List[Optional[Dict[str, np.ndarray]]]] = {id(p): [None] * len(p.rows) for p in taken}
        failed: Dict[int, BaseException] = {}
        loop = asyncio.get_running_loop()
        for members in groups.values():
            rows = [pending.rows[index] for pending, index in members]
            try:
                outputs = await loop.run_in_executor(self.executor, self._run_rows, rows)
            except BaseException as exc:  # noqa: BLE001 - handed to the requests that caused it
                for pending, _ in members:
                    failed[id(pending)] = exc
                continue
            for (pending, index), output in zip(members, outputs):
                results[id(pending)][index] = output
        for pending in taken:
            if pending.future.done():
                continue
            if id(pending) in failed:
                pending.future.set_exception(failed[id(pending)])
            else:
                pending.future.set_result(results[id(pending)])

    def _key(self, row: Row) -> Tuple:
        """Rows with equal keys can share a batch (ragged sequences may differ in length)."""
        return tuple((name, array.shape[1:] if name in self.lengths_of else array.shape) for name, array in sorted(row.items()))

    def _run_rows(self, rows: List[Row]) -> List[Dict[str, np.ndarray]]:
        self.on_batch(len(rows))
        feeds: Dict[str, np.ndarray] = {}
        steps: Optional[np.ndarray] = None
        for spec in self.inputs:
            name = spec["name"]
            if name in self.states:
                feeds[name] = zero_state(spec, len(rows))
            elif name in self.lengths_of:
                feeds[name], steps = pad_rows([row[name] for row in rows])
                feeds[self.lengths_of[name]] = steps
            elif name not in self.lengths_names:  # lengths come with their sequence above
                feeds[name] = np.stack([row[name] for row in rows])
        outputs = self.run(feeds)
        return [self._row_outputs(outputs, i, None if steps is None else int(steps[i])) for i in range(len(rows))]

    def _row_outputs(self, outputs: Dict[str, np.ndarray], index: int, steps: Optional[int]) -> Dict[str, np.ndarray]:
        row = {}
        for spec in self.outputs:
            array = np.take(outputs[spec["name"]], index, axis=spec["shape"].index("batch"))
            if steps is not None and "time" in spec["shape"]:
                axis = [d for d in spec["shape"] if d != "batch"].index("time")
                array = np.take(array, np.arange(steps), axis=axis)
            row[spec["name"]] = array
        return row
