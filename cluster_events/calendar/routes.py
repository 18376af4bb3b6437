"""Calendar feeds, per-event .ics downloads and the subscription page."""

from flask import Blueprint

bp = Blueprint("calendar", __name__)
