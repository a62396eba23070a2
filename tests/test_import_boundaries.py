"""The bot process never loads torch (nor numpy, PyAV or OpenCV): it must start and answer while the workers hold the
models.

Each check runs in a fresh interpreter, because this test process may have imported torch for other tests.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

BUILD_THE_BOT = """
import sys
import main, config, bot_init, handlers, keyboards, locales
from handlers import admin, cancel, fallback, language, own_style, ready_styles, results, settings, start, upscale
import bot_runner, dialogue, texts
from handlers import flow
from services import file_store, gallery, job_tracker
from keyboards import callbacks, menu, own_style, ready_styles, results, settings, upscale
settings = config.load_settings({"BOT_TOKEN": "123456:ABCdefGHIjklMNOpqrSTUvwxYZ012345", "DATA_DIR": sys.argv[1],
                                 "WEBHOOK_URL": "https://example.com/webhook"}, dotenv_path=None)
app = bot_init.build(settings)
assert app.dispatcher.sub_routers, "no routers"
assert app.executor is not None
import ml_models.video.api, ml_models.video.errors  # what the bot may use of the video path: requests, limits, codes
heavy = sorted(name for name in sys.modules if name in ("torch", "numpy", "av", "cv2")
               or name.startswith(("torch.", "torchvision", "av.", "cv2.")))
print("HEAVY", heavy)
"""


def test_bot_builds_without_torch(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-c", BUILD_THE_BOT, str(tmp_path)], cwd=REPO, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "HEAVY []" in proc.stdout, proc.stdout


def test_no_bot_file_mentions_torch() -> None:
    """A cheap static guard too: no import of torch, PyAV or OpenCV anywhere in the bot's own files."""
    files = [*(REPO / name for name in ("main.py", "bot_runner.py", "config.py", "bot_init.py", "dialogue.py",
                                          "texts.py")),
             *(path for package in ("handlers", "services", "keyboards", "locales")
               for path in (REPO / package).rglob("*.py"))]
    offenders = [str(f.relative_to(REPO)) for f in files
                 if any(line.strip().startswith(("import torch", "from torch", "import av", "from av", "import cv2",
                                                 "from cv2")) for line in f.read_text().splitlines())]
    assert offenders == []
