"""On a CUDA GPU only (`make gpu-check` runs them there; elsewhere they skip): the GPU paths of training and
prediction on real models, with no dataset needed. Their logic is tested on the CPU by the other files."""
import numpy as np
import pytest
import torch

from sednn.models import create_model
from sednn.training.fit import (
    TrainConfig,
    fit,
    make_optimizer,
    multilabel_loss,
    optimizer_step,
    predict,
    prepare_for_training,
    read_checkpoint,
)
from sednn.training.tensors import TensorData

pytestmark = [pytest.mark.cuda, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]
# CPU and CUDA differ in summation order and in TF32 convolutions (cuDNN's default); probabilities of one
# model then agree to this absolute tolerance.
CPU_CUDA_ATOL = 5e-3


def tiny_data(device, n=16, hw=(96, 64), classes=17, labels=5):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 255, (n, *hw, 3), dtype=np.uint8)
    maps = (torch.softmax(torch.randn(n, classes, hw[0] // 4, hw[1] // 4, generator=torch.Generator().manual_seed(0)),
                          1) * 255).round().to(torch.uint8).numpy()
    targets = rng.integers(0, 2, (n, labels)).astype(np.float32)
    return TensorData.from_arrays(images, maps, targets, (0.5,) * 3, (0.5,) * 3, device=device)


def test_cpu_and_cuda_predictions_of_one_model_agree():
    torch.manual_seed(0)
    model = create_model("proposed", 5, 17, pretrained=False)
    scores = {d: predict(model, tiny_data(d), np.arange(16), torch.device(d), 8) for d in ("cpu", "cuda")}
    assert scores["cpu"].dtype == scores["cuda"].dtype == np.float32
    np.testing.assert_allclose(scores["cuda"], scores["cpu"], atol=CPU_CUDA_ATOL)


def on_cuda(model_name: str, classes: int, epochs: int = 1):
    """The tiny data on the GPU, a model, and the gpu profile's training settings (bf16 autocast)."""
    torch.manual_seed(0)
    model = create_model(model_name, 5, classes, pretrained=False)
    cfg = TrainConfig(epochs=epochs, batch_size=8, lr=1e-3, new_module_lr_mult=10.0, weight_decay=0.0, seed=0,
                      device="cuda", bf16_autocast=True)
    return torch.device("cuda"), tiny_data("cuda"), model, cfg


def test_a_bf16_training_step_on_cuda_learns_and_predicts_in_float32():
    dev, data, model, cfg = on_cuda("proposed", 17)
    net = prepare_for_training(model, cfg, dev)
    opt = make_optimizer(model, cfg)
    batch = data.batch(torch.arange(8, device=dev), dev, torch.Generator().manual_seed(0))
    losses = [float(optimizer_step(net, opt, multilabel_loss, batch, dev, True)) for _ in range(5)]
    assert np.isfinite(losses).all() and losses[-1] < losses[0]
    assert predict(model, data, np.arange(16), dev, 8).dtype == np.float32


def test_fit_on_cuda_writes_checkpoints_that_load_on_the_cpu(tmp_path):
    dev, data, model, cfg = on_cuda("baseline", 17, epochs=2)
    idx = np.arange(16)

    def batches(gen):
        return (data.at(rows, v, dev, augment=True) for rows, v in data.epoch_views(idx, 8, gen))

    history = fit(model, cfg, tmp_path, batches=batches, steps_per_epoch=2, loss_fn=multilabel_loss,
                  score_fn=lambda m: 0.5, signature="cuda", desc="cuda")
    assert [h["epoch"] for h in history] == [1, 2]
    state = read_checkpoint(tmp_path / "kept.pt")["model"]
    assert all(t.device.type == "cpu" for t in state.values())
