"""What every AI Prime process shares to be observed.

- `tracing`: the OpenTelemetry tracer provider of a process (spans batched off the request path, flushed at
  exit) and the trace context carried in and out of HTTP headers by `opentelemetry.propagate`.
- `export`: where the spans go, from the settings: over OTLP/HTTP (MLflow's `/v1/traces`, a Collector) and/or
  to a JSON-lines file.
- `traces`: a request's trace read back from MLflow or the spans files (`aiprime trace`).
- `logs`: JSON log lines with the request and trace ids, one file per service under `<AIPRIME_HOME>/logs`, read
  back across services, merged by time (`aiprime logs`).
- `jobmetrics`: the Prometheus metrics of batch jobs (drift checks, training runs), written for the textfile
  collector and pushed to a Pushgateway.
- `dashboards`: the per-service Grafana dashboards, declared once and written to `kustomize/observability/`.
"""
