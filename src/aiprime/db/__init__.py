"""PostgreSQL for AI Prime: the embedded server, connection URLs, and the Alembic-managed schema."""
