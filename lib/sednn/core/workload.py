"""How much work a profile is, and how long it takes at measured rates.

``work`` counts every image pass a profile's notebooks make, by notebook, model, kind of pass and input size:
training passes (forward, backward, optimiser step) of every training the tuning grid, the seeds and the ablations
ask for, the validation scoring of every epoch, the final validation and test predictions, the parser's trainings
and maps, and (profiles that freeze a prefix) the stored prefix of every image and view. ``projection`` divides
them by a benchmark's images/s (``sednn.pipeline.bench``) into seconds per notebook. Not projected: decoding the photos
(notebook 01), the Grad-CAM study (notebook 06) and fixed costs (kernel start, model construction).
"""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from sednn.core import paths
from sednn.core.epochs import epoch_images, training_epochs
from sednn.core.plan import DatasetShape, alternatives, make_plan, tuning_trainings
from sednn.core.profiles import Profile, hw_text

PREFIX = "frozen prefix"  # the bench's rows of the prefix store's rate start with it
PROJECTED = ("01_data_prep", "02_semantic_maps", "03_baseline", "04_alternatives", "05_proposed")


def split_counts(splits: pd.DataFrame) -> dict[str, dict[str, int]]:
    """{"all" | "pixel": {"train" | "val" | "test": images}} of a splits table (columns split, source)."""
    pixel = splits[splits["source"] == "pixel"]
    return {rows: {s: int((t["split"] == s).sum()) for s in ("train", "val", "test")}
            for rows, t in (("all", splits), ("pixel", pixel))}


def default_splits() -> pd.DataFrame:
    """The committed run's split of the whole dataset (every full-size profile uses the same split seed)."""
    return pd.read_csv(paths.RESULTS_DIR / "splits.csv", dtype={"id": str})


def work(profile: Profile, splits: pd.DataFrame | None = None, best_alternative: str = "input_masking") -> pd.DataFrame:
    """One row per (notebook, model, pass, size) with its image passes; ``trainings`` counts trainings.

    ``best_alternative``: the alternative that the oracle and other-vocabulary arms train (chosen by validation
    during the run; ``input_masking`` in every run so far)."""
    if splits is None:
        if profile.max_images is not None:
            raise ValueError(f"profile {profile.name!r} subsamples the data: pass its splits table")
        splits = default_splits()
    n, total = split_counts(splits), len(splits)
    plan = make_plan(profile, DatasetShape.ccp(profile), best_alternative=best_alternative)
    size, parser_size = hw_text(profile.image_hw), hw_text(profile.parser_image_hw or profile.image_hw)
    rows = []

    def add(notebook, model, kind, images, hw=size, trainings=0):
        rows.append({"notebook": notebook, "model": model, "pass": kind, "image_hw": hw, "images": int(images),
                     "trainings": trainings})

    def training(notebook, arm, seeds):
        c = n["pixel" if profile.rows == "pixel" else arm.rows]
        epochs = training_epochs(profile.epochs, n["all"]["train"], c["train"], profile.batch_size)
        add(notebook, arm.model, "train", seeds * epochs * epoch_images(c["train"], profile.batch_size),
            trainings=seeds)
        add(notebook, arm.model, "infer", seeds * (epochs * c["val"] + c["val"] + c["test"]))

    def stored(notebook, hw=size):  # one prefix store: every image, every view
        if profile.freeze_stages:
            add(notebook, PREFIX, "infer", total * profile.views, hw)

    stored("01_data_prep")
    for p in plan["02_semantic_maps"].parsers:
        c = n["pixel"]
        add("02_semantic_maps", "parser", "train", profile.parser_epochs * epoch_images(c["train"], profile.batch_size),
            parser_size, trainings=1)
        add("02_semantic_maps", "parser", "infer", profile.parser_epochs * c["val"], parser_size)
        if p.lr == profile.parser_lrs[-1]:
            add("02_semantic_maps", "parser", "infer", total, parser_size)  # the chosen parser's maps of every image
    if parser_size != size:
        stored("02_semantic_maps", parser_size)
    for notebook in ("03_baseline", "04_alternatives", "05_proposed"):
        for arm in plan[notebook].tuned:
            training(notebook, arm, tuning_trainings(profile))
        if notebook == "04_alternatives" and "input_masking" in alternatives(profile):
            stored(notebook)  # the photos masked with the main vocabulary's maps
        for group in plan[notebook].trained:
            for arm in group.arms:
                training(notebook, arm, len(group.seeds))
    for _ in (a for g in plan["05_proposed"].trained for a in g.arms if a.model == "input_masking"):
        stored("05_proposed")  # a masked store for each of input masking's maps
    add("05_proposed", "proposed", "infer", 2 * len(profile.seeds) * n["pixel"]["test"])  # (c): gt at test time
    df = pd.DataFrame(rows)
    return df.groupby(["notebook", "model", "pass", "image_hw"], sort=False, as_index=False).sum()


