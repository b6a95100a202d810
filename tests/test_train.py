"""Training recipe: stored views shared by photo, map and stored prefix; resumption; checkpoints."""
import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from ddp_fit_worker import toy_data
from sednn.core.catalog import traits
from sednn.core.epochs import steps_per_epoch
from sednn.models import create_model
from sednn.training.fit import TrainConfig, fit, load_kept, predict, prepare_for_training, read_checkpoint
from sednn.training.prefix import prefix_features
from sednn.training.tensors import TensorData, epoch_batches, view_thetas


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
    masked = traits(name).prefix_input == "masked"
    stored = prefix_features(model.backbone, photos, 3, torch.device("cpu"), 4, masked=masked)
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


def _train(folder, data, interrupt_in_epoch=None, checkpoint_every_s=0.0):
    torch.manual_seed(0)
    model = create_model("proposed", 3, 8, pretrained=False)
    model.freeze_backbone(2)
    cfg = TrainConfig(epochs=3, batch_size=8, lr=1e-3, new_module_lr_mult=10, weight_decay=1e-4, seed=0,
                      checkpoint_every_s=checkpoint_every_s)
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


def _same_weights(a, b):
    return all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


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
    with pytest.raises(FileNotFoundError, match="kept.pt: no trained checkpoint"):
        load_kept(model, tmp_path)


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


def test_checkpoints_are_written_when_due_and_a_finished_training_keeps_no_optimiser(tmp_path, monkeypatch):
    """With the default interval nothing is written during a short training; its state is written once at the end,
    ``last.pt`` then holds the history only, and a second call trains nothing and gives the same model."""
    import sednn.training.fit as T

    data, saved = _toy_data(), []
    real_save = T._save
    monkeypatch.setattr(T, "_save", lambda obj, path: (saved.append(path.name), real_save(obj, path)))
    model, hist, _ = _train(tmp_path, data, checkpoint_every_s=3600)
    assert saved == ["kept.pt", "last.pt"]  # one write of each, after the last epoch
    last = torch.load(tmp_path / "last.pt", weights_only=True)
    assert set(last) == {"epoch", "history", "signature"} and last["epoch"] == 3
    again, hist_again, epochs_run = _train(tmp_path, data, checkpoint_every_s=3600)
    assert epochs_run == 0 and hist_again == hist and _same_weights(model, again)


def test_an_interruption_before_the_first_write_retrains_to_the_same_result(tmp_path):
    data = _toy_data()
    straight, _, _ = _train(tmp_path / "straight", data)
    with pytest.raises(Interrupted):
        _train(tmp_path / "cut", data, interrupt_in_epoch=3, checkpoint_every_s=3600)
    assert not (tmp_path / "cut" / "last.pt").exists()
    resumed, _, epochs_run = _train(tmp_path / "cut", data, checkpoint_every_s=3600)
    assert epochs_run == 3 and _same_weights(straight, resumed)


class Payload:
    """Not a tensor or a container: a weights-only load must refuse it rather than run its unpickling."""

    def __reduce__(self):
        return (print, ("unpickled code ran",))


@pytest.mark.parametrize("damage", ["truncated", "garbage", "foreign object"])
def test_an_unreadable_last_checkpoint_is_named_and_training_starts_over(tmp_path, caplog, capsys, damage):
    data = _toy_data()
    straight, _, _ = _train(tmp_path / "straight", data)
    folder = tmp_path / "broken"
    with pytest.raises(Interrupted):
        _train(folder, data, interrupt_in_epoch=3)
    last = folder / "last.pt"
    if damage == "truncated":
        last.write_bytes(last.read_bytes()[:1000])
    elif damage == "garbage":
        last.write_bytes(b"not a checkpoint")
    else:
        torch.save({"signature": "x", "payload": Payload()}, last)
    with caplog.at_level("WARNING"):
        retrained, _, epochs_run = _train(folder, data)
    assert epochs_run == 3 and _same_weights(straight, retrained)
    assert f"{last}: unreadable checkpoint" in caplog.text and "training from scratch" in caplog.text
    assert "unpickled code ran" not in capsys.readouterr().out


def test_an_unreadable_best_checkpoint_is_an_error_naming_it(tmp_path):
    from sednn.training.fit import CheckpointError

    (tmp_path / "kept.pt").write_bytes(b"\x00" * 64)
    with pytest.raises(CheckpointError, match="kept.pt: unreadable checkpoint"):
        load_kept(create_model("baseline", 3, 8, pretrained=False), tmp_path)


