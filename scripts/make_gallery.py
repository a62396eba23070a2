"""Render ``docs/gallery.png``: what every model family does to a real photo, for the README.

Why generate it instead of pasting screenshots: the picture is produced by the same ``ml_models.engine.run`` the
workers call, from genuine weights, and every row is labelled with the model, the weights file, the options and the
measured seconds. The README therefore never promises something the code cannot do, and ``make gallery`` brings it
up to date after a model changes.

One row per family whose weights are present (families without weights are skipped and listed): photo | style |
result. Preset models show the painting the preset was trained on when the style folder has it; the upscaler shows
a crop of the low-resolution input enlarged with nearest and bicubic next to the model's result.

The committed PNG must stay small (a README image is downloaded by every visitor), so the picture is written with
``optimize=True`` and, when that is still over ``--max-bytes``, reduced to a palette.

Beside it the script writes ``clip.gif``: a slow pan over a photo (``ml_models.video.synthetic.pan``) on the left and
the same frames through ``engine.stylise_frames`` and the clip pipeline's ``TemporalFilter`` on the right, i.e. what a
clip job does minus the container. It shares one palette across frames and stays under ``--clip-max-bytes``.
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from ml_models import registry  # noqa: E402  (the repository root has to be on sys.path first)
from ml_models.api import JobRequest, JobResult  # noqa: E402
from ml_models.errors import EngineError  # noqa: E402
from ml_models.settings import EngineSettings  # noqa: E402
from ml_models.video import synthetic  # noqa: E402
from ml_models.video.api import TEMPORAL_WEIGHTS  # noqa: E402

SHARED = REPO.parent / "shared"
DEFAULT_OUT = REPO / "docs" / "gallery.png"
DEFAULT_CELL = 288
DEFAULT_MAX_BYTES = 1_500_000
HARD_MAX_BYTES = 2_000_000
COLUMNS = 3

CLIP_NAME = "clip.gif"  # written next to --out
CLIP_CONTENT = "chicago.jpg"
CLIP_MODEL, CLIP_PRESET = "johnson", "mosaic"
CLIP_STEP = (2, 1)  # (dx, dy) pixels per frame: a slow diagonal pan
DEFAULT_CLIP_HEIGHT = 180  # 25 frames of it make about 1.46 MB: a GIF of a pan reuses no pixels between frames
DEFAULT_CLIP_FRAMES = 25
DEFAULT_CLIP_FPS = 10

BACKGROUND = (255, 255, 255)
CELL_BACKGROUND = (238, 238, 238)
TITLE_COLOUR = (20, 20, 20)
CAPTION_COLOUR = (96, 96, 96)


# --------------------------------------------------------------------------------------------------- what to show


@dataclass(frozen=True)
class Row:
    """One gallery row. ``key`` is what ``--rows`` selects (the model id, so ``johnson`` selects every Johnson row)."""

    key: str
    model: str
    content: str  # file name in <images>/content
    preset: str | None = None
    style: str | None = None  # file name in <images>/style (arbitrary-style models)
    options: dict[str, Any] = field(default_factory=dict)
    max_work_side: int = 512  # the photo is shrunk to this before the run (Gatys is slow at larger sizes)


ROWS: tuple[Row, ...] = (
    Row("microast", "microast", "golden_gate.jpg", style="starry_night.jpg"),
    Row("adain", "adain", "avril.jpg", style="la_muse.jpg"),
    Row("johnson", "johnson", "chicago.jpg", preset="mosaic"),
    Row("johnson", "johnson", "amber.jpg", preset="candy"),
    Row("gatys", "gatys", "sailboat.jpg", style="the_scream.jpg", options={"quality": "fast"}, max_work_side=256),
    Row("cyclegan", "cyclegan", "cornell.jpg", preset="monet"),
    Row("upscale", "upscale", "baboon.png", preset="general", max_work_side=160),
)
ROW_KEYS: tuple[str, ...] = tuple(dict.fromkeys(r.key for r in ROWS))


@dataclass
class Rendered:
    """A finished row: the label, three cells and their captions."""

    label: str
    cells: list[Image.Image | str]  # a string is drawn as text in an empty cell (no image to show)
    captions: list[str]
    seconds: float


# --------------------------------------------------------------------------------------------------- layout


def font_sizes(cell: int) -> tuple[int, int]:
    """Title and caption font sizes: readable at the default cell size, not absurd at test sizes."""
    return max(10, min(18, cell // 18)), max(9, min(14, cell // 22))


def padding(cell: int) -> int:
    return max(4, cell // 32)


def label_height(cell: int) -> int:
    title, caption = font_sizes(cell)
    return round(title * 1.35) + round(caption * 1.35) + 2


def canvas_size(n_rows: int, cell: int) -> tuple[int, int]:
    """(width, height) of a gallery with ``n_rows`` rows of ``cell``-pixel cells."""
    pad = padding(cell)
    return COLUMNS * cell + (COLUMNS + 1) * pad, pad + n_rows * (label_height(cell) + cell + pad)


def cell_box(row: int, column: int, cell: int) -> tuple[int, int, int, int]:
    """(left, top, right, bottom) of one image cell, for the tests and for drawing."""
    pad = padding(cell)
    left = pad + column * (cell + pad)
    top = pad + row * (label_height(cell) + cell + pad) + label_height(cell)
    return left, top, left + cell, top + cell


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1 has only the fixed bitmap font
        return ImageFont.load_default()


def _fitted_text(draw: ImageDraw.ImageDraw, text: str, font: Any, width: int) -> str:
    """``text`` shortened with an ellipsis so it fits ``width`` pixels."""
    if draw.textlength(text, font=font) <= width:
        return text
    while text and draw.textlength(text + "…", font=font) > width:
        text = text[:-1]
    return text + "…"


def _contain(image: Image.Image, cell: int) -> Image.Image:
    """The whole image inside a cellxcell square (aspect kept), never enlarged by more than it needs."""
    scale = cell / max(image.size)
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    resample = Image.Resampling.LANCZOS if scale < 1 else Image.Resampling.BICUBIC
    return image.resize(size, resample)


def compose(rows: Sequence[Rendered], cell: int) -> Image.Image:
    canvas = Image.new("RGB", canvas_size(len(rows), cell), BACKGROUND)
    draw = ImageDraw.Draw(canvas)
    title_size, caption_size = font_sizes(cell)
    title_font, caption_font = _font(title_size), _font(caption_size)
    pad = padding(cell)
    text_width = canvas.width - 2 * pad
    for r, row in enumerate(rows):
        left, top, _, _ = cell_box(r, 0, cell)
        label_top = top - label_height(cell)
        draw.text((pad, label_top), _fitted_text(draw, row.label, title_font, text_width), font=title_font,
                  fill=TITLE_COLOUR)
        caption_top = label_top + round(title_size * 1.35)
        for c, (content, caption) in enumerate(zip(row.cells, row.captions, strict=True)):
            x0, y0, x1, y1 = cell_box(r, c, cell)
            draw.text((x0, caption_top), _fitted_text(draw, caption, caption_font, cell), font=caption_font,
                      fill=CAPTION_COLOUR)
            draw.rectangle((x0, y0, x1 - 1, y1 - 1), fill=CELL_BACKGROUND)
            if isinstance(content, str):
                _draw_note(draw, content, caption_font, (x0, y0, x1, y1))
                continue
            picture = _contain(content.convert("RGB"), cell)
            canvas.paste(picture, (x0 + (cell - picture.width) // 2, y0 + (cell - picture.height) // 2))
    return canvas


def _draw_note(draw: ImageDraw.ImageDraw, text: str, font: Any, box: tuple[int, int, int, int]) -> None:
    """Words wrapped inside an empty cell (a preset trained on a collection has no single style image)."""
    x0, y0, x1, y1 = box
    lines: list[str] = []
    for word in text.split():
        if lines and draw.textlength(f"{lines[-1]} {word}", font=font) <= (x1 - x0) - 8:
            lines[-1] = f"{lines[-1]} {word}"
        else:
            lines.append(word)
    line_h = round(getattr(font, "size", 10) * 1.3)
    y = y0 + ((y1 - y0) - line_h * len(lines)) // 2
    for line in lines:
        width = draw.textlength(line, font=font)
        draw.text((x0 + ((x1 - x0) - width) / 2, y), line, font=font, fill=CAPTION_COLOUR)
        y += line_h


# --------------------------------------------------------------------------------------------------- saving


def encode_png(image: Image.Image, max_bytes: int) -> tuple[bytes, str]:
    """The smallest-effort PNG under ``max_bytes``: full colour if it fits, else a palette, fewer colours last.

    Photographs compress badly as PNG (about 2 bytes a pixel), a 256-colour dithered palette roughly halves that and
    is hard to tell apart at README size.
    """
    attempts: list[tuple[str, Callable[[], Image.Image]]] = [("rgb", lambda: image)]
    for colours in (256, 192, 128, 96, 64):
        attempts.append((f"palette {colours}", lambda n=colours: image.quantize(
            n, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.FLOYDSTEINBERG)))
    data, used = b"", ""
    for name, make in attempts:
        buffer = io.BytesIO()
        make().save(buffer, "PNG", optimize=True)
        data, used = buffer.getvalue(), name
        if len(data) <= max_bytes:
            break
    return data, used


# --------------------------------------------------------------------------------------------------- running


def _png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def _load_rgb(path: Path, max_side: int | None = None) -> Image.Image:
    with Image.open(path) as im:
        im = im.convert("RGB")
        if max_side and max(im.size) > max_side:
            im.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
        return im.copy()


def _decode(result: JobResult) -> Image.Image:
    with Image.open(io.BytesIO(result.image)) as im:
        return im.convert("RGB")


def _options_text(options: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in options.items())


def _weights_text(row: Row, weights_dir: Path) -> str:
    files = registry.resolve_weights(row.model, row.preset, weights_dir)
    names = sorted({p.name for p in files})
    return names[0] if len(names) == 1 else f"{len(names)} files ({files[0].parent.name}/)"


def _label(row: Row, weights_dir: Path, result: JobResult, extra: str) -> str:
    spec = registry.get(row.model)
    title = spec.title_en + (f": {spec.preset(row.preset).title_en}" if row.preset else "")
    model = row.model + (f"/{row.preset}" if row.preset else "")
    where = " ".join(str(result.info[k]) for k in ("device", "precision") if result.info.get(k))
    parts = [title, model, _weights_text(row, weights_dir)]
    if row.options:
        parts.append(_options_text(row.options))
    parts.append(extra)
    parts.append(f"{result.seconds:.2f} s" + (f" on {where}" if where else ""))
    return " · ".join(parts)


def _progress_printer(name: str) -> Callable[[int, int], None]:
    shown = {"tenth": -1}

    def report(done: int, total: int) -> None:
        tenth = (10 * done) // max(1, total)
        if tenth != shown["tenth"]:
            shown["tenth"] = tenth
            print(f"    {name}: {done}/{total}", flush=True)

    return report


def work_side(row: Row, cell: int) -> int:
    """Side the photo is shrunk to before the run: twice the cell (results are shown downscaled) up to the row's cap."""
    return min(row.max_work_side, max(128, 2 * cell))


