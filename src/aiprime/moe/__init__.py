"""Mixture of experts: a domain gate routes each request to one per-domain expert built from SwitchMoE layers.

Modules: `layers` (SwitchMoE), `reference` (its per-token twin), `networks` (GateNet, ExpertNet,
DenseBaseline, save/load without Lightning), `lightning` (training loop), `config` (training settings),
`embeddings` (cached sentence embeddings), `experts` (the registry of experts), `dataset` (the DVC-versioned
splits, embedded), `fitting` (fit each model to a model folder), `system` (MoESystem: gate -> expert(s) ->
class, for evaluation and serving), `evaluation`, `plots` and `report` (scores, routing, PNGs,
Markdown/HTML). The training runs around them (Kubeflow, MLflow) are `aiprime.training`.
"""
