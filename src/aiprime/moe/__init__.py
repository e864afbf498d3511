"""Mixture of experts: a domain gate routes each request to one per-domain expert built from SwitchMoE layers.

Modules: `layers` (SwitchMoE), `reference` (its per-token twin), `models` (GateNet, ExpertNet, DenseBaseline,
save/load without Lightning), `lightning` (training loop), `config` (training settings), `embeddings` (cached
sentence embeddings), `experts` (the registry of experts), `dataset` (the DVC-versioned splits, embedded),
`training` (fit each model to a model folder), `planning` (what a run trains or reuses from MLflow),
`system` (MoESystem: gate -> expert(s) -> class, for evaluation and serving), `evaluation`, `plots` and
`report` (scores, routing, PNGs, Markdown/HTML), `registration` (MLflow runs and the champion gate),
`pipeline` (compile, run or submit the Kubeflow pipelines in `pipelines/`).
"""
