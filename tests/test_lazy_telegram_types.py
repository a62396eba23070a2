"""aiogram's validators built on first use: every Telegram type and method still builds, and validates the same;
with an aiogram or pydantic it was not tested against, validation stays eager and one warning says so.

Each check runs in a fresh interpreter, one with the deferral and one without, because this test process imported
aiogram long ago.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

UPDATES = [
    {"update_id": 7, "message": {
        "message_id": 11, "date": 1700000000, "chat": {"id": 42, "type": "private", "first_name": "Ann"},
        "from": {"id": 42, "is_bot": False, "first_name": "Ann", "language_code": "ru"},
        "photo": [{"file_id": "p1", "file_unique_id": "u1", "width": 90, "height": 60, "file_size": 1200},
                  {"file_id": "p2", "file_unique_id": "u2", "width": 1280, "height": 853}],
        "caption": "style me", "caption_entities": [{"type": "bold", "offset": 0, "length": 5}],
        "reply_to_message": {"message_id": 10, "date": 1699999999, "chat": {"id": 42, "type": "private"},
                             "document": {"file_id": "d", "file_unique_id": "du", "mime_type": "image/png"}},
        "forward_origin": {"type": "user", "date": 1699990000,
                           "sender_user": {"id": 5, "is_bot": False, "first_name": "Bo"}}}},
    {"update_id": 8, "callback_query": {
        "id": "cq", "chat_instance": "ci", "data": "style:adain:1",
        "from": {"id": 42, "is_bot": False, "first_name": "Ann"},
        "message": {"message_id": 12, "date": 1700000001, "chat": {"id": 42, "type": "private"}, "text": "Pick",
                    "reply_markup": {"inline_keyboard": [[{"text": "AdaIN", "callback_data": "style:adain:1"}]]}}}},
]

ROUND_TRIP = """
import json, sys
if sys.argv[1] == "deferred":
    import lazy_telegram_types
    assert lazy_telegram_types.installed()
from aiogram import methods, types
built_at_import = types.Message.__pydantic_complete__
updates = [types.Update.model_validate(u).model_dump_json(exclude_none=True) for u in json.loads(sys.argv[2])]
keyboard = types.InlineKeyboardMarkup(inline_keyboard=[[types.InlineKeyboardButton(text="x4", callback_data="up:4")]])
sent = methods.SendPhoto(chat_id=42, photo="file-id", caption="done", reply_markup=keyboard)
print(json.dumps({"built_at_import": built_at_import, "updates": updates,
                  "sent": repr(sent.model_dump(exclude_none=True))}))
"""

BUILD_ALL = """
import inspect, sys
import lazy_telegram_types
from pydantic import BaseModel
from aiogram import methods, types
failed = []
for module in (types, methods):
    for name in module.__all__:
        model = getattr(module, name)
        if inspect.isclass(model) and issubclass(model, BaseModel):
            model.model_rebuild()
            if not model.__pydantic_complete__:
                failed.append(name)
print("FAILED", failed)
"""


def _run(code: str, *args: str) -> str:
    proc = subprocess.run([sys.executable, "-c", code, *args], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout.strip().splitlines()[-1]


def test_deferred_types_validate_and_serialise_exactly_as_eager_ones() -> None:
    deferred = json.loads(_run(ROUND_TRIP, "deferred", json.dumps(UPDATES)))
    eager = json.loads(_run(ROUND_TRIP, "eager", json.dumps(UPDATES)))
    assert eager["built_at_import"] is True
    assert deferred["built_at_import"] is False, "aiogram's types were still built at import"
    assert deferred["updates"] == eager["updates"]
    assert deferred["sent"] == eager["sent"] and "'callback_data': 'up:4'" in deferred["sent"]
    assert '"file_id":"p2"' in deferred["updates"][0] and '"style:adain:1"' in deferred["updates"][1]


def test_every_telegram_type_and_method_builds_on_first_use() -> None:
    assert _run(BUILD_ALL) == "FAILED []"


UNTESTED_AIOGRAM = """
import json, logging, sys
from importlib import metadata
real_version = metadata.version
metadata.version = lambda name: "3.99.0" if name == "aiogram" else real_version(name)  # a release nobody tested
logging.basicConfig(level=logging.WARNING, format="LOG %(name)s %(message)s", stream=sys.stdout)
import lazy_telegram_types
assert not lazy_telegram_types.installed() and not lazy_telegram_types.install()  # asked twice, logged once
from aiogram import types
update = types.Update.model_validate(json.loads(sys.argv[1])[0]).model_dump_json(exclude_none=True)
print(json.dumps({"built_at_import": types.Message.__pydantic_complete__, "update": update,
                  "reason": lazy_telegram_types.reason()}))
"""


def test_an_untested_aiogram_gets_eager_validation_and_one_warning() -> None:
    proc = subprocess.run([sys.executable, "-c", UNTESTED_AIOGRAM, json.dumps(UPDATES)], cwd=REPO,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.strip().splitlines()
    warnings = [line for line in lines if line.startswith("LOG lazy_telegram_types")]
    assert len(warnings) == 1 and "validated eagerly" in warnings[0] and "aiogram 3.99.0" in warnings[0], lines
    outcome = json.loads(lines[-1])
    assert outcome["built_at_import"] is True, "an untested aiogram still had its types deferred"
    assert outcome["reason"].startswith("aiogram 3.99.0 not among the tested releases")
    eager = json.loads(_run(ROUND_TRIP, "eager", json.dumps(UPDATES)))
    assert outcome["update"] == eager["updates"][0]


def test_requirements_bound_aiogram_and_pydantic_to_the_tested_series() -> None:
    import lazy_telegram_types

    assert lazy_telegram_types.untested_versions() == [], "the installed versions are outside TESTED"
    lines = {line.split(">=")[0].split("==")[0].strip(): line.strip()
             for line in (REPO / "requirements.txt").read_text().splitlines() if line and not line.startswith("#")}
    for name, series in lazy_telegram_types.TESTED.items():
        releases = sorted(tuple(int(part) for part in s.split(".")) for s in series)
        (low_major, low_minor), (high_major, high_minor) = releases[0], releases[-1]
        bound = f"{name}>={low_major}.{low_minor},<{high_major}.{high_minor + 1}"
        assert lines.get(name) == bound, (lines.get(name), bound)
