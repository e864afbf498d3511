"""What every AI Prime process shares to be observed.

- `tracing`: the OpenTelemetry tracer provider of a process (spans batched to a JSON-lines file, flushed at
  exit) and the trace context carried in and out of HTTP headers by `opentelemetry.propagate`.
- `logs`: JSON log lines with the request and trace ids, one file per service under `<AIPRIME_HOME>/logs`, read
  back across services, merged by time (`aiprime logs`).
- `jobmetrics`: the Prometheus metrics of batch jobs (drift checks, training runs), written for the textfile
  collector and pushed to a Pushgateway.
- `dashboards`: the per-service Grafana dashboards, declared once and written to `kustomize/observability/`.
"""
