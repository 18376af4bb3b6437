"""Text helpers: Markdown to safe HTML, and the normalisation of what people type."""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import urlsplit

import nh3
from email_validator import EmailNotValidError, validate_email
from markdown_it import MarkdownIt

# breaks: a line break typed in Japanese text is meant as one (no space is inserted).
_markdown = MarkdownIt(
    "commonmark", {"html": False, "linkify": False, "typographer": False, "breaks": True}
)
_markdown.enable("table")

ALLOWED_TAGS = {
    "a", "blockquote", "br", "code", "em", "h2", "h3", "h4", "hr", "li", "ol", "p",
    "pre", "strong", "table", "tbody", "td", "th", "thead", "tr", "ul",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "th": {"style"}, "td": {"style"}}


def render_markdown(source: str) -> str:
    """Render Markdown and keep only harmless HTML (no scripts, no event handlers)."""
    html = _markdown.render(source or "")
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes={"http", "https", "mailto", "tel"},
        link_rel="noopener noreferrer",
    )


#: Never part of typed text: C0 controls but tab, line feed and carriage return; DEL and
#: the C1 controls; the noncharacters (U+FDD0-U+FDEF and the last two code points of
#: every plane, U+FFFE/U+FFFF included); lone surrogates. Excel files cannot hold most of
#: them and PostgreSQL refuses NUL.
FORBIDDEN_CHARACTERS = re.compile(
    "[\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f\\x7f-\\x9f\\ufdd0-\\ufdef\\ud800-\\udfff"
    + "".join(f"\\U{plane:04x}fffe\\U{plane:04x}ffff" for plane in range(17))
    + "]"
)
#: What ends a line, and the tab: never in a one-line field (a name, a subject).
LINE_BREAKS_AND_TABS = re.compile("[\t\n\r\u2028\u2029]")


def has_forbidden_characters(value: str, *, single_line: bool = False) -> bool:
    if FORBIDDEN_CHARACTERS.search(value):
        return True
    return single_line and LINE_BREAKS_AND_TABS.search(value) is not None


def drop_forbidden_characters(value: str, *, single_line: bool = False) -> str:
    """``value`` without forbidden characters; in a one-line field, line breaks and tabs
    become spaces."""
    value = FORBIDDEN_CHARACTERS.sub("", value)
    return LINE_BREAKS_AND_TABS.sub(" ", value) if single_line else value


def is_web_address(value: str) -> bool:
    """A complete http or https address with a host: no other scheme (javascript:,
    data:, ftp:), no relative path, no user name before the host (https://bank@evil.example),
    no spaces, backslashes or control characters."""
    if not value or has_forbidden_characters(value) or "\\" in value:
        return False
    if any(character.isspace() for character in value):
        return False
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018  (raises ValueError for a port that is not a number)
    except ValueError:
        return False
    return (
        parts.scheme.lower() in ("http", "https")
        and bool(parts.hostname)
        and "@" not in parts.netloc
    )


#: What normalise_email_address raises (email-validator's own error, a ValueError).
InvalidEmailAddress = EmailNotValidError


def normalise_email_address(value: str | None) -> str:
    """The address as email-validator normalises it (domain in lower case, the local part
    as typed), after NFKC. A domain in Japanese is kept in its ASCII form (xn--...): a
    To header must be ASCII without SMTPUTF8, and Python's email package would otherwise
    write the domain as an encoded word, which no server accepts. Local parts in
    Japanese are refused for the same reason. Raises InvalidEmailAddress."""
    result = validate_email(
        normalise_input(value), check_deliverability=False, allow_smtputf8=False
    )
    return result.ascii_email or result.normalized


def normalise_input(value: str | None) -> str:
    """NFKC (full-width ＠ and ０９０ become @ and 090) and trimmed, with inner runs of
    white space (including the ideographic space) folded to one."""
    if value is None:
        return ""
    return " ".join(unicodedata.normalize("NFKC", value).split())


def normalise_multiline(value: str | None) -> str:
    if value is None:
        return ""
    lines = unicodedata.normalize("NFKC", value).replace("\r\n", "\n").split("\n")
    return "\n".join(line.rstrip() for line in lines).strip()


#: Hiragana, katakana (ヴ and small ヵヶ included), the long-vowel mark, the middle dot
#: of foreign names, iteration marks and spaces; nothing else belongs in a ふりがな.
_KANA_READING = re.compile(r"^[\u3041-\u3096\u309d\u309e\u30a1-\u30f6\u30fb\u30fc\u30fd\u30fe ]+$")


def is_kana_reading(value: str) -> bool:
    return _KANA_READING.match(value) is not None


#: Latin letters (accented ones too), and what names written in them hold between
#: words: spaces, hyphens, apostrophes and full stops (O'Brien, Jean-Luc, Jr.).
_LATIN_READING = re.compile(r"^[A-Za-z\u00c0-\u024f][A-Za-z\u00c0-\u024f .'\u2019-]*$")
_KANA_CHARACTER = re.compile(r"[\u3041-\u3096\u309d\u309e\u30a1-\u30f6\u30fc\u30fd\u30fe]")
_LATIN_LETTER = re.compile(r"[A-Za-z\u00c0-\u024f]")


def is_latin_reading(value: str) -> bool:
    """A reading in Latin letters, which an English-speaking registrant may give."""
    return _LATIN_READING.match(value) is not None


def mixes_kana_and_latin(value: str) -> bool:
    """Kana and Latin letters in one reading (やまだ Taro): it sorts nowhere."""
    return bool(_KANA_CHARACTER.search(value) and _LATIN_LETTER.search(value))


def reading_sort_key(reading: str, name: str) -> tuple[int, str]:
    """Where a person goes in an attendee list: kana readings first, in 五十音順
    (stored in hiragana, so code point order); then everybody else (a reading in Latin
    letters, or none) by that reading or else their name, in alphabetical order."""
    if reading and is_kana_reading(reading):
        return (0, reading)
    return (1, (reading or name).casefold())


def katakana_to_hiragana(value: str) -> str:
    """ふりがな are stored in hiragana so that lists sort in 五十音順."""
    return "".join(chr(ord(c) - 0x60) if "ァ" <= c <= "ヶ" else c for c in value)


def hiragana_to_katakana(value: str) -> str:
    return "".join(chr(ord(c) + 0x60) if "ぁ" <= c <= "ゖ" else c for c in value)
