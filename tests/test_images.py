"""The image gate: every bad input gets its typed code, every odd-but-valid input decodes to the right pixels."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from ml_models import images
from ml_models.errors import ImageError
from tests.conftest import IMAGES, need

LIMIT = 4_000_000


def _photo(width: int = 96, height: int = 64, seed: int = 0) -> np.ndarray:
    """A smooth gradient with some noise: compresses like a photo and has real chroma."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    rgb = np.stack([x / width * 255, y / height * 255, (x + y) / (width + height) * 255], axis=2)
    return np.clip(rgb + rng.normal(0, 6, rgb.shape), 0, 255).astype(np.uint8)


def _save(im: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


def _code(data: bytes, max_pixels: int = LIMIT) -> ImageError:
    with pytest.raises(ImageError) as info:
        images.decode(data, max_pixels)
    return info.value


# --------------------------------------------------------------------------------------------------- refusals


def test_empty_bytes():
    err = _code(b"")
    assert err.code == "empty" and "empty" in str(err)


def test_random_bytes_are_not_an_image():
    err = _code(np.random.default_rng(1).bytes(5000))
    assert err.code == "not_image"


def test_text_is_not_an_image():
    assert _code(b"<html><body>hello</body></html>").code == "not_image"


@pytest.mark.parametrize(("fmt", "options"), [("JPEG", {}), ("JPEG", {"progressive": True}), ("PNG", {})])
@pytest.mark.parametrize("fraction", [0.3, 0.6, 0.9])
def test_truncated_file_is_refused(fmt, options, fraction):
    data = _save(Image.fromarray(_photo(256, 192)), fmt, **options)
    err = _code(data[: int(len(data) * fraction)])
    assert err.code == "truncated", err
    assert err.details["width"] == 256 and err.details["height"] == 192
    assert "truncated" in str(err)


def test_truncated_jpeg_missing_only_its_last_bytes():
    data = _save(Image.fromarray(_photo(128, 96)), "JPEG", quality=90)
    assert _code(data[:-3]).code == "truncated"


def test_animated_gif_is_refused():
    frames = [Image.fromarray(_photo(40, 30, seed=i)).convert("P") for i in range(3)]
    data = _save(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    err = _code(data)
    assert err.code == "animated" and "animated" in str(err) and err.details["frames"] == 3


def test_animated_webp_is_refused():
    frames = [Image.fromarray(_photo(40, 30, seed=i)) for i in range(2)]
    data = _save(frames[0], "WEBP", save_all=True, append_images=frames[1:], duration=100)
    assert _code(data).code == "animated"


def test_animated_png_is_refused():
    frames = [Image.fromarray(_photo(40, 30, seed=i)) for i in range(2)]
    data = _save(frames[0], "PNG", save_all=True, append_images=frames[1:], duration=100)
    assert _code(data).code == "animated"


def test_single_frame_gif_is_fine():
    data = _save(Image.fromarray(_photo(40, 30)).convert("P"), "GIF")
    assert images.decode(data, LIMIT).rgb.shape == (30, 40, 3)


def test_pixel_limit_checked_from_the_header():
    # 20000 x 20000 one-bit PNG: a few KB on disk, 400 Mpx decoded; it must be refused before any decoding.
    data = _save(Image.new("1", (20000, 20000)), "PNG")
    assert len(data) < 100_000
    err = _code(data)
    assert err.code == "too_many_pixels"
    assert (err.details["width"], err.details["height"]) == (20000, 20000)


def test_pixel_limit_below_pillows_own():
    data = _save(Image.fromarray(_photo(300, 200)), "PNG")
    err = _code(data, max_pixels=300 * 200 - 1)
    assert err.code == "too_many_pixels" and "300x200" in str(err)
    assert images.decode(data, 300 * 200).width == 300


def _patch_ihdr(png: bytes, width: int, height: int) -> bytes:
    assert png[12:16] == b"IHDR"
    body = struct.pack(">II", width, height) + png[24:29]
    return png[:8] + png[8:12] + b"IHDR" + body + struct.pack(">I", zlib.crc32(b"IHDR" + body)) + png[33:]


def test_header_claiming_100000_squared_is_a_bomb():
    data = _patch_ihdr(_save(Image.new("RGB", (8, 8)), "PNG"), 100_000, 100_000)
    err = _code(data, max_pixels=LIMIT)
    assert err.code == "too_many_pixels"
    assert (err.details["width"], err.details["height"]) == (100_000, 100_000)


def test_extreme_aspect_ratio():
    err = _code(_save(Image.fromarray(_photo(500, 20)), "PNG"))
    assert err.code == "bad_aspect" and err.details["width"] == 500 and err.details["height"] == 20
    assert images.decode(_save(Image.fromarray(_photo(400, 20)), "PNG"), LIMIT).width == 400  # exactly 20 is fine


def test_known_but_unsupported_format():
    data = _save(Image.fromarray(_photo(32, 32)), "PCX")
    err = _code(data)
    assert err.code == "unsupported" and "PCX" in str(err)


# --------------------------------------------------------------------------------------------------- valid inputs


def test_exif_orientation_is_applied():
    src = _photo(120, 60)
    src[:10, :10] = (255, 0, 0)  # a red mark in the stored top-left corner
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    data = _save(Image.fromarray(src), "JPEG", quality=95, exif=exif)
    out = images.decode(data, LIMIT)
    assert (out.width, out.height) == (60, 120)
    assert out.rgb[2, -3, 0] > 200 and out.rgb[2, -3, 1] < 80  # the mark is now at the top right
    assert out.format == "JPEG" and not out.has_alpha and out.rgb.dtype == np.uint8


def test_rgba_keeps_alpha_and_reattaches_it_resized():
    rgba = np.dstack([_photo(80, 40), np.tile(np.linspace(0, 255, 80, dtype=np.uint8), (40, 1))])
    out = images.decode(_save(Image.fromarray(rgba), "PNG"), LIMIT)
    assert out.rgb.shape == (40, 80, 3) and out.alpha is not None
    np.testing.assert_array_equal(out.alpha, rgba[:, :, 3])
    np.testing.assert_array_equal(out.rgb, rgba[:, :, :3])
    result = images.fit(out.rgb, 40)
    merged = images.reattach_alpha(result, out.alpha)
    assert merged.shape == (20, 40, 4)
    assert merged[:, :3, 3].mean() < 20 and merged[:, -3:, 3].mean() > 235
    data, mime = images.encode(merged, "auto", had_alpha=True)
    assert mime == "image/png"
    assert Image.open(io.BytesIO(data)).mode == "RGBA"


def test_opaque_alpha_is_dropped():
    rgba = np.dstack([_photo(40, 30), np.full((30, 40), 255, np.uint8)])
    out = images.decode(_save(Image.fromarray(rgba), "PNG"), LIMIT)
    assert out.alpha is None


def test_la_greyscale_with_alpha():
    la = Image.merge("LA", [Image.fromarray(_photo(40, 30)[:, :, 0]), Image.new("L", (40, 30), 100)])
    out = images.decode(_save(la, "PNG"), LIMIT)
    assert out.rgb.shape == (30, 40, 3) and out.alpha is not None and int(out.alpha[0, 0]) == 100
    assert np.array_equal(out.rgb[:, :, 0], out.rgb[:, :, 2])


def test_palette_with_transparency():
    im = Image.new("P", (30, 20), 1)
    im.putpalette([0, 0, 0, 200, 30, 40] + [0] * 762)
    im.paste(0, (0, 0, 10, 20))
    data = _save(im, "PNG", transparency=0)
    out = images.decode(data, LIMIT)
    assert out.alpha is not None
    assert out.alpha[:, :10].max() == 0 and out.alpha[:, 10:].min() == 255
    assert tuple(out.rgb[5, 20]) == (200, 30, 40)


def test_cmyk_jpeg():
    cmyk = Image.new("CMYK", (40, 30), (0, 255, 255, 0))  # pure red in CMYK
    out = images.decode(_save(cmyk, "JPEG", quality=95), LIMIT)
    r, g, b = (int(v) for v in out.rgb[15, 20])
    assert r > 220 and g < 40 and b < 40


def test_greyscale_l():
    grey = _photo(50, 40)[:, :, 1]
    out = images.decode(_save(Image.fromarray(grey), "PNG"), LIMIT)
    assert out.rgb.shape == (40, 50, 3)
    np.testing.assert_array_equal(out.rgb[:, :, 0], grey)
    np.testing.assert_array_equal(out.rgb[:, :, 1], grey)


def test_shared_greyscale_photo():
    path = need(IMAGES / "content" / "wolf_gray.jpg")
    with Image.open(path) as im:
        size = im.size
    out = images.decode(path.read_bytes(), 40_000_000)
    assert (out.width, out.height) == size and out.rgb.shape[2] == 3
    assert np.array_equal(out.rgb[:, :, 0], out.rgb[:, :, 1])


def test_16bit_greyscale_png_is_scaled():
    values = np.array([[0, 257, 32896, 65535]], dtype=np.uint16).repeat(4, axis=0)
    im = Image.fromarray(values)  # mode I;16
    assert im.mode == "I;16"
    out = images.decode(_save(im, "PNG"), LIMIT)
    assert out.high_bit_depth
    assert out.rgb[0, :, 0].tolist() == [0, 1, 128, 255]


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def test_16bit_rgb_png():
    rgb16 = np.zeros((4, 6, 3), dtype=">u2")
    rgb16[..., 0], rgb16[..., 1], rgb16[..., 2] = 65535, 32896, 0
    raw = b"".join(b"\x00" + row.tobytes() for row in rgb16)  # filter type 0 per scanline
    data = (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", struct.pack(">IIBBBBB", 6, 4, 16, 2, 0, 0, 0))
            + _png_chunk(b"IDAT", zlib.compress(raw)) + _png_chunk(b"IEND", b""))
    out = images.decode(data, LIMIT)
    assert out.high_bit_depth and out.rgb.shape == (4, 6, 3) and out.rgb.dtype == np.uint8
    assert out.rgb[0, 0].tolist() == [255, 128, 0]


def test_multipage_tiff_is_a_still_image():
    pages = [Image.fromarray(_photo(40, 30, seed=i)) for i in range(2)]
    data = _save(pages[0], "TIFF", save_all=True, append_images=pages[1:])
    np.testing.assert_array_equal(images.decode(data, LIMIT).rgb, np.asarray(pages[0]))


def test_8bit_png_is_not_high_bit_depth():
    assert not images.decode(_save(Image.fromarray(_photo(20, 20)), "PNG"), LIMIT).high_bit_depth


def test_32bit_integer_image():
    values = np.array([[0, 100, 200, 255]], dtype=np.int32).repeat(4, axis=0)
    out = images.decode(_save(Image.fromarray(values, "I"), "TIFF"), LIMIT)
    assert out.rgb[0, :, 0].tolist() == [0, 100, 200, 255]


# --------------------------------------------------------------------------------------------------- geometry


@pytest.mark.parametrize(("width", "height", "max_side", "expected"), [
    (3000, 1000, 600, (200, 600)),  # 3:1 panorama
    (900, 1200, 400, (400, 300)),  # 3:4 portrait
    (300, 400, 1000, (400, 300)),  # never upscaled
])
def test_fit_keeps_aspect_ratio(width, height, max_side, expected):
    out = images.fit(np.zeros((height, width, 3), np.uint8), max_side)
    assert out.shape == (*expected, 3)
    assert abs(out.shape[1] / out.shape[0] - width / height) < 0.02


def test_fit_is_lanczos_and_keeps_content():
    src = _photo(300, 100)
    out = images.fit(src, 150)
    assert out.dtype == np.uint8 and out.shape == (50, 150, 3)
    assert abs(float(out.mean()) - float(src.mean())) < 2


@pytest.mark.parametrize("shape", [(37, 53, 3), (64, 64, 3), (5, 9), (1, 3, 3)])
def test_pad_and_crop_round_trip(shape):
    arr = np.random.default_rng(2).integers(0, 256, shape, dtype=np.uint8)
    padded, (h, w) = images.pad_to_multiple(arr, 8)
    assert padded.shape[0] % 8 == 0 and padded.shape[1] % 8 == 0 and padded.shape[2:] == arr.shape[2:]
    assert (h, w) == arr.shape[:2]
    np.testing.assert_array_equal(images.crop(padded, h, w), arr)
    if shape[0] > 1 and padded.shape[0] > shape[0]:  # reflection, not zeros: the row below mirrors the one above
        np.testing.assert_array_equal(padded[shape[0], : shape[1]], arr[shape[0] - 2])


# --------------------------------------------------------------------------------------------------- colour


def test_ycbcr_round_trip():
    rgb = _photo(30, 20)
    back = images.ycbcr_to_rgb(images.rgb_to_ycbcr(rgb))
    assert np.abs(back - rgb).max() < 1e-3
    ycc = images.rgb_to_ycbcr(np.array([[255, 255, 255], [0, 0, 0]], np.uint8))
    np.testing.assert_allclose(ycc, [[255, 128, 128], [0, 128, 128]], atol=1e-3)


def test_keep_content_colors_takes_chroma_from_content_and_luma_from_stylised():
    content = _photo(64, 48, seed=3)
    stylised = np.clip(_photo(64, 48, seed=4)[:, :, ::-1].astype(int) // 2 + 60, 0, 255).astype(np.uint8)
    out = images.keep_content_colors(stylised, content)
    assert out.dtype == np.uint8 and out.shape == content.shape
    got, want_c, want_s = (images.rgb_to_ycbcr(a) for a in (out, content, stylised))
    ideal = images.ycbcr_to_rgb(np.concatenate([want_s[..., :1], want_c[..., 1:]], axis=-1))
    in_gamut = ((ideal > 0.5) & (ideal < 254.5)).all(axis=-1)  # where no channel had to be clipped
    assert in_gamut.mean() > 0.5
    assert np.abs(got[..., 1:] - want_c[..., 1:])[in_gamut].max() <= 2.0
    assert np.abs(got[..., 0] - want_s[..., 0])[in_gamut].max() <= 2.0
    assert np.abs(got[..., 1:] - want_s[..., 1:]).mean() > 5  # the stylised chroma really was replaced


def test_keep_content_colors_resizes_content():
    out = images.keep_content_colors(np.full((20, 30, 3), 128, np.uint8), _photo(60, 40))
    assert out.shape == (20, 30, 3)


def test_blend():
    a = np.full((4, 4, 3), 200, np.uint8)
    b = np.full((4, 4, 3), 100, np.uint8)
    assert images.blend(a, b, 1.0).tolist() == a.tolist()
    assert images.blend(a, b, 0.0).tolist() == b.tolist()
    assert int(images.blend(a, b, 0.25)[0, 0, 0]) == 125
    assert images.blend(a.astype(np.float32) / 255, b.astype(np.float32) / 255, 0.5).dtype == np.float32


# --------------------------------------------------------------------------------------------------- encoding


def test_encode_jpeg_round_trip():
    src = _photo(64, 48)
    data, mime = images.encode(src, "jpeg", had_alpha=False)
    assert mime == "image/jpeg" and data[:2] == b"\xff\xd8"
    back = images.decode(data, LIMIT)
    assert back.rgb.shape == src.shape
    assert np.abs(back.rgb.astype(int) - src).mean() < 4


def test_encode_png_round_trip_is_lossless():
    src = _photo(64, 48)
    data, mime = images.encode(src, "png", had_alpha=False)
    assert mime == "image/png"
    np.testing.assert_array_equal(images.decode(data, LIMIT).rgb, src)


def test_encode_auto_and_jpeg_with_alpha():
    rgba = np.dstack([np.zeros((8, 8, 3), np.uint8), np.zeros((8, 8), np.uint8)])
    assert images.encode(rgba[:, :, :3], "auto", had_alpha=False)[1] == "image/jpeg"
    assert images.encode(rgba, "auto", had_alpha=True)[1] == "image/png"
    data, mime = images.encode(rgba, "jpeg", had_alpha=True)  # transparent black flattened onto white
    assert mime == "image/jpeg" and images.decode(data, LIMIT).rgb.min() > 240


def test_telegram_photo_limits():
    assert images.telegram_photo_ok(1280, 960, 400_000)
    assert not images.telegram_photo_ok(1280, 960, 11_000_000)
    assert not images.telegram_photo_ok(6000, 4500, 5_000_000)  # width + height > 10000
    assert not images.telegram_photo_ok(4200, 200, 100_000)  # ratio 21
    assert not images.telegram_photo_ok(0, 10, 10)
