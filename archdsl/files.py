"""Writing output files safely: never a half-written file, never anything but a regular file replaced.

Rules for every output (`compile -o`, `draw -o`, `fmt -w`, `schema -o`, `--emit`, `--onnx`):
- a symlink is followed: the file it points to is written and the link stays (like `cp` and editors do);
- a target that exists and is not a regular file (/dev/null, a FIFO, a directory) is refused;
- a target that is one of the command's input files (the spec) is refused, except by `fmt -w`;
- the data goes to a temporary file beside the target, renamed over it; SIGINT and SIGTERM remove it.
Every refusal and every OSError is a UsageError (exit 2), never a traceback.
"""
from __future__ import annotations

import os
import signal
import stat
import tempfile
import threading
from contextlib import contextmanager

from .errors import UsageError

_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def check_target(path: str, inputs: tuple[str, ...] = ()) -> str:
    """The file that writing `path` replaces (symlinks resolved); UsageError where it must not be replaced."""
    target = os.path.realpath(path)
    try:
        mode = os.stat(target).st_mode
    except FileNotFoundError:
        return target
    except OSError as exc:
        raise cannot_write(path, exc) from None
    if not stat.S_ISREG(mode):
        kind = "a directory" if stat.S_ISDIR(mode) else "not a regular file"
        raise UsageError(f"cannot write `{path}`: it is {kind}", hint="write to a regular file instead")
    for src in inputs:
        if _same_file(target, src):
            raise UsageError(f"cannot write `{path}`: it is the input spec `{src}`",
                             hint="choose another output file")
    return target


def _same_file(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def cannot_write(path: str, exc: OSError) -> UsageError:
    return UsageError(f"cannot write `{path}`: {exc.strerror or exc}",
                      hint="check that the folder exists and that you may write there")


def os_error(exc: OSError) -> UsageError:
    """Any other OSError (an exporter writing its file, reading --weights, ...) as a usage error."""
    where = f" `{exc.filename}`" if exc.filename else ""
    return UsageError(f"cannot access{where}: {exc.strerror or exc}", hint="check the path and its permissions")


def write_atomic(path: str, data: str | bytes, inputs: tuple[str, ...] = ()) -> None:
    """Write `data` to a temporary file beside `path`'s target, then rename it over the target (atomic on POSIX)."""
    target = check_target(path, inputs)
    try:
        _write(target, data)
    except OSError as exc:
        raise cannot_write(path, exc) from None


def _write(target: str, data: str | bytes) -> None:
    folder = os.path.dirname(target)
    os.makedirs(folder, exist_ok=True)
    binary = isinstance(data, bytes)
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(target) + ".", suffix=".tmp", dir=folder)
    try:
        with _removed_on_signal(tmp):
            with os.fdopen(fd, "wb" if binary else "w", **({} if binary else {"encoding": "utf-8", "newline": ""})) as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.chmod(tmp, _mode_for(target))
            os.replace(tmp, target)
    except BaseException:
        _remove(tmp)
        raise


def _mode_for(target: str) -> int:
    """The permissions of the file replaced, or the umask's for a new file."""
    if os.path.exists(target):
        return os.stat(target).st_mode & 0o777
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def _remove(tmp: str) -> None:
    try:
        os.unlink(tmp)
    except FileNotFoundError:
        pass


@contextmanager
def _removed_on_signal(tmp: str):
    """While the block runs, SIGINT and SIGTERM first remove `tmp`, then act as they did before."""
    if threading.current_thread() is not threading.main_thread():  # only the main thread may set handlers
        yield
        return
    previous = {sig: signal.getsignal(sig) for sig in _SIGNALS}

    def restore() -> None:
        for sig, handler in previous.items():
            signal.signal(sig, signal.SIG_DFL if handler is None else handler)

    def handler(sig, _frame) -> None:
        _remove(tmp)
        restore()
        signal.raise_signal(sig)

    for sig in _SIGNALS:
        signal.signal(sig, handler)
    try:
        yield
    finally:
        restore()
