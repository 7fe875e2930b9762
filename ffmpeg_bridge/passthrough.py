"""Everything but the anonymized video goes across untouched: streams as packets, metadata, chapters."""

from __future__ import annotations

import io
import sys
from typing import Callable

import av
import av.container
import av.stream

COPIED_TYPES = ("audio", "subtitle", "data", "attachment")
"""Stream types copied as packets, never decoded or re-encoded."""

METADATA_SET_BY_MUXER = ("encoder",)
"""Container tags the output's muxer writes for itself."""


def warn(message: str) -> None:
    """One line on stderr."""
    print(f"anonfilter: {message}", file=sys.stderr)


def copy_streams(
    source: av.container.InputContainer,
    output: av.container.OutputContainer,
    video: av.stream.Stream,
    report: Callable[[str], None] = warn,
) -> dict[int, av.stream.Stream]:
    """Add a copy of every stream but ``video`` to ``output``; returns input index -> output stream.

    A stream the output container cannot hold is left out with a line to ``report``. Other video
    streams (a second camera angle, cover art) are left out too: they could show faces, and only
    the main video is anonymized.
    """
    copies: dict[int, av.stream.Stream] = {}
    for stream in source.streams:
        if stream.index == video.index:
            continue
        codec = stream.codec_context.name if stream.codec_context is not None else stream.type
        label = f"{stream.type} stream #{stream.index} ({codec})"
        if stream.type not in COPIED_TYPES:
            report(f"left out {label}: only the first video stream is anonymized, and this one could show faces")
            continue
        if not container_holds(output.format.name, stream):
            report(f"left out {label}: {output.format.name} files cannot hold it (.mkv holds any stream)")
            continue
        copy = output.add_stream_from_template(stream)
        copy.metadata.update(stream.metadata)
        copy.disposition = stream.disposition.value
        copies[stream.index] = copy
    return copies


def container_holds(format_name: str, stream: av.stream.Stream) -> bool:
    """Whether a ``format_name`` file can hold a copy of ``stream``: a header with it alone is written to memory.

    Asking the muxer itself catches what a list would miss (a font attachment or an SRT
    subtitle in MP4, which the muxer refuses only when it writes the header).
    """
    try:
        with av.open(io.BytesIO(), "w", format=format_name) as trial:
            trial.add_stream_from_template(stream)
            trial.start_encoding()
    except (ValueError, av.error.FFmpegError):
        return False
    return True


def copy_container_properties(source: av.container.InputContainer, output: av.container.OutputContainer) -> None:
    """Container metadata (title, dates, ...) and chapters."""
    output.metadata.update({key: value for key, value in source.metadata.items() if key.lower() not in METADATA_SET_BY_MUXER})
    chapters = source.chapters()
    if chapters:
        output.set_chapters(chapters)
