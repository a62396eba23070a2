"""Clips for the video tests, written by code: synthetic frames into MP4 (optionally with a silent AAC track)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image

from ml_models.video import synthetic
from tests.conftest import IMAGES, need


def photo(name: str = "chicago.jpg", side: int = 320) -> np.ndarray:
    image = Image.open(need(IMAGES / "content" / name)).convert("RGB")
    image.thumbnail((side, side), Image.Resampling.LANCZOS)
    return np.asarray(image).copy()


def style_bytes(name: str = "mosaic.jpg") -> bytes:
    return need(IMAGES / "style" / name).read_bytes()


def write_mp4(path: Path, frames: list[np.ndarray], fps: float = 30, audio_seconds: float = 0.0,
              rotation: int = 0) -> Path:
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))
        video.height, video.width = frames[0].shape[:2]
        video.pix_fmt = "yuv420p"
        if rotation:
            video.set_display_rotation(rotation)
        audio = out.add_stream("aac", rate=44100) if audio_seconds else None
        for i, rgb in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts = i
            for packet in video.encode(frame):
                out.mux(packet)
        samples = 0
        while audio is not None and samples < audio_seconds * 44100:
            chunk = av.AudioFrame.from_ndarray(np.zeros((2, 1024), np.float32), format="fltp", layout="stereo")
            chunk.sample_rate, chunk.pts = 44100, samples
            samples += 1024
            for packet in audio.encode(chunk):
                out.mux(packet)
        for packet in video.encode():
            out.mux(packet)
        if audio is not None:
            for packet in audio.encode():
                out.mux(packet)
    return path


def pan_mp4(path: Path, frames: int = 12, size: tuple[int, int] = (96, 128), **kwargs) -> Path:
    return write_mp4(path, synthetic.pan(synthetic.texture(200, 260), frames, size).frames, **kwargs)


def read_frames(path: Path) -> tuple[list[np.ndarray], float, list[str]]:
    """Decoded frames, the video stream's average rate and the kinds of all streams."""
    with av.open(str(path)) as c:
        kinds = [s.type for s in c.streams]
        rate = float(c.streams.video[0].average_rate or 0)
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)], rate, kinds
