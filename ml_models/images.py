"""Turning user bytes into pixels and pixels back into bytes, with every refusal typed.

Users send anything: screenshots with transparency, CMYK scans, 16-bit PNGs, half-uploaded JPEGs, animated stickers,
decompression bombs. This module is the one gate between those bytes and the networks, so it checks sizes from the
header before decoding, insists on a complete decode, and hands the engine a plain RGB ``uint8`` array plus the
alpha channel to put back afterwards. It uses Pillow and numpy only (no torch): the bot may import it too, for
``telegram_photo_ok``.
"""

from __future__ import annotations

import io
import math
import re
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageFile, UnidentifiedImageError

from .errors import BadRequest, ImageError
from .limits import MAX_ASPECT, telegram_photo_ok  # noqa: F401 - re-exported

_SAFE_FORMATS = ("JPEG", "MPO", "PNG", "WEBP", "GIF", "BMP", "DIB", "TIFF", "PPM", "AVIF", "JPEG2000", "ICO")
"""Formats decoded for users. Others are identified only to name them in the refusal (EPS would start Ghostscript)."""

_MULTI_IMAGE_STILLS = {"MPO", "TIFF"}
"""Several frames that are not an animation: phone MPO (photo + depth/preview) and multi-page TIFF use frame 0."""

_ALPHA_MODES = {"RGBA", "LA", "PA", "RGBa", "La"}


@dataclass
class DecodedImage:
    """A decoded photo: RGB pixels, the alpha to reattach after processing, and where it came from."""

    rgb: np.ndarray  # (H, W, 3) uint8, EXIF orientation applied
    alpha: np.ndarray | None  # (H, W) uint8, None when the image had none or it was fully opaque
    format: str  # Pillow's format name: "JPEG", "PNG", "WEBP", ...
    high_bit_depth: bool  # more than 8 bits per sample in the file (reduced to 8 here)
    source_size: tuple[int, int] | None = None  # (width, height) of the file, upright, before any reduction

    @property
    def height(self) -> int:
        return int(self.rgb.shape[0])

    @property
    def width(self) -> int:
        return int(self.rgb.shape[1])

    @property
    def has_alpha(self) -> bool:
        return self.alpha is not None


# --------------------------------------------------------------------------------------------------- decoding


