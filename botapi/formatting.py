"""parse_mode checks: the server rejects malformed markup, the emulator should too.

The emulator stores a message's text as the bot sent it (markup included, ``parse_mode`` beside it) and does not
compute entities. It does parse the markup, for two reasons: a malformed HTML/MarkdownV2 text is a real production
bug (Telegram answers ``400 can't parse entities``), and the sandbox page needs a safe rendering. Parsing yields a
flat token list — ``("text", s)``, ``("open", tag, attrs)``, ``("close", tag)`` — with canonical tag names
(b, i, u, s, spoiler, a, code, pre, blockquote, emoji) from which plain text and sanitised HTML are derived.
"""

from __future__ import annotations

import html
import re
from typing import Any

from .errors import bad_request

Token = tuple[Any, ...]

_HTML_ALIASES = {
    "b": "b", "strong": "b", "i": "i", "em": "i", "u": "u", "ins": "u", "s": "s", "strike": "s", "del": "s",
    "tg-spoiler": "spoiler", "span": "spoiler", "a": "a", "code": "code", "pre": "pre", "blockquote": "blockquote",
    "tg-emoji": "emoji",
}
_ENTITY = re.compile(r"&(lt|gt|amp|quot|#[0-9]{1,7}|#x[0-9a-fA-F]{1,6});")
_ATTR = re.compile(r"""([A-Za-z_][\w-]*)(?:\s*=\s*("[^"]*"|'[^']*'|[^\s>]+))?""")
_TAG_NAME = re.compile(r"[A-Za-z][A-Za-z0-9-]*")


def _entity_error(reason: str) -> Exception:
    return bad_request(f"can't parse entities: {reason}")


def _byte_offset(text: str, index: int) -> int:
    return len(text[:index].encode("utf-8"))


def _parse_html(text: str) -> list[Token]:
    tokens: list[Token] = []
    stack: list[tuple[str, str]] = []  # (canonical, written name)
    buf: list[str] = []
    i = 0

    def flush() -> None:
        if buf:
            tokens.append(("text", "".join(buf)))
            buf.clear()

    while i < len(text):
        ch = text[i]
        if ch == "&":
            match = _ENTITY.match(text, i)
            if match:
                buf.append(html.unescape(match.group(0)))
                i = match.end()
                continue
            buf.append(ch)
            i += 1
            continue
        if ch != "<":
            buf.append(ch)
            i += 1
            continue
        end = text.find(">", i)
        if end < 0:
            raise _entity_error(f"Unclosed start tag at byte offset {_byte_offset(text, i)}")
        body = text[i + 1:end]
        if body.startswith("/"):
            written = body[1:].strip().lower()
            if not stack:
                raise _entity_error(f"Unexpected end tag at byte offset {_byte_offset(text, i)}")
            canonical, opened = stack[-1]
            if _HTML_ALIASES.get(written) != canonical:
                raise _entity_error(
                    f"Unmatched end tag at byte offset {_byte_offset(text, i)}, expected \"</{opened}>\", "
                    f"found \"</{written}>\""
                )
            stack.pop()
            flush()
            tokens.append(("close", canonical))
            i = end + 1
            continue
        written = re.split(r"[\s/]", body, maxsplit=1)[0].lower()  # "<<b>" names the tag "<b", like Telegram
        canonical = _HTML_ALIASES.get(written) if _TAG_NAME.fullmatch(written) else None
        if canonical is None:
            raise _entity_error(f"Unsupported start tag \"{written}\" at byte offset {_byte_offset(text, i)}")
        attrs = {key.lower(): html.unescape((value or "").strip("\"'"))
                 for key, value in _ATTR.findall(body[len(written):])}
        if written == "span" and attrs.get("class") != "tg-spoiler":
            raise _entity_error(f"Tag \"span\" must have class \"tg-spoiler\" at byte offset {_byte_offset(text, i)}")
        if canonical == "a" and not attrs.get("href"):
            attrs["href"] = ""
        flush()
        tokens.append(("open", canonical, attrs))
        stack.append((canonical, written))
        i = end + 1
    if stack:
        raise _entity_error(f"Can't find end tag corresponding to start tag \"{stack[-1][1]}\"")
    flush()
    return tokens


