#!/usr/bin/env bash
# One GPU check, one command, on a fresh GPU machine holding only this repository:
#
#   bash scripts/gpu_check.sh [RESULTS.json]          # default gpu_check.json
#
# Prints one table and writes its rows as JSON: the CUDA-marked tests; then what no CPU run
# shows, on MR (90 % to train, every 10th sentence to test; 3 epochs): the default recipe
# (n-gram scores, minilm vectors) trained, a --sentence-encoder model trained, both served by
# `textcnn serve` with TEXTCNN_DEVICE=cuda, fold-parallel CV with the default recipe (5 folds
# of half of MR) and the default recipe taught by `--teacher minilm --teacher-epochs 4`; then
# MR 10-fold CV with Kim's protocol (non-static, 25 epochs) sequential and fold-parallel;
# CIFAR-10 with the airbench recipe; /classify throughput on the GPU with dynamic batching;
# the GPU name, torch and CUDA versions. Each step has a time limit, cut to what is left of
# an 8-minute budget (GPU_CHECK_BUDGET, 470 s, counted once the environment is set up), so
# the steps that come later may be skipped; a step that fails, times out or is skipped is a
# row that says so, and the others still run.
#
# Environment: a venv (.venv-gpu) that sees the system's packages, so a preinstalled CUDA
# torch is used; torch is installed from PyPI only when none imports. The project is
# installed into it with its dependencies from PyPI, or, on a machine without internet,
# from wheels in GPU_CHECK_WHEELS (a folder: pip --no-index --find-links).
# Data: GPU_CHECK_DATA (default ../shared/datasets, else ./shared/datasets) with
# text/rt-polarity.all and images/cifar10-jpg.tar.gz; a step without its data says so.
# The load generator is wrk: on a machine without it and without internet, GPU_CHECK_DEBS is
# a folder of .deb files (wrk, libluajit-5.1-2) to unpack.
# MR_EMBEDDINGS (default glove-6b-50d, packaged) are the non-static vectors of Kim's protocol:
# Kim's 300-d GoogleNews word2vec is not in the repository; pass its path to use it.
#
# GPU_CHECK_SMOKE=1 shrinks every step (a 25th of MR, 2 folds of 1 epoch, 1 CIFAR epoch on
# 500 images, 2 s of load), lifts the budget, gives each step 10 times its time and lets it
# run on the CPU: it checks this script's logic on a machine without a GPU.
set -uo pipefail
cd "$(dirname "$0")/.."
RESULTS=$(realpath -m "${1:-gpu_check.json}")
SMOKE=${GPU_CHECK_SMOKE:-0}
WORK=${GPU_CHECK_WORK:-/tmp/textcnn-gpu-check}
DATA=${GPU_CHECK_DATA:-../shared/datasets}
[ -d "$DATA" ] || DATA=shared/datasets
MR_EMBEDDINGS=${MR_EMBEDDINGS:-glove-6b-50d}
BUDGET=${GPU_CHECK_BUDGET:-470}
SLOW=1  # the factor on every step's time limit: 10 for the smoke run's CPU
[ "$SMOKE" = 1 ] && BUDGET=100000 SLOW=10
mkdir -p "$WORK"
ROWS="$WORK/rows.jsonl"
: >"$ROWS"

say() { echo "==> $*" >&2; }

# --- environment -------------------------------------------------------------------------
if [ -n "${GPU_CHECK_PYTHON:-}" ]; then
  PY=$GPU_CHECK_PYTHON  # an environment that already has everything
else
  [ -x .venv-gpu/bin/python ] || python3 -m venv --system-site-packages .venv-gpu
  PY=.venv-gpu/bin/python
  PIP=("$PY" -m pip install -q)
  [ -n "${GPU_CHECK_WHEELS:-}" ] && PIP+=(--no-index --find-links "$GPU_CHECK_WHEELS")
  if ! "$PY" -c "import torch" 2>/dev/null; then
    say "installing torch (CUDA) from PyPI"
    "${PIP[@]}" torch
  fi
  say "installing textcnn[dev]"
  "${PIP[@]}" -e '.[dev]' >"$WORK/pip.log" 2>&1 || say "pip failed: see $WORK/pip.log"
fi
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
DEVICE=$("$PY" -c "import torch; print('cuda' if torch.cuda.is_available() else 'cpu')")
if [ "$DEVICE" = cpu ] && [ "$SMOKE" != 1 ]; then
  echo "no CUDA GPU visible to torch; GPU_CHECK_SMOKE=1 runs the shrunk check on the CPU" >&2
  exit 1
fi

# row NAME SECONDS VALUE NOTE: one result line (VALUE and SECONDS may be "n/a")
row() {
  "$PY" -c 'import json, sys; print(json.dumps(dict(zip(("step", "seconds", "value", "note"), sys.argv[1:]))))' \
    "$@" >>"$ROWS"
}

