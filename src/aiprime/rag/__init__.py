"""Retrieval for grounded answers: chunk the corpus, embed it into pgvector, search it densely and lexically.

- `chunking`: structure-aware chunks (Python docs sections packed by paragraph under a token budget; WordNet and
  FOLDOC entries whole).
- `store`: the tables of migration 0002, the HNSW index and the per-transaction search settings.
- `ingest`: idempotent, batched, transactional loading keyed by content hash.
- `search`: dense (`<=>`), lexical (`websearch_to_tsquery` + `ts_rank_cd`) and their reciprocal rank fusion,
  with metadata filters and a preferred domain.
- `evaluate`: recall@k, MRR and nDCG@10 on the held-out queries, and HNSW recall against exact search.
"""
