"""Load-test the REST service on loopback with wrk and print a markdown table.

In one run, against real ``textcnn serve`` processes (uvloop + httptools, 1 and 2 workers):

- the ceiling: ``POST /bench/noop``, which validates a /classify body and returns a constant;
- ``/classify`` with the demo model (support intents, GloVe-50d non-static, as
  ``scripts/demo.sh`` trains it), Kim's 300-d CNN-rand on the same data, and an MR-trained
  GloVe-50d non-static TextCNN, with dynamic batching and with one forward per request
  (``max_batch_size=1``, the baseline);
- ``/classify`` with 256 texts per request (texts/s);
- ``/classify-image`` with 32x32 PNGs (a LeNet-5 trained for seconds on generated images,
  unless ``--image-bundle`` names a real one);
- with ``--ray 1,2``, the ceiling and the demo model's ``/classify`` through Ray Serve
  (``textcnn serve --ray --replicas N``, each on its own local Ray instance) beside uvicorn
  with as many workers (``--workers ''`` measures only these).

Models missing from ``--work`` are trained first (the MR models only where
../shared/datasets, or ``$TEXTCNN_DATASETS``, holds MR).
Every cell runs ``--repeats`` times (3), interleaved, and the table shows medians; with
``--before DIR`` the code of another checkout (e.g. the main branch's) is served and measured
beside this one, each against its own ceiling, and with ``--also SETTING=VALUE`` so is a
server of this code with that setting (e.g. ``TEXTCNN_PRECISION=int8`` beside the default fp32).
Usage: ``python -m bench.serve_benchmark [--duration 5] [--workers 1,2] [--concurrency 1,16,64]
[--precision bf16] [--also TEXTCNN_PRECISION=int8] [--repeats 3] [--before ../main]
[--ray 1,2] [--json-out bench/results/serve_ray.json]`` (default
``bench/results/serve_benchmark.json``) (needs ``wrk``: ``apt-get install -y
wrk``). It keeps the machine's cores busy for minutes.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import re
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from statistics import median
from typing import Any

from PIL import Image

from bench import DATA_ROOT, REPO
from bench.jsonout import command, json_out, write_json
from bench.ports import free_port

SHARED = Path(os.environ.get("TEXTCNN_DATASETS", DATA_ROOT))
DEMO_TRAIN = REPO / "data" / "demo" / "support_train.jsonl"
DEMO_TEST = REPO / "data" / "demo" / "support_test.jsonl"
MR = SHARED / "text" / "rt-polarity.all"


@dataclass
class Cell:
    endpoint: str
    model: str
    mode: str
    workers: int
    concurrency: int
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    cpu_ms: float  # server CPU (all its processes) per request
    mean_batch: float | None = None  # inputs per forward pass (1 worker only)
    items_per_request: int = 1
    code: str = "this"  # which source tree served it (--before: "before")
    repeat: int = 0


def run(command: list[str], **kw: object) -> None:
    print("$", " ".join(command), file=sys.stderr)
    subprocess.run(command, check=True, cwd=REPO, **kw)


def textcnn(*args: str) -> None:
    run([sys.executable, "-m", "textcnn", "-q", *args, "--no-progress"])


def ensure_models(
    work: Path, image_bundle: Path | None, encoder_dims: list[int], sentence_encoder: bool = False
) -> dict[str, Path]:
    """Bundle directory per served model name, trained when missing.

    ``encoder_dims``: also the default recipe on MR with minilm vectors of each size
    (``mr-e<dim>``; one epoch, since only the cost of a forward pass matters here).
    ``sentence_encoder``: also the default recipe on MR with ``--sentence-encoder minilm``
    (``mr-sentence``), fully trained on MR without the texts the benchmark sends: the encoder
    runs only on texts the network is unsure of, so its cost depends on how well it learnt
    and on the texts being new to it.
    """
    models = {"text": demo_model(work), "rand300": work / "demo-rand300"}
    if not (models["rand300"] / "config.json").is_file():  # Kim's defaults: 300-d CNN-rand
        textcnn(*DEMO_ARGS, "--recipe", "kim2014", "--out", str(models["rand300"]))
    if MR.is_file():
        models["mr"] = work / "mr-glove50"
        if not (models["mr"] / "config.json").is_file():
            textcnn(
                *("train", "--data", str(MR), "--mode", "non-static"),
                *("--embeddings", "glove-6b-50d", "--epochs", "3", "--out", str(models["mr"])),
            )
        for dim in encoder_dims:
            models[f"mr-e{dim}"] = work / f"mr-default-e{dim}"
            if not (models[f"mr-e{dim}"] / "config.json").is_file():
                textcnn(
                    *("train", "--data", str(MR), "--encoder-dim", str(dim), "--epochs", "1"),
                    *("--out", str(models[f"mr-e{dim}"])),
                )
        if sentence_encoder:
            models["mr-sentence"] = work / "mr-default-sentence"
            if not (models["mr-sentence"] / "config.json").is_file():
                sent = set(sentences(MR, "label-text"))
                lines = MR.read_bytes().decode("utf-8", errors="replace").splitlines()
                train = work / "mr-without-requests.txt"
                train.write_text(
                    "".join(f"{x}\n" for x in lines if x.split(" ", 1)[-1] not in sent)
                )
                textcnn(
                    *("train", "--data", str(train), "--sentence-encoder", "minilm"),
                    *("--out", str(models["mr-sentence"])),
                )
    else:
        print(f"skipping the MR models: {MR} is absent", file=sys.stderr)
    models["image"] = image_bundle or work / "lenet5"
    if not (models["image"] / "config.json").is_file():
        train_image_model(models["image"])
    return models


DEMO_ARGS = ("train", "--data", str(DEMO_TRAIN), "--test", str(DEMO_TEST), "--threads", "1")


def demo_model(work: Path) -> Path:
    """The demo model (``scripts/demo.sh``'s recipe: GloVe-50d non-static), trained if missing."""
    path = work / "demo-glove50"
    if not (path / "config.json").is_file():
        textcnn(*DEMO_ARGS, "--mode", "non-static", "--embeddings", "glove-6b-50d",
                "--epochs", "15", "--out", str(path))  # fmt: skip
    return path


def train_image_model(out: Path) -> None:
    """A LeNet-5 on generated 32x32 images: real architecture and preprocessing, toy task."""
    import torch

    from textcnn.engine.trainer import TrainConfig
    from textcnn.image.data import ImageDataset
    from textcnn.image.train import ImageTrainOptions, train_image

    torch.manual_seed(0)
    labels = [str(i % 4) for i in range(400)]
    pixels = (torch.rand(400, 3, 32, 32) * 255).to(torch.uint8)
    data = ImageDataset(pixels, labels, [f"{i}.png" for i in range(400)], "generated", "bench")
    cfg = TrainConfig(epochs=1, batch_size=50, optimizer="adam", lr=1e-3, progress=False)
    opts = ImageTrainOptions(arch="lenet5", tta=False, train=cfg)
    train_image(data, opts).save_atomic(out)


def build_registry(work: Path, models: dict[str, Path]) -> Path:
    from textcnn.engine.bundle import load_bundle
    from textcnn.store import LocalStore

    root = work / "registry"
    shutil.rmtree(root, ignore_errors=True)
    registry = LocalStore(root, create=True)
    for name, path in models.items():
        registry.publish(name, load_bundle(path))
    return root


def encoded_share(bundle: Path, texts: list[str]) -> float:
    """The share of ``texts`` that a sentence-encoder model's gate sends to the encoder."""
    import torch

    from textcnn.engine.bundle import load_bundle
    from textcnn.models.sentence_term import routed

    loaded = load_bundle(bundle)
    with torch.no_grad():
        network = loaded.model(loaded.processor.encode(texts))
    term = loaded.model.input_term
    return float(routed(network, term.gate, term.weight).float().mean())


def sentences(path: Path, fmt: str, count: int = 200) -> list[str]:
    """Texts of 15 to 25 tokens (about 20, as in the issue's measurements)."""
    from textcnn.text.tokenize import kim_tokens

    if fmt == "jsonl":
        texts = [json.loads(line)["text"] for line in path.read_text().splitlines()]
    else:
        raw = path.read_bytes().decode("utf-8", errors="replace").splitlines()
        texts = [line.split(" ", 1)[1] for line in raw if " " in line]
    chosen = [t for t in texts if 15 <= len(kim_tokens(t)) <= 25]
    random.Random(0).shuffle(chosen)
    return chosen[:count]


def lua_script(
    work: Path,
    name: str,
    bodies: list[str] | None = None,
    file: Path | None = None,
    content_type: str = "application/json",
) -> Path:
    """A wrk script POSTing ``bodies`` in turn (or the bytes of ``file``)."""
    lines = ['wrk.method = "POST"', f'wrk.headers["Content-Type"] = "{content_type}"']
    if file is not None:
        lines += [f'local f = io.open("{file}", "rb")', "wrk.body = f:read('*all')", "f:close()"]
    else:
        items = ",\n".join(f"[==[{b}]==]" for b in bodies or [])
        lines += [
            f"local bodies = {{\n{items}\n}}",
            "local i = 0",
            "request = function()",
            "  i = i % #bodies + 1",
            "  return wrk.format(nil, nil, nil, bodies[i])",
            "end",
        ]
    path = work / f"{name}.lua"
    path.write_text("\n".join(lines) + "\n")
    return path


def get(url: str) -> tuple[int, str]:
    try:  # generous: Ray's proxy on a loaded machine takes seconds for /metrics
        with urllib.request.urlopen(url, timeout=30) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, ""


@dataclass
class Server:
    url: str
    pid: int
    workers: int

    def cpu_seconds(self) -> float:
        """User + system CPU of the server and every process under it (uvicorn's workers;
        a Ray instance's raylet, proxy and replicas)."""
        parents: dict[int, list[int]] = {}
        for pid in Path("/proc").iterdir():
            if pid.name.isdigit():
                try:
                    ppid = int((pid / "stat").read_text().rsplit(")", 1)[1].split()[1])
                except (OSError, IndexError, ValueError):
                    continue
                parents.setdefault(ppid, []).append(int(pid.name))
        pids, total = [self.pid], 0.0
        for pid in pids:  # grows as it goes: the whole tree
            pids += parents.get(pid, [])
        for pid in pids:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        return total


def ray_replicas_answering(url: str) -> int:
    """How many Ray Serve replicas answered 40 concurrent /ready probes (0: none ready)."""
    import concurrent.futures

    def probe(_: int) -> str | None:
        try:
            with urllib.request.urlopen(f"{url}/ready", timeout=5) as r:
                return r.headers.get("x-ray-replica")
        except OSError:
            return None

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        return len({r for r in pool.map(probe, range(40)) if r})


@contextlib.contextmanager
def server(
    registry: Path,
    workers: int,
    env: dict[str, str],
    log: Path,
    src: Path = REPO,
    ray: bool = False,
) -> Iterator[Server]:
    """A ``textcnn serve`` of the code in ``src`` (this checkout, or another's ``--before``);
    ``ray``: ``--ray`` with ``workers`` replicas, on a Ray instance of its own on loopback."""
    port = free_port()
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("TEXTCNN_", "RAY_"))}
    environ.update({"TEXTCNN_BENCHMARK_ROUTE": "true", "TEXTCNN_LOG_LEVEL": "warning", **env})
    environ["PYTHONPATH"] = str(src)
    command = [sys.executable, "-m", "textcnn", "serve", "--registry", str(registry)]
    command += ["--port", str(port)]
    if ray:
        command += ["--ray", "--replicas", str(workers)]
        environ.update(RAY_ADDRESS="local", RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0")
    else:
        command += ["--workers", str(workers)]
    with log.open("w") as out:
        process = subprocess.Popen(command, cwd=src, env=environ, stdout=out, stderr=out)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"the server exited:\n{log.read_text()}")
            try:
                if get(f"{url}/ready")[0] == 200 and (
                    not ray or ray_replicas_answering(url) == workers
                ):
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("the server did not become ready")
            time.sleep(0.25)
        yield Server(url, process.pid, workers)
    finally:
        process.terminate()
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def batch_stats(url: str, model: str) -> tuple[float, float]:
    """(sum, count) of one worker's batch-size histogram for ``model``."""
    _, text = get(f"{url}/metrics")
    found = {}
    for key in ("sum", "count"):
        m = re.search(rf'textcnn_batch_size_{key}\{{model="{model}"\}} (\S+)', text)
        found[key] = float(m[1]) if m else 0.0
    return found["sum"], found["count"]


