# syntax=docker/dockerfile:1
# The spikenas image. The API, the job drivers and every Ray node (head and workers) run from it,
# so that all nodes of a cluster have the same Python, Ray, torch and product code, as Ray needs.
#
#   docker build -t spikenas:cpu .                               # torch's CPU build
#   docker build -t spikenas:cuda --build-arg VARIANT=cuda .     # torch's CUDA build
#
# VARIANT=cpu installs torch from PyTorch's CPU index (no CUDA libraries, a much smaller image);
# VARIANT=cuda installs it from TORCH_CUDA_INDEX, by default PyPI, whose Linux torch wheels are
# CUDA builds that bring the CUDA runtime as pip packages: the host needs only the NVIDIA driver
# and the NVIDIA container toolkit. For another CUDA version, point TORCH_CUDA_INDEX at one of
# PyTorch's indexes, e.g. https://download.pytorch.org/whl/cu126.
# tests/deploy/test_compose.py checks this file against the Makefile and docker-compose.yml.
ARG PYTHON_VERSION=3.11
FROM python:${PYTHON_VERSION}-slim-bookworm

ARG VARIANT=cpu
ARG TORCH_VERSION=2.13.0
ARG TORCH_CPU_INDEX=https://download.pytorch.org/whl/cpu
ARG TORCH_CUDA_INDEX=https://pypi.org/simple

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    RAY_USAGE_STATS_ENABLED=0

# torch first and on its own: the project's bare `torch>=2.4` must find it already installed
# rather than pull the default build.
RUN set -eux; \
    case "$VARIANT" in \
        cpu) index="$TORCH_CPU_INDEX" ;; \
        cuda) index="$TORCH_CUDA_INDEX" ;; \
        *) echo "VARIANT must be cpu or cuda, not '$VARIANT'" >&2; exit 1 ;; \
    esac; \
    pip install "torch==${TORCH_VERSION}" --index-url "$index"

WORKDIR /opt/spikenas
COPY pyproject.toml README.md ./
COPY spaces ./spaces
COPY workers ./workers
COPY search ./search
COPY service ./service
# ray[default] adds the dashboard and the state API (`ray list actors`) to the head. The check
# fails the build if anything replaced the torch build installed above.
RUN set -eux; \
    pip install ".[postgres]" "ray[default]"; \
    installed=$(python -c 'import torch; print(torch.__version__)'); \
    case "$VARIANT:$installed" in \
        "cpu:${TORCH_VERSION}+cpu" | "cuda:${TORCH_VERSION}" | "cuda:${TORCH_VERSION}+cu"*) ;; \
        *) echo "torch $installed is not the $VARIANT build of $TORCH_VERSION" >&2; exit 1 ;; \
    esac
COPY --chmod=0755 deploy/docker-entrypoint.sh /usr/local/bin/spikenas-entrypoint

# Not root. The state lives under /var/lib/spikenas: data and artifacts are volumes there (the
# same paths on every node), and SQLite's file is there when no database URL is given.
RUN useradd --create-home --uid 1000 spikenas \
    && mkdir -p /var/lib/spikenas/data /var/lib/spikenas/artifacts \
    && chown -R spikenas:spikenas /var/lib/spikenas
USER spikenas
WORKDIR /var/lib/spikenas
ENV SPIKENAS_DATA_DIR=/var/lib/spikenas/data \
    SPIKENAS_ARTIFACTS_DIR=/var/lib/spikenas/artifacts

# 8000 the API and dashboard; 6379 Ray's GCS (head); 8265 Ray's dashboard (head).
EXPOSE 8000 6379 8265
ENTRYPOINT ["spikenas-entrypoint"]
# A public bind needs SPIKENAS_API_TOKEN: `spikenas serve` refuses to start without one.
CMD ["spikenas", "serve", "--host", "0.0.0.0", "--port", "8000"]
