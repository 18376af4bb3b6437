"""What people type is normalised; what organizers write in Markdown is shown safely."""

from __future__ import annotations

import re

import pytest

from cluster_events.text import (
    hiragana_to_katakana,
    katakana_to_hiragana,
    normalise_input,
    normalise_multiline,
    render_markdown,
)


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("ｙａｍａｄａ＠ｅｘａｍｐｌｅ．ｊｐ", "yamada@example.jp"),
        ("０９０－１２３４－５６７８", "090-1234-5678"),
        ("　横須賀　　太郎　", "横須賀 太郎"),
        ("ｶﾀｶﾅ", "カタカナ"),
        (None, ""),
    ],
)
def test_normalise_input(typed, stored):
    assert normalise_input(typed) == stored


def test_normalise_multiline_keeps_lines():
    assert normalise_multiline("一行目　\r\n二行目\r\n") == "一行目\n二行目"


def test_katakana_reading_is_stored_in_hiragana():
    assert katakana_to_hiragana("ヨコスカ タロウ") == "よこすか たろう"
    assert katakana_to_hiragana("よこすか") == "よこすか"
    assert hiragana_to_katakana("せみなー 横須賀") == "セミナー 横須賀"


def test_markdown_keeps_structure_and_line_breaks():
    html = render_markdown(
        "## 内容\n\n毎月1回の会です。\nはじめての方も歓迎します。\n\n- 説明\n- 質疑"
    )
    assert "<h2>内容</h2>" in html
    assert "毎月1回の会です。<br>" in html
    assert "<li>説明</li>" in html


@pytest.mark.parametrize(
    "hostile",
    [
        "<script>alert(1)</script>",
        '<img src=x onerror="alert(1)">',
        "[link](javascript:alert(1))",
        '<a href="https://example.org" onclick="alert(1)">x</a>',
    ],
)
def test_markdown_output_is_sanitised(hostile):
    html = render_markdown(hostile)
    assert "<script" not in html and "<img" not in html
    assert re.search(r"<[^>]*\son\w+=", html) is None  # no event handler inside a tag
    assert 'href="javascript' not in html


def test_links_open_safely():
    assert 'rel="noopener noreferrer"' in render_markdown("[当会](https://example.org)")
