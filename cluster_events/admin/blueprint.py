"""The organizer console's blueprint; every view module under admin/ adds routes to it."""

from flask import Blueprint

bp = Blueprint("admin", __name__, url_prefix="/admin")
