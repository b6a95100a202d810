"""Training recipe: stored views shared by photo, map and stored prefix; resumption; checkpoints."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from ddp_fit_worker import toy_data
from sednn.models import create_model
from sednn.features import prefix_features
from sednn.train import (TensorData, TrainConfig, epoch_batches, fit, load_best, predict, prepare_for_training,
                         steps_per_epoch, view_thetas)


def _blocky(n=8, hw=(64, 48)):
    """Photos of 8x8-pixel blocks (grey) and maps that are their downscaled copies (probability = brightness)."""
    g = torch.Generator().manual_seed(0)
    img = F.interpolate(torch.rand(n, 1, hw[0] // 8, hw[1] // 8, generator=g), size=hw, mode="nearest")
    images = (img.repeat(1, 3, 1, 1).permute(0, 2, 3, 1) * 255).round().to(torch.uint8).numpy()
    maps = (F.avg_pool2d(torch.from_numpy(images[..., :1]).permute(0, 3, 1, 2).float(), 4)).round().to(torch.uint8)
    return images, maps.numpy()


def test_stored_views_move_photo_and_map_together():
    """A map that is a downscaled copy of the photo stays one in every augmented view."""
    images, maps = _blocky()
    data = TensorData.from_arrays(images, maps, np.zeros((8, 1)), (0.5,) * 3, (0.5,) * 3,
                                  thetas=view_thetas(8, 4, seed=1))
    x, m, _, start = data.batch(torch.arange(8), torch.device("cpu"), torch.Generator().manual_seed(2))
    photo = x[:, :1] * 0.5 + 0.5  # undo the normalisation
    assert start == 0 and not torch.allclose(photo, torch.from_numpy(images[..., :1]).permute(0, 3, 1, 2) / 255)
    assert torch.allclose(F.avg_pool2d(photo, 4), m, atol=0.08)
    x0, m0, _, _ = data.batch(torch.arange(8), torch.device("cpu"))  # no generator: view 0, the photo itself
    assert torch.equal(m0, torch.from_numpy(maps).float() / 255)


@pytest.mark.parametrize("name", ["baseline", "proposed", "input_masking", "late_fusion", "se_only", "no_gate"])
def test_a_stored_prefix_gives_the_same_outputs_as_the_photo(name):
    """Training from the stored frozen prefix computes the model of the photo, in every view (float16 store)."""
    torch.manual_seed(0)
    images = np.random.default_rng(0).integers(0, 255, (6, 96, 64, 3), dtype=np.uint8)
    maps = (torch.softmax(torch.randn(6, 8, 24, 16), 1) * 255).round().to(torch.uint8).numpy()
    thetas = view_thetas(6, 3, seed=0)
    model = create_model(name, 5, 8, pretrained=True)
    model.freeze_backbone(3)
    for fusion in getattr(model, "fusions", {}).values():  # the map must matter: leave the zero init
        torch.nn.init.normal_(fusion.project.weight, std=0.1)
    model.eval()
    photos = TensorData.from_arrays(images, maps, np.zeros((6, 5)), model.backbone.spec.mean,
                                    model.backbone.spec.std, thetas=thetas)
    stored = prefix_features(model.backbone, photos, 3, torch.device("cpu"), 4, masked=model.prefix_input == "masked")
    assert stored.shape[:2] == (6, 3) and stored.dtype == np.float16
    prefix = TensorData.from_arrays(images, maps, np.zeros((6, 5)), model.backbone.spec.mean, model.backbone.spec.std,
                                    thetas=thetas, features=stored, start=3)
    dev = torch.device("cpu")
    assert np.allclose(predict(model, photos, np.arange(6), dev, 4), predict(model, prefix, np.arange(6), dev, 4),
                       atol=2e-3)
    with torch.no_grad():  # an augmented batch: the same views drawn, the same outputs
        a = model(*photos.batch(torch.arange(6), dev, torch.Generator().manual_seed(5))[:2])
        xb, mb, _, start = prefix.batch(torch.arange(6), dev, torch.Generator().manual_seed(5))
        assert start == 3 and torch.allclose(torch.sigmoid(a), torch.sigmoid(model(xb, mb, start)), atol=2e-3)


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
        x, m, y, start = batch
        return F.binary_cross_entropy_with_logits(model(x, m, start), y)

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
    for a, b in zip(whole[:3], half[:3]):
        assert torch.equal(a[4:], b)
