"""The semantic parser (notebook 02): its own schedule chosen on validation mIoU, one parser per vocabulary.

Trained with cross-entropy on **train-split pixel-annotated images only**; each epoch is scored by mIoU on the
validation split's pixel-annotated images, which picks the best epoch (``TrainConfig.keep``) and, over the profile's
lr grid, the lr.
Test images are never seen in training or selection. The chosen parser then predicts soft maps for every image.

The parser may see the photos at a size of its own (``Profile.parser_image_hw``, larger than the classifiers'):
its soft maps are then area-resized to the classifiers' map size, and ``parser_iou`` scores those resized maps.
"""
from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from sklearn.metrics import confusion_matrix

from sednn.core.epochs import steps_per_epoch
from sednn.core.io import write_json
from sednn.core.profiles import hw_text
from sednn.data.labels import NO_MAP
from sednn.data.manifest import PIXEL_SOURCE
from sednn.models import SemanticParser, create_backbone
from sednn.study.run import Memo, Run
from sednn.training import distributed as dist
from sednn.training.device import seed_everything
from sednn.training.fingerprint import code_fingerprint
from sednn.training.fit import TrainConfig, fit, load_kept, predict
from sednn.training.tensors import TensorData, warp


def vocabularies(run: Run) -> list[str]:
    """The vocabularies ``run`` needs maps of (``sednn.core.plan.Plan.map_vocabularies``)."""
    return run.plan().map_vocabularies()


def parser_run(run: Run, backbone: str | None = None) -> Run:
    """``run`` as the parser with encoder ``backbone`` (default: the profile's ``parser_backbone``) sees it: the same
    rows, views, work dir and checkpoints; photos, ground truth and stored prefix at ``parser_image_hw`` (their own
    cache folder). ``run`` itself when the size and the encoder agree."""
    profile, backbone = run.profile.at_parser_size(), backbone or run.profile.parser_backbone
    if tuple(profile.image_hw) == tuple(run.profile.image_hw) and backbone == run.backbone:
        return run
    if backbone not in run.memo.parser_runs:
        run.memo.parser_runs[backbone] = replace(run, profile=profile, backbone=backbone, memo=Memo())
    return run.memo.parser_runs[backbone]


def parser_backbones(run: Run) -> list[str]:
    """The parser's encoder, then the other encoders the profile trains a parser with (compared in notebook 02
    and as map conditions in notebook 07)."""
    return [run.profile.parser_backbone, *run.profile.other_parsers]


def build_parser(run: Run, vocab: str, pretrained: bool = True) -> SemanticParser:
    """A parser with ``run``'s backbone (a :func:`parser_run`) for ``vocab``."""
    seed_everything(run.seed)
    parser = SemanticParser(create_backbone(run.backbone, pretrained), run.vocab(vocab).num_classes)
    parser.backbone.freeze(run.profile.freeze_stages)
    return parser


def parser_dir(run: Run, vocab: str, lr: float, backbone: str):
    return run.work_dir / "checkpoints" / f"parser-{vocab}-{backbone}-lr{lr:g}"


def confusion(gt: np.ndarray, pred: np.ndarray, k: int) -> np.ndarray:
    keep = gt != NO_MAP
    return confusion_matrix(gt[keep].ravel(), pred[keep].ravel(), labels=np.arange(k))


def iou_from_confusion(cm: np.ndarray) -> np.ndarray:
    inter = np.diag(cm).astype(float)
    union = cm.sum(0) + cm.sum(1) - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, inter / union, np.nan)


def predict_classes(parser, data, idx, device, batch_size) -> np.ndarray:
    """(n, h, w) argmax class of the parser on rows ``idx`` (view 0: no augmentation)."""
    return predict(parser, data, idx, device, batch_size, output=lambda z: z.argmax(1)).astype(np.uint8)


def parser_loss(model, batch) -> torch.Tensor:
    """Pixel cross-entropy; pixels without ground truth are ignored. batch: photos (or stored prefix), (B, h, w)
    classes, start stage."""
    x, y, start = batch
    return F.cross_entropy(model(x, None, start).float(), y, ignore_index=NO_MAP)


