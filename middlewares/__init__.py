"""aiogram middlewares of the bot process (throttling)."""
