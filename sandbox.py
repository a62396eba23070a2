"""The bot without Telegram: the Bot API emulator, its chat page and the real bot, in one process.

``python main.py --sandbox`` (and ``make run`` without a ``BOT_TOKEN``) lands here. The bot is not modified or
mocked: it long-polls the emulator exactly as it would poll Telegram, so what a person sees in the page is what
Telegram users would see. The emulator runs in this event loop; models still run in the worker pool.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Mapping

from botapi.server import BotAPIServer
from config import Settings, load_settings
from environment import Env
from ml_models import registry

DEFAULT_PORT = 8081


def sandbox_token() -> str:
    """A fresh, well-formed token per run: nothing real is ever sent with it."""
    return f"{secrets.randbelow(9_000_000) + 1_000_000}:SANDBOX{secrets.token_urlsafe(24)}"


def sandbox_settings(base_url: str, token: str, env: Env | Mapping[str, str] | None = None) -> Settings:
    """The operator's settings (environment, then ``.env``) with the Telegram parts replaced: polling the emulator."""
    base = env if isinstance(env, Env) else Env.load(env, ".env")
    return load_settings(base.updated(BOT_TOKEN=token, TELEGRAM_API_URL=base_url, WEBHOOK_URL=""))


def missing_weights_notice(settings: Settings) -> str | None:
    """One pinned line per missing model, with the command that downloads it; None when everything is there."""
    weights_dir, styles_dir = settings.engine.weights_dir, settings.engine.styles_dir
    found = registry.available(weights_dir)
    lines = [f"Not installed: {target} — run: {command}" for target, command in found.missing.items()]
    if not registry.gallery_available(styles_dir):
        lines.append("Style gallery not installed — run: python -m ml_models download gallery")
    if not lines:
        return None
    head = f"Weights folder: {weights_dir}"
    if not found.models:
        head += " — no model is installed yet, so the menus are empty."
    return "\n".join([head, *lines])


async def run_sandbox(host: str = "127.0.0.1", port: int | None = None) -> None:
    """Serve the emulator and its page on ``host:port`` and run the real bot against it until Ctrl+C."""
    import bot_runner  # imported here so `import sandbox` stays light

    env = Env.load(dotenv_path=".env")
    port = env.integer("SANDBOX_PORT", DEFAULT_PORT, 1, 65535) if port is None else port
    token = sandbox_token()
    # the page answers only under loopback names (no DNS rebinding); SANDBOX_HOSTS adds names, e.g. a container's
    server = BotAPIServer(token, bot_username="artbot_sandbox", bot_first_name="Art Bot",
                          sandbox_hosts=env.words("SANDBOX_HOSTS"))
    await server.start(host, port)
    try:
        settings = sandbox_settings(server.base_url, token)
        bot_runner.configure_logging(settings.log_level)
        server.notice = missing_weights_notice(settings)
        print(f"\n  Sandbox: open {server.sandbox_url} in a browser and press START.\n", flush=True)
        if server.notice:
            print("  " + server.notice.replace("\n", "\n  ") + "\n", flush=True)
        await bot_runner.run_bot(settings)
    finally:
        await server.stop()


def run() -> None:
    asyncio.run(run_sandbox())
