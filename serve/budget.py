"""A shared allowance of bytes that requests take before reading their bodies and give back
when answered, so that however many clients send large bodies at once, only so many are read,
parsed and held in memory together (the rest wait, and their wait counts toward the timeout)."""

import asyncio
from contextlib import asynccontextmanager
from typing import AsyncIterator, List


class ByteBudget:
    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.used = 0
        self.waiters: List["asyncio.Future[None]"] = []

    @asynccontextmanager
    async def hold(self, size: int) -> AsyncIterator[None]:
        size = min(size, self.capacity)  # one body of any allowed size may always go alone
        while self.used + size > self.capacity:
            waiter = asyncio.get_running_loop().create_future()
            self.waiters.append(waiter)
            try:
                await waiter
            finally:
                if waiter in self.waiters:
                    self.waiters.remove(waiter)
        self.used += size
        try:
            yield
        finally:
            # Everything here runs on the event loop's thread: no lock, and nothing to await, so
            # a cancelled request still gives its bytes back.
            self.used -= size
            woken, self.waiters = self.waiters, []
            for waiter in woken:
                if not waiter.done():
                    waiter.set_result(None)