def to_ms(value: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", value).groups()
    return float(number) * {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}[unit]


def wrk(
    url: str, script: Path, concurrency: int, duration: float
) -> tuple[float, float, float, int, int]:
    """(requests/s, p50 ms, p99 ms, non-2xx or failed requests, requests)."""
    command = [
        "wrk",
        "-t1",
        f"-c{concurrency}",
        f"-d{max(1, round(duration))}s",
        "--latency",
        "-s",
        str(script),
    ]
    out = subprocess.run(
        [*command, url], capture_output=True, text=True, check=True, timeout=duration + 60
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out)[1])
    p50 = to_ms(re.search(r"\s50%\s+(\S+)", out)[1])
    p99 = to_ms(re.search(r"\s99%\s+(\S+)", out)[1])
    errors = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses: (\d+)", out))
    failed = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if failed:
        errors += sum(int(n) for n in failed.groups())
    requests = int(re.search(r"(\d+) requests in", out)[1])
    return rps, p50, p99, errors, requests


ENDPOINTS = {"ceiling": "/bench/noop", "image": "/classify-image"}


@dataclass
class Target:
    """What to load: a wrk script, its endpoint and the model whose batches to watch."""

    name: str  # ceiling, image or a text model's name
    script: Path
    items: int = 1

    @property
    def endpoint(self) -> str:
        return ENDPOINTS.get(self.name, "/classify")

    @property
    def model(self) -> str | None:
        return None if self.name == "ceiling" else self.name


