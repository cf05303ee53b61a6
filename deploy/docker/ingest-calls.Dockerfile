# syntax=docker/dockerfile:1
# ingest-calls: Call records from PBX and telephony providers (POST /webhooks/{provider}).
# Build from the repository root (the image needs shared/ too):
#   docker build -f deploy/docker/ingest-calls.Dockerfile -t switchboard/ingest-calls .
# The four service Dockerfiles differ only in the package, ports and health check
# (tests/unit/test_deploy.py keeps them in step).

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# --- build: shared/ and this one service into a venv, versions pinned by constraints.txt
FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_ROOT_USER_ACTION=ignore
WORKDIR /src
COPY constraints.txt ./
RUN python -m venv /opt/switchboard \
 && /opt/switchboard/bin/pip install -c constraints.txt setuptools wheel
COPY shared/ shared/
COPY services/ingest-calls/ services/ingest-calls/
RUN /opt/switchboard/bin/pip install -c constraints.txt --no-build-isolation \
        ./shared ./services/ingest-calls

# --- runtime: the venv only, as an unprivileged user (uid 10001, as in deploy/k8s)
FROM ${PYTHON_IMAGE}
RUN groupadd --system --gid 10001 switchboard \
 && useradd --system --uid 10001 --gid switchboard --home-dir /app --create-home \
        --shell /usr/sbin/nologin switchboard \
 && install -d -o switchboard -g switchboard /app/var
COPY --from=build /opt/switchboard /opt/switchboard
ENV PATH=/opt/switchboard/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    SWITCHBOARD_LOG_FORMAT=json \
    INGEST_CALLS_HOST=0.0.0.0 \
    INGEST_CALLS_PORT=8001
WORKDIR /app
USER 10001:10001
EXPOSE 8001
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=5 \
    CMD ["python", "-c", "import os, urllib.request as u; u.urlopen('http://127.0.0.1:%s/healthz' % os.environ['INGEST_CALLS_PORT'], timeout=3)"]
CMD ["python", "-m", "ingest_calls"]