def test_an_epoch_of_batches_is_drawn_once_and_lives_on_the_data_device():
    """``epoch_views`` draws what per-batch draws gave (same order, same views), in one host-to-device copy."""
    data = _toy_data()
    idx = np.arange(20)
    planned = data.epoch_views(idx, 8, torch.Generator().manual_seed(4))
    gen = torch.Generator().manual_seed(4)
    one_by_one = [data.views(b, gen) for b in epoch_batches(idx, 8, gen)]
    assert len(planned) == len(one_by_one) == 2
    for (rows, v), (rows1, v1) in zip(planned, one_by_one):
        assert torch.equal(rows, rows1) and torch.equal(v, v1) and v.max() < data.thetas.shape[1]
        assert rows.device == data.images.device


def test_predictions_are_float32_even_after_bf16_training():
    """Training steps may run in bf16 autocast; stored scores are the float32 model's, not rounded to 8 bits."""
    from sednn.training.fit import make_optimizer, multilabel_loss, optimizer_step

    data = _toy_data()
    model = create_model("baseline", 3, 8, pretrained=False)
    cfg = _cfg(bf16_autocast=True)
    opt = make_optimizer(model, cfg)
    before = [p.detach().clone() for p in model.parameters() if p.requires_grad]
    batch = data.batch(torch.arange(8), torch.device("cpu"), torch.Generator().manual_seed(0))
    loss = optimizer_step(model, opt, multilabel_loss, batch, torch.device("cpu"), bf16_autocast=True)
    assert loss.dtype == torch.float32 and torch.isfinite(loss)
    assert any(not torch.equal(a, p) for a, p in zip(before, (p for p in model.parameters() if p.requires_grad)))
    scores = predict(model, data, np.arange(24), torch.device("cpu"), 8)
    with torch.no_grad():
        x, m, _, start = data.batch(torch.arange(24), torch.device("cpu"))
        exact = torch.sigmoid(model.eval()(x, m, start)).numpy()
    assert scores.dtype == np.float32 and np.allclose(scores, exact, atol=1e-6)
    bf16 = torch.from_numpy(exact).bfloat16().float().numpy()
    assert len(np.unique(scores)) > len(np.unique(bf16))  # bf16 would tie scores that float32 tells apart


def test_fused_adamw_and_cudnn_autotuning_on_cuda_only():
    from sednn.training.device import configure_device
    from sednn.training.fit import make_optimizer

    model = create_model("baseline", 3, 8, pretrained=False)
    assert make_optimizer(model, _cfg(device="cuda")).defaults["fused"] is True
    assert not make_optimizer(model, _cfg(device="cpu")).defaults["fused"]
    before = torch.backends.cudnn.benchmark
    try:
        torch.backends.cudnn.benchmark = False
        configure_device(torch.device("cpu"))
        assert torch.backends.cudnn.benchmark is False
        configure_device(torch.device("cuda"))
        assert torch.backends.cudnn.benchmark is True
    finally:
        torch.backends.cudnn.benchmark = before


@pytest.mark.slow
def test_a_real_model_compiles_and_trains_like_eager():
    """torch.compile (inductor) on Lite0 with the proposed model's fusion, trained from a stored prefix as the cpu
    profiles train it (here the stem and 5 frozen stages, so that only the fusion after stage 4, the last two stages
    and the head compile): the training step ``fit`` takes (``prepare_for_training`` with ``compile``,
    ``optimizer_step``) gives the same loss and weights as eager."""
    from sednn.training.fit import make_optimizer, multilabel_loss, optimizer_step

    stop = 5
    torch.manual_seed(0)
    images = np.random.default_rng(0).integers(0, 255, (4, 64, 32, 3), dtype=np.uint8)
    maps = (torch.softmax(torch.randn(4, 17, 16, 8), 1) * 255).round().to(torch.uint8).numpy()
    photos = TensorData.from_arrays(images, maps, np.eye(4, 3, dtype=np.float32), (0.5,) * 3, (0.5,) * 3)
    with torch.no_grad():  # the stored prefix of the one view: (N, V=1, C, h', w')
        prefix = create_model("proposed", 3, 17, pretrained=False).backbone.prefix(
            photos.batch(torch.arange(4), torch.device("cpu"))[0], stop)[:, None].numpy()
    data = TensorData.from_arrays(images, maps, np.eye(4, 3, dtype=np.float32), (0.5,) * 3, (0.5,) * 3,
                                  features=prefix, start=stop)
    batch = data.batch(torch.arange(4), torch.device("cpu"))
    assert batch[-1] == stop
    losses, weights = [], []
    for compile in (False, True):
        torch.manual_seed(0)
        model = create_model("proposed", 3, 17, pretrained=False)
        model.freeze_backbone(stop)
        model.eval()  # BatchNorm statistics fixed: the compared steps see the same normalisation
        cfg = _cfg(compile=compile)
        net = prepare_for_training(model, cfg, torch.device("cpu"))
        opt = make_optimizer(model, cfg)
        losses.append(float(optimizer_step(net, opt, multilabel_loss, batch, torch.device("cpu"))))
        weights.append({n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad})
    assert abs(losses[0] - losses[1]) < 1e-4
    assert any(n.startswith("fusions.4.") for n in weights[0]) and weights[0].keys() == weights[1].keys()
    assert all(torch.allclose(weights[0][n], weights[1][n], atol=1e-5) for n in weights[0])  # fusion, stages, head