def measure(
    srv: Server, target: Target, mode: str, concurrency: int, duration: float, **extra: Any
) -> Cell:
    model = target.model if srv.workers == 1 else None  # /metrics shows one worker
    before = batch_stats(srv.url, model) if model else (0.0, 0.0)
    cpu = srv.cpu_seconds()
    rps, p50, p99, errors, requests = wrk(
        srv.url + target.endpoint, target.script, concurrency, duration
    )
    cpu_ms = (srv.cpu_seconds() - cpu) * 1000 / max(1, requests)
    mean_batch = None
    if model:
        after = batch_stats(srv.url, model)
        if after[1] > before[1]:
            mean_batch = (after[0] - before[0]) / (after[1] - before[1])
    cell = Cell(
        target.endpoint,
        target.model or "-",
        mode,
        srv.workers,
        concurrency,
        rps,
        p50,
        p99,
        errors,
        cpu_ms,
        mean_batch,
        target.items,
        **extra,
    )
    print(
        f"  [{cell.code} #{cell.repeat}] {target.endpoint} {cell.model} {mode} w={srv.workers} "
        f"c={concurrency}: {rps:.0f} "
        f"req/s p50 {p50:.1f} ms p99 {p99:.1f} ms cpu {cpu_ms:.2f} ms/req errors {errors}",
        file=sys.stderr,
        flush=True,
    )
    return cell


