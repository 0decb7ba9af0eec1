#!/usr/bin/env bash
# Install into ./.venv (idempotent) and run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null || PYTHON=python3
if [ ! -x .venv/bin/python ]; then
  echo "==> creating .venv"
  "$PYTHON" -m venv .venv
fi
if ! command -v g++ >/dev/null && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "==> installing g++ (torch.compile on the CPU builds C++ kernels: tests/engine/test_gpu_path.py)"
  apt-get update -qq && apt-get install -y -qq g++ >/dev/null
fi
# tests/browser drive Debian's chromium: installed (and then required) where we can, as in CI
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  if ! command -v chromium >/dev/null; then
    echo "==> installing chromium (tests/browser)"
    apt-get update -qq && apt-get install -y -qq chromium >/dev/null
  fi
  export TEXTCNN_REQUIRE_BROWSER=1  # a missing browser fails tests/browser instead of skipping
elif ! command -v chromium >/dev/null; then
  echo "==> no chromium: tests/browser will skip; install it with: sudo apt-get install chromium"
fi
echo "==> installing torch (CPU) and textcnn[dev]"
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q torch==2.13.0
.venv/bin/python -m pip install -q -e '.[dev]'
echo "==> ruff"
.venv/bin/ruff check .
echo "==> pytest"
exec .venv/bin/python -m pytest -q --durations=30 "$@"  # the 30 slowest: the suite stays well under 20 min