_MDV2_TOGGLES = {"*": "b", "_": "i", "__": "u", "~": "s", "||": "spoiler"}
_MDV2_NAMES = {"b": "Bold", "i": "Italic", "u": "Underline", "s": "Strikethrough", "spoiler": "Spoiler"}
_MDV2_RESERVED = set("_*[]()~`>#+-=|{}.!")


def _scan_until(text: str, start: int, closer: str, escapes: bool) -> int:
    """Index of ``closer`` at or after ``start`` honouring backslash escapes; -1 if absent."""
    i = start
    while i < len(text):
        if escapes and text[i] == "\\" and i + 1 < len(text):
            i += 2
            continue
        if text.startswith(closer, i):
            return i
        i += 1
    return -1


def _unescape_mdv2(chunk: str) -> str:
    return re.sub(r"\\([\x01-\x7e])", r"\1", chunk)


def _parse_markdown_v2(text: str) -> list[Token]:
    tokens: list[Token] = []
    stack: list[tuple[str, int]] = []  # (canonical, byte offset of its opening)
    link_open: list[int] = []
    buf: list[str] = []
    i = 0
    line_start = True

    def flush() -> None:
        if buf:
            tokens.append(("text", "".join(buf)))
            buf.clear()

    while i < len(text):
        ch = text[i]
        at_line_start = line_start
        line_start = ch == "\n"
        if ch == "\\" and i + 1 < len(text) and 0 < ord(text[i + 1]) < 127:
            buf.append(text[i + 1])
            i += 2
            continue
        if ch == "`":
            fence = "```" if text.startswith("```", i) else "`"
            close = _scan_until(text, i + len(fence), fence, escapes=True)
            if close < 0:
                kind = "Pre" if fence == "```" else "Code"
                raise _entity_error(f"Can't find end of {kind} entity at byte offset {_byte_offset(text, i)}")
            inner = text[i + len(fence):close]
            flush()
            if fence == "```":
                language, newline, rest = inner.partition("\n")
                if newline and re.fullmatch(r"[\w+#.-]*", language):
                    inner = rest
                    attrs = {"language": language}
                else:
                    attrs = {}
                tokens += [("open", "pre", attrs), ("text", _unescape_mdv2(inner)), ("close", "pre")]
            else:
                tokens += [("open", "code", {}), ("text", _unescape_mdv2(inner)), ("close", "code")]
            i = close + len(fence)
            continue
        marker = text[i:i + 2] if text[i:i + 2] in ("__", "||") else ch
        if marker in _MDV2_TOGGLES:
            canonical = _MDV2_TOGGLES[marker]
            flush()
            if stack and stack[-1][0] == canonical:
                stack.pop()
                tokens.append(("close", canonical))
            else:
                stack.append((canonical, _byte_offset(text, i)))
                tokens.append(("open", canonical, {}))
            i += len(marker)
            continue
        if ch == "!" and text.startswith("![", i):
            i += 1
            continue
        if ch == "[":
            flush()
            link_open.append(len(tokens))
            tokens.append(("open", "a", {"href": ""}))
            i += 1
            continue
        if ch == "]" and link_open:
            opened = link_open.pop()
            flush()
            if text.startswith("(", i + 1):
                close = _scan_until(text, i + 2, ")", escapes=True)
                if close < 0:
                    raise _entity_error(f"Can't find end of a URL at byte offset {_byte_offset(text, i + 1)}")
                tokens[opened] = ("open", "a", {"href": _unescape_mdv2(text[i + 2:close])})
                i = close + 1
            else:
                i += 1
            tokens.append(("close", "a"))
            continue
        if ch == ">" and at_line_start:
            i += 1
            continue
        if ch in _MDV2_RESERVED:
            raise _entity_error(f"Character '{ch}' is reserved and must be escaped with the preceding '\\'")
        buf.append(ch)
        i += 1
    if link_open:
        raise _entity_error("Can't find end of a text link entity")
    if stack:
        canonical, offset = stack[-1]
        raise _entity_error(f"Can't find end of {_MDV2_NAMES[canonical]} entity at byte offset {offset}")
    flush()
    return tokens


