"""The output file: checked before any work, written to a temporary file, renamed only on success."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Iterator

import av

from anonfilter.errors import AnonfilterError


def check_output(input_path: Path, output_path: Path, overwrite: bool) -> str:
    """Refuse an output that is the input (also through a link), exists without ``overwrite``, or cannot be written.

    Returns the name of the container format its extension picks (nothing is written yet).
    """
    if output_path.exists() or output_path.is_symlink():
        if output_path.is_dir():
            raise AnonfilterError(f"output is a folder: {output_path}")
        if output_path.exists() and _same_file(input_path, output_path):
            raise AnonfilterError(f"output is the input file ({output_path}); choose another output file")
        if not overwrite:
            raise AnonfilterError(f"output exists: {output_path} (use --overwrite or -y to replace it)")
    elif output_path.resolve() == input_path.resolve():
        raise AnonfilterError(f"output is the input file ({output_path}); choose another output file")
    folder = output_path.parent
    if not folder.is_dir():
        raise AnonfilterError(f"output folder does not exist: {folder}")
    return container_format(output_path)


def container_format(path: Path) -> str:
    """The FFmpeg container format that ``path``'s extension names (opening for writing creates no file)."""
    try:
        with av.open(str(path), "w") as container:
            return container.format.name
    except ValueError:
        raise AnonfilterError(f"cannot tell the container from the extension of {path} (use .mkv, .mp4, .mov, ...)") from None


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return a.resolve() == b.resolve()


@contextlib.contextmanager
def partial_file(output_path: Path) -> Iterator[Path]:
    """A temporary file beside ``output_path`` (same extension); renamed to it when the block succeeds.

    On any exception (KeyboardInterrupt included) the temporary file is removed and the
    exception goes on; ``output_path`` is never touched then.
    """
    folder = output_path.parent
    try:
        handle, name = tempfile.mkstemp(prefix=f".{output_path.stem}.", suffix=f".partial{output_path.suffix}", dir=folder)
    except OSError as error:
        raise AnonfilterError(f"cannot write to output folder {folder} ({error.strerror.lower()})") from None
    os.close(handle)
    temporary = Path(name)
    try:
        yield temporary
        os.chmod(temporary, 0o666 & ~_umask())
        os.replace(temporary, output_path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