def test_a_training_is_summarised_in_one_line_with_its_kept_epoch():
    from sednn.training.fit import finished_training

    history = [{"epoch": e, "val_score": v, "seconds": 2.0} for e, v in ((1, 0.61), (2, float("nan")), (3, 0.66),
                                                                         (4, 0.64))]
    assert finished_training("baseline-garments-m1_s0", history, "best").line() == \
        "baseline-garments-m1_s0: 4 epochs, kept epoch 3 (validation 0.6600), 8 s"
    assert finished_training("b", history, "last", reused=True).line() == \
        "b: 4 epochs, kept epoch 4 (validation 0.6400), reused"


@pytest.mark.parametrize("keep, kept", [("best", 2), ("last", 4)])
def test_a_training_keeps_the_epoch_its_rule_names_across_an_interruption(tmp_path, keep, kept):
    """``keep="last"`` keeps the final weights although an earlier epoch scored higher; ``"best"`` that epoch. Cut
    after epoch 2 (a checkpoint after every epoch) and resumed, the kept weights are those of the same epoch."""
    scores = iter([0.6, 0.9, 0.5, 0.4, 0.6, 0.9, 0.5, 0.4])
    x, y = torch.randn(8, 2), torch.rand(8, 1).round()

    def run(folder, epochs):
        torch.manual_seed(0)
        model = nn.Linear(2, 1)
        model.backbone = nn.Identity()
        snapshots = []

        def score_fn(m):
            snapshots.append({k: v.clone() for k, v in m.state_dict().items()})
            return next(scores)

        cfg = TrainConfig(epochs=4, batch_size=4, lr=0.1, new_module_lr_mult=1.0, weight_decay=0.0, seed=0,
                          checkpoint_every_s=0.0, keep=keep)
        calls = []

        def batches(gen):  # this process dies when asked for its (epochs + 1)-th epoch
            calls.append(1)
            if len(calls) > epochs:
                raise Interrupted
            return [(x, y)]

        fit(model, cfg, folder, batches=batches, steps_per_epoch=1, score_fn=score_fn, signature="s", desc="toy",
            loss_fn=lambda m, b: F.binary_cross_entropy_with_logits(m(b[0]), b[1]))
        return model, snapshots

    model, snapshots = run(tmp_path / "straight", 4)
    state = read_checkpoint(tmp_path / "straight" / "kept.pt")
    assert state["epoch"] == kept
    assert all(torch.equal(state["model"][k], snapshots[kept - 1][k]) for k in snapshots[0])
    assert all(torch.equal(v, snapshots[kept - 1][k]) for k, v in model.state_dict().items())  # what fit returns

    scores = iter([0.6, 0.9, 0.5, 0.4])
    with pytest.raises(Interrupted):
        run(tmp_path / "cut", 2)
    scores = iter([0.5, 0.4])
    resumed, _ = run(tmp_path / "cut", 2)
    assert read_checkpoint(tmp_path / "cut" / "kept.pt")["epoch"] == kept
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in resumed.state_dict().items())


def test_a_training_config_names_its_kept_epoch_rule():
    with pytest.raises(ValueError, match="keep must be 'best' or 'last', got 'middle'"):
        _cfg(keep="middle")


def test_every_finished_training_reaches_the_runner_through_the_progress_file(tmp_path, monkeypatch):
    """``fit`` appends one line per training (fresh, then reused on a second call) to the file the runner names;
    the watcher prints each with the count of the total and the time left."""
    import io

    from sednn.training import progress

    path = tmp_path / "progress.jsonl"
    out = io.StringIO()
    watcher = progress.Watcher(path, total=3, stream=out, poll_s=0.05).start()
    try:
        x, y = torch.randn(8, 2), torch.rand(8, 1).round()
        for _ in range(2):
            model = nn.Linear(2, 1)
            model.backbone = nn.Identity()
            cfg = TrainConfig(epochs=2, batch_size=4, lr=0.1, new_module_lr_mult=1.0, weight_decay=0.0, seed=0)
            fit(model, cfg, tmp_path / "ckpt", batches=lambda g: [(x, y)], steps_per_epoch=1,
                loss_fn=lambda m, b: F.binary_cross_entropy_with_logits(m(b[0]), b[1]), score_fn=lambda m: 0.5,
                signature="s", desc="toy")
    finally:
        watcher.stop()
    seen = [progress.Training(**json.loads(line)) for line in path.read_text().splitlines()]
    assert [t.reused for t in seen] == [False, True] and all(t.epochs == 2 for t in seen)
    lines = out.getvalue().splitlines()
    assert len(lines) == 2 and lines[0].startswith("[sednn] toy: 2 epochs, kept epoch 1 (validation 0.5000)")
    assert lines[0].endswith("| 1/3 trainings") and lines[1].endswith("| 2/3 trainings")  # the second was reused
    assert progress.ENV not in __import__("os").environ


