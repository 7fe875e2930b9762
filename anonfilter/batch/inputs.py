"""What a batch anonymizes: files, folders (recursively, video files only), ``@list.txt`` and fsspec URLs.

Each input becomes a :class:`BatchItem`: where to read it and the relative path its output gets
under the batch's output folder. A folder's files keep their path below the folder; a file
named on the command line gets its name only; a path in a list keeps the path as written when
it is relative (read from the list's folder), its name only when absolute. URLs of object storage
(``s3://``, ``gs://``, ``file://``, any scheme fsspec knows) are listed with fsspec when its
backend is installed, and copied to a local temporary file by the task that anonymizes them.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Iterable, Iterator, Optional

from anonfilter.errors import AnonfilterError, RunFailure

VIDEO_EXTENSIONS = frozenset(".mp4 .m4v .mkv .mov .avi .webm .mpg .mpeg .ts .mts .m2ts .flv .wmv .3gp .ogv .mxf .dv .vob".split())
"""Files found in a folder are taken when their extension is one of these (a file named directly is always taken)."""
LOCAL_SCHEMES = ("file",)
"""URL schemes read as local paths (no copy)."""


@dataclass(frozen=True)
class BatchItem:
    """One input of a batch: where it is read from, and its output's path relative to the output folder."""

    source: str
    """A local path, or a URL fsspec can open."""
    relative: PurePosixPath


def discover(inputs: Iterable[str], exclude: Optional[Path] = None) -> list[BatchItem]:
    """The batch's inputs in order, each once; ``exclude``: a folder whose files are never inputs (the output folder).

    Raises :class:`AnonfilterError` (one line) for an input that does not exist, a list that
    cannot be read, a URL whose fsspec backend is missing, no video found, or two inputs whose
    outputs would have the same path.
    """
    items: list[BatchItem] = []
    for name in inputs:
        if name.startswith("@"):
            items += _from_list(Path(name[1:]), exclude)
        else:
            items += _expand(name, None, exclude)
    if not items:
        raise AnonfilterError(f"no video files found in {', '.join(inputs)} (extensions taken from folders: {_extensions()})")
    return _unique(items)


def _from_list(path: Path, exclude: Optional[Path]) -> list[BatchItem]:
    """The inputs named in a text file, one a line (blank lines and lines starting with # left out)."""
    try:
        lines = path.read_text().splitlines()
    except OSError as error:
        raise AnonfilterError(f"cannot read the input list {path}: {error.strerror}") from None
    items = []
    for line in (line.strip() for line in lines):
        if line and not line.startswith("#"):
            relative = None if _is_url(line) or os.path.isabs(line) else _clean_relative(line)
            items += _expand(line if _is_url(line) or relative is None else str(path.parent / line), relative, exclude)
    return items


def _expand(name: str, relative: Optional[PurePosixPath], exclude: Optional[Path]) -> list[BatchItem]:
    """One input: a file, or the video files in a folder (recursively); local path or URL."""
    if _is_url(name) and _scheme(name) not in LOCAL_SCHEMES:
        return _expand_url(name, relative)
    path = Path(name.split("://", 1)[1] if _is_url(name) else name)
    path = Path(os.path.abspath(path))  # absolute: a task on another node (or in another folder) finds it too
    if path.is_file():
        return [BatchItem(str(path), relative or PurePosixPath(path.name))]
    if not path.is_dir():
        raise AnonfilterError(f"input not found: {name}")
    excluded = exclude.resolve() if exclude is not None else None
    items = []
    for folder, subfolders, files in os.walk(path):
        here = Path(folder)
        subfolders[:] = sorted(sub for sub in subfolders if not sub.startswith(".") and (here / sub).resolve() != excluded)
        for file in sorted(files):
            if _is_video_name(file):
                below = PurePosixPath((here / file).relative_to(path).as_posix())
                items.append(BatchItem(str(here / file), (relative or PurePosixPath()) / below))
    return items


