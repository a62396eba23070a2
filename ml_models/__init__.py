"""The style-transfer and super-resolution engine.

Importing the package is cheap and torch-free: the bot reads ``registry`` for its menus, and only worker processes,
the CLI and benchmarks import ``ml_models.engine`` (which loads torch).
"""
