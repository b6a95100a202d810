"""Trains a small BatchNorm-free model with ``sednn.training.fit.fit`` on fixed data; run alone or under torchrun.

    python tests/ddp_fit_worker.py OUT                                        # one process
    python -m torch.distributed.run --standalone --nproc-per-node 2 tests/ddp_fit_worker.py OUT

Rank 0 writes OUT/result.npz: the history, the final weights and the gathered validation predictions.
No BatchNorm and no dropout, so a correct multi-process run computes the same steps as a single process
(PyTorch has no SyncBatchNorm on CPU; see sednn.training.distributed).
"""
import json
import sys
from pathlib import Path

import numpy as np
import torch
from torch import nn

from sednn.core.epochs import steps_per_epoch
from sednn.core.metrics import macro_auc
from sednn.training import distributed as dist
from sednn.training.fit import TrainConfig, fit, multilabel_loss, predict
from sednn.training.tensors import TensorData


class TinyNet(nn.Module):
    """Conv body ("backbone", base lr) + map statistics + linear head (10x lr): both parameter groups train."""

    def __init__(self, regions: int = 4, labels: int = 3):
        super().__init__()
        self.backbone = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2), nn.ReLU(), nn.Conv2d(8, 16, 3, stride=2),
                                      nn.ReLU())
        self.head = nn.Linear(16 + regions, labels)

    def forward(self, image, semantic_map, start=0):
        # image: (B, 3, H, W), semantic_map: (B, K, h, w) -> logits (B, L)
        return self.head(torch.cat([self.backbone(image).mean((2, 3)), semantic_map.mean((2, 3))], 1))


def toy_data(n: int = 40, labels: int = 3, image_hw=(32, 24), regions: int = 4, map_hw=(8, 6)) -> TensorData:
    """Random photos and maps with one learnable label (also used by test_train.py)."""
    rng = np.random.default_rng(0)
    images = rng.integers(0, 255, (n, *image_hw, 3), dtype=np.uint8)
    maps = rng.integers(0, 255, (n, regions, *map_hw), dtype=np.uint8)
    y = (rng.random((n, labels)) < 0.5).astype(np.float32)
    images[y[:, 0] == 1, :, :, 0] = 255  # learnable signal
    return TensorData.from_arrays(images, maps, y, (0.5,) * 3, (0.5,) * 3)


def main(out: str) -> None:
    dist.init_from_env("cpu")
    torch.manual_seed(0)
    model, data = TinyNet(), toy_data()
    train_idx, val_idx, dev = np.arange(32), np.arange(32, 40), torch.device("cpu")
    cfg = TrainConfig(epochs=3, batch_size=8, lr=3e-3, new_module_lr_mult=10, weight_decay=1e-4, seed=0,
                      checkpoint_every_s=0)

    rows_trained = []

    def batches(gen):  # as sednn.study.classifiers.train cuts them
        for rows, v in data.epoch_views(train_idx, cfg.batch_size, gen):
            batch = data.at(rows, v, dev, augment=True)
            rows_trained.append(len(batch[0]))
            yield batch

    def score(mdl):
        return macro_auc(data.targets[val_idx].numpy(), predict(mdl, data, val_idx, dev, 3))

    history = fit(model, cfg, Path(out) / "ckpt", batches=batches, steps_per_epoch=steps_per_epoch(32, 8),
                  loss_fn=multilabel_loss, score_fn=score, signature=cfg.signature(), desc="toy")
    val = predict(model, data, val_idx, dev, 3)  # batch 3: parts of 4 rows are cut unevenly
    rows_per_process = dist.gather_rows(np.array([sum(rows_trained)]))
    if dist.is_main():
        np.savez(Path(out) / "result.npz", history=json.dumps(history), val=val, world=dist.world()[1],
                 rows_per_process=rows_per_process,
                 **{f"w:{k}": v.numpy() for k, v in model.state_dict().items()})
    dist.shutdown()


if __name__ == "__main__":
    main(sys.argv[1])
