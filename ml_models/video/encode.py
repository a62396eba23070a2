"""Writing clips: H.264 MP4 (Telegram's animations, videos and video notes), WebM (VP9) or GIF, one frame at a time.

The file is written under a hidden ``.part`` name beside the destination and renamed only when complete, and
removed on any failure, so nothing half-written is ever left behind. A video's audio track is copied packet by
packet from the source (no re-encoding), interleaved with the frames as they are written, when the output
container can hold its codec; animations and GIFs carry no sound.
"""

from __future__ import annotations

import contextlib
import os
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image

from ml_models.video.errors import VideoError

FORMATS = {".mp4": "mp4", ".m4v": "mp4", ".webm": "webm", ".gif": "gif"}
MIMES = {"mp4": "video/mp4", "webm": "video/webm", "gif": "image/gif"}
AUDIO_OK = {"mp4": {"aac", "mp3", "opus", "alac", "flac", "ac3", "eac3"}, "webm": {"opus", "vorbis"}}


def output_format(dst: Path) -> str:
    try:
        return FORMATS[dst.suffix.lower()]
    except KeyError:
        raise VideoError("video_unsupported", f"cannot write {dst.suffix or 'files without a suffix'}: use "
                                              f"{', '.join(sorted(FORMATS))}") from None


def rate(fps: float) -> Fraction:
    return Fraction(fps).limit_denominator(1001)


class ClipWriter:
    """``write`` frames of one size, then ``close`` (renames into place) or ``abort`` (removes the partial file)."""

    def __init__(self, dst: Path, width: int, height: int, fps: float, audio_from: Path | None = None) -> None:
        self.dst = Path(dst)
        self.format = output_format(self.dst)
        self.part = self.dst.with_name(f".{self.dst.name}.part")
        self.frames = 0
        self._audio_in = None
        self.has_audio = False
        self._palette: Image.Image | None = None
        self._out = None
        self._out = av.open(str(self.part), "w", format=self.format,
                            options={"movflags": "+faststart"} if self.format == "mp4" else {})
        try:
            self._video = self._video_stream(width, height, rate(fps))
            if audio_from is not None and self.format in AUDIO_OK:
                self._open_audio(audio_from)
        except BaseException:
            self.abort()
            raise

    def _video_stream(self, width: int, height: int, fps: Fraction):
        if self.format == "gif":
            stream = self._out.add_stream("gif", rate=fps)
            stream.pix_fmt = "pal8"
        elif self.format == "webm":
            stream = self._out.add_stream("libvpx-vp9", rate=fps, options={
                "crf": "32", "b": "0", "deadline": "realtime", "cpu-used": "8", "row-mt": "1"})
            stream.pix_fmt = "yuv420p"
        else:
            stream = self._out.add_stream("libx264", rate=fps, options={"crf": "20", "preset": "veryfast"})
            stream.pix_fmt = "yuv420p"
        stream.width, stream.height = width, height
        stream.time_base = Fraction(1, 1) / fps
        return stream

    def _open_audio(self, src: Path) -> None:
        source = av.open(str(src))
        if not source.streams.audio or source.streams.audio[0].codec_context.name not in AUDIO_OK[self.format]:
            source.close()
            return
        self._audio_in = source
        self._audio_stream = source.streams.audio[0]
        self._audio_out = self._out.add_stream_from_template(self._audio_stream)
        self._audio_packets = (p for p in source.demux(self._audio_stream) if p.dts is not None)
        self._pending = None
        self.has_audio = True

    def _pump_audio(self, until: float | None) -> None:
        """Copy audio packets that start before ``until`` seconds (all when None)."""
        if self._audio_in is None:
            return
        while True:
            packet = self._pending or next(self._audio_packets, None)
            self._pending = None
            if packet is None:
                return
            if until is not None and packet.pts is not None and float(packet.pts * packet.time_base) > until:
                self._pending = packet
                return
            packet.stream = self._audio_out
            self._out.mux(packet)

    def _frame(self, rgb: np.ndarray) -> av.VideoFrame:
        if self.format != "gif":
            return av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
        # One palette for the whole GIF, from its first frame, without dithering: per-frame palettes or dither
        # patterns would bring back the flicker the temporal filter took out.
        image = Image.fromarray(np.ascontiguousarray(rgb))
        if self._palette is None:
            self._palette = image.quantize(colors=256, method=Image.Quantize.MEDIANCUT)
        indexed = image.quantize(palette=self._palette, dither=Image.Dither.NONE)
        rgb_palette = np.zeros((256, 3), np.uint8)
        values = np.array(self._palette.getpalette()[:768], np.uint8).reshape(-1, 3)
        rgb_palette[:len(values)] = values
        argb = np.concatenate([np.full((256, 1), 255, np.uint8), rgb_palette], axis=1)
        return av.VideoFrame.from_ndarray((np.asarray(indexed), argb), format="pal8")

    def write(self, rgb: np.ndarray) -> None:
        frame = self._frame(rgb)
        frame.pts = self.frames
        self._pump_audio(self.frames * float(self._video.time_base))
        for packet in self._video.encode(frame):
            self._out.mux(packet)
        self.frames += 1

    def close(self) -> Path:
        """Flush, finish the file and move it to ``dst``."""
        try:
            for packet in self._video.encode():
                self._out.mux(packet)
            self._pump_audio(None)
            self._out.close()
            if self._audio_in is not None:
                self._audio_in.close()
            os.replace(self.part, self.dst)
        except BaseException:
            self.abort()
            raise
        return self.dst

    def abort(self) -> None:
        for handle in (self._out, self._audio_in):
            if handle is not None:
                with contextlib.suppress(Exception):
                    handle.close()
        with contextlib.suppress(FileNotFoundError):
            self.part.unlink()

    def __enter__(self) -> ClipWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self.abort()
