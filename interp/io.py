"""Atomic file writes, hashing and provenance (git commit) shared by every artifact the workbench writes.

Everything on disk is written to a temporary file in the same directory and renamed into place, so a run
killed at any moment leaves either the old file or the new one, never half of one.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import hashlib
import json
import math
import os
import re
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

_UMASK = os.umask(0o022)
os.umask(_UMASK)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it is fsynced and renamed onto ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=_temp_prefix(path), suffix=suffix + ".tmp", dir=path.parent)
    os.fchmod(fd, 0o666 & ~_UMASK)  # mkstemp makes files private (0600); give the user's usual permissions
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        with open(tmp_path, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def _temp_prefix(path: Path, kind: str = "tmp") -> str:
    """Temporary names carry the writer's pid (``.NAME.tmp1234.xxxx``) so a later run can tell a killed writer's
    leftovers (pid gone) from a live writer's work in progress (see ``remove_stale_temps``)."""
    return f".{path.name}.{kind}{os.getpid()}."


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two directory entries (Linux ``renameat2(RENAME_EXCHANGE)``); False where unsupported."""
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    return renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary directory beside ``path``; on success it replaces ``path`` (a reader never sees a half-
    written directory: it sees the old one or the new one). The swap is one atomic ``renameat2`` exchange where
    the filesystem supports it; elsewhere the old directory is renamed aside first (a kill between the two
    renames leaves it as ``.NAME.old<pid>.*``, which ``remove_stale_temps`` puts back)."""
    import shutil

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=_temp_prefix(path), dir=path.parent))
    tmp.chmod(0o777 & ~_UMASK)  # mkdtemp makes directories private (0700)
    try:
        yield tmp
        if not path.exists():
            tmp.rename(path)
        elif _exchange(tmp, path):  # tmp now holds the old directory, removed in `finally`
            pass
        else:
            old = Path(tempfile.mkdtemp(prefix=_temp_prefix(path, "old"), dir=path.parent))
            os.replace(path, old)
            tmp.rename(path)
            shutil.rmtree(old)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def remove_stale_temps(directory: str | os.PathLike, name: str = "*") -> list[Path]:
    """Remove the temporary files and directories that ``atomic_path``/``atomic_dir`` writers of ``name`` (a glob)
    left in ``directory`` when they were killed (their pid is gone); a live writer's are kept. A directory renamed
    aside by a swap that was cut short is put back when its target is missing. Returns what was removed.

    >>> remove_stale_temps("runs/cache/resid1", "shard_*")   # the 17 MB temp shards of a killed cache run
    """
    import shutil

    removed: list[Path] = []
    directory = Path(directory)
    if not directory.is_dir():
        return removed
    for p in sorted(directory.glob(f".{name}.*")):
        m = re.fullmatch(r"\.(?P<target>.+?)\.(?P<kind>tmp|old)(?P<pid>\d+)\..*", p.name)
        if m is None or _pid_alive(int(m["pid"])):
            continue
        target = directory / m["target"]
        if m["kind"] == "old" and p.is_dir() and not target.exists():
            p.rename(target)  # the swap was killed between its renames: the old directory is still the valid one
            continue
        shutil.rmtree(p) if p.is_dir() and not p.is_symlink() else p.unlink()
        removed.append(p)
    return removed


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def to_jsonable(obj: Any) -> Any:
    """Dataclasses, paths and tuples to plain JSON types."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, torch.dtype):
        return str(obj).removeprefix("torch.")
    if isinstance(obj, float) and not math.isfinite(obj):
        return None  # strict JSON has no NaN/Infinity: a non-finite number is written as null
    return obj


def atomic_write_json(path: str | os.PathLike, obj: Any) -> None:
    """Strict JSON (non-finite floats become null), written atomically."""
    atomic_write_text(path, json.dumps(to_jsonable(obj), indent=2, sort_keys=False, allow_nan=False) + "\n")


def read_json(path: str | os.PathLike) -> Any:
    """A JSON file; a malformed or non-UTF-8 one raises ``InputError`` naming the file and the fault."""
    from interp.errors import InputError

    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise InputError(f"{path} is not valid JSON ({err}); fix or restore the file.") from err


def atomic_save_safetensors(
    path: str | os.PathLike, tensors: dict[str, torch.Tensor], metadata: dict[str, str] | None = None
) -> None:
    """safetensors.save_file through a temporary file (tensors made contiguous, shared storage copied)."""
    flat = {k: v.detach().contiguous().clone() if v.is_shared() else v.detach().contiguous() for k, v in tensors.items()}
    with atomic_path(path, suffix=".safetensors") as tmp:
        save_file(flat, str(tmp), metadata=metadata)


def load_safetensors(path: str | os.PathLike, device: str | torch.device = "cpu") -> dict[str, torch.Tensor]:
    return load_file(str(path), device=str(device))


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def hash_state_dict(state: dict[str, torch.Tensor]) -> str:
    """A short, order-independent content hash of a set of tensors (model identity for caches and SAEs)."""
    h = hashlib.sha256()
    for name in sorted(state):
        t = state[name].detach().to("cpu").contiguous()
        h.update(name.encode())
        h.update(str(tuple(t.shape)).encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()[:16]


def git_commit() -> str | None:
    """The workbench's git commit (with '-dirty' when the tree has changes), or None outside a checkout."""
    root = Path(__file__).resolve().parent.parent
    try:
        sha = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True, text=True, timeout=5,
        ).stdout.strip()
        return sha + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return None


def is_disk_full(err: BaseException) -> bool:
    """ENOSPC, or torch's zip writer failing on a full disk (``unexpected pos``), anywhere in the cause chain."""
    while err is not None:
        if getattr(err, "errno", None) == errno.ENOSPC or "unexpected pos" in str(err) or "No space left" in str(err):
            return True
        err = err.__cause__ or err.__context__
    return False


@contextlib.contextmanager
def dir_lock(lock_path: str | os.PathLike, what: str) -> Iterator[None]:
    """Hold an exclusive lock on ``lock_path`` while a process writes the directory it guards.

    ``flock`` locks belong to the open file, so the operating system drops them when the process dies (even by
    ``kill -9``): a crashed run never leaves a stale lock. A second writer fails at once with a clear error. A
    directory this call created and that holds nothing but the lock when the block ends (a run refused before it
    wrote anything) is removed again, so a failed run leaves no empty directory behind.
    """
    import fcntl
    import shutil

    from interp.errors import RunDirError

    path = Path(lock_path)
    created = not path.parent.exists()
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with open(path, "a+") as f:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError as err:
                f.seek(0)
                holder = f.read().strip() or "another process"
                raise RunDirError(f"{what} is being written by {holder}; wait for it to finish (or stop it), or "
                                  "write somewhere else.") from err
            f.seek(0)
            f.truncate()
            f.write(f"process {os.getpid()}\n")
            f.flush()
            try:
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)
    finally:
        if created and path.parent.is_dir() and {p.name for p in path.parent.iterdir()} <= {path.name}:
            shutil.rmtree(path.parent, ignore_errors=True)
