"""Where the models look: Grad-CAM (pytorch-grad-cam), a localization score against ground-truth
regions, the proposed model's channel gates, and a background-swap stress test.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from torch import nn
from tqdm.auto import tqdm

from sednn.core.metrics import macro_auc
from sednn.data.labels import BACKGROUND
from sednn.study import classifiers as C
from sednn.study.parsing import parse, parser_run, predicted_maps
from sednn.study.tables import scored_labels
from sednn.training.fit import predict
from sednn.training.tensors import TensorData


def photo_data(run):
    """Photos (not a stored prefix: CAMs need the image) with the main comparison's predicted maps."""
    vocab = run.map_vocabulary
    if vocab not in run.memo.photo_tensors:
        run.memo.photo_tensors[vocab] = run.data(predicted_maps(run, vocab), with_prefix=None)
    return run.memo.photo_tensors[vocab]


def load_main(run, name: str, seed: int):
    """The main comparison's trained ``name`` (chosen lr multiplier)."""
    return C.load_model(run, C.main_arm(run, name), seed)


class MapBound(nn.Module):
    """One-input view of a two-input model, so Grad-CAM sees a single tensor. Set ``maps`` per batch."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model, self.maps = model, None

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.model(image, self.maps)


def default_target_layer(model) -> nn.Module:
    """The last stride-16 stage of the backbone (Lite0: blocks.4, ResNet-50: layer3): the head's stride-32
    grid is too coarse to localize garments at the cpu profile's 192x128 input."""
    strides = model.backbone.spec.stage_strides
    return model.backbone.stages[max(i for i, s in enumerate(strides) if s == 16)]


def grad_cam(model, images: torch.Tensor, maps: torch.Tensor, label_indices, target_layer=None,
             batch_size: int = 32) -> np.ndarray:
    """One CAM per (image, label) pair: ``images[i]`` explained for ``label_indices[i]``
    (repeat an image to explain several labels). Returns (N, H, W) float32 in [0, 1]."""
    from pytorch_grad_cam import GradCAM
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    model.eval()
    wrapper = MapBound(model)
    layer = target_layer if target_layer is not None else default_target_layer(model)
    out = []
    with GradCAM(model=wrapper, target_layers=[layer]) as cam:
        for i in range(0, len(images), batch_size):
            x = images[i:i + batch_size]
            wrapper.maps = maps[i:i + batch_size]
            targets = [ClassifierOutputTarget(int(j)) for j in label_indices[i:i + batch_size]]
            out.append(cam(input_tensor=x, targets=targets))
    cams = np.concatenate(out).astype(np.float32) if out else np.zeros((0, *images.shape[-2:]), np.float32)
    # The package catches errors inside its context manager: check what came back.
    if cams.shape != (len(images), *images.shape[-2:]):
        raise RuntimeError(f"Grad-CAM returned {cams.shape}, expected {(len(images), *images.shape[-2:])}")
    if not np.isfinite(cams).all() or cams.min() < -1e-6 or cams.max() > 1 + 1e-6:
        raise RuntimeError(f"Grad-CAM values outside [0, 1]: [{cams.min()}, {cams.max()}]")
    return cams


