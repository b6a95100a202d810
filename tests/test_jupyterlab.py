"""JupyterLab starts headless on a loopback port and lists the notebooks through its REST API."""
import json
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from sednn.core import paths

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _names(base: str, folder: str, token: str) -> set[str]:
    with urllib.request.urlopen(f"{base}/api/contents/{folder}?token={token}", timeout=5) as r:
        return {item["name"] for item in json.load(r)["content"]}


def test_make_lab_serves_the_repository_and_opens_on_the_notebooks(tmp_path):
    """What `make lab` starts (``sednn.pipeline.lab``): the notebooks and the rendered runs both reachable, `/`
    leading to notebooks/, and a root user (containers, this CI) served without an extra flag."""
    port, token = _free_port(), "sednn-test-token"
    proc = subprocess.Popen(
        [sys.executable, "-m", "sednn.pipeline.lab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
         f"--IdentityProvider.token={token}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**__import__("os").environ,
                                                                   "JUPYTER_RUNTIME_DIR": str(tmp_path)})
    base = f"http://127.0.0.1:{port}"
    try:
        deadline, names = time.time() + 60, None
        while time.time() < deadline:
            try:
                names = _names(base, "notebooks", token)
                break
            except OSError:
                if proc.poll() is not None:
                    pytest.fail(f"jupyter lab exited with {proc.returncode}")
                time.sleep(0.5)
        assert names is not None, "jupyter lab did not answer within 60 s"
        assert {p.name for p in paths.NOTEBOOKS_DIR.glob("*.ipynb")} <= names
        assert "01_data_prep.ipynb" in _names(base, "results/notebooks", token)
        with urllib.request.urlopen(f"{base}/?token={token}", timeout=5) as r:
            assert r.geturl().split("?")[0].endswith("/lab/tree/notebooks")
    finally:
        proc.terminate()
        proc.wait(timeout=30)
