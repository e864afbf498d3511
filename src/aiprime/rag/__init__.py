"""Retrieval for grounded answers: chunk the corpus, embed it into pgvector, search it densely and lexically.

- `chunking`: structure-aware chunks (Python docs sections packed by paragraph under a token budget; WordNet and
  FOLDOC entries whole).
- `store`: the tables of migration 0002, the HNSW index and the per-transaction search settings.
- `embed`, `onnx_embed`: the embedder `AIPRIME_RAG_EMBEDDER` picks: all-MiniLM-L6-v2 in fp32, or its int8 ONNX
  export (2.4x faster per question on CPU).
- `ingest`: idempotent, batched, transactional loading keyed by content hash.
- `search`: dense (`<=>`), lexical (`websearch_to_tsquery` + `ts_rank_cd`) and their reciprocal rank fusion,
  with metadata filters and a preferred domain.
- `questions`: the task's questions, what a word means in its example sentence.
- `rerank`, `rerank_train`: a cross-encoder fine-tuned from MiniLM that re-orders hybrid's candidates.
- `generators`, `generate`, `grounding`: SmolLM2 (llama.cpp), a base GGUF model or an OpenAI-compatible
  endpoint phrasing the chosen passage with its citation, checked before it is shown (else the passage is
  quoted), abstaining below a calibrated score.
- `evaluate`: recall@k, MRR and nDCG@10 on the held-out queries, and HNSW recall against exact search;
  `answer_eval`: grounded answers end to end.

What the retriever and generator KServe servers accept and answer is `aiprime.serving.retriever` and
`aiprime.serving.generator`.
"""
