"""WSGI entry point for production servers: `gunicorn -c python:hub.gunicorn_conf 'hub.wsgi:app'`."""
from hub.app import create_app

app = create_app()
