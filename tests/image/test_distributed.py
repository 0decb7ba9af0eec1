"""Two CPU processes, gloo on loopback: sharding, synchronised weights, rank-0-only output."""

import copy
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp

from textcnn.engine.bundle import Bundle
from textcnn.engine.distributed import run_on_main, shutdown_distributed
from textcnn.engine.predictor import Predictor
from textcnn.engine.trainer import Split, TrainConfig, fit
from textcnn.image.augment import ImageTransform
from textcnn.image.processor import ImageProcessor
from textcnn.models import create_model
from textcnn.store import LocalStore

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def loopback_env(**extra: str) -> dict[str, str]:
    return {**os.environ, "GLOO_SOCKET_IFNAME": "lo", "OMP_NUM_THREADS": "1", **extra}


class Recording(ImageTransform):
    """Records which examples (numbered in their first pixels) each training step sees."""

    def __init__(self) -> None:
        super().__init__(ImageProcessor(8), crop_padding=0, flip=False)
        self.seen: list[int] = []

    def train(self, x: torch.Tensor) -> torch.Tensor:
        self.seen += (x[:, 0, 0, 0].long() * 256 + x[:, 0, 0, 1].long()).tolist()
        return super().train(x)


def worker(rank: int, port: int, out: str) -> None:
    os.environ.update(
        loopback_env(
            MASTER_ADDR="127.0.0.1",
            MASTER_PORT=str(port),
            RANK=str(rank),
            LOCAL_RANK=str(rank),
            WORLD_SIZE="2",
        )
    )
    torch.manual_seed(0)
    x = torch.randint(0, 256, (40, 3, 8, 8), dtype=torch.uint8)
    x[:, 0, 0, 0], x[:, 0, 0, 1] = torch.arange(40) // 256, torch.arange(40) % 256
    model = create_model("resnet", num_classes=2, width=4, depth=(1, 0, 0))
    cfg = TrainConfig(
        epochs=2, batch_size=8, optimizer="sgd", device="cpu", threads=1, progress=False
    )
    transform = Recording()
    result = fit(
        model, Split(x, torch.arange(40) % 2), Split(x, torch.arange(40) % 2), cfg, transform
    )
    state = {k: v.tolist() for k, v in model.state_dict().items() if v.is_floating_point()}
    run_on_main(lambda: result.history)  # the last collective of a retrain, as in the CLI
    shutdown_distributed()
    threads = [p.read_text().strip() for p in Path("/proc/self/task").glob("*/comm")]
    record = {"seen": transform.seen, "state": state, "history": result.history}
    record["threads"] = threads
    Path(out, f"{rank}.json").write_text(json.dumps(record))


def test_fit_shards_every_epoch_and_keeps_the_ranks_in_sync(tmp_path: Path) -> None:
    mp.spawn(worker, args=(free_port(), str(tmp_path)), nprocs=2, join=True)
    ranks = [json.loads((tmp_path / f"{r}.json").read_text()) for r in (0, 1)]
    for epoch in range(2):
        shards = [set(r["seen"][epoch * 20 : (epoch + 1) * 20]) for r in ranks]
        assert len(shards[0]) == len(shards[1]) == 20  # 4 steps of 8 / 2 examples
        assert shards[0].isdisjoint(shards[1]) and shards[0] | shards[1] == set(range(40))
    assert ranks[0]["state"] == ranks[1]["state"]  # weights and batch-norm statistics
    assert ranks[0]["history"][-1]["train_loss"] == ranks[1]["history"][-1]["train_loss"]
    # the group's gloo threads are joined at shutdown, not left to run into the interpreter's
    # exit (where one aborted the process); /proc names a process's threads on Linux
    assert [t for r in ranks for t in r["threads"] if "gloo" in t] == []


def text_worker(rank: int, port: int, out: str) -> None:
    """A TextCNN with n-gram scores, whose index rank 1 marks before training."""
    os.environ.update(
        loopback_env(
            MASTER_ADDR="127.0.0.1",
            MASTER_PORT=str(port),
            RANK=str(rank),
            LOCAL_RANK=str(rank),
            WORLD_SIZE="2",
        )
    )
    torch.manual_seed(0)
    model = create_model(
        "textcnn",
        vocab_size=30,
        num_classes=2,
        dim=8,
        feature_maps=4,
        ngram_buckets=64,
        ngram_rows=8,
    )
    if rank == 1:
        model.side.index.fill_(7)
    x = torch.randint(2, 30, (40, 6))
    cfg = TrainConfig(epochs=1, batch_size=8, optimizer="adam", device="cpu", threads=1)
    fit(model, Split(x, torch.arange(40) % 2), Split(x, torch.arange(40) % 2), cfg)
    params = {k: v.tolist() for k, v in model.named_parameters()}
    marked = bool((model.side.index == 7).all())
    shutdown_distributed()
    Path(out, f"{rank}.json").write_text(json.dumps({"params": params, "marked": marked}))


