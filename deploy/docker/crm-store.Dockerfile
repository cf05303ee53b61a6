# syntax=docker/dockerfile:1
# crm-store: interactions, activities and the /api/v1 CRM API. The same image runs the
# one-shot steps: `python -m crm_store.migrate` and `python -m switchboard_shared.admin create-topics`.
# Build from the repository root (the image needs shared/ too):
#   docker build -f deploy/docker/crm-store.Dockerfile -t switchboard/crm-store .
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
COPY services/crm-store/ services/crm-store/
RUN /opt/switchboard/bin/pip install -c constraints.txt --no-build-isolation \
        ./shared ./services/crm-store

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
    CRM_STORE_HOST=0.0.0.0 \
    CRM_STORE_PORT=8004
WORKDIR /app
USER 10001:10001
EXPOSE 8004
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=5 \
    CMD ["python", "-c", "import os, urllib.request as u; u.urlopen('http://127.0.0.1:%s/healthz' % os.environ['CRM_STORE_PORT'], timeout=3)"]
CMD ["python", "-m", "crm_store"]
