"""What every AI Prime process shares to be observed.

- `tracing`: the OpenTelemetry tracer provider of a process (spans batched to a JSON-lines file, flushed at
  exit) and the trace context carried in and out of HTTP headers by `opentelemetry.propagate`.
"""