def setting(text: str) -> tuple[str, str]:
    """``--also``'s ``TEXTCNN_NAME=VALUE``: a service setting and its value."""
    name, sep, value = text.partition("=")
    if not sep or not name.startswith("TEXTCNN_"):
        raise argparse.ArgumentTypeError(f"expected TEXTCNN_NAME=VALUE, got {text!r}")
    return name, value


def table(cells: list[Cell]) -> str:
    """One row per cell: the median over repeats of each figure; "vs ceiling" is the median of
    each repeat's requests/s over the ceiling's in that repeat (same code, workers, load)."""
    ceilings = {
        (c.code, c.repeat, c.workers, c.concurrency): c.rps for c in cells if c.mode == "ceiling"
    }
    groups: dict[tuple, list[Cell]] = {}
    for c in cells:
        key = (c.workers, c.concurrency, c.endpoint, c.model, c.mode, c.code)
        groups.setdefault(key, []).append(c)
    rows = [
        "| code | endpoint | model | mode | workers | conc | req/s | p50 ms | p99 ms | vs ceiling "
        "| texts/s | server CPU ms/req | mean batch | errors | repeats |",
        "|---|---|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for key in sorted(groups):
        group = groups[key]
        c = replace(
            group[0],
            **{
                f: median(getattr(g, f) for g in group)
                for f in ("rps", "p50_ms", "p99_ms", "cpu_ms")
            },
        )
        ratios = [
            g.rps / ceilings[k]
            for g in group
            if (k := (g.code, g.repeat, g.workers, g.concurrency)) in ceilings
        ]
        ratio = f"{median(ratios):.2f}" if ratios and c.items_per_request == 1 else ""
        texts = f"{c.rps * c.items_per_request:.0f}" if c.items_per_request > 1 else ""
        batches = [g.mean_batch for g in group if g.mean_batch is not None]
        batch = f"{median(batches):.1f}" if batches else ""
        errors = sum(g.errors for g in group)
        rows.append(
            f"| {c.code} | {c.endpoint} | {c.model} | {c.mode} | {c.workers} | {c.concurrency} "
            f"| {c.rps:.0f} | {c.p50_ms:.1f} | {c.p99_ms:.1f} | {ratio} | {texts} "
            f"| {c.cpu_ms:.2f} | {batch} | {errors} | {len(group)} |"
        )
    return "\n".join(rows)


def ray_cells(
    args: argparse.Namespace,
    registry: Path,
    targets: dict[str, Target],
    tuned: dict[str, str],
    concurrencies: list[int],
) -> list[Cell]:
    """The ceiling and the demo model through Ray Serve with each of ``args.ray`` replicas
    (code ``ray``; the workers column holds replicas) and through uvicorn with as many
    workers (code ``uvicorn``): every server side by side, cells interleaved."""
    counts = [int(n) for n in args.ray.split(",")]
    cells: list[Cell] = []
    with contextlib.ExitStack() as stack:
        runs = []
        for n in counts:
            for code, ray in (("uvicorn", False), ("ray", True)):
                log = args.work / f"server-{code}-{n}.log"
                srv = stack.enter_context(server(registry, n, tuned, log, ray=ray))
                runs += [(code, srv, "ceiling", "ceiling"), (code, srv, "text", "batching")]
        for _, srv, name, _ in runs:  # warm every replica's models and code paths
            wrk(srv.url + targets[name].endpoint, targets[name].script, 8, 2)
        for repeat in range(args.repeats):
            for c in concurrencies:
                for code, srv, name, mode in runs:
                    kw = {"code": code, "repeat": repeat}
                    cells.append(measure(srv, targets[name], mode, c, args.duration, **kw))
    return cells


def ray_summary(cells: list[Cell]) -> str:
    """Ray Serve's requests/s on the demo model over uvicorn's with as many workers (the
    median of each repeat's ratio)."""
    rps = {
        (c.code, c.workers, c.concurrency, c.repeat): c.rps
        for c in cells
        if c.model == "text" and c.code in ("ray", "uvicorn")
    }
    lines = []
    for n, conc in sorted({(k[1], k[2]) for k in rps if k[0] == "ray"}):
        repeats = [k[3] for k in rps if k[:3] == ("ray", n, conc)]
        ray = median(rps["ray", n, conc, r] for r in repeats)
        plain = median(rps["uvicorn", n, conc, r] for r in repeats)
        ratio = median(rps["ray", n, conc, r] / rps["uvicorn", n, conc, r] for r in repeats)
        lines.append(
            f"/classify (text), c={conc}: Ray Serve {n} replica(s) {ray:.0f} req/s, "
            f"uvicorn {n} worker(s) {plain:.0f} req/s: {ratio:.2f} of uvicorn's"
        )
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--work", type=Path, default=Path("/tmp/textcnn-serve-bench"))
    p.add_argument("--duration", type=float, default=5.0, help="seconds per cell (5)")
    p.add_argument("--workers", default="1,2")
    p.add_argument("--concurrency", default="1,16,64")
    p.add_argument("--batch-concurrency", type=int, default=4, help="for 256-text requests")
    p.add_argument("--image-bundle", type=Path, help="an image bundle (default: a LeNet-5)")
    p.add_argument("--max-batch-size", type=int, help="server setting (default: the service's)")
    p.add_argument("--max-wait-ms", type=float, help="server setting (default: the service's)")
    p.add_argument("--no-baseline", action="store_true", help="skip one-forward-per-request")
    p.add_argument("--repeats", type=int, default=3, help="interleaved rounds of every cell (3)")
    p.add_argument(
        "--before",
        type=Path,
        help="also serve the code of this checkout (e.g. the main branch's), cells interleaved",
    )
    precisions = ["fp32", "bf16", "int8"]
    p.add_argument("--precision", choices=precisions, help="server setting (default fp32)")
    p.add_argument(
        "--also",
        type=setting,
        metavar="SETTING=VALUE",
        help="also serve this code with one setting changed (TEXTCNN_PRECISION=int8, "
        "TEXTCNN_TOKEN_TABLE_MB=0), cells interleaved",
    )
    p.add_argument("--runtime", choices=["onnx", "torch"], help="server setting (default onnx)")
    p.add_argument("--device", help="server setting: cpu, cuda or cuda:N (default cpu)")
    p.add_argument(
        "--encoder-dims",
        default="64",
        help="also serve the default recipe on MR at these minilm sizes (comma list; '' none)",
    )
    p.add_argument(
        "--sentence-encoder",
        action="store_true",
        help="also serve the default recipe on MR with --sentence-encoder minilm",
    )
    p.add_argument(
        "--ray",
        help="also Ray Serve with these replica counts (comma list, e.g. 1,2) beside uvicorn "
        "with as many workers, on the demo model (needs textcnn[ray])",
    )
    p.add_argument("--json-out", **json_out("serve_benchmark"))
    args = p.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: apt-get install -y wrk")
    args.work.mkdir(parents=True, exist_ok=True)
    dims = [int(d) for d in args.encoder_dims.split(",")] if args.encoder_dims else []
    worker_counts = [int(w) for w in args.workers.split(",") if w]
    if worker_counts:
        models = ensure_models(args.work, args.image_bundle, dims, args.sentence_encoder)
    else:  # --workers '': the Ray comparison alone, on the demo model
        models = {"text": demo_model(args.work)}
    registry = build_registry(args.work, models)

    demo = sentences(DEMO_TEST, "jsonl") + sentences(DEMO_TRAIN, "jsonl")
    texts = {"text": demo[:200], **({"rand300": demo[:200]} if "rand300" in models else {})}
    if "mr" in models:
        texts["mr"] = sentences(MR, "label-text")
        texts.update({f"mr-e{dim}": texts["mr"] for dim in dims})
        if "mr-sentence" in models:
            texts["mr-sentence"] = texts["mr"]
            print(f"mr-sentence encodes {encoded_share(models['mr-sentence'], texts['mr']):.0%} "
                  "of the texts sent (those its network is unsure of)")  # fmt: skip

    def script(name: str, bodies: list[dict]) -> Path:
        return lua_script(args.work, name, [json.dumps(b) for b in bodies])

    targets = {
        "ceiling": Target("ceiling", script("ceiling", [{"text": t} for t in texts["text"]])),
        **{
            m: Target(m, script(m, [{"text": t, "model": m} for t in ts]))
            for m, ts in texts.items()
        },
    }
    many = texts["text"] * 2
    for model in ("text", "rand300"):
        if model not in models:
            continue
        batches = [{"texts": many[i : i + 256], "model": model} for i in range(0, 200, 50)]
        targets[f"batch-{model}"] = Target(model, script(f"batch-{model}", batches), items=256)
    if "image" in models:
        png = args.work / "image.png"
        Image.effect_noise((32, 32), 64).convert("RGB").save(png)
        targets["image"] = Target(
            "image", lua_script(args.work, "image", file=png, content_type="image/png")
        )

    tuned = {}
    if args.max_batch_size:
        tuned["TEXTCNN_MAX_BATCH_SIZE"] = str(args.max_batch_size)
    if args.max_wait_ms is not None:
        tuned["TEXTCNN_MAX_WAIT_MS"] = str(args.max_wait_ms)
    if args.precision:
        tuned["TEXTCNN_PRECISION"] = args.precision
    if args.runtime:
        tuned["TEXTCNN_RUNTIME"] = args.runtime
    if args.device:
        tuned["TEXTCNN_DEVICE"] = args.device
    load = os.getloadavg()[0]
    concurrencies = [int(c) for c in args.concurrency.split(",")]
    cells: list[Cell] = []
    baseline = {**tuned, "TEXTCNN_MAX_BATCH_SIZE": "1"}
    for workers in worker_counts:
        # All servers run side by side (an idle one costs nothing) and their cells alternate,
        # repeat after repeat, so a change in the machine's load hits them alike.
        with contextlib.ExitStack() as stack:
            log = args.work / f"server-{workers}.log"
            fast = stack.enter_context(server(registry, workers, tuned, log))
            slow = None
            if not args.no_baseline:
                log = args.work / f"server-{workers}-unbatched.log"
                slow = stack.enter_context(server(registry, workers, baseline, log))
            codes = [("this", fast)]
            if args.also:
                name, value = args.also
                log = args.work / f"server-{workers}-{name}-{value}.log"
                other = {**tuned, name: value}
                label = f"{name.removeprefix('TEXTCNN_').lower()}={value}"
                codes.append((label, stack.enter_context(server(registry, workers, other, log))))
            if args.before:
                log = args.work / f"server-{workers}-before.log"
                before = server(registry, workers, tuned, log, args.before.resolve())
                codes.append(("before", stack.enter_context(before)))
            runs = []
            for code, srv in codes:
                runs.append((code, srv, "ceiling", "ceiling"))
                for model in texts:
                    runs.append((code, srv, model, "batching"))
                    if slow is not None and code == "this":
                        runs.append((code, slow, model, "1 forward/request"))
                runs.append((code, srv, "image", "batching"))
            for _, srv, name, _ in runs:  # warm every worker's models and code paths
                wrk(srv.url + targets[name].endpoint, targets[name].script, 8, 2)
            for repeat in range(args.repeats):
                for c in concurrencies:
                    for code, srv, name, mode in runs:
                        target = targets[name]
                        kw = {"code": code, "repeat": repeat}
                        cells.append(measure(srv, target, mode, c, args.duration, **kw))
                for code, srv in codes:
                    for model in ("text", "rand300"):
                        batch, c = targets[f"batch-{model}"], args.batch_concurrency
                        kw = {"code": code, "repeat": repeat}
                        cells.append(
                            measure(srv, batch, "256 texts/request", c, args.duration, **kw)
                        )
    if args.ray:
        cells += ray_cells(args, registry, targets, tuned, concurrencies)
    print(table(cells))
    if args.ray:
        print("\n" + ray_summary(cells))
    print(
        f"\n{os.cpu_count()} cores; 1-minute load average at the start: {load:.2f}; "
        f"{args.duration:g} s per cell, median of {args.repeats} interleaved repeats; wrk -t1 "
        "on the same machine. Models: text = the demo "
        "model (scripts/demo.sh: GloVe-50d non-static), rand300 = Kim's CNN-rand "
        "(--recipe kim2014, 300-d) on the demo data, mr = MR GloVe-50d non-static, mr-eD = "
        "the default recipe on MR with D-d minilm vectors (50 + D dimensions), mr-sentence = "
        "the default recipe on MR with --sentence-encoder minilm, image = "
        f"{models['image'].name if 'image' in models else '-'}. "
        f"Settings: {tuned or 'the service defaults'}."
        + (
            " Code ray: textcnn serve --ray --replicas N (workers = replicas), each on a Ray "
            "instance of its own; code uvicorn: textcnn serve --workers N beside it."
            if args.ray
            else ""
        )
    )
    report = {
        "command": command("bench.serve_benchmark"),
        "cores": os.cpu_count(),
        "load_average_at_start": load,
        "duration_s": args.duration,
        "repeats": args.repeats,
        "settings": tuned,
        "cells": [asdict(c) for c in cells],
    }
    write_json(args.json_out, report)


if __name__ == "__main__":
    main()
