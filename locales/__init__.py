"""The bot's translations: gettext catalogs in ``<lang>/LC_MESSAGES/messages.po``, compiled to ``.mo`` on demand.

Only the ``.po`` files are the source. :func:`ensure_compiled` (called at startup) rebuilds a ``.mo`` whenever it is
missing or differs from what its ``.po`` compiles to, so editing a translation never needs a manual build step.
The English catalog holds no translations on purpose: the message ids in the code are the English text.

``python -m locales update`` extracts every ``_()`` string from the bot's code and merges it into each catalog
(new ids are added untranslated, translations of removed ids are dropped); ``python -m locales check`` lists ids
that a non-English catalog does not translate yet.
"""

from __future__ import annotations

import errno
import io
import logging
import os
import tempfile
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

LOCALES_DIR = Path(__file__).resolve().parent
DOMAIN = "messages"
LANGUAGES = ("en", "ru")
SOURCE_LANGUAGE = "en"
CODE_PATHS = ("handlers", "keyboards", "middlewares", "services", "bot_init.py", "bot_runner.py", "dialogue.py",
              "main.py", "texts.py")  # relative to the repository root

log = logging.getLogger(__name__)


def po_path(language: str, root: Path = LOCALES_DIR) -> Path:
    return root / language / "LC_MESSAGES" / f"{DOMAIN}.po"


def ensure_compiled(root: Path = LOCALES_DIR, fallback: Path | None = None) -> Path:
    """Compile stale catalogs and return the folder to hand to aiogram's ``I18n``.

    The ``.mo`` files go beside the ``.po`` files; where that folder is read-only they go under ``fallback``.
    """
    try:
        _compile_into(root, root)
        return root
    except OSError as exc:
        if fallback is None or exc.errno not in (errno.EACCES, errno.EPERM, errno.EROFS):
            raise
        log.info("locales folder %s is read-only (%s); compiling into %s", root, exc, fallback)
        _compile_into(root, fallback)
        return fallback


def _compile_into(src: Path, dst: Path) -> None:
    """Compare by content, not by modification time: a checkout gives both files arbitrary mtimes, and compiling
    a hundred messages in memory costs a few milliseconds."""
    for language in LANGUAGES:
        po = po_path(language, src)
        mo = po_path(language, dst).with_suffix(".mo")
        with po.open("rb") as fh:
            catalog = read_po(fh, locale=language, domain=DOMAIN)
        compiled = io.BytesIO()
        write_mo(compiled, catalog)
        data = compiled.getvalue()
        if mo.is_file() and mo.read_bytes() == data:
            continue
        mo.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=mo.parent, prefix=".messages-", suffix=".mo")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
            os.chmod(tmp, 0o644)
            os.replace(tmp, mo)  # atomic: a second process starting at the same time never reads half a file
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        log.info("compiled %s", mo)


def extract(repo_root: Path | None = None) -> Catalog:
    """Every translatable string in the bot's code, found the way pybabel would (``_``, ``__``, ngettext)."""
    from babel.messages.extract import extract_from_dir, extract_from_file

    root = repo_root or LOCALES_DIR.parent
    keywords = {"_": None, "__": None, "gettext": None, "lazy_gettext": None,
                "ngettext": (1, 2), "lazy_ngettext": (1, 2)}
    catalog = Catalog(locale=None, domain=DOMAIN, project="artbot", charset="utf-8")
    for rel in CODE_PATHS:
        path = root / rel
        if path.is_dir():
            found = ((str(rel) + "/" + name, lineno, msg, comments, ctx)
                     for name, lineno, msg, comments, ctx in extract_from_dir(
                         path, method_map=[("**.py", "python")], keywords=keywords, comment_tags=("i18n:",)))
        elif path.is_file():
            found = ((str(rel), lineno, msg, comments, ctx)
                     for lineno, msg, comments, ctx in extract_from_file(
                         "python", path, keywords=keywords, comment_tags=("i18n:",)))
        else:
            continue
        for filename, lineno, message, comments, context in found:
            catalog.add(message, None, [(filename, lineno)], auto_comments=comments, context=context)
    return catalog


def update(repo_root: Path | None = None) -> dict[str, int]:
    """Merge freshly extracted ids into each ``.po``; returns the count of untranslated ids per language."""
    template = extract(repo_root)
    missing = {}
    for language in LANGUAGES:
        path = po_path(language)
        if path.is_file():
            with path.open("rb") as fh:
                catalog = read_po(fh, locale=language, domain=DOMAIN)
        else:
            catalog = Catalog(locale=language, domain=DOMAIN, project="artbot")
        catalog.update(template, no_fuzzy_matching=True, update_creation_date=False)
        catalog.obsolete.clear()
        catalog.fuzzy = False
        catalog.project, catalog.version = "artbot", "1"
        catalog.header_comment = (f"# {language} messages of the artbot Telegram bot. English ids are the source.\n"
                                  "# Edit the msgstr lines; the bot recompiles the catalog at its next start.")
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as fh:
            write_po(fh, catalog, width=120, omit_header=False, sort_output=False, no_location=True)
        missing[language] = sum(1 for m in catalog if m.id and not m.string)
    return missing


def untranslated(language: str, repo_root: Path | None = None) -> list[str]:
    """Ids used in the code that ``language``'s catalog lacks or leaves empty (always empty for English)."""
    with po_path(language).open("rb") as fh:
        catalog = read_po(fh, locale=language, domain=DOMAIN)
    out = []
    for message in extract(repo_root):
        if not message.id:
            continue
        found = catalog.get(message.id, context=message.context)
        if found is None or (language != SOURCE_LANGUAGE and not _translated(found.string)):
            out.append(message.id if isinstance(message.id, str) else message.id[0])
    return out


def _translated(string: str | tuple[str, ...]) -> bool:
    return all(string) if isinstance(string, tuple) else bool(string)
