"""Running the hub: serve, worker, demo, db upgrade."""
from __future__ import annotations

import click

from hub.cli.common import load_app
from hub.errors import ConfigError


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
def serve(host: str, port: int) -> None:
    """Serve the web application (production: gunicorn -c python:hub.gunicorn_conf 'hub.wsgi:app')."""
    from werkzeug.serving import run_simple

    app = load_app()
    # Never Werkzeug's debugger (a console that runs code for whoever reaches a traceback) or its reloader, whatever
    # FLASK_DEBUG says: Flask reads that at construction, and app.run would turn both on from it (or from a .env).
    app.debug = False
    run_simple(host, port, app, threaded=True, use_reloader=False, use_debugger=False)


@click.command()
@click.option("--burst", is_flag=True, help="Stop when the queues are empty.")
def worker(burst: bool) -> None:
    """Run an RQ worker for the hub's queues."""
    from hub import jobs

    app = load_app()
    jobs.run_worker(app, burst=burst)


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--https", "https", is_flag=True,
              help="Serve the hub over HTTPS with the demo's own CA (for an LMS that accepts only https issuers).")
@click.option("--no-browser-hint", is_flag=True, hidden=True)
def demo(host: str, port: int, https: bool, no_browser_hint: bool) -> None:
    """Everything at once on embedded defaults: migrations, seed data, a worker, every sandbox."""
    from hub import demo as demo_module

    demo_module.run(host=host, port=port, https=https)


@click.group("db")
def db_group() -> None:
    """Database schema."""


@db_group.command("upgrade")
@click.option("--revision", default="heads", show_default=True)
def db_upgrade(revision: str) -> None:
    """Apply the migrations."""
    from hub import db
    from hub.config import load_settings

    try:
        settings = load_settings()
    except ConfigError as exc:
        raise click.ClickException(f"configuration error: {exc}") from None
    db.upgrade(settings.database_url, revision)
    click.echo(f"database at {revision}")


COMMANDS = (serve, worker, demo, db_group)