def train_parser(run: Run, vocab: str, lr: float, backbone: str | None = None) -> list[dict]:
    """One parser at one lr; returns its history (``val_score``: validation mIoU of each epoch, at the parser's own
    map size)."""
    run = parser_run(run, backbone)
    device = torch.device(run.device)
    p = run.profile
    train_idx, val_idx = run.indices("train", PIXEL_SOURCE), run.indices("val", PIXEL_SOURCE)
    if len(train_idx) == 0 or len(val_idx) == 0:
        raise ValueError("the parser needs pixel-annotated train and val images (none in this manifest's split)")
    labels = run.gt_labels_at_map_size(vocab)  # (N, h, w) uint8: the training target and validation truth
    data, k = run.data(), run.vocab(vocab).num_classes
    targets = torch.from_numpy(labels.copy()).to(data.images.device)  # beside the photos: indexed by device rows
    # the best epoch: validation mIoU pools every pixel of the validation images, a steadier score than an AUC
    cfg = TrainConfig(p.parser_epochs, p.batch_size, lr, 1.0, p.weight_decay, run.seed, run.device, p.bf16_autocast,
                      run.compile, keep="best")

    def batches(gen):
        for rows, v in data.epoch_views(train_idx, cfg.batch_size, gen):
            x, _, _, start = data.at(rows, v, device, augment=True)
            y = warp(targets[rows][:, None].float().to(device), data.thetas[rows, v], mode="nearest")[:, 0].long()
            yield x, y, start

    def score_fn(model):  # validation mIoU
        pred = predict_classes(model, data, val_idx, device, cfg.batch_size * 2)
        return float(np.nanmean(iou_from_confusion(confusion(labels[val_idx], pred, k))))

    signature = cfg.signature(model=f"parser-{vocab}", backbone=run.backbone, code=code_fingerprint(),
                              photos=run.array_cache.sha256("photos"), views=[p.views, run.seed],
                              freeze=p.freeze_stages, rows=run.table[["id", "split"]].to_numpy().tolist())
    return fit(build_parser(run, vocab), cfg, parser_dir(run, vocab, lr, run.backbone), batches=batches,
               steps_per_epoch=steps_per_epoch(len(train_idx), cfg.batch_size), loss_fn=parser_loss,
               score_fn=score_fn, signature=signature, desc=f"parser {vocab} {run.backbone} lr {lr:g}")


def choice_path(run: Run, vocab: str, backbone: str | None = None):
    return run.work_dir / f"parser-{vocab}-{backbone or run.profile.parser_backbone}.json"


def tune_parser(run: Run, vocab: str, backbone: str | None = None) -> pd.DataFrame:
    """Every lr of the grid, every epoch's validation mIoU; the chosen (lr, epoch) is the best of all.
    Writes the choice beside the checkpoints; returns one row per (lr, epoch) with ``chosen``."""
    backbone = backbone or run.profile.parser_backbone
    rows = []
    for lr in run.profile.parser_lrs:
        for h in train_parser(run, vocab, lr, backbone):
            rows.append({"vocabulary": vocab, "parser": backbone, "lr": lr, "epoch": h["epoch"],
                         "val_miou": h["val_score"], "train_loss": h["train_loss"]})
    trials = pd.DataFrame(rows)
    best = trials.loc[trials["val_miou"].idxmax()]
    trials["chosen"] = (trials["lr"] == best["lr"]) & (trials["epoch"] == best["epoch"])
    if dist.is_main():
        write_json(choice_path(run, vocab, backbone), {"lr": float(best["lr"]), "epoch": int(best["epoch"]),
                                                       "val_miou": float(best["val_miou"])})
    return trials


def chosen_lr(run: Run, vocab: str, backbone: str | None = None) -> float:
    path = choice_path(run, vocab, backbone)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no parser chosen for {vocab!r}; run notebook 02_semantic_maps first")
    return json.loads(path.read_text())["lr"]


def load_parser(run: Run, vocab: str, backbone: str | None = None) -> SemanticParser:
    """The chosen parser (best lr, best epoch) with encoder ``backbone`` (default: the profile's); a missing
    checkpoint raises."""
    prun = parser_run(run, backbone)
    return load_kept(build_parser(prun, vocab, pretrained=False),
                     parser_dir(prun, vocab, chosen_lr(run, vocab, prun.backbone), prun.backbone), run.device)


def soft_maps(run: Run, parser, data, idx) -> np.ndarray:
    """Soft maps (n, K, h, w) uint8 (probability * 255) of rows ``idx`` of ``data`` (view 0), at ``run``'s map size
    (area-resized from the parser's own when it sees larger photos)."""
    map_hw = run.map_hw

    def probabilities(logits):  # logits: (B, K, h', w') at the parser's map size
        probs = torch.softmax(logits.float(), 1)
        return probs if tuple(probs.shape[-2:]) == map_hw else F.interpolate(probs, size=map_hw, mode="area")

    probs = predict(parser, data, idx, torch.device(run.device), run.profile.batch_size * 2, output=probabilities)
    return (probs * 255).round().astype(np.uint8)


