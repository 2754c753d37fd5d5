"""Alembic migrations; `pipeline.db.migrate` runs them to head at start-up."""
