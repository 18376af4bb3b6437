"""What every console form shares: the confirm button, and how typed text is cleaned."""

from __future__ import annotations

from typing import Any

from cluster_events.forms import Form
from cluster_events.text import normalise_input


def strip_text(value: Any) -> Any:
    """Text the office writes for readers (titles, names, fees) stays as typed: NFKC
    would turn （第12回） into (第12回). Only the ends are trimmed."""
    return value.strip() if isinstance(value, str) else value


def strip_multiline(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    return "\n".join(line.rstrip() for line in value.replace("\r\n", "\n").split("\n")).strip()


def normalise_address(value: Any) -> Any:
    """Addresses and links: full-width letters and digits become ASCII (NFKC)."""
    return normalise_input(value) if isinstance(value, str) else value


class ConfirmForm(Form):
    """A button that changes something: only the CSRF token."""
