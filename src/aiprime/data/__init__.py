"""Datasets built from real text that ships in Debian packages.

Sources: WordNet 3.0 (`wordnet.py`), the FOLDOC computing dictionary (`foldoc.py`) and the Python 3.11
documentation sources (`pydocs.py`). `tasks.py` turns them into a lexname/domain classification task and a
query/document retrieval task; `pipeline.py` holds the three DVC stages (raw, processed, splits).
"""
