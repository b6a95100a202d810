"""Semantic maps of controlled quality (the map-quality study, notebook 07): between the parser's maps and the
ground truth, and three controls that each keep one part of what a ground-truth map says.

Every condition is a ``sednn.core.plan.MapCondition`` that an ``Arm`` carries in its ``maps`` field, written here
as its text:

- ``predicted``: the parser's soft maps; ``parser:<encoder>``: those of a parser with another encoder (resolved by
  ``sednn.study.classifiers.arm_maps``); ``ground_truth``: the one-hot ground truth area-pooled to map size;
- ``blend:<a>``: ``a * ground truth + (1 - a) * parser``: the parser's kind of errors, fewer of them as ``a`` grows;
- ``presence``: each ground-truth class's share of the image as a constant map: *which* classes, no layout;
- ``foreground``: the ground-truth background channel, the rest spread evenly over the other classes: *where* the
  person is, not *what*;
- ``shuffled``: another image's ground-truth map (of the same split): a plausible map that says nothing about this
  photo.

Maps are (N, K, h, w) uint8 (probability * 255) like the parser's; rows without ground truth are all zeros in every
ground-truth-derived condition, so a use outside the pixel-annotated rows shows.
"""
from __future__ import annotations

import numpy as np

from sednn.core.arms import MapCondition
from sednn.data.labels import BACKGROUND


def blend(gt: np.ndarray, parser: np.ndarray, a: float) -> np.ndarray:
    """``a * gt + (1 - a) * parser``, both (N, K, h, w) uint8."""
    if not 0 <= a <= 1:
        raise ValueError(f"blend weight {a} outside [0, 1]")
    return np.round(a * gt.astype(np.float32) + (1 - a) * parser.astype(np.float32)).astype(np.uint8)


def presence(gt: np.ndarray) -> np.ndarray:
    """Each class's share of the image, the same at every position."""
    share = gt.astype(np.float32).mean((2, 3), keepdims=True)  # (N, K, 1, 1)
    return np.broadcast_to(np.round(share), gt.shape).astype(np.uint8)


def foreground(gt: np.ndarray) -> np.ndarray:
    """The background channel as it is; the foreground's mass spread evenly over the other K - 1 classes."""
    out = np.empty_like(gt)
    bg = gt[:, BACKGROUND].astype(np.float32)
    out[:] = np.round((gt.sum(1, dtype=np.float32) - bg) / (gt.shape[1] - 1))[:, None]
    out[:, BACKGROUND] = gt[:, BACKGROUND]
    return out


def shuffled(gt: np.ndarray, groups: list[np.ndarray], seed: int) -> np.ndarray:
    """Each row of each group gets the map of another row of its group (a fixed derangement: never its own)."""
    rng, out = np.random.default_rng(seed), gt.copy()
    for rows in map(np.asarray, groups):
        if len(rows) < 2:
            raise ValueError(f"shuffling needs at least two maps in a group, got {len(rows)}")
        perm = rng.permutation(len(rows))
        out[rows[perm]] = gt[rows[np.roll(perm, 1)]]  # perm[i] takes perm[i - 1]'s map: one cycle, no fixed point
    return out


def condition_maps(condition: MapCondition, gt: np.ndarray, parser: np.ndarray, groups: list[np.ndarray],
                   seed: int) -> np.ndarray:
    """The maps of ``condition`` (module docstring) from the ground-truth and the parser's soft maps (another
    encoder's parser's maps are that parser's own: ``sednn.study.classifiers.arm_maps``); ``groups``: the row groups
    (pixel-annotated rows of each split) that ``shuffled`` draws within."""
    if condition.name == "blend":
        return blend(gt, parser, condition.weight)
    makers = {"predicted": lambda: parser, "ground_truth": lambda: gt, "presence": lambda: presence(gt),
              "foreground": lambda: foreground(gt), "shuffled": lambda: shuffled(gt, groups, seed)}
    if condition.name not in makers:
        raise ValueError(f"map condition {condition} is not made from the ground truth and the parser's maps")
    return makers[condition.name]()
