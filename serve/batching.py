"""Dynamic batching: concurrent requests to one model run as one batch.

Each request brings rows (one per instance, arrays without the batch axis). The collector takes
the first waiting request, then whatever else arrives within ``max_delay`` until ``max_batch``
rows, groups rows that can share a batch, and hands each group to a worker thread:
- a ragged model's sequences are padded to the longest with a ``lengths`` input, which by the
  zoo's contract gives each row exactly what it gives alone; rows are sorted by length and a
  batch is cut before rows x longest passes ``max_tokens``, so a long row runs in a batch of
  its own and never makes short rows pay its padding (what a run holds in memory grows with
  rows x steps);
- other inputs must have the same shape to stack (a language model's chunks of one length);
- state inputs start at zeros (``/predict`` is stateless; sessions carry state themselves).
Per-row outputs are cut back to the row's own length along time. Which inputs are state and
which are lengths the manifest says (``zoo.store.Pairs``); the padding and the zeros are
``zoo.store.rows``'.

Up to ``concurrency`` runs of one model are in flight, so one long batch does not hold up the
requests behind it. A request that gave up (its timeout passed) is not run; a run whose
requests all gave up is stopped (``Run.cancel``).
"""

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np

from serve.inputs import Row
from serve.model import ModelRun
from zoo.store import Pairs, cut_row, pad_rows, zero_state


@dataclass
class _Pending:
    rows: List[Row]
    future: asyncio.Future
    arrived: float = field(default_factory=time.perf_counter)
    # Per-row outputs as they come back: a request's rows may run in different batches.
    done: Dict[int, Dict[str, np.ndarray]] = field(default_factory=dict)

    def deliver(self, index: int, outputs: Dict[str, np.ndarray]) -> None:
        self.done[index] = outputs
        if len(self.done) == len(self.rows) and not self.future.done():
            self.future.set_result([self.done[i] for i in range(len(self.rows))])


@dataclass(frozen=True)
class BatchPolicy:
    max_batch: int  # rows per run; 1 turns batching off
    max_delay_s: float  # how long the first request waits for company
    max_tokens: int  # rows x padded steps per run
    concurrency: int  # runs of this model in flight


Member = Tuple[_Pending, int]  # (request, row index in it)


class Batcher:
    def __init__(self, graph: Dict[str, Any], pairs: Pairs, start_run: Callable[[Dict[str, np.ndarray]], ModelRun],
                 policy: BatchPolicy, on_batch: Optional[Callable[[int], None]] = None) -> None:  # fmt: skip
        self.inputs = graph["inputs"]
        self.outputs = graph["outputs"]
        self.pairs = pairs
        self.lengths_of = pairs.lengths
        self.start_run = start_run
        self.policy = policy
        self.on_batch = on_batch or (lambda size: None)
        self.queue: "asyncio.Queue[_Pending]" = asyncio.Queue()
        self.slots = asyncio.Semaphore(policy.concurrency)
        self.worker: Optional[asyncio.Task] = None
        self.running: set = set()

    def start(self) -> None:
        self.worker = asyncio.get_running_loop().create_task(self._collect())

    async def stop(self) -> None:
        if self.worker is not None:
            self.worker.cancel()
        for task in list(self.running):
            task.cancel()

    async def submit(self, rows: List[Row]) -> List[Dict[str, np.ndarray]]:
        future = asyncio.get_running_loop().create_future()
        await self.queue.put(_Pending(rows, future))
        return await future

    async def _collect(self) -> None:
        while True:
            first = await self.queue.get()
            taken = [first]
            count = len(first.rows)
            deadline = first.arrived + self.policy.max_delay_s
            while count < self.policy.max_batch:
                remaining = deadline - time.perf_counter()
                if remaining <= 0 and self.queue.empty():
                    break
                try:
                    pending = self.queue.get_nowait() if remaining <= 0 else await asyncio.wait_for(self.queue.get(), remaining)
                except asyncio.TimeoutError:
                    break
                taken.append(pending)
                count += len(pending.rows)
            live = [p for p in taken if not p.future.done()]  # those that timed out are not run
            for members in self._batches(live):
                await self.slots.acquire()
                task = asyncio.get_running_loop().create_task(self._run_batch(members))
                self.running.add(task)
                task.add_done_callback(self.running.discard)

    def _batches(self, taken: List[_Pending]) -> List[List[Member]]:
        """Rows that can share a run, cut by ``max_batch`` rows and ``max_tokens`` padded cells."""
        members = [(pending, index) for pending in taken for index in range(len(pending.rows))]
        plan = plan_batches([p.rows[i] for p, i in members], self.lengths_of, self.policy.max_batch, self.policy.max_tokens)
        return [[members[i] for i in batch] for batch in plan]

    async def _run_batch(self, members: List[Member]) -> None:
        requests = list({id(p): p for p, _ in members}.values())
        try:
            rows = [pending.rows[index] for pending, index in members]
            feeds, steps = stack_rows(rows, self.inputs, self.pairs)
            run = self.start_run(feeds)
            # A run that nobody waits for any more is stopped: when every request in it gave up.
            for pending in requests:
                pending.future.add_done_callback(lambda _, r=run: r.cancel() if all(p.future.done() for p in requests) else None)
            self.on_batch(len(rows))
            outputs = await run.result()
            for position, (pending, index) in enumerate(members):
                pending.deliver(index, row_outputs(outputs, self.outputs, position, None if steps is None else int(steps[position])))
        except Exception as exc:  # noqa: BLE001 - handed to the requests that caused it
            for pending in requests:
                if not pending.future.done():
                    pending.future.set_exception(exc)
        finally:
            self.slots.release()


