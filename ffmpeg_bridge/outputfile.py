"""The output: checked before any work, written to a temporary file, published only on success.

The temporary file has no name where the system allows (Linux ``O_TMPFILE``), else a hidden one
beside the target. Publishing never replaces a file that appeared at the target during the run
unless asked to (``overwrite``): the finished file is hard-linked to the target name, which
fails when the name is taken (``renameat2(RENAME_NOREPLACE)`` where the file system has no hard
links). ``-`` is standard output: written as it comes, no file.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import glob
import os
import secrets
import tempfile
import time
from pathlib import Path
from typing import Callable, Iterator, Optional

import av

from anonfilter.errors import AnonfilterError, RunFailure
from ffmpeg_bridge.passthrough import warn
from ffmpeg_bridge.source import STDIO, ffmpeg_location, is_url

PIPE_FORMAT = "matroska"
"""Container written to standard output when ``-f`` does not name one (streamable, holds any stream)."""
STALE_SECONDS = 24 * 3600
"""Temporary files of ours older than this beside the target are reported as left over from earlier runs."""
PARTIAL = ".partial"
"""Marks the temporary file's name: ``.NAME.RANDOM.partial.EXT`` beside the target ``NAME.EXT``."""


def check_output(input_name: str, output_name: str, overwrite: bool, format_name: Optional[str] = None) -> str:
    """Refuse an output that is the input (also through a link), exists without ``overwrite``, or cannot be written.

    Returns the name of the container format: ``format_name`` if given, else the one the
    output's extension picks (nothing is written yet). Standard output (``-``) is not checked.
    """
    if output_name == STDIO:
        return container_format(STDIO, format_name or PIPE_FORMAT)
    output_path = Path(output_name)
    local_input = input_name != STDIO and not is_url(input_name)
    if output_path.exists() or output_path.is_symlink():
        if output_path.is_dir():
            raise AnonfilterError(f"output is a folder: {output_path}")
        if output_path.exists() and local_input and _same_file(Path(input_name), output_path):
            raise AnonfilterError(f"output is the input file ({output_path}); choose another output file")
        if not overwrite:
            raise AnonfilterError(f"output exists: {output_path} (use --overwrite or -y to replace it)")
    elif local_input and output_path.resolve() == Path(input_name).resolve():
        raise AnonfilterError(f"output is the input file ({output_path}); choose another output file")
    folder = output_path.parent
    if not folder.is_dir():
        raise AnonfilterError(f"output folder does not exist: {folder}")
    return container_format(output_name, format_name)


def container_format(output_name: str, format_name: Optional[str] = None) -> str:
    """The FFmpeg container format named, or picked by the extension (opening for writing creates no file)."""
    try:
        with av.open(ffmpeg_location(output_name, "pipe:1"), "w", format=format_name) as container:
            return container.format.name
    except ValueError:
        if format_name:
            raise AnonfilterError(f"unknown container format '{format_name}' (e.g. matroska, mp4, mpegts)") from None
        raise AnonfilterError(f"cannot tell the container from the extension of {output_name} (use .mkv, .mp4, .mov, ...)") from None


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return a.resolve() == b.resolve()


@contextlib.contextmanager
def output_location(output_name: str, overwrite: bool, report: Callable[[str], None]) -> Iterator[str]:
    """Where FFmpeg writes: ``pipe:1`` for ``-``, else a temporary file published to ``output_name`` on success.

    The temporary file has no name at all where the system allows (``O_TMPFILE``): then nothing
    is left behind whatever happens, a kill or a folder made read-only included. Elsewhere it
    is a hidden ``.NAME.RANDOM.partial.EXT`` beside the target (see :func:`partial_file`).
    """
    if output_name == STDIO:
        yield "pipe:1"
        return
    target = Path(output_name)
    report_stale_partials(target, report)
    handle = unnamed_file(target.parent)
    if handle is None:
        with partial_file(target, overwrite) as temporary:
            yield ffmpeg_location(str(temporary), "pipe:1")
        return
    try:
        yield f"file:/proc/self/fd/{handle}"
        with publish_errors(target):
            _link_unnamed(handle, target, overwrite)
    finally:
        os.close(handle)


def unnamed_file(folder: Path) -> Optional[int]:
    """A file descriptor of a new file in ``folder`` that has no name yet (``O_TMPFILE``); None where unsupported."""
    flag = getattr(os, "O_TMPFILE", None)
    if flag is None or not os.path.isdir("/proc/self/fd"):
        return None
    try:
        handle = os.open(folder, flag | os.O_WRONLY, 0o666)
    except OSError as error:
        if error.errno in (errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL):
            return None
        raise AnonfilterError(f"cannot write to output folder {folder} ({error.strerror.lower()})") from None
    if not _can_be_named(folder, flag):  # found out now, not after the whole run
        os.close(handle)
        return None
    return handle


def _can_be_named(folder: Path, flag: int) -> bool:
    """Whether an unnamed file in ``folder`` can be given a name (tried on a throwaway one; some sandboxes refuse)."""
    name = f".anonfilter-probe-{secrets.token_hex(4)}"
    try:
        with _folder(folder) as folder_fd:
            probe = os.open(folder, flag | os.O_WRONLY, 0o600)
            try:
                _give_name(probe, folder_fd, name)
            finally:
                os.close(probe)
            os.unlink(name, dir_fd=folder_fd)
    except OSError:
        return False
    return True