def render_style_row(row: Row, engine: Any, settings: EngineSettings, images_dir: Path, cell: int) -> Rendered:
    spec = registry.get(row.model)
    content_path = images_dir / "content" / row.content
    photo = _load_rgb(content_path, work_side(row, cell))
    styles: list[bytes] = []
    if row.style:
        style_path = images_dir / "style" / row.style
        style_cell: Image.Image | str = _load_rgb(style_path, 2 * cell)
        styles.append(style_path.read_bytes())
        style_caption = f"style: {row.style}"
    else:
        preset = spec.preset(row.preset or "")
        gallery = registry.GALLERY.get(preset.style_image or "")
        painting = images_dir / "style" / gallery.file.path if gallery else None
        if painting is not None and painting.is_file():
            style_cell, style_caption = _load_rgb(painting, 2 * cell), f"trained on: {painting.name}"
        else:
            style_cell = f"{preset.title_en}: learned from a collection of paintings, no single style image"
            style_caption = "style: (preset)"
    request = JobRequest(model=row.model, content=_png_bytes(photo), preset=row.preset, styles=styles,
                         style_weights=[1.0] * len(styles), options=dict(row.options), output_format="png")
    result = engine.run(request, settings, progress=_progress_printer(row.model) if spec.multi_step else None)
    stylised = _decode(result)
    return Rendered(
        label=_label(row, settings.weights_dir, result, f"photo {photo.width}x{photo.height}"),
        cells=[photo, style_cell, stylised],
        captions=[f"photo: {row.content}", style_caption, f"result {result.width}x{result.height}"],
        seconds=result.seconds,
    )


