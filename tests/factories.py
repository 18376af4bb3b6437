"""Small builders for test data. Each returns a flushed model with sensible defaults
that a test overrides with keyword arguments."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta
from typing import Any

from cluster_events.database import utcnow
from cluster_events.extensions import db
from cluster_events.models import Category, Event, EventStatus, Venue

_counter = itertools.count(1)


def make_category(**values: Any) -> Category:
    number = next(_counter)
    values.setdefault("slug", f"category-{number}")
    values.setdefault("name_ja", f"分類{number}")
    values.setdefault("name_en", f"Category {number}")
    values.setdefault("sort_order", number)
    category = Category(**values)
    db.session.add(category)
    db.session.flush()
    return category


def make_venue(**values: Any) -> Venue:
    values.setdefault("name", "YRP事務所")
    values.setdefault("name_en", "YRP office")
    values.setdefault("address", "神奈川県横須賀市光の丘8番3号 YRPベンチャー棟209号")
    values.setdefault("access_notes", "京急YRP野比駅からバス10分")
    values.setdefault("map_url", "https://maps.example.org/yrp")
    venue = Venue(**values)
    db.session.add(venue)
    db.session.flush()
    return venue


def make_event(**values: Any) -> Event:
    number = next(_counter)
    starts_at: datetime = values.pop("starts_at", utcnow() + timedelta(days=10))
    values.setdefault("ends_at", starts_at + timedelta(hours=2))
    values.setdefault("slug", f"event-{number}")
    values.setdefault("title", f"テストセミナー{number}")
    values.setdefault("summary", "中小企業の皆さま向けの説明会です。")
    values.setdefault("body", "## 内容\n\n- 説明\n- 質疑応答")
    values.setdefault("status", EventStatus.published)
    values.setdefault("fee_text", "無料")
    values.setdefault("uid", Event.new_uid("test.example.org"))
    if "category" not in values and "category_id" not in values:
        values["category"] = make_category()
    if "venue" not in values and "venue_id" not in values:
        values["venue"] = make_venue()
    event = Event(starts_at=starts_at, **values)
    db.session.add(event)
    db.session.flush()
    return event
