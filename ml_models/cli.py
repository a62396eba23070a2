"""``python -m ml_models``: list models and weights, download them, regenerate the manifest, run one job.

The CLI is how an operator prepares a server (``download``), checks it (``list``) and tries a model on a photo
(``run``) without the bot. Torch is imported only by ``run`` (through the engine), so the other commands are quick.
Every expected failure prints one line (the ``EngineError`` message) and exits with status 2.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from . import registry, weights
from .api import JobRequest
from .errors import BadRequest, EngineError
from .settings import EngineSettings

EXIT_ERROR = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m ml_models",
        description="List models and weights, download them, regenerate the manifest, run one job.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("list", help="models, presets, options and which weight files are present")
    _dirs(p)
    p.add_argument("--no-verify", action="store_true", help="do not hash present files (faster)")
    p.set_defaults(handler=cmd_list)

    p = sub.add_parser("download", help="fetch weight files and gallery styles")
    p.add_argument("targets", nargs="*", metavar="TARGET",
                   help="model, model:preset, gallery, all or a manifest path "
                        f"(default: {' '.join(weights.DEFAULT_TARGETS)})")
    _dirs(p)
    p.add_argument("--keep-sources", action="store_true",
                   help="keep archives and conversion sources (e.g. the 548 MB torchvision VGG-19)")
    p.add_argument("--retries", type=int, default=3)
    p.add_argument("--timeout", type=float, default=60.0, help="seconds without data before a retry")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(handler=cmd_download)

    p = sub.add_parser("manifest", help="write weights/manifest.json from the registry")
    p.add_argument("--out", type=Path, default=weights.MANIFEST_JSON)
    p.add_argument("--check", action="store_true", help="only compare; exit 1 when the file is out of date")
    p.set_defaults(handler=cmd_manifest)

    p = sub.add_parser("run", help="stylise or upscale one photo")
    p.add_argument("model", help=f"one of {', '.join(registry.MODELS)}")
    p.add_argument("--content", type=Path, required=True, help="the photo, or a clip when --out is .mp4/.webm/.gif")
    p.add_argument("--style", action="append", default=[], help="style image path or gallery id (repeatable)")
    p.add_argument("--style-weight", action="append", type=float, default=[], help="blend weight per --style")
    p.add_argument("--preset", help="preset id for preset models (see list; default: the first, e.g. general)")
    p.add_argument("--strength", "--alpha", dest="strength", type=float, help="style strength 0..1")
    p.add_argument("--preserve-colors", action="store_true", help="keep the photo's colours")
    p.add_argument("--max-side", type=int, help="shrink the photo first so its long side is at most N pixels")
    p.add_argument("--size", choices=("standard", "hd"), help="the model's output size option")
    p.add_argument("--option", action="append", default=[], metavar="KEY=VALUE", help="any model option")
    p.add_argument("--device", help="auto, cpu, cuda or cuda:N (default: DEVICE or auto)")
    p.add_argument("--precision", choices=("auto", "fp32"), help="default: PRECISION or auto")
    p.add_argument("--weights-dir", type=Path, help="default: WEIGHTS_DIR or ./weights")
    p.add_argument("--styles-dir", type=Path, help="default: STYLES_DIR or WEIGHTS_DIR/styles")
    p.add_argument("--kind", choices=("animation", "video", "video_note"),
                   help="clips: animation (no sound), video (sound kept; default) or video_note (square)")
    p.add_argument("--out", type=Path, required=True, help="result file (.jpg or .png; .mp4, .webm or .gif: a clip)")
    p.set_defaults(handler=cmd_run)
    return parser


def _dirs(p: argparse.ArgumentParser) -> None:
    p.add_argument("--weights-dir", type=Path, help="default: WEIGHTS_DIR or ./weights")
    p.add_argument("--styles-dir", type=Path, help="default: STYLES_DIR or WEIGHTS_DIR/styles")


def _settings(args: argparse.Namespace) -> EngineSettings:
    settings = EngineSettings.from_env()
    changes: dict[str, Any] = {}
    if getattr(args, "weights_dir", None):
        changes["weights_dir"] = args.weights_dir
        changes["styles_dir"] = args.weights_dir / "styles"
    if getattr(args, "styles_dir", None):
        changes["styles_dir"] = args.styles_dir
    for name in ("device", "precision"):
        if getattr(args, name, None):
            changes[name] = getattr(args, name)
    return dataclasses.replace(settings, **changes) if changes else settings


# --------------------------------------------------------------------------------------------------- list


def _size(n: int | None) -> str:
    if n is None:
        return "?"
    return f"{n / 2**20:.1f} MiB" if n >= 2**20 else f"{n / 2**10:.0f} KiB"


def _option_text(opt: registry.Option) -> str:
    if opt.kind == "choice":
        return f"{opt.name}={opt.default} ({'|'.join(opt.choices)})"
    if opt.kind == "bool":
        return f"{opt.name}={opt.default} (bool)"
    bounds = f"{opt.min:g}..{opt.max:g}" if opt.min is not None and opt.max is not None else opt.kind
    return f"{opt.name}={opt.default:g} ({opt.kind} {bounds})"


def cmd_list(args: argparse.Namespace) -> int:
    settings = _settings(args)
    wd, sd = settings.weights_dir, settings.styles_dir
    print(f"Weights: {wd}\nStyles:  {sd}\n\nModels")
    for spec in registry.MODELS.values():
        styles = f", up to {spec.max_styles} style(s)" if spec.kind == "arbitrary_style" else ""
        if spec.presets:
            state = ""
        else:
            files = registry.first_present(spec.alternatives, wd)
            state = f"ready ({', '.join(files)})" if files else f"MISSING: python -m ml_models download {spec.id}"
        print(f"  {spec.id:<9} {spec.title_en} [{spec.kind}{styles}; {spec.default_max_side}px, "
              f"hd {spec.hd_max_side}px] {state}".rstrip())
        for preset in spec.presets:
            files = registry.first_present(preset.alternatives, wd)
            state = (f"ready ({', '.join(files)})" if files
                     else f"MISSING: python -m ml_models download {spec.id}:{preset.id}")
            print(f"      preset {preset.id:<14} {preset.title_en:<20} {state}")
        if spec.options:
            print(f"      options: {', '.join(_option_text(o) for o in spec.options)}")
    present = registry.gallery_available(sd)
    print(f"\nGallery: {len(present)}/{len(registry.GALLERY)} present"
          + ("" if len(present) == len(registry.GALLERY) else " (python -m ml_models download gallery)"))
    for style in registry.GALLERY.values():
        print(f"  {style.id:<15} {style.title_en:<30} {'present' if style in present else 'missing'}")
    print("\nFiles")
    for row in weights.status(wd, sd, check_hashes=not args.no_verify):
        if row.kind == "style_image":
            continue  # listed under Gallery
        if not row.present:
            state = "missing" if row.fetchable else "missing (place by hand)"
        else:
            state = {True: "verified", False: "MISMATCH", None: "present"}[row.verified]
        approx = "~" if row.approx_size and not row.present else ""
        size = _size(row.size if row.present else row.expected_size) + approx
        print(f"  {state:<24} {row.trust:<10} {size:>11}  {row.path}")
    if not weights.verification_on():
        print("\nWEIGHTS_VERIFY=off: files without a published checksum are not checked against the lock")
    return 0


# --------------------------------------------------------------------------------------------------- download


def cmd_download(args: argparse.Namespace) -> int:
    settings = _settings(args)
    targets = args.targets or list(weights.DEFAULT_TARGETS)
    paths = weights.download(targets, settings.weights_dir, settings.styles_dir, progress=not args.quiet,
                             retries=args.retries, timeout=args.timeout, keep_sources=args.keep_sources)
    print(f"{len(paths)} file(s) ready for {' '.join(targets)} in {settings.weights_dir}")
    return 0


def cmd_manifest(args: argparse.Namespace) -> int:
    if args.check:
        current = args.out.read_text(encoding="utf-8") if args.out.is_file() else ""
        if current != weights.manifest_text():
            print(f"{args.out} is out of date: run python -m ml_models manifest", file=sys.stderr)
            return 1
        print(f"{args.out} is up to date")
        return 0
    print(f"wrote {weights.write_manifest(args.out)}")
    return 0


# --------------------------------------------------------------------------------------------------- run


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise BadRequest(message=f"cannot read {what} {path}: {exc.strerror or exc}") from None


def _style_bytes(value: str, settings: EngineSettings) -> bytes:
    path = Path(value)
    if not path.exists() and value in registry.GALLERY:
        path = Path(settings.styles_dir) / registry.GALLERY[value].file.path
        if not path.is_file():
            raise BadRequest(message=f"gallery style {value} is not downloaded: python -m ml_models download gallery")
    return _read(path, "style image")


def _shrunk(content: bytes, max_side: int, settings: EngineSettings) -> bytes:
    """The photo with its long side at most ``max_side`` (PNG, alpha kept), or the original bytes if small enough."""
    from . import images

    decoded = images.decode(content, settings.max_input_pixels, max_side=max_side)  # reduced while decoding
    if max(decoded.source_size or (decoded.width, decoded.height)) <= max_side:
        return content
    rgb = images.fit(decoded.rgb, max_side)
    return images.encode(images.reattach_alpha(rgb, decoded.alpha), "png")[0]


def _output_format(out: Path) -> str:
    suffix = out.suffix.lower()
    return {".png": "png", ".jpg": "jpeg", ".jpeg": "jpeg"}.get(suffix, "auto")


def build_request(args: argparse.Namespace, settings: EngineSettings) -> JobRequest:
    spec = registry.get(args.model)
    preset = args.preset or (spec.presets[0].id if spec.presets else None)  # the first preset is the default
    if preset:
        spec.preset(preset)
    if spec.kind == "arbitrary_style" and not args.style:
        raise BadRequest(message=f"{spec.id} needs --style (an image path or a gallery id)")
    if spec.kind != "arbitrary_style" and args.style:
        raise BadRequest(message=f"{spec.id} takes no --style (it is a {spec.kind.replace('_', ' ')} model)")
    if len(args.style) > spec.max_styles:
        raise BadRequest(message=f"{spec.id} takes at most {spec.max_styles} style image(s)")
    if args.style_weight and len(args.style_weight) != len(args.style):
        raise BadRequest(message="give one --style-weight per --style")
    raw: dict[str, Any] = {}
    for item in args.option:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise BadRequest(message=f"--option expects KEY=VALUE, got {item!r}")
        raw[key.strip()] = value.strip()
    if args.strength is not None:
        raw["strength"] = args.strength
    if args.preserve_colors:
        raw["preserve_colors"] = True
    if args.size:
        raw["size"] = args.size
    options = {name: spec.option(name).validate(value) for name, value in raw.items()}
    if args.max_side:  # an explicit size wins over the --size cap (the engine's exact-size option)
        options["max_side"] = args.max_side
    content = _read(args.content, "photo")
    if args.max_side:
        content = _shrunk(content, args.max_side, settings)
    return JobRequest(model=spec.id, content=content, preset=preset,
                      styles=[_style_bytes(s, settings) for s in args.style],
                      style_weights=list(args.style_weight), options=options,
                      output_format=_output_format(args.out))


class _Bar:
    """A tqdm bar fed by the engine's (done, total) callbacks; silent when tqdm is absent."""

    def __init__(self, label: str, enabled: bool) -> None:
        self._bar = None
        if enabled:
            try:
                from tqdm import tqdm
            except ImportError:
                return
            self._bar = tqdm(desc=label, unit="step", dynamic_ncols=True)

    def __call__(self, done: int, total: int) -> None:
        if self._bar is None:
            return
        if self._bar.total != total:
            self._bar.total = total
        self._bar.update(max(0, done - self._bar.n))

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


