"""Where an export's folders go: a temporary sibling of ``--out`` renamed into place when
complete, what ``--overwrite`` may replace, where a bundle that failed verification is kept,
and the leftovers of exports that were killed before they could clean up.

Our own names, all hidden siblings of the target, ending in the PID of the export that made
them: ``.NAME.tmp-PID`` (the bundle being written), ``.NAME.old-PID`` (the previous bundle
during the swap) and ``.zoo-export-PID-*`` (``--format triton``'s scratch folder).
"""

import os
import re
import shutil
import signal
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, List

_STALE = re.compile(r"^\.(?P<name>.+)\.(?P<kind>tmp|old)-(?P<pid>\d+)$|^\.zoo-export-(?P<scratch>\d+)-.+$")
_HELD = {signal.SIGTERM, signal.SIGINT}  # signals that would raise between the two renames of a swap


@contextmanager
def naming(path: Path) -> Iterator[None]:
    """An OSError raised while writing ``path`` names it: a failed write() (full disk, file too
    large) carries no file name, and "error: No space left on device" would not say where."""
    try:
        yield
    except OSError as exc:
        if exc.filename is None:
            raise type(exc)(exc.errno, exc.strerror, str(path)) from None
        raise


def temporary_for(out: Path) -> Path:
    return out.with_name(f".{out.name}.tmp-{os.getpid()}")


def failed_for(out: Path) -> Path:
    """Where ``--keep-failed`` keeps a bundle that failed verification: beside ``out``, replaced
    by each failed export."""
    return out.with_name(f"{out.name}.failed")


def scratch_in(parent: Path) -> Path:
    return Path(tempfile.mkdtemp(dir=parent, prefix=f".zoo-export-{os.getpid()}-"))


def make_temporary(out: Path) -> Path:
    """An empty ``.NAME.tmp-PID`` beside ``out``; an unwritable parent is named in the error."""
    temporary = temporary_for(out)
    shutil.rmtree(temporary, ignore_errors=True)
    try:
        temporary.mkdir(parents=True)
    except OSError as exc:
        if exc.filename != str(temporary):
            raise
        raise type(exc)(exc.errno, exc.strerror, str(out.parent)) from None  # the hidden name would puzzle
    return temporary


def check_target(out: Path, overwrite: bool, marker: str, what: str) -> None:
    """Refuses to touch ``out`` unless it is absent, an empty folder, or ``what`` (a folder with
    ``marker``) and ``overwrite`` is set: --overwrite replaces an export, never anything else."""
    if not os.path.lexists(out):
        return
    if out.is_dir() and not out.is_symlink() and not any(out.iterdir()):
        return  # nothing in it to lose
    if not out.is_dir() or not (out / marker).is_file():
        raise ValueError(
            f"{out} exists and is not {what} (it has no {marker}); --overwrite replaces only {what}: "
            "choose another --out, or move it away yourself"
        )
    if not overwrite:
        raise ValueError(f"{out} already exists; pass --overwrite to replace it or choose another --out")


@contextmanager
def _signals_held() -> Iterator[None]:
    """SIGTERM and SIGINT wait until the block is done (their handlers run right after it)."""
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, _HELD)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _remove(path: Path) -> None:
    if path.is_symlink():
        path.unlink()
    else:
        shutil.rmtree(path, ignore_errors=True)


def replace(temporary: Path, out: Path) -> None:
    """Renames the finished folder to ``out``; an old one there is removed only after. SIGTERM
    and SIGINT wait until the old one is gone, so none lands between the two renames: ``out``
    always holds the old or the new folder, and nothing is left beside it."""
    old = out.with_name(f".{out.name}.old-{os.getpid()}")
    with _signals_held():
        moved = os.path.lexists(out)
        if moved:
            os.replace(out, old)
        try:
            os.replace(temporary, out)
        except OSError:
            if moved:
                os.replace(old, out)
            raise
        if moved:
            _remove(old)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True  # someone else's process, or not a PID at all: not ours to judge
    return True


def remove_stale(parent: Path) -> List[Path]:
    """Removes our temporary folders in ``parent`` whose export is no longer running (killed
    with SIGKILL, or the machine went down); returns them. A ``.NAME.old-PID`` whose ``NAME`` is
    gone is the only copy of that bundle (killed mid-swap) and is renamed back instead."""
    handled: List[Path] = []
    try:
        entries = list(os.scandir(parent))
    except OSError:
        return handled  # a parent we cannot read: the export itself will say why
    for entry in entries:
        match = _STALE.match(entry.name)
        if not match or not entry.is_dir(follow_symlinks=False):
            continue
        if _alive(int(match.group("pid") or match.group("scratch"))):
            continue
        path = Path(entry.path)
        try:
            if match.group("kind") == "old" and not os.path.lexists(parent / match.group("name")):
                os.replace(path, parent / match.group("name"))
            else:
                shutil.rmtree(path)
        except OSError:
            continue  # cleaning up is a courtesy: it must not stop the export
        handled.append(path)
    return handled
