"""``python -m benchmarks --help`` for the options; ``benchmarks/__init__.py`` says what is measured."""

import sys

from benchmarks.cli import main

sys.exit(main())
