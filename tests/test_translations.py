"""Every message the code can show has a Japanese translation.

For each catalog domain with a mapping file (babel/<domain>.cfg), the messages are
extracted from the code with Babel, as `make messages` does, and each one must have
a non-empty, non-fuzzy msgstr in translations/ja/LC_MESSAGES/<domain>.po with the
same %(placeholders)s. A forgotten translation fails the build.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from cluster_events.i18n import TRANSLATION_DOMAINS, TRANSLATIONS_DIR

ROOT = Path(__file__).resolve().parent.parent
#: The lazy forms used at import time (forms, labels); see babel/*.cfg.
KEYWORDS = {
    **DEFAULT_KEYWORDS,
    "_l": None,
    "lazy_gettext": None,
    "lazy_ngettext": (1, 2),
    "lazy_pgettext": ((1, "c"), 2),
    "ngettext_showing": (1, 2),
}
PLACEHOLDER = re.compile(r"%\((\w+)\)[sdfr]|\{(\w+)\}")
DOMAINS = [d for d in TRANSLATION_DOMAINS if (ROOT / "babel" / f"{d}.cfg").exists()]


Key = tuple[str | None, str]  # (msgctxt, msgid)


def extracted(domain: str) -> dict[Key, tuple[str, ...]]:
    """(context, msgid) -> (msgid, msgid_plural?) for every message in the domain's files."""
    with open(ROOT / "babel" / f"{domain}.cfg") as mapping:
        method_map, options_map = parse_mapping_cfg(mapping)
    found: dict[Key, tuple[str, ...]] = {}
    for filename, _lineno, message, _comments, context in extract_from_dir(
        str(ROOT), method_map, options_map, keywords=KEYWORDS
    ):
        if "/.venv/" in f"/{filename}" or filename.startswith("build/"):
            continue
        forms = message if isinstance(message, tuple) else (message,)
        if forms[0]:
            found[context, forms[0]] = tuple(f for f in forms if f)
    return found


def catalog(domain: str) -> Catalog:
    path = TRANSLATIONS_DIR / "ja" / "LC_MESSAGES" / f"{domain}.po"
    assert path.exists(), f"{path.relative_to(ROOT)} is missing: run `make messages`"
    with open(path, "rb") as po:
        return read_po(po, locale="ja")


def placeholders(text: str) -> set[str]:
    return {a or b for a, b in PLACEHOLDER.findall(text)}


@pytest.mark.parametrize("domain", DOMAINS)
def test_every_message_has_a_japanese_translation(domain):
    po = catalog(domain)
    problems = []
    for (context, msgid), forms in sorted(extracted(domain).items(), key=str):
        entry = po.get(msgid, context=context)
        if entry is None:
            problems.append(f"not in the catalog (run `make messages`): {msgid!r}")
            continue
        strings = entry.string if isinstance(entry.string, tuple) else (entry.string,)
        if entry.fuzzy:
            problems.append(f"fuzzy: {msgid!r}")
        if not all(s.strip() for s in strings):
            problems.append(f"no translation: {msgid!r}")
            continue
        expected = set().union(*(placeholders(f) for f in forms))
        for translated in strings:
            if placeholders(translated) != expected:
                problems.append(f"placeholders differ: {msgid!r} -> {translated!r}")
    assert not problems, f"{domain}.po:\n" + "\n".join(problems)


@pytest.mark.parametrize("domain", DOMAINS)
def test_no_fuzzy_or_empty_entries_linger(domain):
    po = catalog(domain)
    lingering = [m.id for m in po if m.id and (m.fuzzy or not m.string)]
    assert not lingering, f"{domain}.po: {lingering}"


def test_a_message_means_the_same_in_every_domain():
    """The app merges all domains into one catalog at run time, so one English msgid
    can show only one Japanese text: two domains must not translate it differently."""
    seen: dict[str, tuple[str, str]] = {}
    conflicts = []
    for domain in DOMAINS:
        path = TRANSLATIONS_DIR / "ja" / "LC_MESSAGES" / f"{domain}.po"
        if not path.exists():
            continue
        for message in catalog(domain):
            if not message.id or not message.string:
                continue
            key = (message.context, message.id if isinstance(message.id, str) else message.id[0])
            text = message.string if isinstance(message.string, str) else message.string[0]
            if key in seen and seen[key][1] != text:
                conflicts.append(f"{key!r}: {seen[key][0]} {seen[key][1]!r} / {domain} {text!r}")
            seen.setdefault(key, (domain, text))
    assert not conflicts, "\n".join(conflicts)


def test_the_extraction_finds_every_kind_of_message():
    """The extraction finds messages, including lazy and plural ones."""
    messages = extracted("messages")
    assert (None, "Upcoming events") in messages  # from a template
    assert (None, "Open for registration") in messages  # _l() in Python
    assert ("event", "Cancelled") in messages  # with a context
    assert messages[None, "%(num)s seat left"] == ("%(num)s seat left", "%(num)s seats left")
