"""Making and replacing the run directory `zoo train` writes (``zoo.store.run`` lists its files
and reads them; ``zoo.rebuild.load_run`` builds its model): a new run, a resumed one, or an
overwritten one, and the config.json document it starts with.
"""

import shutil
from pathlib import Path
from typing import Any, Dict, Optional

from zoo.data import DataSet
from zoo.registry import Config, ModelSpec
from zoo.store import LAST, RUN_ENTRIES, config_to_dict, versions
from zoo.train.checkpoint import checkpoint_exists, recover_checkpoint


def _run_entry(name: str) -> bool:
    """A run file, or one being written (``write_atomic``'s ``.NAME.tmp-PID``)."""
    return name in RUN_ENTRIES or (name.startswith(".") and name.partition(".tmp-")[0][1:] in RUN_ENTRIES)


def check_out(out: Path, resume: bool, overwrite: bool) -> None:
    """What ``prepare_out`` will do is allowed: a new or empty directory, a run to resume (with
    a checkpoint, or one a crash left recoverable) or a run to overwrite; never a directory
    that is not a run. Reads only."""
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} is a file, not a directory; choose another --out")
    if resume:
        if not checkpoint_exists(out / LAST):
            raise ValueError(f"--resume: {out} holds no checkpoint (no {LAST}/); drop --resume to start")
        return
    entries = sorted(out.iterdir()) if out.exists() else []
    foreign = [e.name for e in entries if not _run_entry(e.name)]
    if foreign:
        shown = ", ".join(foreign[:3]) + (f" and {len(foreign) - 3} more" if len(foreign) > 3 else "")
        raise ValueError(
            f"--out {out} is not a run directory (it holds {shown}); --overwrite replaces only runs, "
            "so choose another --out"
        )
    if entries and not overwrite:
        raise ValueError(f"{out} already exists; pass --resume to continue it or --overwrite to replace it")


def prepare_out(out: Path, resume: bool, overwrite: bool) -> None:
    """After ``check_out``: puts back a checkpoint a crash interrupted (--resume), or deletes the
    old run's files (--overwrite: only a run's files, nothing else is there), or makes ``out``."""
    check_out(out, resume, overwrite)
    if resume:
        recover_checkpoint(out / LAST)
        return
    empty_folder(out)


def empty_folder(out: Path, last: str = "") -> None:
    """Deletes what ``out`` holds (the entry named ``last`` after the others: a process killed
    midway leaves the file that marks the folder as ours) and makes sure it exists."""
    if out.exists():
        for entry in sorted(out.iterdir(), key=lambda e: e.name == last):
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
    out.mkdir(parents=True, exist_ok=True)


def check_same_run(run: Path, document: Dict[str, Any], name: str, data: DataSet) -> None:
    """--resume must continue the model it trained, on the data it trained on."""
    if document.get("model") != name:
        raise ValueError(f"--resume: {run} is a run of {document.get('model')}, not {name}; name that model")
    stored = document.get("data", {})
    now = data.metadata()
    changed = [k for k in ("name", "sizes", "vocab", "labels") if stored.get(k) != now[k]]
    if changed:
        raise ValueError(
            f"--resume: the data now differs from what {run} trained on ({', '.join(changed)}); "
            "the files under --data changed; restore them or start a new run"
        )


def run_document(
    spec: ModelSpec, config: Config, data: DataSet, data_arg: Optional[str], training: Dict[str, Any]
) -> Dict[str, Any]:
    return {
        "model": spec.name,
        "task": spec.task,
        "config": config_to_dict(config),
        "data": {**data.metadata(), "argument": data_arg},
        "training": training,
        "versions": versions("torch"),
    }