def cmd_run(args: argparse.Namespace) -> int:
    settings = _settings(args)
    from .video import cli as video_cli  # light; PyAV loads only on the clip path

    if video_cli.wants_clip(args):
        return video_cli.run(args, settings)
    request = build_request(args, settings)
    try:
        engine = importlib.import_module(f"{__package__}.engine")  # torch loads here, not for list/download
    except ModuleNotFoundError as exc:
        if exc.name != f"{__package__}.engine":
            raise
        raise EngineError("engine_missing", "the engine (ml_models/engine.py) is not installed") from None
    spec = registry.get(request.model)
    label = f"{spec.id}/{request.preset}" if request.preset else spec.id
    bar = _Bar(label, spec.multi_step)
    started = time.perf_counter()
    try:
        result = engine.run(request, settings, progress=bar)
    finally:
        bar.close()
    wall = time.perf_counter() - started
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(result.image)
    extras = ", ".join(f"{k}={v}" for k, v in sorted(result.info.items()) if k in {"device", "precision", "weights"})
    print(f"{label}: {result.width}x{result.height} {result.mime} in {result.seconds:.2f} s "
          f"({wall:.2f} s with loading) -> {args.out}" + (f" [{extras}]" if extras else ""))
    return 0


# --------------------------------------------------------------------------------------------------- entry


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    try:
        return args.handler(args)
    except EngineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
