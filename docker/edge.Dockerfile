# syntax=docker/dockerfile:1
# The edge server: one bundle of `aiprime edge build` on onnxruntime, without torch (README "Edge").
# Build from the repository root, with the published bundle in ./edge-bundle (or --build-arg BUNDLE=DIR):
#   aiprime edge build --out edge-bundle
#   docker build -f docker/edge.Dockerfile -t aiprime-edge:dev .
#   docker run --rm -p 8080:8080 aiprime-edge:dev
# Its build context is docker/edge.Dockerfile.dockerignore's allow-list (BuildKit reads it for this file).
FROM python:3.11-slim

ARG BUNDLE=edge-bundle

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN groupadd --gid 10001 aiprime \
    && useradd --uid 10001 --gid 10001 --no-log-init --no-create-home aiprime

WORKDIR /app

# The library with its base dependencies, which are the runtime's (pyproject's `edge` extra adds nothing):
# resolved against the lock, torch not among them. The check fails the build if torch got in, or if the
# server's imports reach for it (aiprime.edge.notorch refuses it).
COPY requirements.lock pyproject.toml README.md ./
COPY src ./src
RUN pip install -c requirements.lock ".[edge]" \
    && rm -rf src \
    && python -c "import importlib.util as u; assert u.find_spec('torch') is None, 'torch is installed'" \
    && python -m aiprime.edge.notorch aiprime.edge.server --help > /dev/null

COPY ${BUNDLE} /bundle

USER 10001:10001
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s \
    CMD ["python", "-c", "import urllib.request as r; r.urlopen('http://127.0.0.1:8080/v2/health/ready', timeout=2)"]
ENTRYPOINT ["python", "-m", "aiprime.edge.server", "--bundle", "/bundle", "--host", "0.0.0.0", "--port", "8080"]
