"""Forms for venues and categories; the rules live in events/venues_and_categories.py."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import IntegerField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from cluster_events.admin.forms import normalise_address, strip_multiline, strip_text
from cluster_events.forms import Form, WebAddress


class VenueForm(Form):
    name = StringField(
        _l("Name (Japanese)"), validators=[DataRequired(), Length(max=200)], filters=[strip_text]
    )
    name_en = StringField(_l("Name (English)"), validators=[Length(max=200)], filters=[strip_text])
    address = StringField(
        _l("Address (Japanese)"), validators=[Length(max=300)], filters=[strip_text]
    )
    address_en = StringField(
        _l("Address (English)"), validators=[Length(max=300)], filters=[strip_text]
    )
    access_notes = TextAreaField(
        _l("Access notes (Japanese)"),
        filters=[strip_multiline],
        description=_l("How to get there: station, bus, parking. Sent in the confirmation email."),
    )
    access_notes_en = TextAreaField(
        _l("Access notes (English)"),
        filters=[strip_multiline],
        description=_l("For English readers. Leave empty to show the Japanese notes."),
    )
    map_url = StringField(
        _l("Map link"), validators=[Length(max=500), WebAddress()], filters=[normalise_address]
    )


class CategoryForm(Form):
    name_ja = StringField(
        _l("Name (Japanese)"), validators=[DataRequired(), Length(max=100)], filters=[strip_text]
    )
    name_en = StringField(
        _l("Name (English)"), validators=[DataRequired(), Length(max=100)], filters=[strip_text]
    )
    slug = StringField(
        _l("Address"),
        validators=[DataRequired(), Length(max=64)],
        filters=[lambda value: normalise_address(value).lower() if value else ""],
        description=_l("Used in the category's page and calendar addresses, e.g. seminar."),
    )
    sort_order = IntegerField(
        _l("Order in lists"),
        default=0,
        validators=[
            Optional(),
            NumberRange(min=-1000, max=1000, message=_l("Enter a number from -1,000 to 1,000.")),
        ],
    )