def test_the_time_left_is_the_rate_of_fresh_trainings_since_the_first(tmp_path, monkeypatch):
    """The rate counts from the first fresh training's end (the data preparation before it is not repeated);
    reused trainings cost nothing."""
    import io

    from sednn.training import progress

    clock = iter([100.0, 160.0, 220.0])  # the first ends at 100 s, two more 60 s apart
    monkeypatch.setattr(progress.time, "monotonic", lambda: next(clock))
    path = tmp_path / "progress.jsonl"
    out = io.StringIO()
    watcher = progress.Watcher(path, total=10, stream=out)
    for reused in (False, True, False, False):
        monkeypatch.setenv(progress.ENV, str(path))
        progress.report(progress.Training("t", 1, 1, 0.5, 1.0, reused))
        watcher.poll()
    ends = [line.split(" | ")[1] for line in out.getvalue().splitlines()]
    assert ends == ["1/10 trainings", "2/10 trainings", "3/10 trainings, about 7 min left",
                    "4/10 trainings, about 6 min left"]  # 60 s per fresh training, 7 then 6 to go
    assert progress.eta(3, None, 5.0) == "3 trainings" and progress.eta(10, 10, 60.0) == "10/10 trainings"


def test_read_only_arrays_become_tensors_without_copy_or_warning():
    import warnings

    images = np.zeros((4, 8, 6, 3), np.uint8)
    maps = np.ones((4, 2, 2, 2), np.uint8)
    targets = np.zeros((4, 3), np.float32)
    for a in (images, maps, targets):
        a.setflags(write=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        data = TensorData.from_arrays(images, maps, targets, (0.5,) * 3, (0.5,) * 3)
    assert data.images.data_ptr() == images.ctypes.data and data.maps.data_ptr() == maps.ctypes.data


def test_the_checkpoint_signature_covers_every_module_a_training_runs_and_no_report():
    """The files hashed into every checkpoint signature are what the training entry points import: each package
    module that importing them loads (checked in a fresh interpreter), the map conditions and the metric that picks
    the best epoch among them; reporting code is not, so a figure's change retrains nothing."""
    import subprocess
    import sys

    from sednn.training.fingerprint import PACKAGE_DIR, TRAINING_ENTRY_POINTS, training_files

    names = {f.relative_to(PACKAGE_DIR).with_suffix("").as_posix().replace("/__init__", "").replace("/", ".")
             for f in training_files()}
    code = ("import sys; " + "; ".join(f"import sednn.{m}" for m in TRAINING_ENTRY_POINTS)
            + "; print(' '.join(m[6:] for m in sys.modules if m.startswith('sednn.')))")
    loaded = set(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
                 .stdout.split())
    assert loaded and loaded <= names, sorted(loaded - names)
    assert {"study.map_conditions", "core.metrics", "training.fit", "models.semantic_embedded",
            "data.manifest"} <= names
    assert not {"study.tables", "study.cam", "reporting", "reporting.plots", "reporting.readme", "reporting.summary",
                "pipeline", "pipeline.runner", "pipeline.bench"} & names


def test_imports_inside_functions_relative_and_absolute_are_followed(tmp_path):
    from sednn.training.fingerprint import imported_modules

    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "a.py").write_text("def f():\n    from . import b\n    from .sub.c import g\n    from sednn.f import h\n")
    (pkg / "f.py").write_text("import sednn.g as g\nfrom numpy import zeros\n")
    (pkg / "g.py").write_text("")
    (pkg / "b.py").write_text("from .sub import d\n")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "sub" / "c.py").write_text("from .. import e\n")
    (pkg / "sub" / "d.py").write_text("")
    (pkg / "e.py").write_text("import os\n")
    (pkg / "unused.py").write_text("")
    assert imported_modules("a", pkg) == {"a", "b", "sub", "sub.c", "sub.d", "e", "f", "g"}
