"""Model serving: KServe model servers, the local InferenceGraph router and their clients.

- `base_server`: what every model server shares (`ServingModel`, `serve`, the common arguments).
- `served_models`: the champions the servers load and where they come from; `names`: what they serve as.
- `protocol`, `retriever`, `generator`: what the gate and experts, the retriever and the generator accept
  and answer.
- `text`: the sentence encoder and a served head as one function; `load`: load-aware routing of the gate.
- `metrics`, `tracing`, `request_log`: Prometheus metrics, the servers' tracer (context and export:
  `aiprime.observability.tracing`), requests logged for drift detection.
- `launcher`, `client`, `samples`, `smoke`: start the local stack, query it, answer sample queries.
- `graph/`: the InferenceGraph router.
"""
