"""``python -m botapi``: run the emulator alone, e.g. to point a bot at it by hand or to look at the page.

    python -m botapi --port 8081 --token 123456:TEST
    # then run a bot with TelegramAPIServer.from_base("http://127.0.0.1:8081")

``--fault sendPhoto=429:2,bad_gateway`` answers the first sendPhoto with 429 (retry after 2 s) and the second with
an HTML 502 page, to watch a bot ride out flood control and an outage (see ``BotAPIServer.inject_faults``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging

from .server import BotAPIServer


async def _serve(args: argparse.Namespace) -> None:
    server = BotAPIServer(args.token, bot_username=args.username)
    for fault in args.fault:
        method, _, specs = fault.partition("=")
        server.inject_faults(method, specs)
    await server.start(args.host, args.port)
    print(f"Bot API emulator: {server.base_url}  (token {server.token})", flush=True)
    print(f"Sandbox chat page: {server.sandbox_url}", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await server.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m botapi", description="Telegram Bot API emulator")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081, help="0 picks a free port")
    parser.add_argument("--token", default="123456:TEST")
    parser.add_argument("--username", default="artbot", help="the bot's @username")
    parser.add_argument("--fault", action="append", default=[], metavar="METHOD=FAULT[,FAULT...]",
                        help="answer the next calls of METHOD with these faults, in order: 429[:seconds], a 4xx/5xx "
                             "code, bad_gateway, disconnect (repeatable)")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args))


if __name__ == "__main__":
    main()
