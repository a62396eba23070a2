"""Words the bot says that depend on data: error codes, model and style titles, option summaries, durations.

Every string goes through gettext; titles of models, presets and gallery styles come from the registry, which keeps
a Russian and an English title for each (so adding a model does not touch the catalogs).
"""

from __future__ import annotations

from typing import Any

from aiogram.utils.i18n import gettext as _
from aiogram.utils.i18n import lazy_gettext as __
from aiogram.utils.i18n.context import get_i18n

from ml_models import registry

# Every code the engine, the image checks or the job layer can report, with what the user should do about it.
_ERRORS = {
    "empty": __("The file is empty. Please send the picture again."),
    "not_image": __("This file is not a picture I can read. Please send a photo (JPEG, PNG or WebP)."),
    "truncated": __("The picture looks damaged or was not uploaded completely. Please send it again."),
    "animated": __("Animated pictures are not supported. Please send a still photo."),
    "too_many_pixels": __("The picture has too many pixels for me. Please send a smaller one."),
    "bad_aspect": __("The picture is too long and narrow. Please send one closer to a rectangle (at most 20:1)."),
    "unsupported": __("This picture format is not supported. Please send a JPEG, PNG or WebP photo."),
    "weights_missing": __("This model is not installed on the server right now. Please choose another one."),
    "bad_checkpoint": __("This model's files on the server are damaged. Please choose another one."),
    "bad_request": __("Something in the chosen options is not valid. Please start again from the menu."),
    "too_large": __("The picture is too large for this model. Choose the standard size or send a smaller photo."),
    "cancelled": __("The job was cancelled."),
    "worker_died": __("The worker crashed while processing your picture. Please try again, maybe at the standard "
                      "size."),
    "timeout": __("Processing took too long and was stopped. Please try the standard size or a faster model."),
    "interrupted": __("The bot is restarting. Your picture is saved and will be finished after the restart."),
    "interrupted_lost": __("The bot is restarting and cannot keep your picture through it. Please send your request "
                           "again in a minute."),
    "worker_unavailable": __("The image workers are not available right now. Please try again later."),
    "internal_error": __("Something went wrong on my side. Please try again."),
    "engine_error": __("Something went wrong while processing your picture. Please try again."),
    "file_too_big": __("The file is larger than 20 MB, and bots cannot download bigger files. Please send a smaller "
                       "one or send it as a photo."),
    "download_failed": __("I could not download the file from Telegram. Please send it again."),
    "not_image_document": __("This file is not a picture. Please send a photo or an image file (JPEG, PNG, WebP)."),
    "input_expired": __("I no longer have the picture from that request. Please send it again."),
    "heic": __("HEIC pictures (an iPhone's \"send as file\") cannot be read here. Please send it as a photo: "
               "Telegram then turns it into a JPEG."),
    "video_corrupt": __("The clip looks damaged or was not uploaded completely. Please send it again."),
    "no_video_stream": __("This file has no picture in it (sound only?). Please send a GIF or a video."),
    "video_unsupported": __("I cannot read this video format. Please send an MP4, a GIF or a video from your "
                            "phone's gallery."),
    "video_too_long": __("The clip is too long: I take clips of up to {seconds} seconds. Please send a shorter "
                         "one."),
    "video_too_large": __("The clip is larger than 20 MB. Please send a shorter or smaller one."),
    "video_model_unsupported": __("Moving pictures work with the fast models only: the ready styles, and MicroAST "
                                  "or AdaIN with your own style. Gatys and upscaling take still pictures."),
}


def error_text(code: str, **values: object) -> str:
    """The localised explanation for an error code; unknown codes get a generic line rather than nothing.

    ``values`` fill the explanation's placeholders (``seconds`` for ``video_too_long``); one not given shows as
    a dash rather than failing."""
    text = _ERRORS.get(code)
    if text is None:
        return _("Something went wrong ({code}). Please try again.").format(code=code)
    return str(text).format_map(_Filled(values)) if "{" in str(text) else str(text)


class _Filled(dict):
    def __missing__(self, key: str) -> str:
        return "—"


def seconds_text(seconds: float) -> str:
    """A clip limit such as ``15`` or ``7.5``."""
    return f"{float(seconds):g}"


