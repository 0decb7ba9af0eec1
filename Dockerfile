# syntax=docker/dockerfile:1
# textcnn: the REST service and the CLI in one image, built in two stages.
#   CPU (default):  docker build -t textcnn .
#   CUDA:           docker build -t textcnn:cuda \
#                     --build-arg TORCH_INDEX_URL=https://download.pytorch.org/whl/cu128 .
ARG PYTHON_VERSION=3.11

# -- builder: a virtual environment with torch and textcnn -------------------------------
FROM python:${PYTHON_VERSION}-slim AS builder
ARG TORCH_VERSION=2.13.0
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
# Optional dependency groups of pyproject.toml ("serve": the REST service this image runs;
# "s3": registries at s3://bucket/prefix, as the Compose `scale` profile and KServe use).
# The vectors of the default recipe (GloVe 6B 50-d, all-MiniLM-L6-v2) are core dependencies,
# so a served model can be retrained in the image.
ARG EXTRAS=serve,s3
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
RUN pip install --upgrade pip \
 && pip install "torch==${TORCH_VERSION}" --index-url "${TORCH_INDEX_URL}"
WORKDIR /src
COPY pyproject.toml README.md ./
COPY textcnn textcnn
COPY service service
RUN pip install ".${EXTRAS:+[$EXTRAS]}" && textcnn --help > /dev/null

# -- runtime: the environment only, run by an unprivileged user --------------------------
FROM python:${PYTHON_VERSION}-slim AS runtime
RUN groupadd --gid 10001 textcnn \
 && useradd --create-home --uid 10001 --gid 10001 textcnn \
 && mkdir /registry && chown textcnn:textcnn /registry
COPY --from=builder /opt/venv /opt/venv
# Service settings (service/settings.py) are TEXTCNN_* variables: `docker run -e` changes them.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    TEXTCNN_REGISTRY=/registry \
    TEXTCNN_HOST=0.0.0.0 \
    TEXTCNN_PORT=8000
USER textcnn
WORKDIR /home/textcnn
EXPOSE 8000
# Healthy once every model is loaded (GET /ready answers 200; 503 until then).
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('TEXTCNN_PORT', '8000') + '/ready', timeout=4)"]
# Registry, host and port come from the TEXTCNN_* variables above, so -e can change them.
CMD ["textcnn", "serve"]