# timed LIMIT LOG CMD...: runs CMD with a time limit, LIMIT cut to what is left of the
# budget; sets $SECONDS_TAKEN and $STATUS ("skipped" when under 10 s are left)
timed() {
  local limit=$(($1 * SLOW)) log=$2
  shift 2
  local left=$((BUDGET - $(date +%s) + STARTED))
  [ "$left" -lt "$limit" ] && limit=$left
  if [ "$limit" -lt 10 ]; then
    STATUS=skipped SECONDS_TAKEN=n/a
    echo "skipped: the ${BUDGET} s budget is spent" >"$log"
    return
  fi
  local start
  start=$(date +%s%N)
  timeout "$limit" "$@" >"$log" 2>&1
  STATUS=$?
  local tenths=$((($(date +%s%N) - start) / 100000000))
  SECONDS_TAKEN="$((tenths / 10)).$((tenths % 10))"
  [ "$STATUS" = 124 ] && say "timed out after ${limit}s: $*"
}

failed() {
  if [ "$STATUS" = skipped ]; then
    echo "skipped: the ${BUDGET} s budget was spent"
  else
    echo "failed (exit $STATUS, $(basename "$1"))"
  fi
}

# json FILE EXPRESSION: EXPRESSION of the JSON in FILE (as `r`), or n/a
json() {
  "$PY" -c 'import json, sys; r = json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' \
    "$1" "$2" 2>/dev/null || echo n/a
}

# --- versions ----------------------------------------------------------------------------
"$PY" - >>"$ROWS" <<'EOF'
import json, torch
gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none (CPU)"
print(json.dumps({"step": "machine", "seconds": "n/a", "value": gpu,
                  "note": f"torch {torch.__version__}, CUDA {torch.version.cuda}"}))
EOF

# --- CUDA-marked tests -------------------------------------------------------------------
STARTED=$(date +%s)
say "CUDA-marked tests"
timed 90 "$WORK/tests.log" "$PY" -m pytest -q -m cuda -p no:cacheprovider tests
summary=$(tail -n 1 "$WORK/tests.log" | sed 's/=//g; s/^ *//; s/ *$//')
row "pytest -m cuda" "$SECONDS_TAKEN" "$summary" "exit $STATUS, log tests.log"

# --- MR: the default recipe, the sentence encoder and the teacher on CUDA, served ---------
MR="$DATA/text/rt-polarity.all"
FOLDS=10 NEW_FOLDS=5 NEW_EPOCHS=3 TEACHER_EPOCHS=4
EXTRA=()
if [ "$SMOKE" = 1 ] && [ -f "$MR" ]; then
  awk 'NR % 25 == 0' "$MR" >"$WORK/mr-small.txt"
  MR="$WORK/mr-small.txt"
  FOLDS=2 NEW_FOLDS=2 NEW_EPOCHS=1 TEACHER_EPOCHS=1
  EXTRA=(--epochs 1)
fi
REG="$WORK/registry"
# new_run NAME LIMIT FLAGS...: trains on MR's 90 % into the registry as NAME, tests on its 10 %
new_run() {
  local name=$1 limit=$2
  shift 2
  timed "$limit" "$WORK/$name.log" "$PY" -m textcnn -q train --data "$WORK/mr-train.txt" \
    --test "$WORK/mr-test.txt" --device "$DEVICE" --no-progress "$@" --registry "$REG" --name "$name"
  local config="$REG/$name/versions/v1/config.json"
  if [ "$STATUS" = 0 ] && [ -f "$config" ]; then
    row "MR $name" "$SECONDS_TAKEN" "$(json "$config" 'round(r["metrics"]["test_accuracy"], 4)')" \
      "test accuracy; the CNN alone: dev $(json "$config" \
      'r["training"]["ngrams"]["dev_by_weight"]["0.0"]'); $*"
  else
    row "MR $name" "$SECONDS_TAKEN" "n/a" "$(failed "$WORK/$name.log")"
  fi
}
if [ ! -f "$MR" ]; then
  row "MR, default recipe" "n/a" "n/a" "no $MR"
