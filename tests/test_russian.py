"""The Russian catalogue reads as written by a native speaker: every string is checked here, not a sample.

Rules checked on each ``msgstr``: no known calques of the English ids, no gendered forms for the bot or the user (the
bot does not say "я понял/занят", the user is not "следующий"), decimal numbers with a comma, and every id of the
code present in both catalogues.
"""

from __future__ import annotations

import re

import pytest
from aiogram.utils.i18n import I18n
from babel.messages.pofile import read_po

import locales
import texts

CALQUES = ("Другая сила", "Обработчик упал", "Увеличить это", "Обработчики картинок", "То же фото, другой стиль")
GENDERED = [
    re.compile(r"\b[Яя]\s+(?:\w+\s+)?(?:не\s+)?(?:\w+л|\w+ла|с?мог)\b"),  # я понял / я не смог / я сделала
    re.compile(r"\b[Яя]\s+(?:очень\s+|сейчас\s+)?(?:занят|занята|готов|готова|рад|рада|уверен|уверена)\b"),
    re.compile(r"\b[Вв]ы\s+(?:\w+\s+)?(?:следующий|следующая|готов|готова|уверен|уверена|был|была)\b"),
]
DECIMAL_POINT = re.compile(r"\d\.\d")


def _catalogue(language: str):
    with locales.po_path(language).open("rb") as fh:
        return [m for m in read_po(fh, locale=language) if m.id]


RU = _catalogue("ru")


def _text(message) -> str:
    return message.string if isinstance(message.string, str) else " ".join(message.string)


@pytest.mark.parametrize("message", RU, ids=lambda m: (m.id if isinstance(m.id, str) else m.id[0])[:40])
def test_each_russian_string_is_native(message) -> None:
    text = _text(message)
    assert text, "untranslated"
    assert not [c for c in CALQUES if c in text]
    assert not [p.pattern for p in GENDERED if p.search(text)], text
    assert not DECIMAL_POINT.search(text.replace("20:1", "")), text


def test_both_catalogues_hold_every_string_of_the_code() -> None:
    used = {m.id for m in locales.extract() if m.id}
    for language in locales.LANGUAGES:
        assert used <= {m.id for m in _catalogue(language)}, language


@pytest.mark.parametrize(("language", "expected"), [("ru", "0,4 с"), ("en", "0.4 s")])
def test_durations_use_the_readers_decimal_separator(language: str, expected: str) -> None:
    i18n = I18n(path=locales.ensure_compiled(), default_locale="en", domain=locales.DOMAIN)
    with i18n.context(), i18n.use_locale(language):
        assert texts.duration(0.4) == expected


def test_the_gender_rules_catch_what_they_are_meant_to() -> None:
    for sample in ("Я не понял сообщение.", "Сейчас я очень занят", "Вы следующий в очереди", "я не смог закончить"):
        assert any(p.search(sample) for p in GENDERED), sample
