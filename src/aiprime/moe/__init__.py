"""Mixture of experts: a domain gate routes each request to one per-domain expert built from SwitchMoE layers.

Modules: `layers` (SwitchMoE), `reference` (its per-token twin), `models` (GateNet, ExpertNet, DenseBaseline,
save/load without Lightning), `lightning` (training), `embeddings` (cached sentence embeddings), `experts`
(the registry of experts).
"""
