"""Feast for real: the file offline store and the PostgreSQL online store on the embedded server."""

from __future__ import annotations

import pandas as pd
import pytest

from aiprime.errors import InvalidInput
from aiprime.features import store as features
from aiprime.settings import Settings


@pytest.fixture(scope="module")
def feast_store(tmp_path_factory, pg_server_url):
    settings = Settings(home=tmp_path_factory.mktemp("feast-home"), _env_file=None)
    store = features.open_store(settings, pg_server_url)
    features.apply(store, settings.home)
    return settings, store


@pytest.mark.slow
def test_pushed_expert_stats_are_read_back_online(feast_store) -> None:
    _, store = feast_store
    stats = pd.DataFrame(
        {
            "expert": ["actions", "living"],
            "in_flight": [3, 0],
            "p95_latency_ms": [12.5, 4.0],
            "error_rate": [0.0, 0.01],
            "utilisation": [0.9, 0.1],
        }
    )
    features.push_expert_stats(store, stats)
    online = features.online_expert_stats(store, ["living", "actions", "qualities"]).set_index("expert")
    assert online.loc["actions", "in_flight"] == 3 and online.loc["living", "p95_latency_ms"] == 4.0
    assert pd.isna(online.loc["qualities", "utilisation"])  # never pushed: no value, not a zero


@pytest.mark.slow
def test_document_metadata_is_materialised_for_retrieval_filters(feast_store) -> None:
    settings, store = feast_store
    documents = pd.DataFrame(
        {
            "doc_id": ["wn:n1", "foldoc:lisp"],
            "source": ["wordnet", "foldoc"],
            "text": ["a dog", "a language"],
            "synset_id": ["n1", None],
        }
    )
    features.write_document_metadata(documents, pd.Series({"n1": "living"}), "md5-abc", settings.home)
    features.materialize_documents(store)
    online = features.online_document_metadata(store, ["wn:n1", "foldoc:lisp"]).set_index("doc_id")
    assert online.loc["wn:n1", "domain"] == "living" and online.loc["foldoc:lisp", "domain"] == "foldoc"
    assert online.loc["wn:n1", "data_version"] == "md5-abc" and online.loc["foldoc:lisp", "n_chars"] == 10


def test_stats_without_a_column_name_the_missing_one(feast_store) -> None:
    _, store = feast_store
    with pytest.raises(InvalidInput, match="in_flight"):
        features.push_expert_stats(store, pd.DataFrame({"expert": ["x"]}))
