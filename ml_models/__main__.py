"""``python -m ml_models``: see ``ml_models.cli``."""

import os

from .allocator import reexec_tuned

reexec_tuned((os.environ.get("ALLOCATOR") or "reuse").strip().lower())  # before torch: see ml_models.allocator

from .cli import main  # noqa: E402

raise SystemExit(main())
