import shutil
from pathlib import Path

import pytest

from sednn import paths

CCP = paths.SHARED_CCP_DIR


def require_ccp() -> Path:
    if not (CCP / "label_list.mat").exists():
        pytest.skip(f"CCP dataset not found at {CCP}")
    return CCP


@pytest.fixture
def ccp_root() -> Path:
    return require_ccp()


@pytest.fixture
def mini_ccp(tmp_path) -> Path:
    """A small copy of real CCP files (4 pixel-annotated, 4 tagged) that tests may break."""
    src = require_ccp()
    root = tmp_path / "ccp"
    (root / "annotations" / "pixel-level").mkdir(parents=True)
    (root / "annotations" / "image-level").mkdir(parents=True)
    (root / "photos").mkdir()
    shutil.copy(src / "label_list.mat", root)
    for i in [1, 2, 3, 4, 1005, 1006, 1007, 1008]:
        name = f"{i:04d}"
        shutil.copy(src / "photos" / f"{name}.jpg", root / "photos")
        half = "pixel-level" if i <= 1004 else "image-level"
        shutil.copy(src / "annotations" / half / f"{name}.mat", root / "annotations" / half)
    return root