def summary(profile: Profile, splits: pd.DataFrame | None = None) -> dict:
    """The work in a few numbers: classifier trainings, parser trainings, image passes (training and inference)."""
    w = work(profile, splits)
    train = w[w["pass"] == "train"]
    return {"classifier_trainings": int(train.loc[train.model != "parser", "trainings"].sum()),
            "parser_trainings": int(train.loc[train.model == "parser", "trainings"].sum()),
            "training_passes": int(train["images"].sum()),
            "inference_passes": int(w.loc[w["pass"] == "infer", "images"].sum()),
            "image_hw": hw_text(profile.image_hw), "epochs": profile.epochs}


def rate(bench: pd.DataFrame, model: str, kind: str, hw: str) -> float:
    """Images/s of ``model``'s ``kind`` pass at size ``hw`` in a benchmark table."""
    col = "train_img_per_s" if kind == "train" else "infer_img_per_s"
    names = bench["model"].where(~bench["model"].str.startswith(PREFIX), PREFIX)
    hit = bench[(names == model) & (bench["image_hw"] == hw)][col].dropna()
    if hit.empty:
        raise KeyError(f"the benchmark has no {kind} rate for {model!r} at {hw}; run `make bench` for the profile")
    return float(hit.iloc[0])


def projection(profile: Profile, bench: pd.DataFrame, splits: pd.DataFrame | None = None,
               best_alternative: str = "input_masking", notebooks=PROJECTED) -> pd.DataFrame:
    """Seconds per notebook at the benchmark's rates, and their sum (of ``notebooks``; see the module's note)."""
    w = work(profile, splits, best_alternative)
    w = w[w["notebook"].isin(notebooks)]
    w["seconds"] = [r.images / rate(bench, r.model, r["pass"], r.image_hw) for _, r in w.iterrows()]
    w["training_passes"] = w["images"].where(w["pass"] == "train", 0)
    w["inference_passes"] = w["images"].where(w["pass"] == "infer", 0)
    per = (w.groupby("notebook", sort=False)[["trainings", "training_passes", "inference_passes", "seconds"]].sum()
           .reset_index().rename(columns={"seconds": "projected_s"}))
    total = {"notebook": "all projected", **per.drop(columns="notebook").sum().to_dict()}
    return pd.concat([per, pd.DataFrame([total])], ignore_index=True)


def against_run(projected: pd.DataFrame, run_json: str | Path) -> pd.DataFrame:
    """The projection beside a finished run's measured seconds per notebook (all its invocations)."""
    record = json.loads(Path(run_json).read_text())
    measured = record.get("notebook_seconds_all_invocations") or record["notebook_seconds"]
    out = projected[projected.notebook != "all projected"][["notebook", "projected_s"]].copy()
    out["measured_s"] = out.notebook.map(measured)
    total = {"notebook": "all projected", "projected_s": out.projected_s.sum(), "measured_s": out.measured_s.sum()}
    out = pd.concat([out, pd.DataFrame([total])], ignore_index=True)
    out["measured_over_projected"] = out.measured_s / out.projected_s
    return out.assign(cpu_model=record.get("cpu_model"), gpu=record.get("gpu"), run_commit=record.get("git_commit"))
