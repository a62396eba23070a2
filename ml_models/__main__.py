"""``python -m ml_models``: see ``ml_models.cli``."""

from .allocator import reexec_tuned
from .settings import EngineSettings

reexec_tuned(EngineSettings.from_env().allocator)  # before torch: see ml_models.allocator

from .cli import main  # noqa: E402

raise SystemExit(main())
