"""Replacing report folders and files so that a reader, a concurrent writer or a writer killed
with SIGKILL at any moment sees the old version or the new one, complete, never a mix.

A folder ``<parent>/<name>`` is written as a hidden sibling ``.<name>.tmp-<tag>`` and swapped
into place under an exclusive ``flock`` on ``<parent>/.publish.lock``: on Linux by one atomic
exchange of the two paths (``renameat2(RENAME_EXCHANGE)``: ``<name>`` is never missing), then
the old folder is renamed ``.<name>.del-<tag>`` and deleted; where the file system cannot
exchange, by two renames::

    <name>             -> .<name>.old-<tag>     (the previous version, complete)
    .<name>.tmp-<tag>  -> <name>                (the new version, complete)
    .<name>.old-<tag>  -> .<name>.del-<tag>     (then deleted)

While a writer fills its ``.tmp-`` folder it holds a ``flock`` on ``.<name>.tmp-<tag>.lock``
(created under the folder lock, before the folder). Whoever takes the folder lock first
repairs what killed writers left in ``<parent>`` (:func:`recover`):

* a ``.tmp-`` entry whose ``.lock`` is free (its writer died) or absent: deleted;
* a ``.old-`` folder: put back as ``<name>`` when ``<name>`` is missing (the writer died
  between the two renames: the previous version is restored), else deleted;
* a ``.del-`` folder (a deletion that was cut short): deleted.

Files and folders are fsync'ed before they are renamed and the parent after, so a finished
swap also survives a power cut. A Ctrl-C during the swap takes effect when it is done. The
lock files (``.publish.lock`` and a writer's ``.tmp-<tag>.lock`` until it finishes) are the
only things left beside the reports.
``flock`` needs a file system that honours it (local disks do; NFS v4 does).

A write the system refuses (a full disk, a read-only folder) is raised as an ``OSError``
naming the file or folder the user knows (never a hidden temporary one) and saying what the
system said (:func:`write_failure`): polars writes in Rust and reports a full disk as a
``ComputeError``, which would otherwise reach the user as an unexpected error.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import os
import re
import shutil
import signal
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

from flows import progress

LOCK = ".publish.lock"
_ENTRY = re.compile(r"\.(?P<name>.+)\.(?P<kind>tmp|old|del)-(?P<tag>[0-9a-f]{12})(?P<guard>\.lock)?")
TEMP_FILE = re.compile(r"\..+\.[0-9a-f]{32}\.tmp")
"""The hidden temporary files of :func:`replace_file` (``.<name>.<32 hex digits>.tmp``)."""
NO_SPACE = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})
"""A write the disk has no room for: the disk is full, the user's quota is used up, or the
file would pass the size limit (``ulimit -f``); told alike (:func:`write_failure`)."""
_SYSTEM_ERROR = re.compile(r"\(os error (\d+)\)|\[errno (\d+)\]", re.IGNORECASE)


def write_failure(error: BaseException, path: Path, then: str = "") -> OSError | None:
    """``error``, raised while writing ``path``, as an ``OSError`` naming ``path``; None when
    it is no refusal of the system (a bug, bad data).

    The message is what the system said, after "not written: " (and "out of disk space" for
    :data:`NO_SPACE`), then ``then`` (what that means, e.g. "; the store is as it was").
    polars writes in Rust and reports the system's error as a ``ComputeError`` (or an
    ``OSError`` without errno) whose text ends "(os error 28)"; pyarrow as an ``OSError``
    "[Errno 28] ...": both are recognised by that text.
    """
    code = error.errno if isinstance(error, OSError) else None
    if code is None and (isinstance(error, OSError) or type(error).__module__.startswith(("polars", "pyarrow"))):
        found = _SYSTEM_ERROR.search(str(error))
        code = int(found[1] or found[2]) if found else None
    if not code:
        return None
    said = os.strerror(code)
    return OSError(code, f"not written: {f'out of disk space ({said})' if code in NO_SPACE else said}{then}", str(path))


@contextlib.contextmanager
def naming(path: Path, then: str = "") -> Iterator[None]:
    """Raise a refusal of the system in the block as :func:`write_failure` of ``path``."""
    try:
        yield
    except Exception as error:
        failure = write_failure(error, path, then)
        if failure is None:
            raise
        raise failure from error


@contextlib.contextmanager
def _named_outside(tmp: Path, out: Path, unnamed: bool) -> Iterator[None]:
    """Raise a refusal of the system to write below the hidden folder ``tmp`` (deleted on an
    error) as :func:`write_failure` of the same place below ``out``, adding that nothing in
    ``out`` changed (with ``unnamed``, also one that names no path: the block writes nothing
    but below ``tmp``)."""
    try:
        yield
    except Exception as error:
        named = getattr(error, "filename", None)
        inside = isinstance(named, str) and Path(named).is_relative_to(tmp)
        if not (inside or (named is None and unnamed)):
            raise
        where = out / Path(named).relative_to(tmp) if inside else out
        failure = write_failure(error, where, "; nothing in it changed" if where == out else f"; nothing in {out} changed")
        if failure is None:
            raise
        raise failure from error


def _tag() -> str:
    return uuid.uuid4().hex[:12]


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_tree(root: Path) -> None:
    """fsync every file below ``root``, then every folder, deepest first."""
    folders = [root]
    for dirpath, dirnames, filenames in os.walk(root):
        folders += [Path(dirpath) / d for d in dirnames]
        for f in filenames:
            _fsync(Path(dirpath) / f)
    for folder in reversed(folders):
        _fsync(folder)


def _held(guard: Path) -> bool:
    """Whether a live writer holds ``guard`` (a ``.tmp-<tag>.lock`` file)."""
    try:
        fd = os.open(guard, os.O_RDWR)  # writable: NFS emulates flock with POSIX locks
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # also releases the lock if we got it
    return False


def recover(parent: Path) -> list[str]:
    """Repair what killed writers left in ``parent`` (see the module docstring); call it with
    :func:`locked` held. Returns what was done, one line per entry, for logs and tests."""
    done: list[str] = []
    try:
        entries = sorted(parent.iterdir(), key=lambda p: p.name)
    except FileNotFoundError:
        return done
    olds: dict[str, list[Path]] = {}
    for path in entries:
        if TEMP_FILE.fullmatch(path.name):
            path.unlink(missing_ok=True)
            done.append(f"deleted {path.name} (unfinished: its writer was killed)")
            continue
        m = _ENTRY.fullmatch(path.name)
        if not m:
            continue
        kind, name = m["kind"], m["name"]
        if kind == "tmp" and m["guard"]:
            if not _held(path) and not path.with_name(path.name.removesuffix(".lock")).exists():
                path.unlink(missing_ok=True)  # a writer's lock file, left by a kill after its swap
        elif kind == "tmp":
            guard = path.with_name(path.name + ".lock")
            if not _held(guard):
                _remove(path)
                guard.unlink(missing_ok=True)
                done.append(f"deleted {path.name} (unfinished: its writer was killed)")
        elif kind == "old":
            olds.setdefault(name, []).append(path)
        elif kind == "del":
            _remove(path)
            done.append(f"deleted {path.name}")
    for name, found in olds.items():
        found.sort(key=lambda p: p.stat().st_mtime_ns)
        if not (parent / name).exists():  # the writer died between the two renames
            os.replace(found.pop(), parent / name)
            done.append(f"restored {name} from its previous version (its writer was killed while swapping it)")
        for old in found:
            _discard(old)
            done.append(f"deleted {old.name}")
    if done:
        _fsync(parent)
    return done


def _discard(path: Path) -> None:
    """Delete ``path``; renamed to ``.<name>.del-<tag>`` first so that a deletion cut short is
    never mistaken for a complete previous version."""
    m = _ENTRY.fullmatch(path.name)
    name = m["name"] if m else path.name
    trash = path.with_name(f".{name}.del-{_tag()}")
    os.replace(path, trash)
    _remove(trash)


@contextlib.contextmanager
def locked(parent: Path) -> Iterator[None]:
    """Hold the exclusive lock on ``parent/.publish.lock`` (released when the block ends or the
    process dies), after :func:`recover` has repaired ``parent`` (each repair is printed as a
    progress line)."""
    with naming(parent):  # a read-only folder: one line naming it
        parent.mkdir(parents=True, exist_ok=True)
        lock = (parent / LOCK).open("ab")
    with lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        for line in recover(parent):  # not silently: a writer was killed here
            progress.say(f"{parent}: {line}")
        yield


def replace_file(path: Path, data: bytes | Callable[[BinaryIO], object]) -> None:
    """Make ``path`` hold ``data`` (bytes, or what ``data(file)`` writes) so that it is always
    either the old or the new file: written to a hidden temporary file in the same folder
    (:data:`TEMP_FILE`), fsync'ed, renamed over ``path``, then the folder fsync'ed. On any
    failure the temporary file is removed and ``path`` is untouched (a refusal of the system
    is raised naming ``path``, :func:`write_failure`); one left by a killed writer is deleted
    by the next :func:`recover` (or the price store's lock). Call it with a lock held on the
    folder (:func:`locked`, the store's)."""
    with replacing_files() as write:
        write(path, data)


@contextlib.contextmanager
def replacing_files(then: str = "; it is as it was") -> Iterator[Callable[[Path, bytes | Callable[[BinaryIO], object]], None]]:
    """Replace several files, all of them or none: yield ``write(path, data)``, which writes
    the new ``path`` to a hidden temporary file (as :func:`replace_file`) and fsyncs it; when
    the block ends without an error every one is renamed over its ``path`` and the folders
    are fsync'ed. On an error in the block (a full disk on the 19th of 60 files) the
    temporary files are deleted and no ``path`` has changed; a refusal of the system is
    raised naming the file it refused (:func:`write_failure`, its message ending ``then``).

    A file whose mode lets nobody write it (``chmod a-w``) is not replaced: ``PermissionError``.
    The renames are one at a time: a process killed among them leaves some files new and the
    others old, each complete."""
    staged: list[tuple[Path, Path]] = []

    def write(path: Path, data: bytes | Callable[[BinaryIO], object]) -> None:
        if path.exists() and not path.stat().st_mode & 0o222:
            raise PermissionError(errno.EACCES, f"not written: the file is read-only (chmod u+w lets it be replaced){then}",
                                  str(path))
        with naming(path, then):
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = temporary_file(path)
            staged.append((tmp, path))
            with tmp.open("xb") as f:
                data(f) if callable(data) else f.write(data)
            _fsync(tmp)

    try:
        yield write
        for tmp, path in staged:
            with naming(path, then):
                os.replace(tmp, path)
        for folder in dict.fromkeys(path.parent for _, path in staged):
            _fsync(folder)
    except BaseException:
        for tmp, _ in staged:
            tmp.unlink(missing_ok=True)
        raise


def temporary_file(path: Path) -> Path:
    """The hidden temporary name a new version of ``path`` is written under (:data:`TEMP_FILE`)."""
    return path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")


def commit_file(tmp: Path, path: Path) -> None:
    """Put the finished temporary file ``tmp`` in place of ``path``: fsync it, rename it over
    ``path``, fsync the folder (a file written over several steps, :mod:`flows.io.spill`)."""
    _fsync(tmp)
    os.replace(tmp, path)
    _fsync(path.parent)


@contextlib.contextmanager
def staged_folder(
    out: Path, marker: str = "manifest.json", owned: Callable[[Path], bool] | None = None,
    carry: Callable[[Path, Path], object] | None = None,
) -> Iterator[Path]:
    """Yield an empty hidden folder beside ``out``; when the block ends without error it
    replaces ``out`` as a whole, else it is deleted and ``out`` is untouched.

    Concurrent writers of the same ``out`` each write their own folder; the swaps happen one
    at a time, so ``out`` is always one writer's complete folder (the last one to finish).
    An existing ``out`` that is not empty was not written here and is refused
    (``FileExistsError``, :func:`check_owned`) unless it holds the file ``marker`` and, with
    ``owned``, ``owned(out)`` is true: ``--out .`` must not replace the current folder.
    ``carry(out, new)`` runs under the lock just before the swap (to keep in the new folder
    what the old one holds that this writer did not write).
    """
    out = Path(out)
    check_owned(out, marker, owned)
    with _guarded_folder(out) as tmp:
        with _named_outside(tmp, out, unnamed=True):
            yield tmp
            _fsync_tree(tmp)
        with locked(out.parent):
            check_owned(out, marker, owned)  # another process may have made it since
            if carry is not None and out.is_dir():
                carry(out, tmp)
                _fsync_tree(tmp)
            with _uninterrupted():
                _swap(tmp, out)


def check_owned(out: Path, marker: str = "manifest.json", owned: Callable[[Path], bool] | None = None) -> None:
    """Raise ``FileExistsError`` naming ``out`` when it is a file, or a folder that holds
    anything but is not one this tool wrote (no file ``marker``; with ``owned``, ``owned(out)``
    false: a ``marker`` another tool wrote); ``PermissionError`` naming the folder ``out``
    would be written in (its parent, or the nearest that exists) when this process may not
    write there (so a run fails before it computes)."""
    out = Path(out)
    where = next(p for p in out.absolute().parents if p.exists())
    if not os.access(where, os.W_OK | os.X_OK):
        raise PermissionError(errno.EACCES, f"not written: {os.strerror(errno.EACCES)}; choose another --out", str(where))
    if out.exists() and not out.is_dir():
        raise FileExistsError(errno.EEXIST, "exists and is not a folder", str(out))
    if not out.is_dir() or not any(out.iterdir()):
        return
    if not (out / marker).is_file():
        raise FileExistsError(
            errno.EEXIST, f"exists, is not empty and holds no {marker} (not written by market-reaction); "
            "choose another --out or empty it", str(out),
        )
    if owned is not None and not owned(out):
        raise FileExistsError(
            errno.EEXIST, f"holds a {marker} that market-reaction did not write (another tool's folder); "
            "choose another --out", str(out),
        )


@contextlib.contextmanager
def scratch_folder(out: Path) -> Iterator[Path]:
    """Yield an empty hidden folder beside ``out`` for files made before ``out`` is written
    (the rows a study streams to disk, moved into its report); deleted when the block ends,
    and, when this process is killed, by the next write into ``out``'s parent (:func:`recover`)."""
    out = Path(out)
    with _guarded_folder(out) as tmp:
        try:
            with _named_outside(tmp, out, unnamed=False):
                yield tmp
        finally:
            _remove(tmp)


@contextlib.contextmanager
def _guarded_folder(out: Path) -> Iterator[Path]:
    """A new hidden folder ``.<name>.tmp-<tag>`` beside ``out`` whose lock file this process
    holds while the block runs, so that :func:`recover` deletes it once its writer is gone;
    deleted at once when the block ends with an error."""
    parent, tag = out.parent, _tag()
    tmp = parent / f".{out.name}.tmp-{tag}"
    guard = parent / f".{out.name}.tmp-{tag}.lock"
    with locked(parent):  # so that recover() never sees the guard before it is held
        fd = os.open(guard, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        fcntl.flock(fd, fcntl.LOCK_EX)
        tmp.mkdir()
    _UNFINISHED[tmp] = guard
    try:
        yield tmp
    except BaseException:
        _remove(tmp)
        raise
    finally:
        _UNFINISHED.pop(tmp, None)
        guard.unlink(missing_ok=True)
        os.close(fd)


_UNFINISHED: dict[Path, Path] = {}
"""This process's hidden folders being written (:func:`_guarded_folder`) -> their lock files."""


def discard_unfinished() -> None:
    """Delete this process's hidden folders still being written and their lock files, for a
    process about to end without unwinding (``os._exit``) while threads may still write into
    them: nothing it began is left for the next writer to find."""
    for tmp, guard in list(_UNFINISHED.items()):
        for _ in range(2):  # a file a thread made while the first pass ran
            _remove(tmp)
        guard.unlink(missing_ok=True)


@contextlib.contextmanager
def _uninterrupted() -> Iterator[None]:
    """Hold a Ctrl-C (SIGINT) back until the block ends, then deliver it: a swap cut between
    its renames by ``KeyboardInterrupt`` left ``out`` missing (or a ``.del-`` folder behind)
    until the next write. Only in the main thread, where Python runs signal handlers."""
    if threading.current_thread() is not threading.main_thread() or signal.getsignal(signal.SIGINT) is None:
        yield
        return
    held: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: held.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if held:
            signal.raise_signal(signal.SIGINT)


def _swap(new: Path, out: Path) -> None:
    """Replace ``out`` by ``new`` (both complete folders).

    Where the system can exchange two paths atomically (Linux ``renameat2`` with
    ``RENAME_EXCHANGE``; ext4, xfs, btrfs, tmpfs), ``out`` is never missing, not even for a
    moment: the old folder lands at ``new``'s hidden name and is deleted (a kill before that
    leaves it to :func:`recover`). Elsewhere two renames, ``out`` -> ``.<name>.old-<tag>``,
    ``new`` -> ``out``: a writer killed between them leaves ``.old-``, which :func:`recover`
    puts back."""
    if out.exists() and not out.is_dir():
        raise FileExistsError(errno.EEXIST, "exists and is not a folder", str(out))
    if out.exists() and exchange(new, out):
        _fsync(out.parent)
        _discard(new)
        return
    old = None
    if out.exists():
        old = out.parent / f".{out.name}.old-{_tag()}"
        os.replace(out, old)
    os.replace(new, out)
    _fsync(out.parent)
    if old is not None:
        _discard(old)


_AT_FDCWD, _RENAME_EXCHANGE = -100, 2
_libc = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None
_renameat2 = getattr(_libc, "renameat2", None)


def exchange(a: Path, b: Path) -> bool:
    """Atomically exchange the paths ``a`` and ``b`` (Linux ``renameat2(RENAME_EXCHANGE)``);
    False when the system or the file system cannot (then nothing happened)."""
    if _renameat2 is None:
        return False
    if _renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOTSUP):
        return False
    raise OSError(err, os.strerror(err), str(a), str(b))
