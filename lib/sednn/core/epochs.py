"""How an epoch of training is cut into batches: shuffled, the last partial batch dropped when there is more than
one batch (``sednn.training.tensors.epoch_batches`` cuts them; the work count counts them); and how many epochs a
training runs: the schedule is counted in optimizer steps, so every arm of a profile takes as many steps, whatever
its share of the rows."""
from __future__ import annotations


def steps_per_epoch(n: int, batch_size: int) -> int:
    return n // batch_size if n > batch_size else 1


def epoch_images(n: int, batch_size: int) -> int:
    """The images one epoch of ``n`` training images passes."""
    return steps_per_epoch(n, batch_size) * batch_size if n > batch_size else n


def training_epochs(epochs: int, schedule_rows: int, rows: int, batch_size: int) -> int:
    """Whole epochs of ``rows`` training images that come nearest to the optimizer steps of ``epochs`` epochs of
    ``schedule_rows`` (the full training split): on the pixel-annotated half an arm runs about twice the epochs, not
    half the steps (with half the steps its seeds spread about three times as wide)."""
    steps = epochs * steps_per_epoch(schedule_rows, batch_size)
    return max(1, round(steps / steps_per_epoch(rows, batch_size)))