else
  awk 'NR % 10 != 0' "$MR" >"$WORK/mr-train.txt"
  awk 'NR % 10 == 0' "$MR" >"$WORK/mr-test.txt"
  awk 'NR % 2 == 0' "$MR" >"$WORK/mr-half.txt"
  rm -rf "$REG"
  say "MR: the default recipe and a --sentence-encoder model, trained and served on $DEVICE"
  new_run default 60 --epochs "$NEW_EPOCHS"
  new_run sentence 60 --epochs "$NEW_EPOCHS" --sentence-encoder minilm
  # both served on the device: every test sentence through /classify, the routed ones by the
  # sentence encoder (a 500 there is the failure this looks for)
  PORT=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  TEXTCNN_DEVICE=$DEVICE timeout $((150 * SLOW)) "$PY" -m textcnn serve --registry "$REG" --port "$PORT" \
    --reload-interval 0 >"$WORK/serve-new.log" 2>&1 &
  SERVER=$!
  timed 60 "$WORK/serve-requests.log" "$PY" - "$PORT" "$WORK/mr-test.txt" "$ROWS" "$DEVICE" <<'EOF'
import json, sys, time, urllib.request

port, data, rows, device = sys.argv[1:5]
url = f"http://127.0.0.1:{port}"
lines = [line.rstrip("\n").split(" ", 1) for line in open(data, encoding="utf-8", errors="replace")]
labels, texts = [y for y, _ in lines], [t.strip() or "." for _, t in lines]
while True:
    try:
        ready = json.load(urllib.request.urlopen(f"{url}/ready", timeout=5))
        break
    except Exception:
        time.sleep(0.5)
for name, version in sorted(ready["models"].items()):
    started, right = time.perf_counter(), 0
    for i in range(0, len(texts), 64):
        body = json.dumps({"texts": texts[i : i + 64], "model": name}).encode()
        request = urllib.request.Request(
            f"{url}/classify", body, {"Content-Type": "application/json"}
        )
        results = json.load(urllib.request.urlopen(request, timeout=60))["results"]
        right += sum(r["label"] == y for r, y in zip(results, labels[i : i + 64]))
    seconds = round(time.perf_counter() - started, 1)
    note = f"test accuracy through /classify, TEXTCNN_DEVICE={device}, batches of 64"
    step = {"step": f"serve MR {name} ({version})", "seconds": seconds,
            "value": round(right / len(texts), 4), "note": note}
    with open(rows, "a") as out:
        out.write(json.dumps(step) + "\n")
EOF
  [ "$STATUS" = 0 ] || row "serve MR default and sentence" "$SECONDS_TAKEN" "n/a" \
    "$(failed "$WORK/serve-requests.log"); server log serve-new.log"
  kill "$SERVER" 2>/dev/null
  wait "$SERVER" 2>/dev/null
  say "MR: fold-parallel CV with the default recipe"
  rm -rf "$WORK/mr-default-cv"
  timed 75 "$WORK/mr-default-cv.log" "$PY" -m textcnn -q train --data "$WORK/mr-half.txt" \
    --cv "$NEW_FOLDS" --cv-parallel --epochs "$NEW_EPOCHS" --device "$DEVICE" --no-progress \
    --out "$WORK/mr-default-cv"
  CV="$WORK/mr-default-cv/cv.json"
  if [ "$STATUS" = 0 ] && [ -f "$CV" ]; then
    row "MR/2 ${NEW_FOLDS}-fold CV, default recipe" "$SECONDS_TAKEN" \
      "$(json "$CV" 'round(r["mean_accuracy"], 4)')" \
      "mean test accuracy; fold_parallel $(json "$CV" 'r["fold_parallel"]'); $NEW_EPOCHS epochs"
  else
    row "MR/2 ${NEW_FOLDS}-fold CV, default recipe" "$SECONDS_TAKEN" "n/a" \
      "$(failed "$WORK/mr-default-cv.log")"
  fi
  say "MR: the default recipe taught by minilm"
  new_run teacher 90 --epochs "$NEW_EPOCHS" --teacher minilm --teacher-epochs "$TEACHER_EPOCHS"
fi

# --- MR 10-fold CV, Kim's protocol, non-static -------------------------------------------
cv_run() {  # cv_run NAME together|apart
  local out="$WORK/mr-$1" parallel=--no-cv-parallel
  [ "$2" = together ] && parallel=--cv-parallel
  rm -rf "$out"
  timed 100 "$WORK/mr-$1.log" "$PY" -m textcnn -q train --data "$MR" --cv "$FOLDS" \
    --recipe kim2014 --mode non-static --embeddings "$MR_EMBEDDINGS" --device "$DEVICE" \
    --no-progress "${EXTRA[@]}" "$parallel" --out "$out"
  if [ "$STATUS" = 0 ]; then
    accuracy=$("$PY" -c 'import json, sys; print(round(json.load(open(sys.argv[1]))["mean_accuracy"], 4))' \
      "$out/cv.json")
    row "MR ${FOLDS}-fold CV, $1" "$SECONDS_TAKEN" "$accuracy" \
      "mean test accuracy; non-static $MR_EMBEDDINGS; seconds include the final model"
  else
    row "MR ${FOLDS}-fold CV, $1" "$SECONDS_TAKEN" "n/a" "$(failed "$WORK/mr-$1.log")"
  fi
}
if [ ! -f "$MR" ]; then
  row "MR CV" "n/a" "n/a" "no $MR"
