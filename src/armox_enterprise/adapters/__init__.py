"""Storage adapters: the in-memory store, and the SQLAlchemy store behind its extra."""
