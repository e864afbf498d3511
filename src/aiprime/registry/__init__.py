"""The MLflow model registry: register candidates as `challenger`, promote to `champion`, load by alias."""
