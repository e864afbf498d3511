"""Deployment files generated from the expert registry (`aiprime.moe.experts.EXPERTS`).

`graphs` builds the InferenceGraphs (`kserve/graphs/*.yaml`), `manifests` the experts' InferenceServices
(`kustomize/base/inference/experts.yaml`) and the local services mapping, `policies` the NetworkPolicies that
admit exactly the served graphs' hops, and `generate` writes them all (`make generate`, i.e.
`python -m aiprime.deploy.generate`) or, with `--check`, names the stale ones.
"""
