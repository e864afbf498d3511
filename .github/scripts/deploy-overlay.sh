#!/usr/bin/env bash
# Applies a kustomize overlay (model servers, the InferenceGraphs that chain them, the gateway) with the
# project images pinned to the digests CI just pushed, then waits for the rollouts. Rolling back is
# re-running this with an older digest (docs/runbook.md, "Rollback").
# Usage: deploy-overlay.sh OVERLAY_DIR IMAGE_DIGEST CUDA_IMAGE_DIGEST
set -euo pipefail
overlay="${1:?usage: deploy-overlay.sh OVERLAY_DIR IMAGE_DIGEST CUDA_IMAGE_DIGEST}"
digest="${2:?image digest (sha256:...) required}"
cuda_digest="${3:?CUDA image digest (sha256:...) required}"

# A throwaway kustomization on top of the overlay: kubectl's built-in kustomize applies the digests, so the
# repository's overlays keep readable tags and no kustomize binary is needed.
release="$(mktemp -d "${PWD}/.release-XXXX")"
trap 'rm -rf "$release"' EXIT
cat > "$release/kustomization.yaml" <<YAML
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - ../${overlay}
images:
  - {name: ghcr.io/aiprime/aiprime, digest: "${digest}"}
  - {name: ghcr.io/aiprime/aiprime-cuda, digest: "${cuda_digest}"}
# Dagster launches run pods from DAGSTER_CURRENT_IMAGE: the pinned digest too, not the overlay's tag.
replacements:
  - source: {kind: Deployment, name: dagster-daemon, fieldPath: "spec.template.spec.containers.[name=daemon].image"}
    targets:
      - select: {kind: Deployment, name: dagster-daemon}
        fieldPaths: ["spec.template.spec.containers.[name=daemon].env.[name=DAGSTER_CURRENT_IMAGE].value"]
      - select: {kind: Deployment, name: dagster-webserver}
        fieldPaths: ["spec.template.spec.containers.[name=webserver].env.[name=DAGSTER_CURRENT_IMAGE].value"]
YAML

kubectl apply --server-side --kustomize "$release"
namespace="$(kubectl kustomize "$release" | awk '/^kind: Namespace$/{ns=1} ns && /^  name:/{print $2; exit}')"
for deployment in gateway mlflow feast; do
  kubectl --namespace "$namespace" rollout status "deployment/$deployment" --timeout=10m
done
kubectl --namespace "$namespace" wait inferenceservice --all --for=condition=Ready --timeout=15m
# The overlay carries the InferenceGraphs (kserve/graphs/, through base): the gateway's upstreams.
kubectl --namespace "$namespace" wait inferencegraph --all --for=condition=Ready --timeout=5m