def parse(run: Run, photos: np.ndarray, vocab: str, parser=None) -> np.ndarray:
    """Soft maps (N, K, h, w) at ``run``'s map size of uint8 photos (N, H, W, 3) at the parser's photo size
    (``parser_run(run).profile.image_hw``), from the photos themselves."""
    expected = tuple(parser_run(run).profile.image_hw)
    if tuple(photos.shape[1:3]) != expected:
        raise ValueError(f"parse: photos are {photos.shape[1]}x{photos.shape[2]}, the parser sees {expected[0]}x"
                         f"{expected[1]} (profile {run.profile.name!r}, parser_image_hw)")
    data = TensorData.from_arrays(photos, np.zeros((len(photos), 1, 1, 1), np.uint8),
                                  np.zeros((len(photos), 0), np.float32), *parser_run(run).norm_stats)
    return soft_maps(run, parser or load_parser(run, vocab), data, np.arange(len(photos)))


def maps_name(run: Run, vocab: str, backbone: str | None = None) -> str:
    """The array-cache name of ``vocab``'s maps: ``maps_<vocab>`` from the profile's parser (or the dataset's own
    maps), ``maps_<vocab>-<backbone>`` from another encoder's parser."""
    backbone = backbone or run.profile.parser_backbone
    return f"maps_{vocab}" if backbone == run.profile.parser_backbone else f"maps_{vocab}-{backbone}"


def _maps_params(run: Run, vocab: str, backbone: str | None = None) -> dict:
    if run.own_map_kind:
        own = "own_soft" if run.own_map_kind == "soft" else "own_fine"
        return {"vocabulary": vocab, "own": run.array_cache.sha256(own), "map_hw": list(run.map_hw),
                "classes": list(run.vocab(vocab).classes)}
    prun = parser_run(run, backbone)
    return {"vocabulary": vocab, "parser": prun.backbone, "lr": chosen_lr(run, vocab, prun.backbone),
            "code": code_fingerprint(),
            "photos": prun.array_cache.sha256("photos"), "parser_image_hw": list(prun.profile.image_hw),
            "map_hw": list(run.map_hw), "freeze": run.profile.freeze_stages, "views": [run.profile.views, run.seed]}


def predict_maps(run: Run, vocab: str, backbone: str | None = None) -> np.ndarray:
    """Soft maps of every image at the classifiers' map size (built once, cached): from the chosen parser with
    encoder ``backbone`` (default: the profile's), or the dataset's own maps where it brings them."""
    def build():
        if run.own_map_kind:
            return run.own_soft_maps(vocab)
        return soft_maps(run, load_parser(run, vocab, backbone), parser_run(run, backbone).data(),
                         np.arange(len(run.table)))

    return run.array_cache.get(maps_name(run, vocab, backbone), _maps_params(run, vocab, backbone), build)


def predicted_maps(run: Run, vocab: str, backbone: str | None = None) -> np.ndarray:
    """The cached soft maps of ``vocab`` (from the parser with encoder ``backbone``); missing or stale raises (run
    notebook 02)."""
    key = (vocab, backbone or run.profile.parser_backbone)
    if key not in run.memo.predicted_maps:
        run.memo.predicted_maps[key] = run.array_cache.load(maps_name(run, vocab, backbone),
                                                            _maps_params(run, vocab, backbone))
    return run.memo.predicted_maps[key]


def parser_iou(run: Run, vocab: str, maps: np.ndarray | None = None, backbone: str | None = None) -> pd.DataFrame:
    """IoU per class on the val and test splits' pixel-annotated images, of the maps the classifiers get (their map
    size) against the ground truth at that size; a split without such images has no rows."""
    classes = run.vocab(vocab).classes
    maps = predicted_maps(run, vocab, backbone) if maps is None else maps
    gt_all = run.gt_labels_at_map_size(vocab)
    out = []
    for split in ("val", "test"):
        idx = run.indices(split, PIXEL_SOURCE)
        if len(idx) == 0:
            continue
        cm = confusion(gt_all[idx], maps[idx].argmax(1), len(classes))
        iou = iou_from_confusion(cm)
        out.append(pd.DataFrame({"vocabulary": vocab, "parser": "own maps" if run.own_map_kind
                                 else backbone or run.profile.parser_backbone, "split": split, "images": len(idx),
                                 "map_hw": hw_text(run.map_hw),
                                 "parser_image_hw": "own maps" if run.own_map_kind
                                 else hw_text(parser_run(run, backbone).profile.image_hw),
                                 "class": [*classes, "mean (mIoU)"], "iou": [*iou, np.nanmean(iou)],
                                 "gt_pixels": [*cm.sum(1), cm.sum()]}))
    return pd.concat(out, ignore_index=True) if out else pd.DataFrame(columns=["vocabulary", "parser", "split", "class",
                                                                               "iou"])

