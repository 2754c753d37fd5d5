"""Alembic environment: uses the connection `pipeline.db.migrate` hands over."""

from alembic import context

from pipeline.schema import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata,
                  render_as_batch=connection.dialect.name == "sqlite")
with context.begin_transaction():
    context.run_migrations()
