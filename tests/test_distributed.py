"""DistributedDataParallel on CPU: 2 processes (gloo, launched by torchrun) against one process, same data."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sednn.training import distributed as dist

WORKER = Path(__file__).with_name("ddp_fit_worker.py")
# Stated tolerance: the two runs differ only in float summation order (per-process mean losses averaged by DDP
# vs one mean), amplified a little by Adam over 12 steps.
ATOL = 1e-4


def _run(out: Path, processes: int, *flags: str) -> dict:
    launch = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={processes}"]
    cmd = [*(launch if processes > 1 else [sys.executable]), str(WORKER), str(out), *flags]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    with np.load(out / "result.npz") as z:
        res = {k: z[k] for k in z.files}
    res["history"] = json.loads(str(res["history"]))
    return res


@pytest.fixture(scope="module")
def runs(tmp_path_factory):  # the tests that read it are slow: two subprocess trainings
    return {n: _run(tmp_path_factory.mktemp(f"ddp{n}"), n) for n in (1, 2)}


@pytest.mark.slow
def test_two_processes_match_one(runs):
    one, two = runs[1], runs[2]
    assert int(one["world"]) == 1 and int(two["world"]) == 2
    h1, h2 = one["history"], two["history"]
    assert [h["epoch"] for h in h2] == [1, 2, 3]
    np.testing.assert_allclose([h["train_loss"] for h in h2], [h["train_loss"] for h in h1], atol=ATOL)
    np.testing.assert_allclose([h["val_score"] for h in h2], [h["val_score"] for h in h1], atol=ATOL)
    weights = [k for k in one if k.startswith("w:")]
    assert weights and all(np.allclose(two[k], one[k], atol=ATOL) for k in weights)
    np.testing.assert_allclose(two["val"], one["val"], atol=ATOL)


@pytest.mark.slow
def test_the_compared_runs_trained(runs):
    """Guard against a vacuous match: the compared runs really trained (loss fell, validation is scored)."""
    h = runs[2]["history"]
    assert h[-1]["train_loss"] < h[0]["train_loss"]
    assert all(0 <= e["val_score"] <= 1 for e in h)
    assert runs[2]["val"].shape == (8, 3)  # predictions gathered from both processes, in order


@pytest.mark.slow
def test_each_process_trains_on_its_half_of_every_batch(runs):
    assert runs[1]["rows_per_process"].tolist() == [3 * 32]  # 3 epochs of 32 training rows
    assert runs[2]["rows_per_process"].tolist() == [3 * 16, 3 * 16]


def test_single_process_helpers_are_identities():
    assert dist.world() == (0, 1) and dist.is_main()
    assert dist.local_part(6) == slice(0, 6) and dist.split_evenly(5) == slice(0, 5)
    assert dist.mean_over_processes(2.5) == 2.5
    np.testing.assert_array_equal(dist.gather_rows(np.arange(3)), np.arange(3))


def test_make_train_ddp_starts_one_process_per_visible_gpu_and_refuses_more(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert dist.default_process_count("auto") == 1 and dist.default_process_count("cpu") == 2
    dist.check_process_count(1, "cuda")
    with pytest.raises(SystemExit, match="asked for 2 CUDA processes .* but 1 GPU\\(s\\) are visible .*use NPROC=1"):
        dist.check_process_count(2, "cuda")
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)
    assert dist.default_process_count("auto") == 2
    dist.check_process_count(2, "cpu")  # CPU processes: as many as asked
    with pytest.raises(SystemExit, match="use DEVICE=cpu"):
        dist.check_process_count(1, "cuda")


def test_a_torchrun_process_without_its_gpu_is_refused(monkeypatch):
    """What rank 1 of `torchrun --nproc-per-node 2` on a one-GPU machine meets before asking for GPU 1."""
    import torch

    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
    with pytest.raises(SystemExit, match="asked for 2 CUDA processes"):
        dist.init_from_env("cuda")
