"""How an epoch of training is cut into batches: shuffled, the last partial batch dropped when there is more than
one batch (``sednn.training.tensors.epoch_batches`` cuts them; the work count counts them)."""
from __future__ import annotations


def steps_per_epoch(n: int, batch_size: int) -> int:
    return n // batch_size if n > batch_size else 1


def epoch_images(n: int, batch_size: int) -> int:
    """The images one epoch of ``n`` training images passes."""
    return steps_per_epoch(n, batch_size) * batch_size if n > batch_size else n
