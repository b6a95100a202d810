"""Training recipe: augmentation shared by photo and map, resumption, checkpoints."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from ddp_fit_worker import toy_data
from sednn.models import create_model
from sednn.train import (TrainConfig, augment, epoch_batches, fit, load_best, predict,
                         prepare_for_training, steps_per_epoch)


def test_augmentation_moves_photo_and_map_together():
    """A map that is a downscaled copy of the photo stays one after augmentation."""
    g = torch.Generator().manual_seed(0)
    img = F.interpolate(torch.rand(4, 1, 8, 6, generator=g), size=(64, 48), mode="nearest").repeat(1, 3, 1, 1)
    small = F.avg_pool2d(img[:, :1], 4)  # (4, 1, 16, 12)
    x, m = augment(img, small, torch.Generator().manual_seed(1))
    assert not torch.allclose(x, img)
    assert torch.allclose(F.avg_pool2d(x[:, :1], 4), m, atol=0.08)


def _toy_data():
    return toy_data(24, image_hw=(64, 32), regions=8, map_hw=(16, 8))


class Interrupted(Exception):
    pass


def _train(folder, data, interrupt_in_epoch=None):
    torch.manual_seed(0)
    model = create_model("proposed", 3, 8, pretrained=False)
    model.freeze_backbone(2)
    cfg = TrainConfig(epochs=3, batch_size=8, lr=1e-3, new_module_lr_mult=10, weight_decay=1e-4, seed=0)
    idx, dev, calls = np.arange(16), torch.device("cpu"), []

    def batches(gen):
        calls.append(1)
        if len(calls) == interrupt_in_epoch:
            raise Interrupted
        return (data.batch(b, dev, gen) for b in epoch_batches(idx, cfg.batch_size, gen))

    def loss_fn(model, batch):
        x, m, y = batch
        return F.binary_cross_entropy_with_logits(model(x, m), y)

    hist = fit(model, cfg, folder, batches=batches, steps_per_epoch=steps_per_epoch(16, 8), loss_fn=loss_fn,
               score_fn=lambda mdl: -float(predict(mdl, data, np.arange(16, 24), dev, 8).mean()),
               signature=cfg.signature(), desc="toy")
    return model, hist, len(calls)


def test_interrupted_training_resumes_to_the_same_result(tmp_path):
    data = _toy_data()
    straight, hist, _ = _train(tmp_path / "straight", data)
    with pytest.raises(Interrupted):
        _train(tmp_path / "cut", data, interrupt_in_epoch=3)  # dies at the start of epoch 3
    resumed, hist_resumed, epochs_run = _train(tmp_path / "cut", data)
    assert epochs_run == 1  # only the missing epoch was trained
    assert [h["epoch"] for h in hist_resumed] == [1, 2, 3]
    for a, b in zip(straight.state_dict().values(), resumed.state_dict().values()):
        assert torch.equal(a, b)
    assert hist_resumed[-1]["train_loss"] == hist[-1]["train_loss"]


def test_missing_checkpoint_is_an_error(tmp_path):
    model = create_model("baseline", 3, 8, pretrained=False)
    with pytest.raises(FileNotFoundError, match="best.pt: no trained checkpoint"):
        load_best(model, tmp_path)


def _cfg(**kw):
    return TrainConfig(**{"epochs": 1, "batch_size": 8, "lr": 1e-3, "new_module_lr_mult": 10, "weight_decay": 1e-4,
                          "seed": 0, **kw})


def test_compile_wraps_the_step_and_shares_weights_but_not_the_signature():
    model = create_model("baseline", 3, 8, pretrained=False)
    net = prepare_for_training(model, _cfg(compile=True), torch.device("cpu"))
    assert isinstance(net, torch._dynamo.eval_frame.OptimizedModule) and net._orig_mod is model
    assert prepare_for_training(model, _cfg(), torch.device("cpu")) is model
    assert _cfg(compile=True).signature() == _cfg().signature() != _cfg(lr=3e-3).signature()


def test_augmentation_of_a_batch_part_equals_that_part_of_the_whole_batch():
    """What each process of a multi-process run trains on: its rows, transformed as in a single process."""
    data = _toy_data()
    idx = torch.arange(8)
    whole = data.batch(idx, torch.device("cpu"), torch.Generator().manual_seed(3))
    half = data.batch(idx, torch.device("cpu"), torch.Generator().manual_seed(3), part=slice(4, 8))
    for a, b in zip(whole, half):
        assert torch.equal(a[4:], b)