def _link_unnamed(handle: int, target: Path, overwrite: bool) -> None:
    """Give the unnamed file its name: a link that fails if the name is taken; with ``overwrite`` a link, then a rename over it."""
    with _folder(target.parent) as folder:
        if not overwrite:
            _give_name(handle, folder, target.name)
            return
        name = f".{target.stem}.{secrets.token_hex(4)}{PARTIAL}{target.suffix}"
        _give_name(handle, folder, name)
        try:
            os.replace(name, target.name, src_dir_fd=folder, dst_dir_fd=folder)
        except BaseException:
            os.unlink(name, dir_fd=folder)
            raise


def _give_name(handle: int, folder: int, name: str) -> None:
    """``linkat`` through ``/proc``, following the link to the open file (``os.link`` without a ``dir_fd`` would not)."""
    os.link(f"/proc/self/fd/{handle}", name, dst_dir_fd=folder, follow_symlinks=True)


@contextlib.contextmanager
def _folder(path: Path) -> Iterator[int]:
    """A file descriptor of the folder ``path``, closed after the block."""
    folder = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        yield folder
    finally:
        os.close(folder)


@contextlib.contextmanager
def partial_file(output_path: Path, overwrite: bool = False) -> Iterator[Path]:
    """A hidden temporary file beside ``output_path`` (same extension); published to it when the block succeeds.

    On any exception (KeyboardInterrupt included) the temporary file is removed and the
    exception goes on; ``output_path`` is never touched then. See :func:`publish`.
    """
    temporary = new_partial(output_path)
    try:
        yield temporary
        with publish_errors(output_path):
            publish(temporary, output_path, overwrite)
    except BaseException:
        remove_partial(temporary)
        raise


def new_partial(output_path: Path) -> Path:
    """Create the hidden temporary file beside ``output_path`` (same extension) that becomes it when finished."""
    folder = output_path.parent
    try:
        handle, name = tempfile.mkstemp(prefix=f".{output_path.stem}.", suffix=f"{PARTIAL}{output_path.suffix}", dir=folder)
    except OSError as error:
        raise AnonfilterError(f"cannot write to output folder {folder} ({error.strerror.lower()})") from None
    os.fchmod(handle, 0o666 & ~_umask())  # as a file the user created would be
    os.close(handle)
    return Path(name)


def remove_partial(temporary: Path) -> None:
    """Remove an unfinished output file; if that fails (its folder became read-only), say where it is."""
    try:
        temporary.unlink()
    except FileNotFoundError:
        pass
    except OSError as error:
        warn(f"could not remove the unfinished output {temporary} ({error.strerror}); delete it by hand")


def publish(temporary: Path, target: Path, overwrite: bool) -> None:
    """Give the finished ``temporary`` file the name ``target``; without ``overwrite`` never replace a file there."""
    if overwrite:
        os.replace(temporary, target)
        return
    try:
        os.link(temporary, target)
    except OSError as error:  # EEXIST goes on; the others: a file system without hard links
        if error.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.EMLINK, errno.ENOSYS, errno.EXDEV):
            raise
        _rename_noreplace(temporary, target)
        return
    temporary.unlink()


@contextlib.contextmanager
def publish_errors(target: Path) -> Iterator[None]:
    """Turn what can go wrong when the finished file gets its name into one line (exit 2 for a taken name, else 1)."""
    try:
        yield
    except FileExistsError:
        raise AnonfilterError(
            f"output appeared during the run: {target} (another program or run wrote it); left as it is, use -y to replace it"
        ) from None
    except FileNotFoundError:
        gone = f"the output folder {target.parent}" if not target.parent.is_dir() else "the unfinished output"
        raise RunFailure(f"{gone} was removed during the run; nothing was written") from None
    except OSError as error:
        raise RunFailure(f"cannot write {target} ({error.strerror}); nothing was written") from None


def _rename_noreplace(source: Path, target: Path) -> None:
    """``renameat2(RENAME_NOREPLACE)``; where the kernel or file system lacks it, a check just before ``rename``."""
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    renameat2 = getattr(libc, "renameat2", None)
    if renameat2 is not None:
        at_fdcwd, rename_noreplace = -100, 1
        if renameat2(at_fdcwd, os.fsencode(source), at_fdcwd, os.fsencode(target), rename_noreplace) == 0:
            return
        code = ctypes.get_errno()
        if code not in (errno.EINVAL, errno.ENOSYS):
            raise OSError(code, os.strerror(code), str(target))
    if os.path.lexists(target):
        raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), str(target))
    os.rename(source, target)


def report_stale_partials(target: Path, report: Callable[[str], None]) -> None:
    """Report temporary files of earlier runs to ``target`` older than a day (never deleted: a run may still be writing)."""
    pattern = os.path.join(glob.escape(str(target.parent)), f".{glob.escape(target.stem)}.*{PARTIAL}{glob.escape(target.suffix)}")
    now = time.time()
    stale = []
    for name in glob.glob(pattern):
        with contextlib.suppress(OSError):
            if now - os.stat(name).st_mtime > STALE_SECONDS:
                stale.append(name)
    if stale:
        report(
            f"{len(stale)} unfinished output file(s) of earlier runs older than a day beside {target}, e.g. {sorted(stale)[0]}; "
            "remove them if no run is writing them"
        )


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
