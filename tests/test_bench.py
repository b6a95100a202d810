"""The benchmark's parts; the gpu profile's recipe end to end (every model, nothing frozen, bf16 autocast) is timed
by the gpu check's CPU dry run (test_notebooks.py)."""
import numpy as np
import pytest

from sednn.pipeline.bench import benchmark, profile_ops


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


def test_models_are_timed_as_they_train_and_a_size_can_be_tried_before_a_profile():
    """Models that train from the stored prefix get its output and start after it; early fusion gets the photo."""
    import torch

    from sednn.core.profiles import get_profile
    from sednn.pipeline.bench import as_trained, bench_model, synthetic_data

    prof = get_profile("smoke")
    data = synthetic_data(prof, 2, 42, torch.device("cpu"))
    photo_batch = data.batch(torch.arange(2), torch.device("cpu"))
    for name, starts_at in [("baseline", prof.freeze_stages), ("proposed", prof.freeze_stages), ("early_fusion", 0)]:
        model = bench_model(name, prof, torch.device("cpu"), 42)
        x, _, _, start = as_trained(name, model, photo_batch, prof)
        assert start == starts_at and (x.shape[1] == 3) == (starts_at == 0)
    df = benchmark("smoke", device="cpu", steps=1, warmup=1, batch_size=2, rounds=1, models=["baseline", "proposed"],
                   image_hw=(128, 96))
    assert (df["image_hw"] == "128x96").all()
    prefix = df[df["model"].str.startswith("frozen prefix")]
    assert len(prefix) == 1 and prefix["infer_img_per_s"].iloc[0] > 0


def test_the_parser_is_timed_at_its_own_size_with_the_prefix_store_at_both():
    """smoke parses 144x96 photos and classifies 96x64 ones: the parser's rates and the prefix store's second rate
    are at 144x96, which is what the projection of notebook 02 needs."""
    df = benchmark("smoke", device="cpu", steps=1, warmup=1, batch_size=2, rounds=1, models=["baseline", "parser"])
    rows = df.set_index("model")
    assert rows.loc["parser", "image_hw"] == "144x96" and rows.loc["baseline", "image_hw"] == "96x64"
    assert rows.loc["parser", "train_img_per_s"] > 0 and rows.loc["parser", "infer_img_per_s"] > 0
    prefix = df[df.model.str.startswith("frozen prefix")]
    assert sorted(prefix.image_hw) == ["144x96", "96x64"] and (prefix.infer_img_per_s > 0).all()
