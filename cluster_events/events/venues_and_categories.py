"""Venues and categories, the lists events point to: saving them, and deleting one
only while no event uses it. Each public function is one audited transaction."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from cluster_events.audit import record_change, snapshot
from cluster_events.errors import Conflict, NotFound, ServiceError
from cluster_events.events.services import SLUG_PATTERN
from cluster_events.extensions import db
from cluster_events.models import Category, Event, Venue
from cluster_events.text import is_web_address
from cluster_events.transactions import write_transaction

VENUE_FIELDS = (
    "name",
    "name_en",
    "address",
    "address_en",
    "access_notes",
    "access_notes_en",
    "map_url",
)
CATEGORY_FIELDS = ("slug", "name_ja", "name_en", "sort_order")


def save_venue(venue_id: int | None, values: dict[str, Any]) -> Venue:
    if not values.get("name", "").strip():
        raise ServiceError(field_errors={"name": _("Enter the name of the venue.")})
    map_url = values.get("map_url", "")
    if map_url and not is_web_address(map_url):
        raise ServiceError(
            field_errors={
                "map_url": _(
                    "Enter the whole map link, starting with https:// (for example "
                    "https://maps.google.com/...)."
                )
            }
        )
    with write_transaction():
        return _apply_values(Venue, venue_id, VENUE_FIELDS, values, "venue")


def delete_venue(venue_id: int) -> None:
    _delete_unused(
        Venue,
        venue_id,
        VENUE_FIELDS,
        "venue",
        Event.venue_id,
        lambda count: _(
            "Events at this venue: %(count)d. A venue in use cannot be deleted.", count=count
        ),
        _("This venue is in use and cannot be deleted."),
    )


def save_category(category_id: int | None, values: dict[str, Any]) -> Category:
    slug_taken = _("Another category already uses this address.")
    errors = {}
    slug = values.get("slug", "")
    if not SLUG_PATTERN.match(slug) or len(slug) > 64:
        errors["slug"] = _("Use only lower-case letters a-z, digits and single hyphens.")
    else:
        query = select(Category.id).where(Category.slug == slug)
        if category_id is not None:
            query = query.where(Category.id != category_id)
        if db.session.scalar(query) is not None:
            errors["slug"] = slug_taken
    if not values.get("name_ja", "").strip():
        errors["name_ja"] = _("Enter the Japanese name.")
    if not values.get("name_en", "").strip():
        errors["name_en"] = _("Enter the English name.")
    if errors:
        raise ServiceError(field_errors=errors)
    try:
        with write_transaction():
            return _apply_values(Category, category_id, CATEGORY_FIELDS, values, "category")
    except IntegrityError as error:  # the same slug saved at the same moment
        raise ServiceError(field_errors={"slug": slug_taken}) from error


def delete_category(category_id: int) -> None:
    _delete_unused(
        Category,
        category_id,
        CATEGORY_FIELDS,
        "category",
        Event.category_id,
        lambda count: _(
            "Events in this category: %(count)d. A category in use cannot be deleted.",
            count=count,
        ),
        _("This category is in use and cannot be deleted."),
    )


def _apply_values(
    model: type[Any],
    record_id: int | None,
    fields: tuple[str, ...],
    values: dict[str, Any],
    target_type: str,
) -> Any:
    """Create (record_id None) or update a venue or category and audit what changed."""
    if record_id is None:
        record, before = model(), {}
        db.session.add(record)
    else:
        record = db.session.get(model, record_id)
        if record is None:
            raise NotFound()
        before = snapshot(record, fields)
    for name in fields:
        if name in values:
            setattr(record, name, values[name])
    db.session.flush()
    action = f"{target_type}.create" if record_id is None else f"{target_type}.update"
    record_change(
        action,
        target_type,
        record.id,
        before=before,
        after=snapshot(record, fields),
        changed_only=True,
    )
    return record


def _delete_unused(
    model: type[Any],
    record_id: int,
    fields: tuple[str, ...],
    target_type: str,
    event_column: Any,
    in_use_message: Callable[[int], str],
    raced_message: str,
) -> None:
    """Delete a venue or category that no event uses, and audit it."""
    try:
        with write_transaction():
            record = db.session.get(model, record_id)
            if record is None:
                raise NotFound()
            used = db.session.scalar(select(func.count()).where(event_column == record_id))
            if used:
                raise Conflict(in_use_message(used))
            record_change(
                f"{target_type}.delete", target_type, record.id, before=snapshot(record, fields)
            )
            db.session.delete(record)
    except IntegrityError as error:  # an event started using the row since it was counted
        raise Conflict(raced_message) from error