def render_upscale_row(row: Row, engine: Any, settings: EngineSettings, images_dir: Path, cell: int) -> Rendered:
    """Low-resolution input: a centre crop shown enlarged x4 with nearest, bicubic and the model, side by side."""
    small = _load_rgb(images_dir / "content" / row.content, row.max_work_side)
    request = JobRequest(model=row.model, content=_png_bytes(small), preset=row.preset, output_format="png")
    result = engine.run(request, settings, progress=_progress_printer(row.model))
    big = _decode(result)
    factor = round(big.width / small.width)
    side = max(8, min(small.width, small.height, -(-cell // factor)))
    left, top = (small.width - side) // 2, (small.height - side) // 2
    crop = small.crop((left, top, left + side, top + side))
    shown = side * factor
    nearest = crop.resize((shown, shown), Image.Resampling.NEAREST)
    bicubic = crop.resize((shown, shown), Image.Resampling.BICUBIC)
    model_crop = big.crop((left * factor, top * factor, left * factor + shown, top * factor + shown))
    extra = f"x{factor}: {small.width}x{small.height} -> {result.width}x{result.height}, centre crop"
    return Rendered(
        label=_label(row, settings.weights_dir, result, extra),
        cells=[nearest, bicubic, model_crop],
        captions=[f"{row.content} crop {side}x{side}, nearest x{factor}", f"bicubic x{factor}", f"model x{factor}"],
        seconds=result.seconds,
    )


def row_weights_present(row: Row, weights_dir: Path) -> bool:
    spec = registry.get(row.model)
    alternatives = spec.preset(row.preset).alternatives if row.preset else spec.alternatives
    return registry.first_present(alternatives, weights_dir) is not None


# --------------------------------------------------------------------------------------------------- the clip


def pan_frames(photo: Image.Image, frames: int, height: int) -> list[np.ndarray]:
    """``frames`` 4:3 windows ``height`` pixels tall sliding across ``photo`` by ``CLIP_STEP``, with sensor noise."""
    width = 4 * height // 3
    width -= width % 2
    dx, dy = CLIP_STEP
    need_w, need_h = width + abs(dx) * (frames - 1), height + abs(dy) * (frames - 1)
    scale = max(need_w / photo.width, need_h / photo.height)
    size = (max(need_w, round(photo.width * scale)), max(need_h, round(photo.height * scale)))
    resample = Image.Resampling.LANCZOS if scale < 1 else Image.Resampling.BICUBIC
    pixels = np.asarray(photo.convert("RGB").resize(size, resample))
    return synthetic.pan(pixels, frames, (height, width), CLIP_STEP, noise=1.5).frames


def stylise_clip(frames: Sequence[np.ndarray], engine: Any, settings: EngineSettings) -> list[np.ndarray]:
    """The frames through the engine's sequence path and the clip pipeline's temporal filter, as a clip job runs."""
    from ml_models.video.temporal import TemporalFilter  # OpenCV loads here, with torch

    request = JobRequest(model=CLIP_MODEL, content=b"", preset=CLIP_PRESET,
                         options={"max_side": max(frames[0].shape[:2])})
    steady = TemporalFilter(TEMPORAL_WEIGHTS[CLIP_MODEL])
    stylised = engine.stylise_frames(request, iter(frames), settings)
    return [steady.step(frame, out).output for frame, out in zip(frames, stylised, strict=True)]


def clip_gap(height: int) -> int:
    return max(2, height // 60)


def compose_clip_frame(before: np.ndarray, after: np.ndarray, captions: tuple[str, str]) -> Image.Image:
    """Input on the left, result on the right, a caption under each; the result is shown at the input's size."""
    height, width = before.shape[:2]
    _, caption_size = font_sizes(3 * height // 2)
    font, gap = _font(caption_size), clip_gap(height)
    strip = round(caption_size * 1.6)
    canvas = Image.new("RGB", (2 * width + gap, height + strip), BACKGROUND)
    canvas.paste(Image.fromarray(before), (0, 0))
    result = Image.fromarray(after)
    if result.size != (width, height):
        result = result.resize((width, height), Image.Resampling.LANCZOS)
    canvas.paste(result, (width + gap, 0))
    draw = ImageDraw.Draw(canvas)
    for left, caption in zip((0, width + gap), captions, strict=True):
        draw.text((left + 2, height + (strip - caption_size) // 2), _fitted_text(draw, caption, font, width - 4),
                  font=font, fill=CAPTION_COLOUR)
    return canvas


def encode_gif(frames: Sequence[Image.Image], fps: float, max_bytes: int) -> tuple[bytes, str]:
    """A looping GIF with one palette for every frame (no colour shimmer between frames), fewer colours until it fits.

    The palette is taken from a few frames spread over the clip; dithering is dropped last, as it costs the most
    bytes (the noise defeats LZW) but shows least on stylised pictures.
    """
    sample = frames[:: max(1, len(frames) // 6)]
    montage = Image.new("RGB", (frames[0].width, frames[0].height * len(sample)))
    for n, frame in enumerate(sample):
        montage.paste(frame, (0, n * frame.height))
    data, used = b"", ""
    for colours, dither in ((256, True), (128, True), (128, False), (96, False), (64, False)):
        palette = montage.quantize(colours, method=Image.Quantize.MEDIANCUT)
        mode = Image.Dither.FLOYDSTEINBERG if dither else Image.Dither.NONE
        indexed = [frame.quantize(palette=palette, dither=mode) for frame in frames]
        buffer = io.BytesIO()
        indexed[0].save(buffer, "GIF", save_all=True, append_images=indexed[1:], duration=round(1000 / fps), loop=0,
                        optimize=True)
        data, used = buffer.getvalue(), f"{colours} colours" + (", dithered" if dither else "")
        if len(data) <= max_bytes:
            break
    return data, used


def render_clip(engine: Any, settings: EngineSettings, images_dir: Path, height: int, frames: int) -> list[Image.Image]:
    """The before/after frames of the README clip: a pan over ``CLIP_CONTENT`` and its stylised, steadied version."""
    photo = _load_rgb(images_dir / "content" / CLIP_CONTENT)
    before = pan_frames(photo, frames, height)
    after = stylise_clip(before, engine, settings)
    captions = (f"input: pan over {CLIP_CONTENT}", f"{CLIP_MODEL}/{CLIP_PRESET} + temporal filter")
    return [compose_clip_frame(b, a, captions) for b, a in zip(before, after, strict=True)]


# --------------------------------------------------------------------------------------------------- entry


def default_weights_dir() -> Path:
    shared = SHARED / "weights"
    return shared if shared.is_dir() else EngineSettings.from_env().weights_dir


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights-dir", type=Path, default=None,
                        help=f"default: {SHARED / 'weights'} if it exists, else WEIGHTS_DIR")
    parser.add_argument("--images-dir", type=Path, default=SHARED / "images",
                        help="folder with content/ and style/ (default: %(default)s)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="PNG to write (default: %(default)s)")
    parser.add_argument("--size", type=int, default=DEFAULT_CELL, help="long side of each cell in pixels")
    parser.add_argument("--rows", default=",".join(ROW_KEYS),
                        help=f"comma-separated families to include, in gallery order (default: {','.join(ROW_KEYS)})")
    parser.add_argument("--max-bytes", type=int, default=DEFAULT_MAX_BYTES,
                        help="reduce to a palette until the PNG is at most this big (default: %(default)s)")
    clip = parser.add_argument_group(f"the before/after clip ({CLIP_NAME} next to --out)")
    clip.add_argument("--clip-height", type=int, default=DEFAULT_CLIP_HEIGHT,
                      help="height of each half in pixels; 0: no clip (default: %(default)s)")
    clip.add_argument("--clip-frames", type=int, default=DEFAULT_CLIP_FRAMES, help="default: %(default)s")
    clip.add_argument("--clip-fps", type=float, default=DEFAULT_CLIP_FPS, help="default: %(default)s")
    clip.add_argument("--clip-max-bytes", type=int, default=DEFAULT_MAX_BYTES,
                      help="fewer colours until the GIF is at most this big (default: %(default)s)")
    return parser


def write_clip(args: argparse.Namespace, engine: Any, settings: EngineSettings, images_dir: Path) -> str | None:
    """Render and write the before/after GIF; returns why it failed, or None."""
    out = args.out.with_name(CLIP_NAME)
    target = f"{CLIP_MODEL}:{CLIP_PRESET}"
    if registry.first_present(registry.get(CLIP_MODEL).preset(CLIP_PRESET).alternatives,
                              settings.weights_dir) is None:
        print(f"skip {out.name}: {target} weights absent in {settings.weights_dir}")
        return None
    if not (images_dir / "content" / CLIP_CONTENT).is_file():
        print(f"skip {out.name}: no {CLIP_CONTENT} in {images_dir}/content")
        return None
    print(f"[clip] {target} on a {args.clip_frames}-frame pan over {CLIP_CONTENT}", flush=True)
    started = time.perf_counter()
    try:
        frames = render_clip(engine, settings, images_dir, args.clip_height, args.clip_frames)
    except EngineError as exc:
        print(f"    FAILED {exc.code}: {exc}", file=sys.stderr)
        return f"{out.name}: {exc.code}: {exc}"
    data, how = encode_gif(frames, args.clip_fps, args.clip_max_bytes)
    out.write_bytes(data)
    print(f"wrote {out}: {len(frames)} frames at {args.clip_fps:g} fps, {frames[0].width}x{frames[0].height}, "
          f"{len(data):,} bytes ({how}), {time.perf_counter() - started:.1f} s")
    if len(data) > args.clip_max_bytes:
        print(f"warning: still over {args.clip_max_bytes:,} bytes: use a smaller --clip-height", file=sys.stderr)
    return None


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    started = time.perf_counter()
    wanted = [k.strip() for k in args.rows.split(",") if k.strip()]
    unknown = sorted(set(wanted) - set(ROW_KEYS))
    if unknown or not wanted:
        print(f"error: --rows takes a comma-separated subset of {','.join(ROW_KEYS)}; got {args.rows!r}",
              file=sys.stderr)
        return 2
    if args.size < 32:
        print("error: --size must be at least 32 pixels", file=sys.stderr)
        return 2
    if args.clip_height and (args.clip_height < 32 or args.clip_frames < 2 or args.clip_fps <= 0):
        print("error: the clip needs --clip-height >= 32 (or 0 for none), --clip-frames >= 2 and --clip-fps > 0",
              file=sys.stderr)
        return 2
    weights_dir = (args.weights_dir or default_weights_dir()).resolve()
    images_dir = args.images_dir.resolve()
    if not (images_dir / "content").is_dir():
        print(f"error: no photos in {images_dir}/content (pass --images-dir)", file=sys.stderr)
        return 2

    selected = [r for r in ROWS if r.key in wanted]
    present = [r for r in selected if row_weights_present(r, weights_dir)]
    for row in selected:
        if row not in present:
            target = f"{row.model}:{row.preset}" if row.preset else row.model
            print(f"skip {target}: weights absent in {weights_dir} (python -m ml_models download {target})")
    if not present:
        print("error: no selected family has weights present", file=sys.stderr)
        return 2

    from ml_models import engine  # torch loads here: the checks above stay quick

    settings = dataclasses.replace(EngineSettings.from_env(), weights_dir=weights_dir, styles_dir=images_dir / "style")
    rendered: list[Rendered] = []
    failed: list[str] = []
    for n, row in enumerate(present, 1):
        target = f"{row.model}/{row.preset}" if row.preset else row.model
        print(f"[{n}/{len(present)}] {target} on {row.content}", flush=True)
        render = render_upscale_row if registry.get(row.model).kind == "single_image" else render_style_row
        try:
            # Load the network first so the label shows what a warm worker takes, not the one-off loading.
            loading = time.perf_counter()
            engine.preload([f"{row.model}:{row.preset}" if row.preset else row.model], settings)
            print(f"    loaded in {time.perf_counter() - loading:.2f} s", flush=True)
            rendered.append(render(row, engine, settings, images_dir, args.size))
        except EngineError as exc:
            failed.append(f"{target}: {exc.code}: {exc}")
            print(f"    FAILED {failed[-1]}", file=sys.stderr)
            continue
        print(f"    {rendered[-1].label}", flush=True)
    if not rendered:
        print("error: every row failed", file=sys.stderr)
        return 1

    image = compose(rendered, args.size)
    data, how = encode_png(image, min(args.max_bytes, HARD_MAX_BYTES))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(data)
    total = time.perf_counter() - started
    print(f"wrote {args.out}: {len(rendered)} rows, {image.width}x{image.height}, {len(data):,} bytes ({how}), "
          f"{total:.1f} s in all")
    if len(data) > min(args.max_bytes, HARD_MAX_BYTES):
        print(f"warning: still over {min(args.max_bytes, HARD_MAX_BYTES):,} bytes: use a smaller --size",
              file=sys.stderr)
    if args.clip_height:
        clip_failure = write_clip(args, engine, settings, images_dir)
        if clip_failure:
            failed.append(clip_failure)
    if failed:
        print(f"{len(failed)} part(s) failed: " + "; ".join(failed), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