def _expand_url(url: str, relative: Optional[PurePosixPath]) -> list[BatchItem]:
    """A remote file, or the video files below a remote folder (prefix), listed with fsspec."""
    filesystem, path = _filesystem(url)
    try:
        if filesystem.isfile(path):
            return [BatchItem(url, relative or PurePosixPath(PurePosixPath(path).name))]
        found = sorted(name for name in filesystem.find(path) if _is_video_name(name))
    except OSError as error:
        raise AnonfilterError(f"cannot list {url}: {error}") from None
    root = path.rstrip("/")
    return [
        BatchItem(filesystem.unstrip_protocol(name), (relative or PurePosixPath()) / PurePosixPath(name[len(root) :].lstrip("/")))
        for name in found
    ]


REMOTE_VERSION_KEYS = ("ETag", "etag", "md5Hash", "generation", "LastModified", "mtime", "updated", "created")
"""Keys of an fsspec ``info`` that change when an object is replaced, the first one present used (S3, GCS, others)."""


def fingerprint(source: str) -> dict[str, Any]:
    """What tells whether ``source`` changed since a run: size and modification time (a remote object's version)."""
    if not _is_url(source) or _scheme(source) in LOCAL_SCHEMES:
        try:
            status = os.stat(source.split("://", 1)[1] if _is_url(source) else source)
        except OSError:
            return {}
        return {"size": status.st_size, "mtime_ns": status.st_mtime_ns}
    filesystem, path = _filesystem(source)
    try:
        info = filesystem.info(path)
    except OSError:
        return {}
    version = next((str(info[key]) for key in REMOTE_VERSION_KEYS if key in info), None)
    return {"size": info.get("size"), "version": version}


@contextlib.contextmanager
def local_copy(source: str) -> Iterator[str]:
    """A local path of ``source``: itself when local, else a temporary copy removed after the block."""
    if not _is_url(source) or _scheme(source) in LOCAL_SCHEMES:
        yield source.split("://", 1)[1] if _is_url(source) else source
        return
    filesystem, path = _filesystem(source)
    with tempfile.TemporaryDirectory(prefix="anonfilter-batch-") as folder:
        local = os.path.join(folder, PurePosixPath(path).name)
        try:
            filesystem.get(path, local)
        except OSError as error:
            raise RunFailure(f"cannot copy {source}: {error}") from None
        yield local


def _filesystem(url: str) -> tuple[Any, str]:
    """The fsspec file system of ``url`` and the path inside it; a missing backend is one line."""
    try:
        import fsspec  # noqa: PLC0415 - optional, for URLs only
        from fsspec.core import url_to_fs  # noqa: PLC0415
    except ImportError:
        raise AnonfilterError(f"reading {url} needs fsspec: pip install fsspec (and its backend, e.g. s3fs or gcsfs)") from None
    try:
        fsspec.get_filesystem_class(_scheme(url))
        filesystem, path = url_to_fs(url)
        return filesystem, str(path)
    except (ImportError, ValueError) as error:
        raise AnonfilterError(f"no fsspec backend for {url}: {error}".splitlines()[0]) from None


def _unique(items: list[BatchItem]) -> list[BatchItem]:
    """``items`` without repeats of a source (the first one counts); two sources with one output path are an error."""
    by_output: dict[PurePosixPath, BatchItem] = {}
    sources: set[str] = set()
    unique = []
    for item in items:
        if item.source in sources:
            continue
        other = by_output.get(item.relative)
        if other is None:
            by_output[item.relative] = item
            sources.add(item.source)
            unique.append(item)
        else:
            raise AnonfilterError(
                f"{other.source} and {item.source} would both be written to {item.relative}; give their folders instead, or list them "
                "with relative paths in an @list file"
            )
    return unique


def _clean_relative(line: str) -> PurePosixPath:
    """A relative path from a list, refused when it would leave the output folder."""
    relative = PurePosixPath(Path(line).as_posix())
    if ".." in relative.parts:
        raise AnonfilterError(f"a path in an input list may not go up with '..' (its output would leave --out): {line}")
    return relative


def _is_video_name(name: str) -> bool:
    base = os.path.basename(name)
    return not base.startswith(".") and os.path.splitext(base)[1].lower() in VIDEO_EXTENSIONS


def _is_url(name: str) -> bool:
    scheme, sep, _ = name.partition("://")
    return bool(sep) and scheme.isidentifier()


def _scheme(url: str) -> str:
    return url.split("://", 1)[0].lower()


def _extensions() -> str:
    return " ".join(sorted(VIDEO_EXTENSIONS))
