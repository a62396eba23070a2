"""Translations: every string in the code is translated, placeholders survive, catalogs compile on demand."""

from __future__ import annotations

import os
import re
import shutil
import time
from pathlib import Path

import pytest
from aiogram.utils.i18n import I18n
from babel.messages.pofile import read_po

import locales
import texts
from ml_models import errors

FIELD = re.compile(r"{([a-z_]*)(?:[:!][^}]*)?}")


def test_every_code_string_is_translated_to_russian() -> None:
    assert locales.untranslated("ru") == []


def test_catalogs_hold_only_current_ids() -> None:
    used = {m.id for m in locales.extract() if m.id}
    for language in locales.LANGUAGES:
        with locales.po_path(language).open("rb") as fh:
            catalog = read_po(fh, locale=language)
        ids = {m.id for m in catalog if m.id}
        assert ids == used, f"{language}: run `python -m locales update` ({sorted(ids ^ used)[:5]})"


def test_translations_keep_placeholders_and_markup() -> None:
    with locales.po_path("ru").open("rb") as fh:
        catalog = read_po(fh, locale="ru")
    for message in catalog:
        if not message.id:
            continue
        assert sorted(FIELD.findall(message.id)) == sorted(FIELD.findall(message.string)), message.id
        for tag in ("<b>", "</b>", "<code>"):
            assert message.id.count(tag) == message.string.count(tag), message.id
        assert re.findall(r"/[a-z]+", message.id) == re.findall(r"/[a-z]+", message.string), message.id


def test_compiles_missing_and_stale_catalogs(tmp_path: Path) -> None:
    root = tmp_path / "locales"
    for language in locales.LANGUAGES:
        target = locales.po_path(language, root)
        target.parent.mkdir(parents=True)
        shutil.copy(locales.po_path(language), target)
    assert locales.ensure_compiled(root) == root
    mo = locales.po_path("ru", root).with_suffix(".mo")
    i18n = I18n(path=root, default_locale="en")
    assert i18n.gettext("🏠 Menu", locale="ru") == "🏠 Меню"
    assert i18n.gettext("🏠 Menu", locale="en") == "🏠 Menu"

    before = mo.read_bytes()
    locales.ensure_compiled(root)
    assert mo.read_bytes() == before  # up to date: left alone
    po = locales.po_path("ru", root)
    po.write_text(po.read_text().replace('msgstr "🏠 Меню"', 'msgstr "🏠 Главная"'))
    earlier = time.time() - 3600
    os.utime(po, (earlier, earlier))  # even an edited .po that looks older than its .mo (a checkout) is compiled
    locales.ensure_compiled(root)
    assert mo.read_bytes() != before
    assert I18n(path=root, default_locale="en").gettext("🏠 Menu", locale="ru") == "🏠 Главная"


def test_read_only_locales_compile_into_the_fallback(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("root ignores directory permissions")
    root = tmp_path / "ro"
    for language in locales.LANGUAGES:
        target = locales.po_path(language, root)
        target.parent.mkdir(parents=True)
        shutil.copy(locales.po_path(language), target)
        target.parent.chmod(0o555)
    try:
        out = locales.ensure_compiled(root, fallback=tmp_path / "fallback")
        assert out == tmp_path / "fallback"
        assert locales.po_path("ru", out).with_suffix(".mo").is_file()
    finally:
        for language in locales.LANGUAGES:
            locales.po_path(language, root).parent.chmod(0o755)


def test_every_error_code_has_a_message() -> None:
    engine_codes = {"empty", "not_image", "truncated", "animated", "too_many_pixels", "bad_aspect", "unsupported"}
    for cls in (errors.EngineError, errors.WeightsMissing, errors.CheckpointError, errors.Cancelled,
                errors.BadRequest, errors.TooLarge):
        engine_codes.add(cls.default_code)
    job_codes = {"worker_died", "timeout", "interrupted", "internal_error", "worker_unavailable"}
    try:
        import jobs

        for name in ("WorkerDied", "JobTimeout", "Interrupted", "WorkerUnavailable", "InternalError"):
            job_codes.add(getattr(jobs, name).default_code)
    except ImportError:
        pass
    assert engine_codes | job_codes <= texts.known_error_codes()


def test_error_messages_in_both_languages() -> None:
    i18n = I18n(path=locales.ensure_compiled(), default_locale="en")
    with i18n.context():
        with i18n.use_locale("ru"):
            ru = {code: texts.error_text(code) for code in texts.known_error_codes()}
            unknown_ru = texts.error_text("something_new")
        with i18n.use_locale("en"):
            en = {code: texts.error_text(code) for code in texts.known_error_codes()}
    assert all(ru[c] != en[c] for c in ru), [c for c in ru if ru[c] == en[c]]
    assert "something_new" in unknown_ru and unknown_ru.startswith("Что-то")
    assert en["file_too_big"].startswith("The file is larger than 20 MB")


def test_durations_and_summaries_read_naturally() -> None:
    i18n = I18n(path=locales.ensure_compiled(), default_locale="en")
    with i18n.context(), i18n.use_locale("en"):
        assert [texts.duration(s) for s in (0.42, 12.4, 75, 3725)] == ["0.4 s", "12 s", "75 s", "1 h 2 min"]
        assert texts.duration(200) == "3 min 20 s"
        assert texts.options_summary("microast", {"strength": 0.75, "preserve_colors": True, "size": "hd"},
                                     [0.7, 0.3]) == "strength 75% · colours kept · HD · blend 70/30"
        assert texts.progress_bar(3, 10) == "▰▰▰▱▱▱▱▱▱▱ 30%"
    with i18n.context(), i18n.use_locale("ru"):
        assert texts.duration(12.4) == "12 с"
        assert texts.options_summary("johnson", {"strength": 0.5, "size": "standard"}) == \
            "сила стиля 50% · стандартный размер"
