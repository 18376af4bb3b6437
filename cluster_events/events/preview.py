"""The console's preview of an event's page in both languages: an unsaved event that
holds what the form says, rendered with the public page's own pieces
(``templates/events/_summary.html``, ``_body.html``, ``_japanese_only.html``) once in
Japanese and once in English, so the office reads what each reader will read,
fallbacks to the Japanese text included."""

from __future__ import annotations

from dataclasses import dataclass

from flask import render_template
from flask_babel import force_locale
from markupsafe import Markup

from cluster_events.extensions import db
from cluster_events.models import Event, Venue

#: The languages of the preview, in the order shown.
PREVIEW_LOCALES = ("ja", "en")


@dataclass(frozen=True)
class Preview:
    locale: str
    html: Markup


def unsaved_event(
    *,
    title: str,
    title_en: str = "",
    summary: str = "",
    summary_en: str = "",
    body: str = "",
    body_en: str = "",
    fee_text: str = "",
    fee_text_en: str = "",
) -> Event:
    """An event that is never added to the session (no relationship is set, so nothing
    cascades it in): only its texts are read."""
    return Event(
        title=title,
        title_en=title_en,
        summary=summary,
        summary_en=summary_en,
        body=body,
        body_en=body_en,
        fee_text=fee_text,
        fee_text_en=fee_text_en,
    )


def both_languages(event: Event, venue_id: int | None) -> list[Preview]:
    """The event's texts as its page shows them, in each of ``PREVIEW_LOCALES``."""
    venue = db.session.get(Venue, venue_id) if venue_id else None
    previews = []
    for locale in PREVIEW_LOCALES:
        with force_locale(locale):
            html = render_template(
                "events/_preview.html",
                event=event,
                venue=venue,
                body_heading_id=f"preview-body-{locale}",
            )
        previews.append(Preview(locale, Markup(html)))
    return previews
