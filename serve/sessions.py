"""Server-side state for stateful models: a session holds the state after its last chunk, so a
client sends only the next chunk. Sessions idle past the TTL expire; the number open and the
bytes of state they hold together are capped, and a step that would pass the byte cap is
refused before it runs."""

import asyncio
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Dict, Optional

import numpy as np

from serve import memory
from serve.body import RequestError


@dataclass
class Session:
    model: str
    state: Optional[Dict[str, np.ndarray]] = None  # None until the first chunk: zeros then
    steps: int = 0
    touched: float = field(default_factory=time.monotonic)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)  # one chunk at a time
    reserved: int = 0  # bytes the step in progress will hold

    @property
    def bytes(self) -> int:
        held = sum(a.nbytes for a in self.state.values()) if self.state else 0
        return max(held, self.reserved)


class SessionStore:
    def __init__(self, max_sessions: int, max_bytes: int, ttl_s: float) -> None:
        self.max_sessions = max_sessions
        self.max_bytes = max_bytes
        self.ttl_s = ttl_s
        self.sessions: Dict[str, Session] = {}
        self.lock = threading.Lock()

    def expire(self) -> int:
        """Drops idle sessions; returns how many are left."""
        now = time.monotonic()
        with self.lock:
            idle = [k for k, s in self.sessions.items() if now - s.touched > self.ttl_s]
            for key in idle:
                del self.sessions[key]
            left = len(self.sessions)
        if idle:
            memory.after_run()
        return left

    def open(self, model: str) -> str:
        if self.expire() >= self.max_sessions:
            raise RequestError(429, f"{self.max_sessions} sessions are open, the limit (--max-sessions); end one with DELETE or wait for idle ones to expire")
        key = uuid.uuid4().hex
        with self.lock:
            self.sessions[key] = Session(model)
        return key

    def get(self, model: str, key: str) -> Session:
        self.expire()
        with self.lock:
            session = self.sessions.get(key)
        if session is None or session.model != model:
            raise RequestError(404, f"no open session {key[:64]!r} for {model} (ended, expired after {self.ttl_s:g} s idle, or never opened)")
        session.touched = time.monotonic()
        return session

    def reserve(self, session: Session, new_bytes: int) -> None:
        """Refuses a step whose state (``new_bytes``) would take the sessions past the byte cap."""
        with self.lock:
            total = sum(s.bytes for s in self.sessions.values()) - session.bytes + new_bytes
            if total > self.max_bytes:
                raise RequestError(429, f"open sessions would hold {total // 1024} KiB of state; the limit is {self.max_bytes // 1024} KiB (--max-session-mb); end sessions with DELETE or use a smaller batch")
            session.reserved = new_bytes

    def close(self, model: str, key: str) -> None:
        self.get(model, key)
        with self.lock:
            self.sessions.pop(key, None)
        memory.after_run()

    def count(self) -> int:
        with self.lock:
            return len(self.sessions)
