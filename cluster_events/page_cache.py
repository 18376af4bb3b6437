"""Public pages kept in memory once rendered, and their HTTP validators.

A page is kept under a digest of everything its bytes depend on: what the view read
from the database in this request (an event's rows, or a list's version: see
``events.queries``), the language, the address with its query string, who is viewing
(nobody, or the signed-in member's own rows) and the release (templates, code,
catalogs, the site's settings). Any change in the database gives another key, so a
kept page is never stale and it does not matter which worker or host answers: the
entries only save work, they decide nothing. Old entries age out (a bounded LRU).

Four things are per request and never kept:

- the CSRF token: the kept bytes hold a marker where the page had the token, and each
  answer puts the visitor's own token there (``generate_csrf``, as the template did);
- live numbers (an event page's seats left and people waiting, which every sign-up
  changes): a view passes ``LiveValues``, the page is rendered with a marker in place
  of each number (``live_value``) and kept under the numbers' *shape* (every branch
  the template takes on them: the states, which of them are 0 or 1), and each answer
  puts the current numbers in. So a page is rendered again when a frame fills, not at
  every sign-up;
- flashed messages: a page that shows one is rendered afresh, kept nowhere and stored
  by no browser (``private, no-store``);
- a page rendered while its data changed under it (the view says so): served, not kept.

HTTP: the digest is the page's ETag, and If-None-Match is answered with 304. A page
with a personal part (a signed-in member, a CSRF token) is ``private``, and its weak
ETag also covers the visitor's CSRF secret and the token's age, so a copy kept by the
browser never holds an expired token or another session's. Other pages are
``public, no-cache``: a shared cache may keep them, and asks every time.
"""

from __future__ import annotations

import hashlib
import pickle
import re
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Generic, TypeVar

from flask import Flask, Response, current_app, g, request, session
from flask_wtf.csrf import generate_csrf

from cluster_events.i18n import current_locale

#: Upper bound of the bytes kept per process (the catalogue with 50 events is ~45 kB).
DEFAULT_MAX_BYTES = 8 * 1024 * 1024
#: Raise when pages change for the same data in a way the release digest cannot see.
PAGE_FORMAT_VERSION = "1"
#: What every cached page varies on besides its address: the member session and the
#: language cookie (Cookie), and the browser's languages when no language was chosen.
VARY = ("Cookie", "Accept-Language")
#: The settings that show on public pages (and so belong in their ETags).
_SITE_SETTINGS_PREFIXES = ("SITE_",)
_SITE_SETTINGS = (
    "LANGUAGES",
    "BABEL_DEFAULT_LOCALE",
    "CATALOGUE_EVENTS_PER_PAGE",
    "EVENTS_PER_PAGE",
)
_RELEASE_FILES = (
    ("cluster_events", "*.py"),
    ("cluster_events/translations", "*.mo"),
    ("templates", "*.html"),
)
_PROJECT_ROOT = Path(__file__).resolve().parent.parent
_PICKLE_PROTOCOL = 5

K = TypeVar("K")
V = TypeVar("V")

#: ``render`` returns the page and whether it may be kept.
Render = Callable[[], tuple[str, bool]]


@dataclass(frozen=True)
class LiveValues:
    """The numbers of a page that change more often than the page: ``values`` by
    name (shown as they are: digits), and ``shape``, everything the page's template
    decides from them (it is part of the page's key)."""

    shape: tuple[object, ...]
    values: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class _Entry:
    body: bytes
    #: The page held the visitor's CSRF token (now the cache's marker).
    uses_csrf: bool
    #: The page holds markers of live values.
    has_live_values: bool = False


