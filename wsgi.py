"""Entry point for production servers: `gunicorn wsgi:app`."""

from cluster_events import create_app

app = create_app()
