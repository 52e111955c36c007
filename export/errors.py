"""An exception from torch, inductor or onnxscript as one line for a message or a table cell:
their messages run to pages (graphs, guards, tracebacks), and the first line says what failed."""


def one_line(exc: BaseException) -> str:
    """``Type: first non-blank line of the message`` (``Type`` alone when there is none)."""
    first = next((line.strip() for line in str(exc).splitlines() if line.strip()), "")
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__
