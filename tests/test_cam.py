"""Grad-CAM wrapper, localization score and background swap."""
import numpy as np
import pandas as pd
import torch

from sednn.data import labels as L
from sednn.models import create_model
from sednn.study import cam


def test_grad_cam_gives_one_map_per_image_label_pair_in_unit_range():
    torch.manual_seed(0)
    model = create_model("proposed", 5, 8, pretrained=False)
    x = torch.randn(2, 3, 96, 64)
    m = torch.softmax(torch.randn(2, 8, 24, 16), 1)
    # image 0 explained for labels 1 and 3: repeat it
    images, maps, labels = x[[0, 0, 1]], m[[0, 0, 1]], [1, 3, 4]
    cams = cam.grad_cam(model, images, maps, labels)
    assert cams.shape == (3, 96, 64) and cams.dtype == np.float32
    assert cams.min() >= 0 and cams.max() <= 1 and cams.max() > 0
    assert not np.allclose(cams[0], cams[1]), "different labels, different explanations"


def test_localization_score_is_one_inside_and_zero_outside():
    mask = np.zeros((2, 10, 10), bool)
    mask[:, 2:5, 2:5] = True
    cams = np.zeros((2, 10, 10), np.float32)
    cams[0, 3, 3] = 1.0  # all mass inside
    cams[1, 8, 8] = 1.0  # all mass outside
    s = cam.localization_scores(cams, mask)
    assert s.energy.tolist() == [1.0, 0.0] and s.hit.tolist() == [True, False]
    assert np.allclose(s.region_share, 0.09)


def test_background_swap_changes_only_background_pixels():
    rng = np.random.default_rng(0)
    photos = rng.integers(0, 255, (3, 12, 8, 3), dtype=np.uint8)
    regions = rng.integers(0, L.ccp_vocabulary("regions").num_classes, (3, 12, 8)).astype(np.uint8)
    donors = rng.integers(0, 255, (2, 12, 8, 3), dtype=np.uint8)
    donor_regions = rng.integers(0, 2, (2, 12, 8)).astype(np.uint8)
    out = cam.swap_background(photos, regions, donors, donor_regions, np.random.default_rng(1))
    fg = regions != L.BACKGROUND
    assert np.array_equal(out[fg], photos[fg])
    assert (out[~fg] != photos[~fg]).any()


def test_pick_examples_orders_by_gain():
    detail = pd.DataFrame({"model": ["a"] * 3 + ["b"] * 3, "row": [0, 1, 2] * 2, "label_index": [0] * 6,
                           "id": ["x", "y", "z"] * 2, "label": ["l"] * 6, "energy": [0.9, 0.1, 0.5, 0.2, 0.4, 0.5]})
    good, bad = cam.pick_examples(detail, "a", "b", 1)
    assert good.id.tolist() == ["x"] and bad.id.tolist() == ["y"]
