"""The bot's dialogue, one router per feature, in the order updates should try them.

Routers are built fresh on every call (nothing at module level), so tests can build as many dispatchers as they like.
``/cancel`` comes first so it works in every step; the fallback comes last and answers whatever is left.
"""

from __future__ import annotations

from aiogram import Router


def routers() -> list[Router]:
    from . import admin, cancel, fallback, language, own_style, ready_styles, results, settings, start, upscale

    return [cancel.router(), start.router(), language.router(), settings.router(), admin.router(),
            own_style.router(), ready_styles.router(), upscale.router(), results.router(), fallback.router()]