class BoundedCache(Generic[K, V]):
    """An LRU bounded by the total size of its values; safe for threaded servers."""

    def __init__(self, max_size: int, size: Callable[[V], int]) -> None:
        self.max_size = max_size
        self._size_of = size
        self._entries: OrderedDict[K, V] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    def get(self, key: K) -> V | None:
        with self._lock:
            value = self._entries.get(key)
            if value is not None:
                self._entries.move_to_end(key)
            return value

    def put(self, key: K, value: V) -> None:
        size = self._size_of(value)
        if size > self.max_size:
            return
        with self._lock:
            previous = self._entries.pop(key, None)
            if previous is not None:
                self._size -= self._size_of(previous)
            self._entries[key] = value
            self._size += size
            while self._size > self.max_size:
                _, dropped = self._entries.popitem(last=False)
                self._size -= self._size_of(dropped)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._size = 0

    def __len__(self) -> int:
        return len(self._entries)


class PageCache(BoundedCache[bytes, _Entry]):
    """Rendered pages by digest."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(max_bytes, lambda entry: len(entry.body))
        #: Stands where a page had the CSRF token; random, so no page text can hold it.
        self.csrf_marker = f"csrf-{secrets.token_hex(16)}"
        #: Before a live value's name in a kept page: live<random>[name].
        self.live_marker = f"live{secrets.token_hex(12)}"
        self._live_pattern = re.compile(re.escape(self.live_marker).encode() + rb"\[(\w+)\]")

    def fill_live_values(self, body: bytes, values: Mapping[str, str]) -> bytes:
        return self._live_pattern.sub(lambda found: values[found.group(1).decode()].encode(), body)


_LIVE_MARKER_KEY = "_page_live_marker"


def live_value(name: str, value: object) -> object:
    """``value`` where a page shows it, or, while a page is rendered to be kept with
    its live values apart, the marker that each answer replaces with the current
    value of ``name`` (the view's ``LiveValues.values[name]``)."""
    marker = g.get(_LIVE_MARKER_KEY)
    return value if marker is None else f"{marker}[{name}]"


def keeps_pages() -> bool:
    """False while templates are read afresh from disk (``flask run --debug``): then
    nothing is kept and no ETag sent, so an edited template shows at once."""
    return not current_app.jinja_env.auto_reload


def page_cache(app: Flask | None = None) -> PageCache:
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    cache_ = app.extensions.get("page_cache")
    if cache_ is None:
        cache_ = PageCache(app.config.get("PAGE_CACHE_MAX_BYTES", DEFAULT_MAX_BYTES))
        app.extensions["page_cache"] = cache_
    return cache_


@cache
def _release_files() -> bytes:
    digest = hashlib.sha256(PAGE_FORMAT_VERSION.encode())
    for folder, pattern in _RELEASE_FILES:
        for path in sorted((_PROJECT_ROOT / folder).rglob(pattern)):
            digest.update(str(path.relative_to(_PROJECT_ROOT)).encode() + b"\0")
            digest.update(path.read_bytes())
    return digest.digest()


def _release(app: Flask) -> bytes:
    """The digest of what makes pages look the way they do besides the data: code,
    templates, catalogs and the site's settings; the same on every host of a release."""
    release = app.extensions.get("page_release")
    if release is None:
        digest = hashlib.sha256(_release_files())
        settings = sorted(
            (key, repr(value))
            for key, value in app.config.items()
            if key.startswith(_SITE_SETTINGS_PREFIXES) or key in _SITE_SETTINGS
        )
        digest.update(repr(settings).encode())
        release = digest.digest()
        app.extensions["page_release"] = release
    return release


def _page_key(parts: Iterable[object]) -> bytes:
    """The digest of the parts and the request's own: pickle is exact (equal bytes only
    for equal values) and the same in every process of a release, so the ETag is too."""
    request_parts = (request.script_root, request.path, request.query_string, current_locale())
    digest = hashlib.sha256(_release(current_app))
    digest.update(pickle.dumps((request_parts, tuple(parts)), protocol=_PICKLE_PROTOCOL))
    return digest.digest()


def _csrf_field_name() -> str:
    return current_app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token")


def _etag(key: bytes, uses_csrf: bool) -> tuple[str, bool]:
    """The opaque tag and whether it is weak. A page with a CSRF token differs in the
    token's bytes from one answer to the next (it is signed with the time), so its tag is
    weak; it names the session's CSRF secret and the half of the token's lifetime it was
    made in, so a kept copy is revalidated only while its token is still good."""
    if not uses_csrf:
        return key.hex()[:32], False
    limit = current_app.config.get("WTF_CSRF_TIME_LIMIT") or 0
    bucket = int(time.time() // (limit / 2)) if limit else 0
    secret = str(session.get(_csrf_field_name(), ""))
    digest = hashlib.sha256(key + f"\0{secret}\0{bucket}".encode()).hexdigest()
    return digest[:32], True


def _not_modified(tag: str) -> bool:
    if request.method not in ("GET", "HEAD"):
        return False
    tags = request.if_none_match
    return bool(tags) and (tags.star_tag or tags.contains_weak(tag))


def _with_headers(response: Response, *, private: bool) -> Response:
    response.headers["Cache-Control"] = "private, no-cache" if private else "public, no-cache"
    for header in VARY:
        response.vary.add(header)
    return response


def page_response(
    parts: Iterable[object], render: Render, *, member: bool, live: LiveValues | None = None
) -> Response:
    """The page for this request: from memory when its key was rendered before, else
    rendered (and kept when ``render`` says it may be); 304 when the visitor's copy is
    current. ``parts`` must hold everything the page shows that is not in the request
    (the data, who is signed in) except the ``live`` values, whose shape is added to
    the key and whose values to the ETag; ``member`` makes the page private."""
    if session.get("_flashes"):
        html, _ = render()
        response = Response(html, mimetype="text/html")
        response.headers["Cache-Control"] = "private, no-store"
        for header in VARY:
            response.vary.add(header)
        return response
    if not keeps_pages():
        html, _ = render()
        personal = member or _csrf_field_name() in g
        return _with_headers(Response(html, mimetype="text/html"), private=personal)

    cache_ = page_cache()
    parts = tuple(parts)
    key = _page_key(parts if live is None else (*parts, live.shape))
    entry = cache_.get(key)
    if entry is None:
        entry, keep = _render_entry(cache_, render, live_apart=live is not None)
        if keep:
            cache_.put(key, entry)
    token = generate_csrf() if entry.uses_csrf else None
    tagged = key if live is None else _with_values(key, live)
    tag, weak = _etag(tagged, entry.uses_csrf)
    if _not_modified(tag):
        response = Response(status=304)
    else:
        body = entry.body
        if token is not None:
            body = body.replace(cache_.csrf_marker.encode(), token.encode())
        if entry.has_live_values and live is not None:
            body = cache_.fill_live_values(body, live.values)
        response = Response(body, mimetype="text/html")
    response.set_etag(tag, weak=weak)
    return _with_headers(response, private=member or entry.uses_csrf)


def _with_values(key: bytes, live: LiveValues) -> bytes:
    values = pickle.dumps(sorted(live.values.items()), protocol=_PICKLE_PROTOCOL)
    return hashlib.sha256(key + values).digest()


def _render_entry(cache_: PageCache, render: Render, *, live_apart: bool) -> tuple[_Entry, bool]:
    csrf_field = _csrf_field_name()
    had_token = csrf_field in g
    if live_apart:
        setattr(g, _LIVE_MARKER_KEY, cache_.live_marker)
    try:
        html, keep = render()
    finally:
        g.pop(_LIVE_MARKER_KEY, None)
    has_live_values = live_apart and cache_.live_marker in html
    token = g.get(csrf_field)
    uses_csrf = token is not None
    if uses_csrf:
        if had_token and token not in html:
            uses_csrf = False  # made before the page, for something else
        else:
            html = html.replace(token, cache_.csrf_marker)
    return _Entry(html.encode(), uses_csrf, has_live_values), keep
