"""The rate limiter, whose check before every view runs only where a limit can apply.

Flask-Limiter checks limits in two places: the wrapper of each view decorated with
``@limiter.limit`` (the login forms, the registration POST) checks that view's limits,
and a ``before_request`` hook checks the limits that apply outside views (default,
application-wide, blueprint and meta limits, and limits of decorated helpers that a
view calls). None of the latter is configured here, yet the hook cost about 50 µs of
every request, a feed poll or a static file included, to find nothing. It now runs only
when such a limit exists; the decorated views are checked exactly as before.
"""

from __future__ import annotations

from flask import Flask, request
from flask_limiter import Limiter


class SiteLimiter(Limiter):
    def _check_request_limit(
        self, callable_name: str | None = None, in_middleware: bool = True
    ) -> None:
        if in_middleware and not self.limits_outside_views():
            return
        super()._check_request_limit(callable_name=callable_name, in_middleware=in_middleware)

    def limits_outside_views(self) -> bool:
        """Whether a limit the before_request check applies may exist for this request.
        Flask-Limiter keeps them in private attributes; one it no longer has counts as
        a limit, so the check then runs as before."""
        manager = self.limit_manager
        return bool(
            getattr(manager, "_application_limits", True)
            or getattr(manager, "_default_limits", True)
            or getattr(manager, "_blueprint_limits", True)
            or getattr(self, "_meta_limits", True)
            or getattr(self, "_in_memory_fallback", True)
            or manager.has_hints(request.endpoint or "")
        )

    def limits_apply_to(self, app: Flask, endpoint: str, blueprint: str) -> bool:
        """Whether any limit, the view's own or one outside views, may apply to this
        endpoint (calendar.polls answers only feeds that no limit counts)."""
        if not app.config.get("RATELIMIT_ENABLED", True):
            return False
        manager = self.limit_manager
        with app.app_context():
            found = [
                limits
                for in_middleware in (True, False)
                for limits in manager.resolve_limits(
                    app, endpoint, blueprint, in_middleware=in_middleware
                )
            ]
        return bool(
            any(found)
            or getattr(self, "_meta_limits", True)
            or getattr(self, "_in_memory_fallback", True)
            or manager.has_hints(endpoint)
        )
