"""The benchmark runs, and exercises the gpu profile's settings (full fine-tuning, 384x256) on CPU at tiny size."""
import numpy as np
import pytest

from sednn.bench import MODELS, benchmark, profile_ops


def test_benchmark_on_gpu_profile_settings_at_tiny_size():
    df = benchmark("gpu", device="cpu", steps=1, warmup=1, batch_size=2)
    models = df.iloc[: len(MODELS)]
    assert models["model"].tolist() == MODELS and (models["image_hw"] == "384x256").all()
    assert (models["train_img_per_s"] > 0).all() and (models["peak_mem_mb"] > 0).all()
    assert models.set_index("model").loc["baseline", "train_step_ratio_to_baseline"] == 1.0
    assert np.isfinite(models["train_step_ratio_to_baseline"]).all()
    assert df.iloc[-1]["loader_overhead_ratio"] > 0


def test_operator_profile_ranks_operators_by_their_share_of_a_step():
    ops = profile_ops("smoke", device="cpu", steps=1, warmup=1, batch_size=2, top=5)
    assert list(ops["model"].unique()) == ["baseline", "proposed"] and (ops.groupby("model").size() == 5).all()
    for _, g in ops.groupby("model"):
        shares = g["share_of_step"].to_numpy()
        assert (np.diff(shares) <= 0).all() and 0 < shares.sum() <= 1
    assert ops["operator"].str.contains("conv").any()  # a CNN step spends time in convolutions


def test_ratios_need_the_baseline():
    with pytest.raises(ValueError, match="include it"):
        benchmark("smoke", device="cpu", models=["proposed"])
