"""The benchmark runs, and exercises the gpu profile's settings (full fine-tuning, 384x256) on CPU at tiny size."""
import numpy as np

from sednn.bench import MODELS, benchmark


def test_benchmark_on_gpu_profile_settings_at_tiny_size():
    df = benchmark("gpu", device="cpu", steps=1, warmup=1, batch_size=2)
    models = df.iloc[: len(MODELS)]
    assert models["model"].tolist() == MODELS and (models["image_hw"] == "384x256").all()
    assert (models["train_img_per_s"] > 0).all() and (models["peak_mem_mb"] > 0).all()
    assert models.set_index("model").loc["baseline", "train_step_ratio_to_baseline"] == 1.0
    assert np.isfinite(models["train_step_ratio_to_baseline"]).all()
    assert df.iloc[-1]["loader_overhead_ratio"] > 0