def localization_scores(cams: np.ndarray, masks: np.ndarray) -> pd.DataFrame:
    """Per CAM: share of its mass inside the region (``energy``) and whether its peak falls inside (``hit``)."""
    masks = masks.astype(bool)
    mass = cams.reshape(len(cams), -1).sum(1)
    inside = (cams * masks).reshape(len(cams), -1).sum(1)
    peak = cams.reshape(len(cams), -1).argmax(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        energy = np.where(mass > 0, inside / mass, np.nan)
    return pd.DataFrame({"energy": energy, "hit": masks.reshape(len(masks), -1)[np.arange(len(masks)), peak],
                         "region_share": masks.reshape(len(masks), -1).mean(1)})


def positive_pairs(run, indices) -> pd.DataFrame:
    """(row, label) pairs of positive target labels whose ground-truth region (the pixel value the vocabulary names
    like the label) survives resizing."""
    vocab = run.vocab(run.map_vocabulary)
    value = {t: vocab.values_named(t)[0] for t in run.targets if vocab.values_named(t)}
    y = run.y
    rows = []
    for i in indices:
        for j, t in enumerate(run.targets):
            if y[i, j] and t in value and (run.gt_fine[i] == value[t]).any():
                rows.append({"row": int(i), "id": run.table.id[i], "label_index": j, "label": t, "value": value[t]})
    return pd.DataFrame(rows, columns=["row", "id", "label_index", "label", "value"])


def localization_possible(run) -> str | None:
    """Why CAM localization cannot be scored here (None when it can)."""
    if not len(run.indices("test", "pixel")):
        return "No localization score: no test image has a ground-truth map."
    if not len(positive_pairs(run, run.indices("test", "pixel"))):
        return ("No localization score: no target label names a pixel value of the map vocabulary "
                f"({run.map_vocabulary}), so no label has a ground-truth region.")
    return None


def localization(run, models: list[str], seed: int, max_images: int | None = None, chunk: int = 256):
    """CAM localization on pixel-annotated test images. Returns (summary per model, detail per pair).
    Inputs are built ``chunk`` pairs at a time, so memory does not grow with the number of pairs."""
    idx = run.indices("test", "pixel")
    idx = idx[:max_images] if max_images else idx
    pairs = positive_pairs(run, idx)
    data, device = photo_data(run), torch.device(run.device)
    rows_t = torch.as_tensor(pairs["row"].to_numpy(copy=True))
    masks = run.gt_fine[pairs["row"].to_numpy()] == pairs["value"].to_numpy()[:, None, None]
    details = []
    for name in tqdm(models, desc="CAM localization", leave=False):
        model = load_main(run, name, seed).to(device)
        labels = pairs["label_index"].to_numpy()
        cams = np.concatenate([grad_cam(model, *data.batch(rows_t[i:i + chunk], device)[:2], labels[i:i + chunk])
                               for i in range(0, len(rows_t), chunk)])
        details.append(pd.concat([pairs.drop(columns=["value"]).assign(model=name),
                                  localization_scores(cams, masks)], axis=1))
    detail = pd.concat(details, ignore_index=True)
    summary = (detail.groupby("model", sort=False)
               .agg(pairs=("energy", "size"), images=("row", "nunique"), energy_inside=("energy", "mean"),
                    pointing_hit_rate=("hit", "mean"), region_share=("region_share", "mean")).reset_index())
    per_label = (detail.groupby(["model", "label"], sort=False)
                 .agg(pairs=("energy", "size"), energy_inside=("energy", "mean"), pointing_hit_rate=("hit", "mean"))
                 .reset_index())
    return summary, per_label, detail


# --------------------------------------------------------------------------- channel gates
@torch.no_grad()
def gate_values(model, images: torch.Tensor, maps: torch.Tensor) -> dict[int, np.ndarray]:
    """Proposed model's channel gate per fusion stage: {stage: (B, C)} for the given maps."""
    captured: dict[int, np.ndarray] = {}
    hooks = []
    for stage, fusion in model.fusions.items():
        if fusion.gate is None:
            continue

        def hook(module, args, _out, stage=int(stage)):
            x, m = args
            captured[stage] = module.channel_gate(x, m).float().cpu().numpy()

        hooks.append(fusion.register_forward_hook(hook))
    try:
        model.eval()(images, maps)
    finally:
        for h in hooks:
            h.remove()
    return captured


def uniform_maps(maps: torch.Tensor) -> torch.Tensor:
    """'No map': every region equally likely everywhere. maps: (B, K, h, w) probabilities."""
    return torch.full_like(maps, 1.0 / maps.shape[1])


def gate_study(run, seed: int, name: str = "proposed") -> pd.DataFrame:
    """Mean gate per channel on test images, with the predicted map and with the map removed."""
    data, device = photo_data(run), torch.device(run.device)
    idx = torch.as_tensor(run.indices("test"))
    model = load_main(run, name, seed).to(device)
    with_map, without = [], []
    for i in range(0, len(idx), run.profile.batch_size):
        x, m, _, _ = data.batch(idx[i:i + run.profile.batch_size], device)
        with_map.append(gate_values(model, x, m))
        without.append(gate_values(model, x, uniform_maps(m)))
    rows = []
    for stage in with_map[0]:
        g = np.concatenate([w[stage] for w in with_map])
        g0 = np.concatenate([w[stage] for w in without])
        for c in range(g.shape[1]):
            rows.append({"stage": stage, "channel": c, "gate_with_map": g[:, c].mean(),
                         "gate_std_over_images": g[:, c].std(),
                         "gate_without_map": g0[:, c].mean(), "mean_abs_change": np.abs(g[:, c] - g0[:, c]).mean()})
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- background swap
def swap_background(photos: np.ndarray, regions: np.ndarray, donors: np.ndarray, donor_regions: np.ndarray,
                    rng: np.random.Generator) -> np.ndarray:
    """Replace each photo's background (region 0) by a donor photo's background.

    Where the donor has a person, its own background row mean fills in, so no second person is pasted in.
    photos, donors: (N, H, W, 3) uint8; regions, donor_regions: (N, H, W) uint8.
    """
    out = photos.copy()
    for i in range(len(photos)):
        d = rng.integers(len(donors))
        donor = donors[d].astype(np.float32)
        bg = donor_regions[d] == BACKGROUND
        row_mean = (donor * bg[..., None]).sum(1) / np.maximum(bg.sum(1), 1)[:, None]  # (H, 3)
        fill = np.where(bg[..., None], donor, row_mean[:, None, :]).astype(np.uint8)
        mask = regions[i] == BACKGROUND
        out[i][mask] = fill[mask]
    return out


def background_swap_possible(run) -> str | None:
    """Why the background swap cannot run here (None when it can)."""
    if not (len(run.indices("test", "pixel")) and len(run.indices("train", "pixel"))):
        return "No background swap: it needs ground-truth maps of train and test images to tell person from background."
    if run.own_map_kind:
        return ("No background swap: swapped photos must be parsed again, and this dataset's maps come from a parser "
                "outside the project.")
    return None


def background_swap(run, models: list[str], seed: int, swap_seed: int = 0):
    """Macro AUC of each model on pixel test images before and after their backgrounds are swapped.

    Swapped photos are re-parsed, so map-using models see the map the parser makes of the new image.
    Scored on the labels those test images score (``tables.scored_labels``), as every table.
    Donor backgrounds come from pixel-annotated training photos. A parser that sees larger photos parses the same
    swap (same donors) made at its own size.
    """

    idx = run.indices("test", "pixel")
    donors = run.indices("train", "pixel")

    def swap(at):  # the same donors at any size: one generator per call, same draws
        classes = at.gt_classes(at.map_vocabulary)
        return swap_background(at.photos[idx], classes[idx], at.photos[donors], classes[donors],
                               np.random.default_rng(swap_seed))

    swapped, prun = swap(run), parser_run(run)
    maps = parse(run, swapped if prun is run else swap(prun), run.map_vocabulary)
    device = torch.device(run.device)
    y = run.y[idx]
    scored = scored_labels(run, idx)
    swapped_data = TensorData.from_arrays(swapped, maps, y, *run.norm_stats)
    rows = []
    for name in models:
        model = load_main(run, name, seed)
        before = predict(model, photo_data(run), idx, device, run.profile.batch_size * 2)
        after = predict(model, swapped_data, np.arange(len(idx)), device, run.profile.batch_size * 2)
        b, a = macro_auc(y[:, scored], before[:, scored]), macro_auc(y[:, scored], after[:, scored])
        rows.append({"model": name, "seed": seed, "n_images": len(idx), "macro_auc_original": b,
                     "macro_auc_swapped": a, "drop": b - a, "relative_drop_pct": 100 * (b - a) / b})
    return pd.DataFrame(rows), swapped


def cams_for_pairs(run, models: list[str], seed: int, pairs: pd.DataFrame) -> dict[str, np.ndarray]:
    """Grad-CAMs of each model for given (row, label_index) pairs."""
    data, device = photo_data(run), torch.device(run.device)
    x, m, _, _ = data.batch(torch.as_tensor(pairs["row"].to_numpy(copy=True)), device)  # pandas' view is read-only
    return {name: grad_cam(load_main(run, name, seed).to(device), x, m, pairs["label_index"].to_numpy())
            for name in models}


def pick_examples(detail: pd.DataFrame, model: str, reference: str, k: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Pairs where ``model`` puts most (good) and least (failure) CAM mass in the region relative to ``reference``."""
    a = detail.query("model == @model").set_index(["row", "label_index"])
    b = detail.query("model == @reference").set_index(["row", "label_index"])
    diff = (a["energy"] - b["energy"]).dropna().sort_values()
    base = a.loc[diff.index, ["id", "label"]].assign(energy_gain=diff.values).reset_index()
    good = base.sort_values("energy_gain", ascending=False).head(k)
    return good.reset_index(drop=True), base.head(k).reset_index(drop=True)
