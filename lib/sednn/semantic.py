"""Parser quality: per-region IoU of the predicted maps against ground truth."""
from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import confusion_matrix

from . import labels as L
from .experiment import Run


def parser_iou(run: Run, split: str = "test") -> pd.DataFrame:
    """IoU per coarse region on ``split``'s pixel-annotated images, at map resolution (image / map_stride)."""
    idx = run.indices(split, "pixel")
    s = run.profile.map_stride
    gt = run.gt_regions[idx][:, s // 2::s, s // 2::s].ravel()
    pred = run.maps_pred[idx].argmax(1).ravel()
    cm = confusion_matrix(gt, pred, labels=np.arange(len(L.REGIONS)))
    inter = np.diag(cm).astype(float)
    union = cm.sum(0) + cm.sum(1) - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = np.where(union > 0, inter / union, np.nan)
    df = pd.DataFrame({"region": L.REGIONS, "iou": iou, "gt_pixels": cm.sum(1), "predicted_pixels": cm.sum(0)})
    miou = pd.DataFrame([{"region": "mean (mIoU)", "iou": np.nanmean(iou), "gt_pixels": cm.sum(),
                          "predicted_pixels": cm.sum()}])
    out = pd.concat([df, miou], ignore_index=True)
    out.insert(0, "images", len(idx))
    return out
