"""``python -m locales update|check|compile``: maintain the translation catalogs."""

from __future__ import annotations

import sys

from . import LANGUAGES, SOURCE_LANGUAGE, ensure_compiled, untranslated, update


def main(argv: list[str]) -> int:
    command = argv[0] if argv else "check"
    if command == "update":
        for language, count in update().items():
            shown = "source language" if language == SOURCE_LANGUAGE else f"{count} untranslated"
            print(f"{language}: {shown}")
        return 0
    if command == "compile":
        print(ensure_compiled())
        return 0
    if command == "check":
        failed = False
        for language in LANGUAGES:
            if language == SOURCE_LANGUAGE:
                continue
            missing = untranslated(language)
            for msgid in missing:
                print(f"{language}: untranslated: {msgid!r}")
            failed = failed or bool(missing)
        return 1 if failed else 0
    print("usage: python -m locales update|check|compile", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
