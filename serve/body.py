"""Request bodies: read within the byte limit while they stream in, parsed as one JSON object,
and typed fields read with their ranges. Every problem is a ``RequestError`` (a 4xx)."""

import json
import math
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence

from starlette.requests import Request

from serve.budget import ByteBudget, Ticket

INT64_MAX = 2**63 - 1


class RequestError(ValueError):
    """A request the server refuses; ``status`` is the HTTP code. ``close``: end the connection
    after answering (the rest of an oversized body is not read)."""

    def __init__(self, status: int, message: str, close: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.close = close


def shown(value: Any, width: int = 40) -> str:
    """A client's value in a message, cut short: errors never echo a large body back."""
    text = repr(value)
    return text if len(text) <= width else text[: width - 3] + "..."


FREE_BYTES = 64 * 1024  # of each body, read without taking from the shared reading budget
MAX_CONTAINERS = 65_536  # JSON lists and objects in one body: far above any real request


@dataclass(frozen=True)
class BodyBudgets:
    """``reading``: the bytes of bodies still arriving (past each one's first 64 KiB): a client
    that stalls holds only what it sent. ``parsing``: whole bodies from parsing until they are
    answered, what their Python objects cost (bounded by MAX_CONTAINERS, at most ~12 x the body)."""

    reading: ByteBudget
    parsing: ByteBudget


async def read_json(request: Request, limit: int, budgets: BodyBudgets, ticket: Ticket) -> Dict[str, Any]:
    """The body as a JSON object; refused with 413 as soon as it passes ``limit`` bytes, whether
    or not it declared a Content-Length (a chunked body is counted as it arrives)."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise RequestError(400, f"Content-Length {shown(declared)} is not a byte count", close=True)
        if int(declared) > limit:
            raise RequestError(413, f"the body is {declared} bytes; the limit is {limit} (--max-body-kb)", close=True)
    chunks: List[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise RequestError(413, f"the body is over {limit} bytes, the limit (--max-body-kb); send fewer instances per request", close=True)
        charge = max(0, size - FREE_BYTES) - ticket.holds(budgets.reading)
        if charge > 0:
            await ticket.take(budgets.reading, charge)
        chunks.append(chunk)
    raw = b"".join(chunks)
    chunks.clear()
    if raw.count(b"[") + raw.count(b"{") > MAX_CONTAINERS:
        raise RequestError(413, f"the body holds more than {MAX_CONTAINERS} JSON lists and objects; send fewer instances per request")
    await ticket.take(budgets.parsing, len(raw))
    ticket.give_back(budgets.reading)
    try:
        body = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RequestError(400, f"the body is not valid JSON ({exc})") from None
    except ValueError:  # an integer of thousands of digits (Python's int_max_str_digits)
        raise RequestError(400, "the body holds a number with too many digits") from None
    except RecursionError:
        raise RequestError(400, "the body's JSON is nested too deeply") from None
    if not isinstance(body, dict):
        raise RequestError(400, "the body must be a JSON object")
    return body


def integer(body: Dict[str, Any], key: str, default: int, low: int, high: int, limit: str = "") -> int:
    """``body[key]`` (or ``default``) as an integer in [low, high]; true/false and 1.5 are refused.
    ``limit``: the option that sets ``high``; going past it is then a 413, like every limit."""
    value = body.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        over = limit and isinstance(value, int) and not isinstance(value, bool) and value > high
        where = f" ({limit})" if over else ""
        raise RequestError(413 if over else 422, f'"{key}" must be an integer in [{low}, {high}]{where}, got {shown(value)}')
    return value


def number(body: Dict[str, Any], key: str, default: float, low: float, high: float, zero: bool = False) -> float:
    """``body[key]`` (or ``default``) as a finite number in [low, high] (or exactly 0 if ``zero``)."""
    value = body.get(key, default)
    ok = not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)
    if ok and (low <= value <= high or (zero and value == 0)):
        return float(value)
    allowed = f"0 or a number in [{low:g}, {high:g}]" if zero else f"a number in [{low:g}, {high:g}]"
    raise RequestError(422, f'"{key}" must be {allowed}, got {shown(value)}')


def text(body: Dict[str, Any], key: str) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value:
        raise RequestError(422, f'"{key}" must be a non-empty string, got {shown(value)}')
    return value


def names(body: Dict[str, Any], key: str, allowed: Sequence[str], default: Optional[List[str]]) -> Optional[List[str]]:
    """``body[key]``: a list of names out of ``allowed`` (which outputs to return)."""
    if key not in body:
        return default
    value = body[key]
    if not isinstance(value, list) or not all(isinstance(v, str) and v in allowed for v in value):
        raise RequestError(422, f'"{key}" must be a list of names out of {", ".join(allowed)}, got {shown(value)}')
    return value
