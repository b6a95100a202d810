"""JupyterLab starts headless on a loopback port and lists the notebooks through its REST API."""
import json
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from sednn import paths

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_jupyterlab_lists_the_notebooks(tmp_path):
    port, token = _free_port(), "sednn-test-token"
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={paths.REPO_ROOT}", "--allow-root"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**__import__("os").environ,
                                                                   "JUPYTER_RUNTIME_DIR": str(tmp_path)})
    try:
        url = f"http://127.0.0.1:{port}/api/contents/notebooks?token={token}"
        deadline, listing = time.time() + 60, None
        while time.time() < deadline:
            try:
                with urllib.request.urlopen(url, timeout=5) as r:
                    listing = json.load(r)
                break
            except OSError:
                if proc.poll() is not None:
                    pytest.fail(f"jupyter lab exited with {proc.returncode}")
                time.sleep(0.5)
        assert listing is not None, "jupyter lab did not answer within 60 s"
        names = {item["name"] for item in listing["content"]}
        assert {p.name for p in paths.NOTEBOOKS_DIR.glob("*.ipynb")} <= names
        assert "01_data_prep.ipynb" in names
    finally:
        proc.terminate()
        proc.wait(timeout=30)
