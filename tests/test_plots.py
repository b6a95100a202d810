"""Figure layout: what a reader sees at README or notebook width."""
import matplotlib

matplotlib.use("Agg")
import numpy as np

from sednn.data.labels import ccp_vocabulary
from sednn.reporting import plots


def test_cam_grid_title_sits_just_above_the_first_row():
    vocab = ccp_vocabulary("garments")
    n, h, w = 6, 192, 128
    photos = np.zeros((n, h, w, 3), np.uint8)
    maps = np.zeros((n, len(vocab.classes), h // 4, w // 4), np.float32)
    cams = {name: np.zeros((n, h, w), np.float32) for name in ("baseline", "proposed")}
    fig = plots.cam_grid(photos, maps, cams, [f"row {i}" for i in range(n)], "good cases", vocab)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    title_bottom = fig._suptitle.get_window_extent(renderer).y0
    first_row_top = max(ax.get_tightbbox(renderer).y1 for ax in fig.axes[:4])
    assert 0 <= title_bottom - first_row_top < 0.3 * fig.dpi  # no empty band between the title and the images
