"""JSON and JSON-lines files, written atomically (``zoo.store.atomic``), as UTF-8."""

import json
from pathlib import Path
from typing import Any

from zoo.store.atomic import write_atomic


def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def write_json(path: Path, data: Any) -> None:
    text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    write_atomic(path, lambda p: p.write_text(text, encoding="utf-8"))


def read_jsonl(path: Path) -> list:
    """One value per non-blank line (what ``write_jsonl`` wrote)."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def write_jsonl(path: Path, rows: list) -> None:
    text = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    write_atomic(path, lambda p: p.write_text(text, encoding="utf-8"))