def known_error_codes() -> set[str]:
    return set(_ERRORS)


def language() -> str:
    """The locale of the update being handled (set by the i18n middleware, or by the job tracker)."""
    return get_i18n().current_locale


def title(item: Any) -> str:
    """A registry item's title (model, preset, option, gallery style) in the current language."""
    return getattr(item, f"title_{language()}", None) or item.title_en


def description(spec: registry.ModelSpec) -> str:
    return getattr(spec, f"description_{language()}", None) or spec.description_en


def preset_title(model_id: str, preset_id: str | None) -> str:
    spec = registry.get(model_id)
    if preset_id:
        return f"{title(spec)}: {title(spec.preset(preset_id))}"
    return title(spec)


def decimal(value: float, digits: int = 1) -> str:
    """A number as the reader writes it: "0.4" in English, "0,4" in Russian."""
    text = f"{value:.{digits}f}"
    return text.replace(".", ",") if language() == "ru" else text


def duration(seconds: float) -> str:
    seconds = max(0.0, float(seconds))
    if seconds < 10:
        return _("{n} s").format(n=decimal(seconds))
    if seconds < 90:
        return _("{n} s").format(n=round(seconds))
    minutes, rest = divmod(round(seconds), 60)
    if minutes < 60:
        return _("{m} min {s} s").format(m=minutes, s=rest)
    hours, minutes = divmod(minutes, 60)
    return _("{h} h {m} min").format(h=hours, m=minutes)


def rough(seconds: float) -> str:
    """A duration rounded for reading at a glance: "1 s", "40 s", "3 min"."""
    seconds = max(1.0, float(seconds))
    if seconds < 60:
        step = 1 if seconds < 10 else 5
        return _("{n} s").format(n=max(1, round(seconds / step) * step))
    return _("{n} min").format(n=round(seconds / 60))


def about(seconds: float) -> str:
    """For choosing, not a promise: "about 1 s", "about 3 min"."""
    return _("about {time}").format(time=rough(seconds))


SPEEDS = {"microast": __("⚡ Quick"), "adain": __("🎨 Finer"), "gatys": __("🖌 Detailed")}
"""What each own-style algorithm gives, in the user's words (model names are for /help and the result's details)."""


def speed_label(model_id: str, seconds: float) -> str:
    """A button such as "⚡ Quick · about 1 s": what the user gets and how long it takes on this server."""
    label = SPEEDS.get(model_id)
    return f"{label if label is not None else title(registry.get(model_id))} · {about(seconds)}"


def percent(value: float) -> str:
    return f"{round(float(value) * 100)}%"


def options_summary(model_id: str, options: dict[str, Any], style_weights: list[float] | None = None) -> str:
    """A short line such as ``strength 75% · colours kept · HD · blend 70/30``."""
    spec = registry.get(model_id)
    names = {opt.name for opt in spec.options}
    parts = []
    if "strength" in names:
        parts.append(_("strength {value}").format(value=percent(options.get("strength", 1.0))))
    if "preserve_colors" in names and options.get("preserve_colors"):
        parts.append(_("colours kept"))
    if "size" in names:
        parts.append(_("HD") if options.get("size") == "hd" else _("standard size"))
    if style_weights and len(style_weights) > 1:
        parts.append(_("blend {first}/{second}").format(first=round(style_weights[0] * 100),
                                                        second=round(style_weights[1] * 100)))
    return " · ".join(parts)


def progress_bar(done: int, total: int, width: int = 10) -> str:
    total = max(1, int(total))
    done = min(max(0, int(done)), total)
    filled = round(width * done / total)
    return "▰" * filled + "▱" * (width - filled) + f" {round(100 * done / total)}%"


def size(width: int, height: int) -> str:
    return f"{width}×{height}"


def upscale_outcome(width: int, height: int, out_width: int, out_height: int) -> str:
    """"4032×3024 → 8192×6144 (x2)": what an upscale makes of this picture, the factor against the original."""
    factor = max(out_width, out_height) / max(width, height, 1)
    shown = decimal(factor, 1).rstrip("0").rstrip(".,") if abs(factor - round(factor)) > 0.05 else str(round(factor))
    return f"{size(width, height)} → {size(out_width, out_height)} (x{shown})"
