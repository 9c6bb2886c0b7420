"""Persistence: SQLAlchemy 2 tables, the async database handle, repositories and migrations."""