def test_ddp_does_not_send_the_ngram_index_each_step(tmp_path: Path) -> None:
    """The index (4 MiB at the default buckets) is constant while the CNN trains: DDP must not
    broadcast it before every step. Rank 1's own mark surviving shows that nothing was sent."""
    mp.spawn(text_worker, args=(free_port(), str(tmp_path)), nprocs=2, join=True)
    ranks = [json.loads((tmp_path / f"{r}.json").read_text()) for r in (0, 1)]
    assert ranks[0]["params"] == ranks[1]["params"]  # the weights still trained in step
    assert [r["marked"] for r in ranks] == [False, True]


def torchrun(*args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "1"]
    command += ["--nproc_per_node", "2", "--master_addr", "127.0.0.1"]
    command += ["--master_port", str(free_port()), "-m", "textcnn", *args]
    return subprocess.run(
        command, cwd=REPO, env=loopback_env(), capture_output=True, text=True, timeout=120
    )


def test_train_image_under_torchrun(shapes: Path, tmp_path: Path) -> None:
    out = tmp_path / "model"
    done = torchrun(
        "train-image", "--data", str(shapes), "--width", "8", "--depth", "1,0,0",
        "--epochs", "10", "--batch-size", "16", "--optimizer", "adam", "--lr", "3e-3",
        "--device", "cpu", "--threads", "1", "--no-progress", "--out", str(out),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    [summary] = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert summary["test_accuracy"] >= 0.8  # as good as one process (tests/image/test_train.py)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]
    assert done.stderr.count('"epoch": 10') == 1  # rank 0 alone logs
    assert Predictor.load(out).predict([shapes / "test" / "circle" / "000.png"])[0].label


def test_train_text_under_torchrun(keyword_files: dict[str, Path], tmp_path: Path) -> None:
    done = torchrun(
        "train", "--data", str(keyword_files["train"]), "--test", str(keyword_files["test"]),
        "--mode", "rand", "--dim", "16", "--feature-maps", "8", "--epochs", "8",
        "--batch-size", "20",
        "--optimizer", "adam", "--lr", "0.01", "--device", "cpu", "--threads", "1",
        "--no-progress", "--out", str(tmp_path / "model"),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    [summary] = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert summary["test_accuracy"] > 0.9
    assert Predictor.load(tmp_path / "model").predict(["what a wonderful day"])[0].label


@pytest.mark.parametrize("modality", ["text", "image"])
def test_retrain_under_torchrun(
    modality: str,
    request: pytest.FixtureRequest,
    keyword_files: dict[str, Path],
    shapes: Path,
    tmp_path: Path,
) -> None:
    """Rank 0 alone takes the train lock and publishes; rank 1 trains alongside it (were it
    to take the lock too, one rank would fail and the other hang at its first all-reduce)."""
    store = LocalStore(tmp_path / "reg", create=True)
    store.publish("m", request.getfixturevalue(f"{modality}_bundle"))
    data = keyword_files["train"] if modality == "text" else shapes / "train"
    done = torchrun(
        "retrain", "--registry", str(store.root), "--name", "m", "--data", str(data),
        "--epochs", "2", "--device", "cpu", "--threads", "1", "--no-progress", "--force",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    [result] = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert result["promoted"] and result["candidate"] == "v2"
    assert store.version_ids("m") == ["v1", "v2"] and store.current("m") == "v2"
    assert store.load_bundle("m").training["result"]["history"][-1]["epoch"] == 2


# -- a retrain over two hosts: rank 0 plans, publishes, and shares its errors -----------------

PROMPT = 30.0  # seconds between the ranks' exits; gloo waits 30 minutes for a lost peer


def host(rank: int, port: int, args: list[str]) -> list[str]:
    """One host's torchrun of a two-host job, on loopback (rank 0 the first host's)."""
    command = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "2"]
    command += ["--node-rank", str(rank), "--nproc-per-node", "1", "--master-addr", "127.0.0.1"]
    return [*command, "--master-port", str(port), "-m", "textcnn", *args]


@dataclass
class Host:
    status: int
    stdout: str
    stderr: str
    ended: float  # time.monotonic()

    def error(self) -> str:
        """The one error line the CLI printed."""
        [line] = [x for x in self.stderr.splitlines() if x.startswith("textcnn: error: ")]
        return line


def two_hosts(tmp_path: Path, *per_rank: list[str]) -> list[Host]:
    """Both hosts' torchruns, each with its own launcher, as on two machines."""
    port, runs = free_port(), []
    for rank, args in enumerate(per_rank):
        with (
            (tmp_path / f"{rank}.out").open("w") as out,
            (tmp_path / f"{rank}.err").open("w") as err,
        ):
            command = host(rank, port, args)
            runs.append(
                subprocess.Popen(command, cwd=REPO, env=loopback_env(), stdout=out, stderr=err)
            )
    ended: dict[int, float] = {}
    deadline = time.monotonic() + 300
    try:
        while len(ended) < len(runs) and time.monotonic() < deadline:
            ended |= {
                r: time.monotonic()
                for r, run in enumerate(runs)
                if r not in ended and run.poll() is not None
            }
            time.sleep(0.05)
    finally:
        for run in runs:
            if run.poll() is None:
                run.kill()
            run.wait()
    assert len(ended) == len(runs), "a host still ran after 300 s"
    return [
        Host(
            run.returncode,
            (tmp_path / f"{r}.out").read_text(),
            (tmp_path / f"{r}.err").read_text(),
            ended[r],
        )
        for r, run in enumerate(runs)
    ]


def retrain_args(registry: Path, data: Path, *extra: str) -> list[str]:
    return [
        "retrain", "--registry", str(registry), "--name", "m", "--data", str(data),
        "--epochs", "2", "--device", "cpu", "--threads", "1", "--no-progress", *extra,
    ]  # fmt: skip


def test_a_busy_lock_on_rank_0_stops_every_rank_with_its_error(
    text_bundle: Bundle, keyword_files: dict[str, Path], tmp_path: Path
) -> None:
    """Before: rank 1 trained on and waited for rank 0 until gloo timed out."""
    store = LocalStore(tmp_path / "reg", create=True)
    store.publish("m", text_bundle)
    args = retrain_args(store.root, keyword_files["train"])
    with store.training("m"):
        rank0, rank1 = two_hosts(tmp_path, args, args)
    assert rank0.status != 0 and rank1.status != 0
    assert "is being retrained by another process" in rank0.error()
    assert rank1.error() == rank0.error()
    assert abs(rank1.ended - rank0.ended) < PROMPT
    assert store.version_ids("m") == ["v1"]


def test_a_failed_publish_on_rank_0_stops_every_rank_with_its_error(
    text_bundle: Bundle, image_bundle: Bundle, keyword_files: dict[str, Path], tmp_path: Path
) -> None:
    """The ranks train, then rank 0's publish fails: an image model's version is the newest
    (copied in from another registry), so a text candidate cannot follow it."""
    store = LocalStore(tmp_path / "reg", create=True)
    store.publish("m", text_bundle)
    other = LocalStore(tmp_path / "other", create=True)
    other.publish("m", image_bundle)
    shutil.copytree(other.version_dir("m", "v1"), store.model_dir("m") / "versions" / "v2")
    args = retrain_args(store.root, keyword_files["train"])
    rank0, rank1 = two_hosts(tmp_path, args, args)
    assert rank0.status != 0 and rank1.status != 0
    assert "holds image models: a text model cannot be its next version" in rank0.error()
    assert rank1.error() == rank0.error()
    assert '"epoch": 2' in rank0.stderr  # it failed after training
    assert abs(rank1.ended - rank0.ended) < PROMPT
    assert store.version_ids("m") == ["v1", "v2"] and store.current("m") == "v1"


def test_every_rank_trains_rank_0s_plan(
    text_bundle: Bundle, keyword_files: dict[str, Path], tmp_path: Path
) -> None:
    """Rank 1 sees another current version, with other options (as if one were published
    between the ranks' reads): it trains rank 0's. Before, its network had another shape
    and DistributedDataParallel refused the pair."""
    store = LocalStore(tmp_path / "reg", create=True)
    store.publish("m", text_bundle)
    changed = LocalStore(tmp_path / "changed", create=True)
    changed.publish("m", text_bundle)
    wider = copy.deepcopy(text_bundle)
    wider.training["options"]["feature_maps"] = 24
    changed.publish("m", wider)
    data = keyword_files["train"]
    rank0, rank1 = two_hosts(
        tmp_path,
        retrain_args(store.root, data, "--force"),
        retrain_args(changed.root, data, "--force"),
    )
    assert rank0.status == 0 and rank1.status == 0, rank0.stderr + rank1.stderr
    [result] = [json.loads(line) for line in rank0.stdout.splitlines() if line.startswith("{")]
    assert result["promoted"] and result["candidate"] == "v2"
    assert store.load_bundle("m").training["options"]["feature_maps"] == 16
    assert changed.version_ids("m") == ["v1", "v2"]  # only rank 0 writes
