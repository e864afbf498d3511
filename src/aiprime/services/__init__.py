"""Local services: the embedded PostgreSQL and the MLflow tracking server, started and stopped as one stack."""
