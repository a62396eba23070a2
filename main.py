"""Entry point: ``python main.py`` runs the bot by long polling, or as a webhook server when WEBHOOK_URL is set.

Without a ``BOT_TOKEN`` (or with ``--sandbox``) it starts the sandbox instead: the Bot API emulator and its chat page
with the real bot (``sandbox.py``). Running and stopping the bot lives in ``bot_runner.py``.
"""

from __future__ import annotations

import lazy_telegram_types  # noqa: F401  (first, before aiogram: its validators are built on first use)

# isort: split
import asyncio
import sys

from bot_runner import configure_logging, run_bot
from config import load_settings
from environment import Env


def _wants_sandbox(argv: list[str]) -> bool:
    """``--sandbox``, or a fresh checkout with no token and no webhook: show the bot locally instead of failing."""
    if "--sandbox" in argv:
        return True
    env = Env.load(dotenv_path=".env")
    return not env.raw("BOT_TOKEN") and not env.raw("WEBHOOK_URL")


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
