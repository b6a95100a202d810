"""`make lab`: JupyterLab serving the repository root, opened on ``notebooks/``, so the rendered runs in
``results/notebooks/`` are one click away. Where the user is root (containers) it starts without an extra flag.

    python -m sednn.pipeline.lab [jupyter lab options]
"""
from __future__ import annotations

import os
import sys

from sednn.core import paths


def arguments() -> list[str]:
    args = [f"--ServerApp.root_dir={paths.REPO_ROOT}", "--LabApp.default_url=/lab/tree/notebooks"]
    if os.geteuid() == 0:  # Jupyter refuses to run as root unless told to; in a container root is the user
        args.append("--allow-root")
    return args


def main(argv=None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    os.execv(sys.executable, [sys.executable, "-m", "jupyterlab", *arguments(), *argv])


if __name__ == "__main__":
    main()
