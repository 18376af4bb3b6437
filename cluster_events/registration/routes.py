"""Registration form, confirmation and personal link pages."""

from flask import Blueprint

bp = Blueprint("registration", __name__)
