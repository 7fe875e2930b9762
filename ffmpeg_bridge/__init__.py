"""PyAV (FFmpeg) input and output for anonfilter: decode, hand frames to the pipeline, encode.

:func:`transcode` re-encodes the first video stream through a frame processor and copies every
other stream, the metadata and the chapters untouched; :func:`probe` describes a file's video.
"""

from ffmpeg_bridge.encoder import EncoderSettings
from ffmpeg_bridge.reading import probe
from ffmpeg_bridge.source import VideoInfo
from ffmpeg_bridge.transcoder import FrameProcessor, TranscodeResult, transcode

__all__ = ["EncoderSettings", "FrameProcessor", "TranscodeResult", "VideoInfo", "probe", "transcode"]
