"""Inline keyboards, one module per feature, and the callback data they carry (``keyboards.callbacks``)."""
