"""Text helpers: Markdown to safe HTML, and the normalisation of what people type."""

from __future__ import annotations

import unicodedata

import nh3
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


def katakana_to_hiragana(value: str) -> str:
    """ふりがな are stored in hiragana so that lists sort in 五十音順."""
    return "".join(chr(ord(c) - 0x60) if "ァ" <= c <= "ヶ" else c for c in value)


def hiragana_to_katakana(value: str) -> str:
    return "".join(chr(ord(c) + 0x60) if "ぁ" <= c <= "ゖ" else c for c in value)