else
  say "MR CV, sequential then fold-parallel"
  cv_run sequential apart
  cv_run fold-parallel together
fi

# --- CIFAR-10, airbench recipe -----------------------------------------------------------
CIFAR="$DATA/images/cifar10-jpg.tar.gz"
if [ ! -f "$CIFAR" ]; then
  row "CIFAR-10" "n/a" "n/a" "no $CIFAR"
else
  say "CIFAR-10, airbench recipe"
  SMALL=()
  [ "$SMOKE" = 1 ] && SMALL=(--train-limit 500 --test-limit 200 --epochs 1)
  rm -f "$WORK/cifar.json"
  timed 90 "$WORK/cifar.log" "$PY" -m bench.cifar10 --recipe airbench --data "$CIFAR" \
    --device "$DEVICE" --warmup "${SMALL[@]}" --json-out "$WORK/cifar.json"
  if [ "$STATUS" = 0 ] && [ -f "$WORK/cifar.json" ]; then
    "$PY" - "$WORK/cifar.json" >>"$ROWS" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
accuracy = r["accuracy"]
note = f"recipe {r.get('recipe', '?')}, {r.get('epochs', '?')} epochs on {r.get('device', '?')}"
print(json.dumps({"step": "CIFAR-10", "seconds": r.get("seconds"), "value": accuracy,
                  "note": note}))
EOF
  else
    row "CIFAR-10" "$SECONDS_TAKEN" "n/a" "$(failed "$WORK/cifar.log")"
  fi
fi

# --- /classify throughput on the GPU, dynamic batching -----------------------------------
if ! command -v wrk >/dev/null && [ -n "${GPU_CHECK_DEBS:-}" ]; then
  # wrk and libluajit-5.1-2 as .deb files (apt-get download), unpacked beside the work files
  for deb in "$GPU_CHECK_DEBS"/*.deb; do dpkg -x "$deb" "$WORK/root"; done
  export PATH="$WORK/root/usr/bin:$PATH"
  export LD_LIBRARY_PATH="$WORK/root/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi
if ! command -v wrk >/dev/null; then
  row "/classify" "n/a" "n/a" "wrk is not installed (apt-get install -y wrk)"
else
  say "/classify throughput"
  DURATION=5 SERVE_LIMIT=120
  [ "$SMOKE" = 1 ] && DURATION=2  # its models train on the CPU first: SLOW gives the time
  rm -f "$WORK/serve.json"
  timed "$SERVE_LIMIT" "$WORK/serve.log" "$PY" -m bench.serve_benchmark --work "$WORK/serve" \
    --device "$DEVICE" --duration "$DURATION" --workers 1 --concurrency 64 --no-baseline \
    --encoder-dims "" --json-out "$WORK/serve.json"
  if [ "$STATUS" = 0 ] && [ -f "$WORK/serve.json" ]; then
    # one row per /classify cell of the benchmark's raw results: medians over its repeats
    "$PY" - "$WORK/serve.json" "$DEVICE" >>"$ROWS" <<'EOF'
import json, statistics, sys
groups = {}
for c in json.load(open(sys.argv[1]))["cells"]:
    if c["endpoint"] == "/classify":
        groups.setdefault((c["model"], c["concurrency"], c["items_per_request"]), []).append(c)
for (model, conc, n), cells in groups.items():
    rps, p50, p99 = (statistics.median(c[k] for c in cells) for k in ("rps", "p50_ms", "p99_ms"))
    value = f"{rps:.0f} req/s" if n == 1 else f"{rps * n:.0f} texts/s ({n} a request)"
    note = f"p50 {p50:.1f} ms, p99 {p99:.1f} ms, batched, {sys.argv[2]}"
    print(json.dumps({"step": f"/classify {model}, c={conc}", "seconds": "n/a", "value": value,
                      "note": note}))
EOF
  else
    row "/classify" "$SECONDS_TAKEN" "n/a" "$(failed "$WORK/serve.log")"
  fi
fi

# --- the table and the JSON --------------------------------------------------------------
"$PY" - "$ROWS" "$RESULTS" "$SMOKE" <<'EOF'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
table = [("step", "seconds", "value", "note"), *[tuple(str(r[k]) for k in ("step", "seconds", "value", "note")) for r in rows]]
widths = [max(len(r[i]) for r in table) for i in range(4)]
for i, r in enumerate(table):
    print("| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |")
    if i == 0:
        print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
json.dump({"smoke": sys.argv[3] == "1", "rows": rows}, open(sys.argv[2], "w"), indent=2)
print(f"\nwritten to {sys.argv[2]}")
EOF
