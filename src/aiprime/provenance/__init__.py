"""Provenance: where a model version or an answer came from, as W3C PROV, and OpenLineage run events.

`facts` reads what is stored (MLflow version tags and runs, `data/dvc.lock` and DVC's cache, the gateway's
audit log); `document` turns those facts into a PROV document and names every link it could not resolve;
`export` serialises it; `openlineage` emits run events for Dagster materialisations and KFP tasks.
"""
