# syntax=docker/dockerfile:1
#checkov:skip=CKV_DOCKER_2:Each role has its own health endpoint (KServe /v2/health, /healthz, /health, liveness-check); Kubernetes probes them, and a single image-wide HEALTHCHECK cannot.
# The one AI Prime image. Every role (gateway, model servers, MLflow, Dagster, Feast) runs it with its own
# command; docker/README.md lists them. Build from the repository root:
#   docker build -f docker/aiprime.Dockerfile -t aiprime:dev .
FROM python:3.11-slim

# CPU wheels by default. The aiprime-cuda variant (kustomize/components/gpu) passes the CUDA index of the same
# torch release, e.g. --build-arg TORCH_INDEX_URL=https://download.pytorch.org/whl/cu128.
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu

# PYTHONPATH: model servers packaged as kserve/kserve_<name> run as `python -m kserve_<name>`; the gate, the
# experts and the combiner run as folders instead (`python /app/kserve/gate`, see docker/README.md).
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONPATH=/app/kserve

# A fixed non-root UID: the Kubernetes manifests run as 10001 with a read-only root filesystem.
RUN groupadd --gid 10001 aiprime \
    && useradd --uid 10001 --gid 10001 --no-log-init --create-home --home-dir /home/aiprime aiprime

# WordNet 3.0 (Debian wordnet-base; /usr/share/wordnet is AIPRIME_WORDNET_DIR's default): the image expert
# maps ImageNet's synsets to lexicographer classes with it as it loads (kustomize/base/inference/media.yaml).
RUN apt-get update \
    && apt-get install --yes --no-install-recommends wordnet-base \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app

# torch first and pinned: a looser spec, or torch pulled in as a dependency, would fetch the multi-GB
# CUDA build from PyPI.
RUN pip install --index-url "${TORCH_INDEX_URL}" torch==2.13.0

# Dependencies in their own layer, keyed on pyproject.toml only: a stub package lets pip resolve and
# install them, so editing the source does not reinstall the world. The extras are for roles that need
# more than the library: Dagster's Kubernetes run launcher, Feast's Redis online store, MLflow's S3 store.
COPY pyproject.toml README.md ./
RUN mkdir -p src/aiprime && touch src/aiprime/__init__.py \
    && pip install ".[platform]" \
        "dagster-k8s==0.29.27" \
        "feast[redis]==0.67.0" \
        "boto3>=1.35,<2" \
    && pip uninstall --yes aiprime \
    && rm -rf src

# The project itself (.dockerignore keeps the build context to the folders the roles need).
COPY . .
RUN pip install --no-deps . \
    && python -c "import aiprime, dagster_k8s, kserve, mlflow, feast"

USER 10001:10001
EXPOSE 8080

# Kubernetes gives each role its command as `args`; the default only shows the CLI.
CMD ["aiprime", "--help"]
