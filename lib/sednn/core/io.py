"""Atomic writes: an interrupted run never leaves a half-written table or array."""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd


class DatasetError(ValueError):
    """Bad input. The message names the file (and row) and the problem."""

    def __init__(self, path, problem: str):
        super().__init__(f"{path}: {problem}")
        self.path, self.problem = Path(path), problem


def read_csv_strings(path: str | Path, what: str) -> pd.DataFrame:
    """A CSV of user input with every cell a string ("" for empty); a missing or unreadable file is named."""
    try:
        return pd.read_csv(path, dtype=str, keep_default_na=False)
    except FileNotFoundError as e:
        raise DatasetError(path, f"{what} not found") from e
    except Exception as e:
        raise DatasetError(path, f"not a readable CSV ({e})") from e


def atomic_write(path: str | Path, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp_path)`` then rename onto ``path`` (same folder, so the rename is atomic)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=path.suffix)
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_json(path: str | Path, obj: Any) -> Path:
    return atomic_write(path, lambda p: p.write_text(json.dumps(obj, indent=2, default=str) + "\n"))


def write_csv(path: str | Path, df: pd.DataFrame, **kwargs) -> Path:
    return atomic_write(path, lambda p: df.to_csv(p, index=False, **kwargs))


def write_text(path: str | Path, text: str) -> Path:
    return atomic_write(path, lambda p: p.write_text(text))


def save_figure(fig, path: str | Path, dpi: int = 120) -> Path:
    return atomic_write(path, lambda p: fig.savefig(p, dpi=dpi, bbox_inches="tight", format=Path(path).suffix[1:]))


def save_array(path: str | Path, array: np.ndarray) -> str:
    """Save a .npy atomically and return its sha256."""
    atomic_write(path, lambda p: np.save(p, array, allow_pickle=False))
    return sha256_file(path)


def sha256_file(path: str | Path, chunk: int = 1 << 22) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def sha256_json(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


def sha256_array(array: np.ndarray) -> str:
    """Content fingerprint of an in-memory array (its bytes, in C order)."""
    return hashlib.sha256(np.ascontiguousarray(array).data).hexdigest()
