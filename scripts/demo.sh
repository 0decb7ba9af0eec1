#!/usr/bin/env bash
# One-command demo: install into ./.venv, train the demo text and image models into a local
# registry (only those missing), then serve them on localhost and print example requests.
#
#   TEXTCNN_REGISTRY  registry directory      (./registry)
#   TEXTCNN_HOST      address to bind         (127.0.0.1)
#   TEXTCNN_PORT      port to bind            (8000)
#   DEMO_DIGITS       exported digit images   (./.cache/demo-digits)
#   TORCH_INDEX_URL   pip index for torch, e.g. https://download.pytorch.org/whl/cpu
#   PYTHON            interpreter for the venv (python3.11, else python3)
set -euo pipefail
cd "$(dirname "$0")/.."
REG=${TEXTCNN_REGISTRY:-registry}
HOST=${TEXTCNN_HOST:-127.0.0.1}
PORT=${TEXTCNN_PORT:-8000}
DIGITS=${DEMO_DIGITS:-.cache/demo-digits}
PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null || PYTHON=python3
PY=.venv/bin/python
TORCH_VERSION=2.13.0

# 0 when textcnn is installed editable from here with every requirement in pyproject.toml met.
installed() {
  "$PY" -I - "$TORCH_VERSION" <<'EOF' 2>/dev/null
import importlib.metadata as md, json, sys, tomllib
from pathlib import Path
from urllib.parse import unquote, urlparse
from packaging.requirements import Requirement

dist = md.distribution("textcnn")
url = urlparse(json.loads(dist.read_text("direct_url.json"))["url"])
assert Path(unquote(url.path)).resolve() == Path.cwd().resolve()
assert md.version("torch").split("+")[0] == sys.argv[1]
project = tomllib.loads(Path("pyproject.toml").read_text())["project"]
assert dist.version == project["version"]
assert all((Path(sys.executable).parent / s).exists() for s in project.get("scripts", {}))
wanted = project["dependencies"] + sum(project["optional-dependencies"].values(), [])
for req in map(Requirement, wanted):
    if req.name != project["name"] and (req.marker is None or req.marker.evaluate()):
        assert req.specifier.contains(md.version(req.name), prereleases=True), req
EOF
}

if [ ! -x "$PY" ]; then
  echo "==> creating .venv with $PYTHON"
  "$PYTHON" -m venv .venv
fi
if installed; then
  echo "==> .venv is up to date"
else
  echo "==> installing torch $TORCH_VERSION and textcnn[dev] into .venv (first run: minutes)"
  "$PY" -m pip install -q --upgrade pip
  "$PY" -m pip install -q "torch==$TORCH_VERSION" ${TORCH_INDEX_URL:+--index-url "$TORCH_INDEX_URL"}
  "$PY" -m pip install -q -e '.[dev]'
fi
TEXTCNN=.venv/bin/textcnn

# A model is present once the registry has a current version of it (see textcnn/store.py).
if [ -f "$REG/text/current.json" ]; then
  echo "==> text model: already in $REG"
else
  echo "==> training the demo text model (6 support intents; ~15 s of CPU) into $REG"
  "$TEXTCNN" train --data data/demo/support_train.jsonl --test data/demo/support_test.jsonl \
    --mode non-static --embeddings glove-6b-50d --epochs 15 --threads 1 --no-progress \
    --registry "$REG" --name text
fi
if [ -f "$REG/image/current.json" ]; then
  echo "==> image model: already in $REG"
else
  echo "==> exporting scikit-learn's handwritten digits to $DIGITS"
  "$PY" -m textcnn.demo_data --out "$DIGITS"
  echo "==> training the demo image model (digits, ResNet; ~10 s of CPU) into $REG"
  "$TEXTCNN" train-image --data "$DIGITS" --arch resnet --width 8 --size 16 --epochs 8 \
    --batch-size 128 --lr 0.1 --no-flip --no-tta --crop-padding 2 --threads 1 --no-progress \
    --registry "$REG" --name image
fi

URL="http://$HOST:$PORT"
DIGIT=$(find "$DIGITS/test/7" -name '*.png' 2>/dev/null | sort | head -n 1 || true)
cat <<EOF
==> serving $REG on $URL (Ctrl-C stops it). Try, from another terminal:

  curl $URL/ready
  curl -X POST $URL/classify -H 'Content-Type: application/json' \\
       -d '{"text": "I was charged twice for my subscription this month"}'
  curl -X POST $URL/classify -H 'Content-Type: application/json' \\
       -d '{"texts": ["Where is my parcel?", "The app crashes on start"], "top_k": 2}'
  curl -X POST $URL/classify -H 'Content-Type: application/json' \\
       -d '{"text": "Please cancel my order", "explain": true}'
  curl -X POST $URL/classify-image -F file=@${DIGIT:-path/to/digit.png}
  curl $URL/models

  Interactive API docs: $URL/docs

EOF
exec "$TEXTCNN" serve --registry "$REG" --host "$HOST" --port "$PORT"
