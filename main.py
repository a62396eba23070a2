"""Entry point: ``python main.py`` runs the bot by long polling, or as a webhook server when WEBHOOK_URL is set.

Without a ``BOT_TOKEN`` (or with ``--sandbox``) it starts the sandbox instead: the Bot API emulator and its chat page
with the real bot (``sandbox.py``). Running and stopping the bot lives in ``bot_runner.py``.
"""

from __future__ import annotations

import lazy_telegram_types  # noqa: F401  (first, before aiogram: its validators are built on first use)

# isort: split
import asyncio
import os
import sys

from dotenv import dotenv_values

from bot_runner import configure_logging, run_bot
from config import load_settings


def _wants_sandbox(argv: list[str]) -> bool:
    """``--sandbox``, or a fresh checkout with no token and no webhook: show the bot locally instead of failing."""
    if "--sandbox" in argv:
        return True
    values = {k: v for k, v in dotenv_values(".env").items() if v} if os.path.isfile(".env") else {}
    values.update({k: v for k, v in os.environ.items() if v})
    return not values.get("BOT_TOKEN", "").strip() and not values.get("WEBHOOK_URL", "").strip()


def main() -> None:
    if _wants_sandbox(sys.argv[1:]):
        if "--sandbox" not in sys.argv[1:]:
            print("BOT_TOKEN is not set (see .env.example): starting the sandbox instead.", flush=True)
        import sandbox

        sandbox.run()
        return
    settings = load_settings()
    configure_logging(settings.log_level)
    asyncio.run(run_bot(settings))


if __name__ == "__main__":
    main()
