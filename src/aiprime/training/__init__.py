"""Training runs of the mixture: what the Kubeflow pipeline plans, launches and records around `aiprime.moe`.

`aiprime.moe` holds the networks and how one of them is fitted; this package runs the `moe-training`
pipeline around them. Modules: `kubeflow` (load, compile, run with kfp.local or submit the pipelines in
`pipelines/`), `launch` (run or submit `moe-training` with the user's options), `planning` (what a run
trains or reuses from MLflow), `registration` (the MLflow evaluation run and the champion gate).
"""