# The batcher's arithmetic, apart from its queue: `zoo predict` batches a file of instances the
# same way without a server.


def _key(row: Row, lengths_of: Dict[str, str]) -> Tuple:
    """Rows with equal keys can share a batch (ragged sequences may differ in length)."""
    return tuple((name, array.shape[1:] if name in lengths_of else array.shape) for name, array in sorted(row.items()))


def _steps(row: Row, lengths_of: Dict[str, str]) -> int:
    return max((array.shape[0] for name, array in row.items() if name in lengths_of), default=1)


def plan_batches(rows: List[Row], lengths_of: Dict[str, str], max_batch: int, max_tokens: int) -> List[List[int]]:
    """Indices of ``rows`` grouped into runs: rows that can be stacked, longest first (a batch's
    first row sets the length every row in it is padded to), cut before ``max_batch`` rows or
    rows x longest past ``max_tokens``. ``lengths_of``: sequence input -> its lengths input."""
    groups: Dict[Tuple, List[int]] = {}
    for index, row in enumerate(rows):
        groups.setdefault(_key(row, lengths_of), []).append(index)
    batches: List[List[int]] = []
    for members in groups.values():
        sized = sorted(((_steps(rows[i], lengths_of), i) for i in members), key=lambda s: -s[0])
        current: List[int] = []
        longest = 0
        for steps, index in sized:
            if current and (len(current) + 1 > max_batch or (len(current) + 1) * longest > max_tokens):
                batches.append(current)
                current = []
            if not current:
                longest = steps
            current.append(index)
        batches.append(current)
    return batches


def stack_rows(rows: List[Row], inputs: List[Dict[str, Any]], pairs: Pairs) -> Tuple[Dict[str, np.ndarray], Optional[np.ndarray]]:
    """One run's feeds from rows: ragged sequences padded with their lengths, state at zeros,
    the rest stacked. Also returns the rows' steps (None for a model without ragged inputs)."""
    lengths_of = pairs.lengths
    states, lengths_names = pairs.state_output, pairs.sequence
    feeds: Dict[str, np.ndarray] = {}
    steps: Optional[np.ndarray] = None
    for spec in inputs:
        name = spec["name"]
        if name in states:
            feeds[name] = zero_state(spec, {"batch": len(rows)})
        elif name in lengths_of:
            feeds[name], steps = pad_rows([row[name] for row in rows])
            feeds[lengths_of[name]] = steps
        elif name not in lengths_names:  # lengths come with their sequence above
            feeds[name] = np.stack([row[name] for row in rows])
    return feeds, steps


def row_outputs(outputs: Dict[str, np.ndarray], specs: List[Dict[str, Any]], index: int, steps: Optional[int]) -> Dict[str, np.ndarray]:
    """Row ``index`` of a run's outputs, cut back to its own ``steps`` along time."""
    row = {}
    for spec in specs:
        array = np.take(outputs[spec["name"]], index, axis=spec["shape"].index("batch"))
        if steps is not None and "time" in spec["shape"]:
            array = cut_row(array, [d for d in spec["shape"] if d != "batch"].index("time"), steps)
        row[spec["name"]] = array
    return row
