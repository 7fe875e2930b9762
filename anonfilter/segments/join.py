"""Joining the segments: their packets, without re-encoding, and every other stream once from the original.

The output is opened as a single run opens it (:func:`~ffmpeg_bridge.transcoder.open_output`),
its video stream made by the same :func:`~ffmpeg_bridge.encoder.add_video_stream` (so its
header is the one the segments' encoders wrote for: checked, byte for byte), the other streams,
the metadata and the chapters copied by :mod:`ffmpeg_bridge.passthrough`. It is written to a
temporary file and published only when complete (:func:`~ffmpeg_bridge.outputfile.output_location`).
"""

from __future__ import annotations

import contextlib
import heapq
from fractions import Fraction
from pathlib import Path
from typing import Callable, Iterator, Optional, Sequence

import av
import av.container

from anonfilter.config import Config
from anonfilter.errors import RunFailure
from anonfilter.segments.packets import read_packets
from ffmpeg_bridge.encoder import add_video_stream
from ffmpeg_bridge.outputfile import output_location
from ffmpeg_bridge.passthrough import copy_container_properties, copy_streams
from ffmpeg_bridge.source import VideoInfo, open_input
from ffmpeg_bridge.transcoder import open_output, start_encoding, write_errors, write_failure


def join_segments(
    input_path: str,
    output_path: str,
    info: VideoInfo,
    config: Config,
    packet_files: Sequence[Path],
    headers: Sequence[Optional[bytes]],
    format_name: str,
    overwrite: bool,
    report: Callable[[str], None],
    check: Callable[[int], None],
) -> int:
    """Write ``output_path``: the segments' video packets in order, the input's other streams, metadata and chapters.

    ``headers`` are the segments' encoder headers (extradata); each must equal the output
    stream's, or the joined video would not decode, and the run fails before publishing.
    Returns how many packets of other streams the muxer refused (damaged input; counted as a
    single run counts them). ``check(refused)`` runs when everything is muxed and before the
    output is published: it reports damaged input, or raises to write nothing (``--strict``).
    """
    container, video = open_input(input_path)
    with contextlib.closing(container), output_location(output_path, overwrite, report) as location:
        output = open_output(location, format_name, output_path)
        try:
            stream = add_video_stream(output, video, info, config.encoder)
            copies = copy_streams(container, output, video, report)
            copy_container_properties(container, output)
            start_encoding(output, stream, info, output_path)
            header = stream.codec_context.extradata
            if any(segment != header for segment in headers):
                raise RunFailure(
                    f"the segments' {stream.codec_context.name} stream headers differ from the output's; "
                    "they cannot be joined without re-encoding (run without segments)"
                )
            video_packets = ((packet, True) for path in packet_files for packet in read_packets(path, info.time_base))
            others = ((packet, False) for packet in _packets(container, list(copies)) if packet.size)
            refused = 0
            for packet, is_video in heapq.merge(video_packets, others, key=lambda item: _due(item[0])):
                if is_video:
                    packet.stream = stream
                    with write_errors(output_path):
                        output.mux(packet)
                else:
                    packet.stream = copies[packet.stream.index]
                    refused += not _copied(output, packet, output_path)
            check(refused)
        except BaseException:
            with contextlib.suppress(Exception):
                output.close()
            raise
        with write_errors(output_path):
            output.close()
    return refused


def _copied(output: av.container.OutputContainer, packet: av.Packet, output_path: str) -> bool:
    """Mux a packet of another stream; False when the muxer refuses its timestamps (damaged input), as a single run does."""
    try:
        output.mux_one(packet)
    except OSError as error:
        raise write_failure(output_path, error) from error
    except (av.error.FFmpegError, ValueError):
        return False
    return True


def _due(packet: av.Packet) -> Fraction:
    """When a packet is due, for interleaving (its decoding time, else its presentation time)."""
    stamp = packet.dts if packet.dts is not None else packet.pts
    return Fraction(stamp or 0) * (packet.time_base or Fraction(1))


def _packets(container: av.container.InputContainer, streams: list[int]) -> Iterator[av.Packet]:
    """The packets of the streams numbered ``streams``, in file order (none for no streams)."""
    if streams:
        yield from container.demux(*(container.streams[index] for index in streams))
