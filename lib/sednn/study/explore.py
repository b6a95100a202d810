"""Notebook 06's explorer: pick a test image and one of its labels; see the photo, the predicted map, each
model's score and Grad-CAM side by side. ``Explorer.update`` draws one view (headless runs call it once for a
static example); ``Explorer.widget`` wires it to ipywidgets dropdowns in JupyterLab."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import torch

from sednn.reporting import plots
from sednn.study.cam import grad_cam, load_main, photo_data


class Explorer:
    def __init__(self, run, models: list[str], seed: int):
        self.run, self.models, self.seed = run, list(models), seed
        self.rows = run.indices("test")
        self.data = photo_data(run)
        self._loaded = {}

    def model(self, name: str):
        if name not in self._loaded:
            self._loaded[name] = load_main(self.run, name, self.seed).to(torch.device(self.run.device))
        return self._loaded[name]

    def labels_of(self, row: int) -> list[str]:
        """The image's positive target labels (all targets if it has none)."""
        y = self.run.y[row]
        return [t for t, v in zip(self.run.targets, y) if v] or list(self.run.targets)

    def scores(self, row: int) -> dict[str, np.ndarray]:
        """Each model's probability for every target label of image ``row``."""
        x, m, _, _ = self.data.batch(torch.as_tensor([row]), torch.device(self.run.device))
        with torch.no_grad():
            return {n: torch.sigmoid(self.model(n).eval()(x, m).float()).cpu().numpy()[0] for n in self.models}

    def update(self, row: int, label: str):
        """The figure for image ``row`` and target ``label``: photo, map, one Grad-CAM per model with its score."""
        j = self.run.targets.index(label)
        x, m, _, _ = self.data.batch(torch.as_tensor([row]), torch.device(self.run.device))
        scores = self.scores(row)
        cams = {n: grad_cam(self.model(n), x, m, [j])[0] for n in self.models}
        photo, maps = self.run.photos[row], self.data.maps[row].cpu().numpy()
        fig, axes = plt.subplots(1, 2 + len(self.models), figsize=(2.2 * (2 + len(self.models)), 3.4))
        h, w = photo.shape[:2]
        region = maps.argmax(0).repeat(h // maps.shape[1], 0).repeat(w // maps.shape[2], 1)
        axes[0].imshow(photo)
        axes[0].set_title(f"{self.run.table.id[row]}: {label} ({'yes' if self.run.y[row, j] else 'no'})", fontsize=8)
        vocab = self.run.vocab(self.run.map_vocabulary)
        axes[1].imshow(plots.colorize(region, vocab))
        axes[1].set_title(f"{'own' if self.run.own_map_kind else 'predicted'} map ({vocab.name})", fontsize=8)
        for ax, n in zip(axes[2:], self.models):
            ax.imshow(photo)
            ax.imshow(cams[n], cmap="jet", alpha=0.45, vmin=0, vmax=1)
            ax.set_title(f"{n}\np={scores[n][j]:.2f}", fontsize=8)
        for ax in axes:
            ax.axis("off")
        return fig

    def widget(self):
        """Dropdowns for image and label, redrawn on change (JupyterLab renders ipywidgets natively)."""
        import ipywidgets as W
        from IPython.display import display

        image = W.Dropdown(options=[(self.run.table.id[r], int(r)) for r in self.rows], description="image")
        label = W.Dropdown(options=self.labels_of(int(self.rows[0])), description="label")
        out = W.Output()

        def redraw(*_):
            with out:
                out.clear_output(wait=True)
                fig = self.update(image.value, label.value)
                display(fig)
                plt.close(fig)

        def new_image(change):
            # new options keep the value when the first label is the same, so no label event follows: redraw here,
            # once, with the label observer off while the options change
            label.unobserve(redraw, names="value")
            label.options = self.labels_of(change["new"])
            label.observe(redraw, names="value")
            redraw()

        image.observe(new_image, names="value")
        label.observe(redraw, names="value")
        redraw()
        return W.VBox([W.HBox([image, label]), out])