def _parse_markdown_legacy(text: str) -> list[Token]:
    tokens: list[Token] = []
    buf: list[str] = []
    i = 0
    pairs = {"*": "b", "_": "i"}

    def flush() -> None:
        if buf:
            tokens.append(("text", "".join(buf)))
            buf.clear()

    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text) and text[i + 1] in "_*`[":
            buf.append(text[i + 1])
            i += 2
            continue
        if ch in pairs or ch == "`":
            fence = "```" if text.startswith("```", i) else ch
            close = text.find(fence, i + len(fence))
            if close < 0:
                raise _entity_error(f"Can't find end of the entity starting at byte offset {_byte_offset(text, i)}")
            canonical = pairs.get(ch) or ("pre" if fence == "```" else "code")
            flush()
            tokens += [("open", canonical, {}), ("text", text[i + len(fence):close]), ("close", canonical)]
            i = close + len(fence)
            continue
        if ch == "[":
            close = text.find("]", i + 1)
            if close > 0 and text.startswith("(", close + 1) and text.find(")", close + 2) > 0:
                url_end = text.find(")", close + 2)
                flush()
                tokens += [("open", "a", {"href": text[close + 2:url_end]}), ("text", text[i + 1:close]),
                           ("close", "a")]
                i = url_end + 1
                continue
        buf.append(ch)
        i += 1
    flush()
    return tokens


def parse(text: str, parse_mode: str | None) -> list[Token]:
    """Tokens of ``text`` under ``parse_mode``; raises the server's 400 for malformed markup."""
    mode = (parse_mode or "").lower()
    if mode == "html":
        return _parse_html(text)
    if mode == "markdownv2":
        return _parse_markdown_v2(text)
    if mode == "markdown":
        return _parse_markdown_legacy(text)
    if mode:
        raise bad_request(f"unsupported parse_mode \"{parse_mode}\"")
    return [("text", text)]


def plain_text(text: str, parse_mode: str | None) -> str:
    """What a reader sees: the text without markup (the real server's ``message.text``)."""
    try:
        tokens = parse(text, parse_mode)
    except Exception:  # noqa: BLE001 - stored texts were validated; be forgiving for display
        return text
    return "".join(token[1] for token in tokens if token[0] == "text")


_SAFE_SCHEMES = ("http://", "https://", "tg://", "mailto:")


def safe_html(text: str, parse_mode: str | None) -> str:
    """Sanitised HTML for the sandbox page: only our own tags, every text and attribute escaped."""
    try:
        tokens = parse(text, parse_mode)
    except Exception:  # noqa: BLE001
        tokens = [("text", text)]
    out: list[str] = []
    for token in tokens:
        if token[0] == "text":
            out.append(html.escape(token[1], quote=False))
            continue
        tag = token[1]
        opening = token[0] == "open"
        if tag == "emoji":
            continue
        if tag == "spoiler":
            out.append('<span class="spoiler">' if opening else "</span>")
        elif tag == "a":
            href = token[2].get("href", "") if opening else ""
            if not opening:
                out.append("</a>")
            elif href.lower().startswith(_SAFE_SCHEMES):
                out.append(f'<a href="{html.escape(href)}" target="_blank" rel="noopener noreferrer">')
            else:
                out.append('<a class="dead-link">')
        else:
            out.append(f"<{tag}>" if opening else f"</{tag}>")
    return "".join(out)
