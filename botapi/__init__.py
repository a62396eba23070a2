"""A Telegram Bot API emulator for tests and the sandbox chat page (aiohttp; never imports torch).

``BotAPIServer`` speaks the Bot API over HTTP so the real bot runs unmodified against it
(``TelegramAPIServer.from_base(server.base_url)``), and acts as the users through ``server.user(...)``.
"""

from .errors import ApiError
from .server import BotAPIServer
from .state import ApiCall, CallbackRecord, LoggedMessage
from .users import EmulatedUser

__all__ = ["ApiCall", "ApiError", "BotAPIServer", "CallbackRecord", "EmulatedUser", "LoggedMessage"]
