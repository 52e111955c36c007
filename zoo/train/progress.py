"""Progress inside an epoch: a rich bar on a terminal, a plain line now and then in a log.

Rich draws nothing while stdout is not a terminal and prints its last frame when it stops, so
a log (``zoo train ... > train.log``, a batch job) showed nothing during 80-165 s epochs and
then a stray bar after the final "stopped by SIGTERM" line. In a log the loop prints one line every ``LOG_EVERY_S`` seconds instead, and it
closes the display before it prints its last line.
"""

from time import perf_counter
from typing import Any, Optional

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

LOG_EVERY_S = 30.0  # seconds between two progress lines in a log


class EpochProgress:
    """Shows nothing (a process that does not write, or a quiet console); the base of both."""

    def start_epoch(self, epoch: int, epochs: int, step: int, steps: int) -> None:
        """``epoch`` counts from 1; ``step`` steps of it are done (more than 0 on --resume)."""

    def advance(self, step: int, loss: float, rate: float) -> None:
        """After step ``step`` of the epoch: the epoch's mean loss and items per second."""

    def end_epoch(self) -> None:
        """The epoch's steps are done (its validation line comes next)."""

    def close(self) -> None:
        """Stops the display; whatever the loop prints next comes after it."""

    def __enter__(self) -> "EpochProgress":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class BarProgress(EpochProgress):
    """A terminal: rich's bar, redrawn in place, removed at each epoch's end."""

    def __init__(self, console: Console) -> None:
        columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                   TextColumn("loss {task.fields[loss]:.4f}  {task.fields[rate]:,.0f} items/s"), TimeElapsedColumn()]  # fmt: skip
        self.progress = Progress(*columns, console=console)
        self.progress.start()
        self.bar: Optional[Any] = None

    def start_epoch(self, epoch: int, epochs: int, step: int, steps: int) -> None:
        self.bar = self.progress.add_task(f"epoch {epoch}/{epochs}", total=steps, completed=step, loss=0.0, rate=0.0)

    def advance(self, step: int, loss: float, rate: float) -> None:
        if self.bar is not None:
            self.progress.update(self.bar, completed=step, loss=loss, rate=rate)

    def end_epoch(self) -> None:
        if self.bar is not None:
            self.progress.remove_task(self.bar)
            self.bar = None

    def close(self) -> None:
        self.progress.stop()  # a second call does nothing


class LineProgress(EpochProgress):
    """A log: "epoch 3/12 step 120/400: loss 1.2345, 310 items/s, 95 s in, ~210 s left" every
    ``every`` seconds of an epoch; an epoch shorter than that prints only its result line."""

    def __init__(self, console: Console, every: float) -> None:
        self.console = console
        self.every = every
        self.epoch, self.epochs, self.first_step, self.steps = 0, 0, 0, 0
        self.started = self.last = 0.0

    def start_epoch(self, epoch: int, epochs: int, step: int, steps: int) -> None:
        self.epoch, self.epochs, self.first_step, self.steps = epoch, epochs, step, steps
        self.started = self.last = perf_counter()

    def advance(self, step: int, loss: float, rate: float) -> None:
        now = perf_counter()
        if now - self.last < self.every or step >= self.steps:
            return
        self.last = now
        elapsed = now - self.started
        # The time left from this invocation's pace (a resumed epoch starts at first_step).
        left = elapsed / max(step - self.first_step, 1) * (self.steps - step)
        self.console.print(f"epoch {self.epoch}/{self.epochs} step {step}/{self.steps}: loss {loss:.4f}, "
                           f"{rate:,.0f} items/s, {elapsed:.0f} s in, ~{left:.0f} s left",
                           markup=False, highlight=False)  # fmt: skip


def open_progress(console: Console, shown: bool) -> EpochProgress:
    """The display for ``console``: a bar on a terminal, lines in a log, nothing when not
    ``shown`` (a process other than rank 0) or when the console is quiet (library calls)."""
    if not shown or console.quiet:
        return EpochProgress()
    return BarProgress(console) if console.is_terminal else LineProgress(console, LOG_EVERY_S)
