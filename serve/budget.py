"""Shared allowances of bytes, so that however many clients send large bodies at once, only so
much is held in memory together; the rest wait, and their wait counts toward their timeout.

A request takes from them through its ``Ticket``, which gives everything back when the request
is answered (or fails, or times out). Everything here runs on the event loop's thread.
"""

import asyncio
from typing import Dict, List, Tuple


class ByteBudget:
    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.used = 0
        self.waiters: List["asyncio.Future[None]"] = []

    async def take(self, size: int) -> int:
        """Waits until ``size`` bytes fit (one request may always take the whole capacity) and
        takes them; returns what was taken."""
        size = min(size, self.capacity)
        while self.used + size > self.capacity:
            waiter = asyncio.get_running_loop().create_future()
            self.waiters.append(waiter)
            try:
                await waiter
            finally:
                if waiter in self.waiters:
                    self.waiters.remove(waiter)
        self.used += size
        return size

    def give(self, size: int) -> None:
        """Gives ``size`` bytes back and wakes the waiters (they check again). Nothing to
        await: a cancelled request still gives back what it took."""
        self.used -= size
        woken, self.waiters = self.waiters, []
        for waiter in woken:
            if not waiter.done():
                waiter.set_result(None)


class Ticket:
    """What one request holds of each budget."""

    def __init__(self) -> None:
        self.held: Dict[int, Tuple[ByteBudget, int]] = {}  # id(budget) -> (budget, bytes)

    def holds(self, budget: ByteBudget) -> int:
        return self.held.get(id(budget), (budget, 0))[1]

    async def take(self, budget: ByteBudget, size: int) -> None:
        taken = await budget.take(size)
        self.held[id(budget)] = (budget, self.holds(budget) + taken)

    def give_back(self, budget: ByteBudget) -> None:
        _, size = self.held.pop(id(budget), (budget, 0))
        if size:
            budget.give(size)

    def give_back_all(self) -> None:
        for budget, _ in list(self.held.values()):
            self.give_back(budget)
