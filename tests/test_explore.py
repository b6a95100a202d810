"""The explorer widget's wiring, without a trained model: every change of image or label draws once, with the
dropdowns' values (the drawing itself is tested on the smoke run in test_notebooks)."""
import types

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from sednn.study.explore import Explorer


def stub_explorer(labels_by_row):
    """An Explorer whose image labels are given and whose figure records what it was asked to draw."""
    ex = Explorer.__new__(Explorer)
    rows = list(labels_by_row)
    targets = sorted({t for ts in labels_by_row.values() for t in ts})
    y = np.array([[t in labels_by_row[r] for t in targets] for r in rows])
    ex.run = types.SimpleNamespace(targets=targets, y=y, table=pd.DataFrame({"id": [f"{r:04d}" for r in rows]}))
    ex.rows = np.arange(len(rows))
    ex.drawn = []

    def update(row, label):
        ex.drawn.append((row, label))
        return plt.figure()

    ex.update = update
    return ex


def test_every_change_of_image_or_label_redraws_once_with_the_new_values():
    ex = stub_explorer({0: ["bag", "shoes"], 1: ["bag", "skirt"], 2: ["jeans"]})
    image, label = ex.widget().children[0].children
    assert ex.drawn == [(0, "bag")]
    image.value = 1  # same first label ("bag"): the value does not change, the figure must
    assert ex.drawn[-1] == (1, "bag") and len(ex.drawn) == 2
    label.value = "skirt"
    assert ex.drawn[-1] == (1, "skirt") and len(ex.drawn) == 3
    image.value = 2  # another first label
    assert ex.drawn[-1] == (2, "jeans") and len(ex.drawn) == 4
    assert label.options == ("jeans",)
    plt.close("all")
