"""Alembic environment: the URL comes from the hub's settings, never from alembic.ini."""
from __future__ import annotations

from alembic import context

from hub.db import make_engine
from hub.models import Base

url = context.config.attributes["url"]
engine = make_engine(url)
with engine.connect() as connection:
    context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
engine.dispose()
