"""``python -m ml_models``: see ``ml_models.cli``."""

from .cli import main

raise SystemExit(main())
