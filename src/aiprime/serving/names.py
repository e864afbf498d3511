"""The names the models are served and registered under; importable without torch (the CLI uses them).

A domain `people_society` is served as `expert-people-society`, since Kubernetes names (and the
InferenceServices and graphs in `kserve/`) allow no underscore; the gate's `expert` field uses the same
route name (`people-society`). The registry keeps the domain: `aiprime-expert-people_society`.
"""

from __future__ import annotations

from aiprime.errors import NotFound


def route_name(domain: str) -> str:
    """The name a domain is routed and served under: `people_society` -> `people-society`."""
    return domain.replace("_", "-")


def service_name(role: str, domain: str | None = None) -> str:
    """The InferenceService (and KServe model) name: `gate`, `expert-<route name>`, `combiner`."""
    return f"expert-{route_name(domain)}" if role == "expert" and domain else role


def domain_of(service: str) -> str:
    """The domain an expert service serves: `expert-people-society` -> `people_society`.

    Raises:
        NotFound: no registered expert is served under that name.
    """
    from aiprime.moe.experts import domains  # the expert registry (imports torch)

    for domain in domains():
        if service_name("expert", domain) == service:
            return domain
    served = [service_name("expert", d) for d in domains()]
    raise NotFound(f"No expert serves as {service!r}; the experts are {served}.")


def registered_model_name(role: str, domain: str | None = None) -> str:
    """The MLflow registered model of a role: `aiprime-gate`, `aiprime-expert-<domain>`."""
    from aiprime.registry.mlflow_registry import registered_name  # mlflow: imported only when used

    return registered_name(f"expert-{domain}" if role == "expert" else role)


def domain_name(route: str) -> str:
    """The domain a route name stands for, as the store spells it: `people-society` -> `people_society`."""
    return route.replace("-", "_")