def decode(data: bytes, max_pixels: int, max_side: int | None = None) -> DecodedImage:
    """Decode ``data`` completely or raise ``ImageError`` with a stable code.

    The order matters: sizes are checked from the header before any pixel is decoded, so a bomb costs nothing.
    ``max_side`` is the long side the caller will shrink to: the picture is reduced toward it while decoding (JPEG
    DCT scaling, then whole-factor box reduction in bands), so a hostile 6000 px 16-bit file never exists as a
    full-size array here; the result's long side stays at least ``max_side`` for the caller's final resize.
    """
    if not data:
        raise ImageError("empty", "the file is empty (0 bytes)")
    im = _open(data)
    width, height = im.size
    fmt = im.format or "unknown"
    details = {"width": width, "height": height, "format": fmt}
    if width <= 0 or height <= 0:
        raise ImageError("not_image", f"the {fmt} image has no pixels ({width}x{height})", **details)
    if width * height > max_pixels:
        raise ImageError("too_many_pixels", f"the image is {width}x{height} = {width * height:,} pixels; "
                         f"the limit is {max_pixels:,}", max_pixels=max_pixels, **details)
    ratio = max(width, height) / min(width, height)
    if ratio > MAX_ASPECT:
        raise ImageError("bad_aspect", f"the image is {width}x{height}, a side ratio of {ratio:.1f}; "
                         f"at most {MAX_ASPECT:g} is supported", ratio=ratio, **details)
    if fmt not in _MULTI_IMAGE_STILLS and getattr(im, "is_animated", False):
        frames = getattr(im, "n_frames", 0)
        raise ImageError("animated", f"the {fmt} image is animated ({frames} frames); send a still photo "
                         "or a single frame", frames=frames, **details)
    if max_side and fmt in ("JPEG", "MPO") and max(width, height) > max_side:
        scale = max_side / max(width, height)
        im.draft(im.mode, (math.ceil(width * scale), math.ceil(height * scale)))  # DCT scaling: 1/2, 1/4, 1/8
    _load_fully(im, details)
    high_bit_depth = _is_high_bit_depth(im, data)
    orientation = _orientation(im)
    factor = max(1, max(im.size) // max_side) if max_side else 1
    small = _reduce_to_8bit(im, factor, details)
    if orientation in _TRANSPOSE:
        small = small.transpose(_TRANSPOSE[orientation])
        if orientation >= 5:
            width, height = height, width
    rgb, alpha = _to_rgb_alpha(small, details)
    return DecodedImage(rgb=rgb, alpha=alpha, format=fmt, high_bit_depth=high_bit_depth,
                        source_size=(width, height))


def _open(data: bytes) -> Image.Image:
    ImageFile.LOAD_TRUNCATED_IMAGES = False  # a half-uploaded photo must be refused, not padded with grey
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            return Image.open(io.BytesIO(data), formats=_safe_formats())
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        size = _probe_size(data)
        details = {"width": size[0], "height": size[1]} if size else {}
        pixels = re.search(r"\((\d+) pixels\)", str(exc))
        shown = f"{size[0]}x{size[1]}" if size else f"{int(pixels.group(1)):,} pixels" if pixels else "huge"
        raise ImageError("too_many_pixels", f"the image is too large ({shown}); it looks like a "
                         "decompression bomb", **details) from None
    except UnidentifiedImageError:
        other = _identify_any(data)
        if other:
            raise ImageError("unsupported", f"{other} images are not supported; send a JPEG, PNG or WebP photo",
                             format=other) from None
        raise ImageError("not_image", "the file is not an image (or its format is unknown)") from None
    except Exception as exc:  # the format was recognised but its header could not be read
        raise _damaged(exc, {}) from None


def _safe_formats() -> tuple[str, ...]:
    Image.init()
    return tuple(f for f in _SAFE_FORMATS if f in Image.OPEN)


def _identify_any(data: bytes) -> str | None:
    """The format name of a file Pillow knows but we do not decode (opening reads the header only)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(io.BytesIO(data)) as im:
                return im.format
    except Exception:
        return None


def _probe_size(data: bytes) -> tuple[int, int] | None:
    """Header size of a file Pillow refused as a bomb: the plugin is asked directly, without the bomb check."""
    prefix = data[:16]
    for fmt in _safe_formats():
        factory, accept = Image.OPEN[fmt]
        try:
            accepted = True if accept is None else accept(prefix)
            if accepted and not isinstance(accepted, str):
                im = factory(io.BytesIO(data), "")
                return int(im.size[0]), int(im.size[1])
        except Exception:
            continue
    return None


def _load_fully(im: Image.Image, details: dict) -> None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageError("too_many_pixels", "the image is too large; it looks like a decompression bomb",
                         **details) from None
    except Exception as exc:
        raise _damaged(exc, details) from None


def _damaged(exc: Exception, details: dict) -> ImageError:
    text = str(exc)
    low = text.lower()
    if any(word in low for word in ("unsupported", "not supported", "not available", "unknown", "cannot handle")):
        return ImageError("unsupported", f"this image variant cannot be decoded ({text})", reason=text, **details)
    return ImageError("truncated", f"the image data is truncated or damaged ({text}); send the file again",
                      reason=text, **details)


def _is_high_bit_depth(im: Image.Image, data: bytes) -> bool:
    if im.mode in {"I", "F"} or im.mode.startswith("I;16"):
        return True
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 24 and data[12:16] == b"IHDR":
        return data[24] > 8  # Pillow reduces 16-bit RGB(A) PNGs to 8 bits while loading
    if im.format == "TIFF":
        bits = getattr(im, "tag_v2", {}).get(258)
        bits = bits if isinstance(bits, tuple) else (bits,)
        return any(isinstance(b, int) and b > 8 for b in bits)
    return False


_TRANSPOSE = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180, 4: Image.Transpose.FLIP_TOP_BOTTOM,
              5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
              8: Image.Transpose.ROTATE_90}
"""EXIF orientation -> the transposition that shows the picture upright (applied to the reduced picture)."""

_BAND_PIXELS = 1 << 21
"""Source pixels converted at a time: a few MiB of temporaries whatever the picture's size and mode."""


def _orientation(im: Image.Image) -> int | None:
    try:
        return im.getexif().get(0x0112)
    except Exception:  # a broken EXIF block must not cost the user the photo
        return None


def _reduce_to_8bit(im: Image.Image, factor: int, details: dict) -> Image.Image:
    """``im`` shrunk by the whole ``factor`` (box average) and brought to L, LA, RGB or RGBA, band by band.

    Each band of rows is converted from the source mode (16-bit, float, palette, CMYK, ...) and reduced on its own,
    so no full-size converted copy, and no float copy at all of the full picture, is ever made.
    """
    mode = im.mode
    numeric = mode in {"I", "F"} or mode.startswith("I;16")
    if numeric:
        to_8bit = _scaler(im, from_png=im.format == "PNG" or mode.startswith("I;16"))
        work_mode, out_mode = ("F" if mode == "F" else "I"), "L"
    elif mode in _ALPHA_MODES or (mode in {"P", "L", "RGB"} and "transparency" in im.info):  # PNG tRNS key
        work_mode = out_mode = "RGBA"
    elif mode in {"L", "RGB"}:
        work_mode = out_mode = mode
    else:
        work_mode = out_mode = "RGB"  # 1, P, CMYK, YCbCr, LAB, HSV
    if factor == 1 and not numeric and mode == work_mode:
        return im
    width, height = im.size
    out = Image.new(out_mode, (math.ceil(width / factor), math.ceil(height / factor)))
    rows = max(factor, _BAND_PIXELS // max(1, width) // factor * factor)
    try:
        for top in range(0, height, rows):
            band = im.crop((0, top, width, min(height, top + rows)))
            if band.mode != work_mode:
                band = band.convert(work_mode)
            if factor > 1:
                band = band.reduce(factor)
            if numeric:
                band = Image.fromarray(to_8bit(np.asarray(band, dtype=np.float32)), "L")
            out.paste(band, (0, top // factor))
    except Exception as exc:
        raise ImageError("unsupported", f"{mode} images cannot be converted to RGB ({exc})", mode=mode,
                         **details) from None
    return out


def _scaler(im: Image.Image, from_png: bool):
    """Map integer or float greyscale to 0..255 by its nominal range, not its content (a dark photo stays dark).

    The range comes from Pillow's extrema of the whole picture, so bands are scaled alike.
    """
    low, top = (float(v) for v in im.getextrema())
    if from_png or 255 < top <= 65535:
        factor, offset = 1 / 257.0, 0.0  # 65535 -> 255 exactly
    elif im.mode == "F" and top <= 1.0:
        factor, offset = 255.0, 0.0
    elif top > 65535:
        factor, offset = 255.0 / (top - low), low
    else:
        factor, offset = 1.0, 0.0

    def to_8bit(values: np.ndarray) -> np.ndarray:
        return np.clip(np.rint((values - offset) * factor), 0, 255).astype(np.uint8)

    return to_8bit


def _to_rgb_alpha(im: Image.Image, details: dict) -> tuple[np.ndarray, np.ndarray | None]:
    """RGB ``uint8`` pixels and alpha from an L, LA, RGB or RGBA image (``_reduce_to_8bit``'s result)."""
    try:
        if im.mode == "L":
            im = im.convert("RGB")
        elif im.mode == "LA":
            im = im.convert("RGBA")
    except Exception as exc:
        raise ImageError("unsupported", f"{im.mode} images cannot be converted to RGB ({exc})", mode=im.mode,
                         **details) from None
    arr = np.asarray(im, dtype=np.uint8)
    if arr.ndim == 3 and arr.shape[2] == 4:
        alpha = np.ascontiguousarray(arr[:, :, 3])
        rgb = np.ascontiguousarray(arr[:, :, :3])
        return rgb, (None if int(alpha.min()) == 255 else alpha)  # fully opaque alpha carries nothing
    return np.ascontiguousarray(arr), None


# --------------------------------------------------------------------------------------------------- geometry


def fit(rgb: np.ndarray, max_side: int) -> np.ndarray:
    """Shrink (never enlarge) so the long side is at most ``max_side``, keeping the aspect ratio (Lanczos)."""
    h, w = rgb.shape[:2]
    if max(h, w) <= max_side:
        return rgb
    scale = max_side / max(h, w)
    size = (max(1, min(max_side, round(w * scale))), max(1, min(max_side, round(h * scale))))
    return resize(rgb, size)


def resize(arr: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Lanczos resize of an (H, W) or (H, W, C) array to ``size`` = (width, height); uint8 stays uint8."""
    width, height = int(size[0]), int(size[1])
    if arr.shape[1] == width and arr.shape[0] == height:
        return arr
    if arr.dtype == np.uint8 and (arr.ndim == 2 or arr.shape[2] in (3, 4)):
        return np.asarray(Image.fromarray(arr).resize((width, height), Image.Resampling.LANCZOS))
    planes = arr[:, :, None] if arr.ndim == 2 else arr
    out = np.stack([np.asarray(Image.fromarray(np.ascontiguousarray(planes[:, :, c], dtype=np.float32), "F")
                               .resize((width, height), Image.Resampling.LANCZOS)) for c in range(planes.shape[2])],
                   axis=2)
    out = _like(out, arr)
    return out[:, :, 0] if arr.ndim == 2 else out


def pad_to_multiple(rgb: np.ndarray, m: int) -> tuple[np.ndarray, tuple[int, int]]:
    """Reflect-pad bottom and right so height and width are multiples of ``m``; returns the original (h, w).

    Networks with strided convolutions need such sizes; padding instead of cropping keeps every input pixel, and
    ``crop`` restores the exact original shape afterwards.
    """
    h, w = rgb.shape[:2]
    pad_h, pad_w = (-h) % m, (-w) % m
    if not pad_h and not pad_w:
        return rgb, (h, w)
    widths = [(0, pad_h), (0, pad_w)] + [(0, 0)] * (rgb.ndim - 2)
    return np.pad(rgb, widths, mode="reflect" if min(h, w) > 1 else "edge"), (h, w)


def crop(array: np.ndarray, h: int, w: int) -> np.ndarray:
    """The top-left ``h`` x ``w`` of an (H, W, ...) array: undoes ``pad_to_multiple``."""
    return array[:h, :w]


def reattach_alpha(rgb_result: np.ndarray, alpha: np.ndarray | None) -> np.ndarray:
    """RGBA from a processed RGB image and the input's alpha, resized to the result (RGB back when alpha is None)."""
    if alpha is None:
        return rgb_result
    h, w = rgb_result.shape[:2]
    alpha = resize(np.asarray(alpha, dtype=np.uint8), (w, h))
    return np.dstack([np.asarray(rgb_result, dtype=np.uint8), alpha])


# --------------------------------------------------------------------------------------------------- encoding


def encode(image: np.ndarray, fmt: str = "auto", had_alpha: bool | None = None) -> tuple[bytes, str]:
    """Encode an (H, W, 3|4) or (H, W) uint8 array; returns (bytes, mime).

    ``auto`` picks PNG when the input had transparency (``had_alpha``, or a 4-channel array when None) and JPEG
    (quality 95, 4:4:4 chroma) otherwise: photos stay small enough for Telegram, transparency is never lost.
    Asking for JPEG with an alpha channel composites it onto white.
    """
    arr = np.asarray(image)
    if arr.dtype != np.uint8:
        arr = np.clip(np.rint(arr), 0, 255).astype(np.uint8)
    has_alpha_channel = arr.ndim == 3 and arr.shape[2] == 4
    if had_alpha is None:
        had_alpha = has_alpha_channel
    fmt = (fmt or "auto").lower()
    if fmt == "jpg":
        fmt = "jpeg"
    if fmt == "auto":
        fmt = "png" if had_alpha else "jpeg"
    if fmt not in {"jpeg", "png"}:
        raise BadRequest(message=f"output format {fmt!r} is not one of jpeg, png, auto", format=fmt)
    buf = io.BytesIO()
    if fmt == "png":
        Image.fromarray(arr).save(buf, "PNG", compress_level=6)
        return buf.getvalue(), "image/png"
    if has_alpha_channel:
        arr = _onto_white(arr)
    Image.fromarray(arr).save(buf, "JPEG", quality=95, subsampling=0, optimize=True)
    return buf.getvalue(), "image/jpeg"


def _onto_white(rgba: np.ndarray, rows: int = 512) -> np.ndarray:
    """RGBA composited onto white, in integer arithmetic and bands of ``rows`` so that an upscaled 8192 px result
    needs a few MiB of temporaries instead of several float copies of the whole image."""
    out = np.empty((*rgba.shape[:2], 3), dtype=np.uint8)
    for top in range(0, rgba.shape[0], rows):
        band = rgba[top:top + rows].astype(np.uint32)
        alpha = band[:, :, 3:4]
        out[top:top + rows] = (band[:, :, :3] * alpha + 255 * (255 - alpha) + 127) // 255
    return out



# --------------------------------------------------------------------------------------------------- colour
# Full-range BT.601, the YCbCr of JPEG. Everything works on the 0..255 scale; the chroma offset cancels in
# keep_content_colors, so float images on a 0..1 scale work there as well.

_RGB_TO_YCC = np.array([[0.299, 0.587, 0.114],
                        [-0.168735892, -0.331264108, 0.5],
                        [0.5, -0.418687589, -0.081312411]], dtype=np.float64)
_YCC_TO_RGB = np.linalg.inv(_RGB_TO_YCC)
_CHROMA_OFFSET = np.array([0.0, 128.0, 128.0])


def rgb_to_ycbcr(rgb: np.ndarray) -> np.ndarray:
    """(..., 3) RGB on 0..255 -> float32 YCbCr (Y 0..255, Cb/Cr centred on 128)."""
    return (np.asarray(rgb, dtype=np.float64) @ _RGB_TO_YCC.T + _CHROMA_OFFSET).astype(np.float32)


def ycbcr_to_rgb(ycc: np.ndarray) -> np.ndarray:
    """Inverse of ``rgb_to_ycbcr``: float32 RGB, not clipped (callers clip or cast with ``_like``)."""
    return ((np.asarray(ycc, dtype=np.float64) - _CHROMA_OFFSET) @ _YCC_TO_RGB.T).astype(np.float32)


def _like(values: np.ndarray, reference: np.ndarray) -> np.ndarray:
    if reference.dtype == np.uint8:
        return np.clip(np.rint(values), 0, 255).astype(np.uint8)
    return values.astype(reference.dtype, copy=False)


def _match_size(content: np.ndarray, stylised: np.ndarray) -> np.ndarray:
    h, w = stylised.shape[:2]
    return content if content.shape[:2] == (h, w) else resize(content, (w, h))


def keep_content_colors(stylised: np.ndarray, content: np.ndarray) -> np.ndarray:
    """Luminance of the stylised image with the chroma of the content ("preserve colours").

    The content is resized to the stylised image when the sizes differ; the result has the stylised dtype.
    """
    content = _match_size(np.asarray(content), stylised)
    y = rgb_to_ycbcr(stylised)[..., :1]
    cbcr = rgb_to_ycbcr(content)[..., 1:]
    return _like(ycbcr_to_rgb(np.concatenate([y, cbcr], axis=-1)), stylised)


def blend(stylised: np.ndarray, content: np.ndarray, strength: float) -> np.ndarray:
    """Pixel-space mix: ``strength`` 1 is the stylised image, 0 the content (resized to match when needed)."""
    s = float(min(1.0, max(0.0, strength)))
    content = _match_size(np.asarray(content), stylised)
    mixed = np.asarray(stylised, dtype=np.float32) * s + np.asarray(content, dtype=np.float32) * (1.0 - s)
    return _like(mixed, stylised)
