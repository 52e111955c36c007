"""Server-side state for stateful models: a session holds the state after its last chunk, so a
client sends only the next chunk. Sessions idle past the TTL expire; the number open is capped."""

import asyncio
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Dict, Optional

import numpy as np

from serve.inputs import RequestError


@dataclass
class Session:
    model: str
    state: Optional[Dict[str, np.ndarray]] = None  # None until the first chunk: zeros then
    steps: int = 0
    touched: float = field(default_factory=time.monotonic)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)  # one chunk at a time


class SessionStore:
    def __init__(self, max_sessions: int, ttl_s: float) -> None:
        self.max_sessions = max_sessions
        self.ttl_s = ttl_s
        self.sessions: Dict[str, Session] = {}
        self.lock = threading.Lock()

    def expire(self) -> int:
        """Drops idle sessions; returns how many are left."""
        now = time.monotonic()
        with self.lock:
            for key in [k for k, s in self.sessions.items() if now - s.touched > self.ttl_s]:
                del self.sessions[key]
            return len(self.sessions)

    def open(self, model: str) -> str:
        if self.expire() >= self.max_sessions:
            raise RequestError(429, f"{self.max_sessions} sessions are open, the limit; end one with DELETE or wait for idle ones to expire")
        key = uuid.uuid4().hex
        with self.lock:
            self.sessions[key] = Session(model)
        return key

    def get(self, model: str, key: str) -> Session:
        self.expire()
        with self.lock:
            session = self.sessions.get(key)
        if session is None or session.model != model:
            raise RequestError(404, f"no open session {key!r} for {model} (ended, expired after {self.ttl_s:g} s idle, or never opened)")
        session.touched = time.monotonic()
        return session

    def close(self, model: str, key: str) -> None:
        self.get(model, key)
        with self.lock:
            self.sessions.pop(key, None)

    def count(self) -> int:
        with self.lock:
            return len(self.sessions)
