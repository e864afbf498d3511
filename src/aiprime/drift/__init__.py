"""Traffic drift: the request log, two-sample tests against the training reference, and the report."""
