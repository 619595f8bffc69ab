"""Alembic's entry point: migrate over the connection ``app.migrations.upgrade`` hands in."""

from alembic import context

from app.tables import metadata

context.configure(connection=context.config.attributes["connection"], target_metadata=metadata)
with context.begin_transaction():
    context.run_migrations()
