"""Giving memory back to the system after large requests, so the server's resident size returns
to where it was instead of staying at its largest request.

glibc keeps freed memory in its heaps for reuse, and raises its mmap threshold after each large
free, so a server that once ran a big batch keeps that much resident. A fixed threshold makes
every buffer over 128 KiB its own mapping (returned whole when freed); what smaller buffers
leave free in the heaps is handed back by ``malloc_trim`` once it passes 16 MiB. Elsewhere
than glibc these are no-ops.
"""

import ctypes
import ctypes.util
import threading
import time
from typing import Optional

_M_MMAP_THRESHOLD = -3  # mallopt parameter, from glibc's malloc.h
_MMAP_THRESHOLD_BYTES = 128 * 1024
CHECK_EVERY_S = 1.0
TRIM_ABOVE_BYTES = 16 * 1024 * 1024  # free bytes held in the heaps worth giving back


class _MallInfo2(ctypes.Structure):
    """glibc's ``struct mallinfo2`` (2.33 and later): sizes of the heaps, in bytes."""

    _fields_ = [(name, ctypes.c_size_t) for name in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]  # fmt: skip


_libc: Optional[ctypes.CDLL] = None
_ran = threading.Event()  # set by runs since the last check


def configure() -> None:
    """Call once at server start: fixes the mmap threshold and starts the trimming thread."""
    global _libc
    if _libc is not None:
        return
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name or "libc.so.6")
        libc.mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD_BYTES)
        libc.malloc_trim  # noqa: B018 - glibc only: fails on musl and macOS
        libc.mallinfo2.restype = _MallInfo2
    except (OSError, AttributeError):
        return
    _libc = libc
    threading.Thread(target=_trim_forever, name="zoo-trim", daemon=True).start()


def after_run() -> None:
    """Marks that a run (or a closed session) freed memory; checked within a second."""
    _ran.set()


def _trim_forever() -> None:
    # A trim walks every heap and hands back free pages (tens of milliseconds in a loaded
    # server, holding the allocator's locks): done only when there is enough to give back,
    # looked at no more than once every CHECK_EVERY_S however many requests run.
    assert _libc is not None
    while True:
        _ran.wait()
        time.sleep(CHECK_EVERY_S)
        _ran.clear()
        if _libc.mallinfo2().fordblks >= TRIM_ABOVE_BYTES:
            _libc.malloc_trim(0)
