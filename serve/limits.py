"""What one server lets a client spend, in the units that cost: bytes read, token-steps run,
bytes answered, bytes of session state, seconds. Every limit is checked before the work it
bounds starts; `zoo serve --help` and the README list them with these defaults.

``Settings`` is the whole server's: the limits, dynamic batching, the model threads and the
connection guards. Its defaults (and the limits') are `zoo serve`'s, declared only here; this
module imports nothing heavy, so the CLI reads them without loading the server.
"""

from dataclasses import dataclass, field, fields
from typing import Dict



@dataclass(frozen=True)
class Limits:
    max_instances: int = 256  # rows (instances, or the batch axis of explicit tensors) per request
    max_sequence: int = 4096  # steps per instance, tokens per prefix, steps to generate or decode
    # Rows x steps of one request, and of one model run after dynamic batching (a padded batch
    # never passes it: long rows run in batches of their own). What a run holds in memory grows
    # with it: about 13 KB per token-step for the README's surname GRU at its recipe's size.
    max_tokens: int = 8192
    max_body_bytes: int = 2 * 1024 * 1024  # counted while the body streams in
    max_reply_bytes: int = 2 * 1024 * 1024  # estimated from the output shapes before running
    max_sessions: int = 1000
    max_session_bytes: int = 64 * 1024 * 1024  # the state all open sessions hold together
    session_ttl_s: float = 600.0
    timeout_s: float = 30.0  # a request past it is answered 504 and its model run is stopped

    def table(self) -> Dict[str, object]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True)
class Settings:
    max_batch: int = 32  # rows per model run; 1 turns batching off
    max_delay_ms: float = 5.0  # how long the first request of a batch waits for others
    limits: Limits = field(default_factory=Limits)
    workers: int = 2  # threads running models
    # Connections (``serve.protocol.ConnectionGuards``): in all (503 past it), from one client
    # address (429), and the seconds from connecting (or the last answer) to a request's
    # complete headers (408).
    max_connections: int = 256
    max_client_connections: int = 64
    header_timeout_s: float = 10.0
