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


# A label space of our own for the own-data tests: 12 merged classes of CCP's 59 fine labels, stored in PNG maps
# under pixel values of their own (not CCP's indices), and targets named like the classes they are found in.
PARTS = {
    "background": ["null"], "skin": ["skin"], "hair": ["hair"],
    "top": ["blouse", "bra", "cardigan", "hoodie", "intimate", "jumper", "shirt", "sweater", "sweatshirt", "t-shirt",
            "top", "vest"],
    "outer": ["blazer", "cape", "coat", "jacket"],
    "dress": ["bodysuit", "dress", "romper", "suit", "swimwear"],
    "bottom": ["jeans", "panties", "pants", "shorts", "skirt"],
    "legwear": ["leggings", "socks", "stockings", "tights"],
    "shoes": ["boots", "clogs", "flats", "heels", "loafers", "pumps", "sandals", "shoes", "sneakers", "wedges"],
    "bag": ["bag", "purse", "wallet"],
    "accessories": ["accessories", "belt", "bracelet", "earrings", "glasses", "gloves", "necklace", "ring", "scarf",
                    "sunglasses", "tie", "watch"],
    "headwear": ["hat"],
}
PART_VALUE = {part: 0 if part == "background" else 100 + i for i, part in enumerate(PARTS)}
PART_TARGETS = [p for p in PARTS if p not in ("background", "skin", "hair")]


def write_own_dataset(folder: Path, ccp_root: Path, ids: list[int], split: dict[str, str] | None = None) -> Path:
    """A dataset in the manifest format from real CCP photos: PNG maps in the ``parts`` label space for the
    pixel-annotated ids, tags only for the others, paths relative to the manifest. Returns the manifest's path."""
    import numpy as np
    import pandas as pd
    import scipy.io
    from PIL import Image

    from sednn import ccp

    names = ccp.read_label_list(ccp_root)
    part_of = {fine: part for part, fines in PARTS.items() for fine in fines}
    to_value = np.array([PART_VALUE[part_of[n]] for n in names], np.uint8)
    (folder / "photos").mkdir(parents=True, exist_ok=True)
    (folder / "maps").mkdir(exist_ok=True)
    rows = []
    for i in ids:
        name = f"{i:04d}"
        shutil.copy(ccp_root / "photos" / f"{name}.jpg", folder / "photos")
        row = {"id": f"ccp-{name}", "image_path": f"photos/{name}.jpg", "gt_map_path": ""}
        if i <= 1004:
            gt = to_value[scipy.io.loadmat(ccp_root / "annotations/pixel-level" / f"{name}.mat")["groundtruth"]]
            Image.fromarray(gt).save(folder / "maps" / f"{name}.png")
            row["gt_map_path"] = f"maps/{name}.png"
            present = {p for p, v in PART_VALUE.items() if (gt == v).any()}
        else:
            tags = scipy.io.loadmat(ccp_root / "annotations/image-level" / f"{name}.mat")["tags"].ravel()
            present = {part_of[names[t]] for t in tags}
        if split:
            row["split"] = split[row["id"]]
        rows.append({**row, **{f"label:{t}": int(t in present) for t in PART_TARGETS}})
    pd.DataFrame(rows).to_csv(folder / "manifest.csv", index=False)
    with open(folder / "vocabulary-parts.csv", "w") as f:
        f.write("value,name,class\n" + "".join(f"{v},{p},{p}\n" for p, v in PART_VALUE.items()))
    return folder / "manifest.csv"


@pytest.fixture
def own_data(tmp_path) -> Path:
    """A small own dataset (4 pixel-annotated, 4 tags-only CCP photos) in a folder whose name has a space."""
    return write_own_dataset(tmp_path / "my data", require_ccp(), [1, 2, 3, 4, 1005, 1006, 1007, 1008])
