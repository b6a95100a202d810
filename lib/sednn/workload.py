"""How much work a profile is, and how long it takes at measured rates.

``work`` counts every image pass a profile's notebooks make, by notebook, model, kind of pass and input size:
training passes (forward, backward, optimiser step) of every training the tuning grid, the seeds and the ablations
ask for, the validation scoring of every epoch, the final validation and test predictions, the parser's trainings
and maps, and (profiles that freeze a prefix) the stored prefix of every image and view. ``projection`` divides
them by a benchmark's images/s (``sednn.bench``) into seconds per notebook. Not projected: decoding the photos
(notebook 01), the Grad-CAM study (notebook 06) and fixed costs (kernel start, model construction).
"""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from . import classifiers as C
from . import data as D
from . import labels as L
from . import paths
from .models import create_backbone
from .parsing import needed_vocabularies
from .profiles import Profile
from .report import argument_ablations

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


def _hw(hw) -> str:
    return "x".join(map(str, hw))


def tuning_trainings(profile: Profile) -> int:
    """The trainings ``sednn.classifiers.tune`` makes of one model: the grid with the tuning seeds, then the other
    seeds at the chosen point."""
    return len(profile.lr_mults) * len(profile.tune_seeds) + len(set(profile.seeds) - set(profile.tune_seeds))


def work(profile: Profile, splits: pd.DataFrame | None = None, best_alternative: str = "input_masking") -> pd.DataFrame:
    """One row per (notebook, model, pass, size) with its image passes; ``trainings`` counts trainings.

    ``best_alternative``: the alternative that the oracle and other-vocabulary arms train (chosen by validation
    during the run; ``input_masking`` in every run so far)."""
    if splits is None:
        if profile.max_images is not None:
            raise ValueError(f"profile {profile.name!r} subsamples the data: pass its splits table")
        splits = default_splits()
    n = split_counts(splits)
    total = len(splits)
    size, parser_size = _hw(profile.image_hw), _hw(profile.parser_image_hw or profile.image_hw)
    rows = []

    def add(notebook, model, kind, images, hw=size, trainings=0):
        rows.append({"notebook": notebook, "model": model.partition("@")[0], "pass": kind, "image_hw": hw,
                     "images": int(images), "trainings": trainings})

    def epoch_images(n_train, batch):  # sednn.train.epoch_batches: full batches only, unless there is one
        return (n_train // batch) * batch if n_train > batch else n_train

    def training(notebook, model, rows_of="all", seeds=1):
        c = n[rows_of]
        add(notebook, model, "train", seeds * profile.epochs * epoch_images(c["train"], profile.batch_size),
            trainings=seeds)
        add(notebook, model, "infer", seeds * (profile.epochs * c["val"] + c["val"] + c["test"]))

    def tuned(notebook, model):
        training(notebook, model, seeds=tuning_trainings(profile))

    def stored(notebook, hw=size):  # one prefix store: every image, every view
        if profile.freeze_stages:
            add(notebook, PREFIX, "infer", total * profile.views, hw)

    stored("01_data_prep")
    for vocab in needed_vocabularies(profile, L.CCP_VOCABULARIES):
        for _ in profile.parser_lrs:
            c = n["pixel"]
            add("02_semantic_maps", "parser", "train",
                profile.parser_epochs * epoch_images(c["train"], profile.batch_size), parser_size, trainings=1)
            add("02_semantic_maps", "parser", "infer", profile.parser_epochs * c["val"], parser_size)
        add("02_semantic_maps", "parser", "infer", total, parser_size)  # its maps of every image
    if parser_size != size:
        stored("02_semantic_maps", parser_size)
    tuned("03_baseline", "baseline")
    for model in C.alternatives(profile):
        tuned("04_alternatives", model)
    if "input_masking" in profile.alternatives:
        stored("04_alternatives")  # the photos masked with the main vocabulary's maps
    for model in ["proposed", *argument_ablations(profile)]:
        tuned("05_proposed", model)
    if profile.stage_variants:
        for stage in create_backbone("efficientnet_lite0", pretrained=False).spec.default_fusion_stages:
            training("05_proposed", f"proposed@{stage}")
    seeds = len(profile.seeds)
    masked_maps = 0
    if profile.oracle_training:
        training("05_proposed", "baseline", "pixel", seeds)
        for model in ("proposed", best_alternative):
            for _ in ("predicted", "ground_truth"):
                training("05_proposed", model, "pixel", seeds)
        masked_maps += 2 * (best_alternative == "input_masking")
    if profile.other_vocabulary:
        for model in ("proposed", best_alternative):
            training("05_proposed", model, seeds=seeds)
        masked_maps += best_alternative == "input_masking"
    for _ in range(masked_maps):
        stored("05_proposed")
    add("05_proposed", "proposed", "infer", 2 * seeds * n["pixel"]["test"])  # (c): ground truth at test time
    df = pd.DataFrame(rows)
    return df.groupby(["notebook", "model", "pass", "image_hw"], sort=False, as_index=False).sum()


def trainings(profile: Profile, vocabularies: list[str] = L.CCP_VOCABULARIES, *, parser: bool = True,
              pixel_splits: bool = True, notebooks=None) -> dict[str, int]:
    """How many trainings (``sednn.train.fit`` calls, a reused checkpoint counted too) each of ``notebooks`` (the
    profile's) makes on a dataset with map ``vocabularies`` (coarsest first; none: only the baseline trains),
    ``parser``: whether it trains the parser (not with maps of its own); ``pixel_splits``: whether train, val and
    test all hold pixel-annotated images (the oracle arms and notebook 07 need them). The runner's progress counts
    against this; a test holds it to what the smoke runs train."""
    from . import map_quality as Q

    def tuned(models):
        return len(models) * tuning_trainings(profile)

    roles = D.map_vocabularies(list(vocabularies), profile.vocabulary)
    maps, seeds = bool(vocabularies), len(profile.seeds)
    count = {"01_data_prep": 0, "03_baseline": tuned(["baseline"]), "06_attention": 0}
    count["02_semantic_maps"] = (len(needed_vocabularies(profile, list(vocabularies)))
                                 * (1 + len(profile.other_parsers)) * len(profile.parser_lrs)) if parser else 0
    count["04_alternatives"] = tuned(C.alternatives(profile)) if maps else 0
    fifth = tuned(["proposed", *argument_ablations(profile)])
    if profile.stage_variants:
        fifth += len(create_backbone("efficientnet_lite0", pretrained=False).spec.default_fusion_stages)
    if profile.oracle_training and pixel_splits:
        fifth += 5 * seeds  # the baseline, the proposed model and the best alternative with both maps
    if profile.other_vocabulary and roles["other"]:
        fifth += 2 * seeds
    count["05_proposed"] = fifth if maps else 0
    curve = Q.curve_models(profile)
    arms = 1 + len(Q.CURVE) + len(profile.other_parsers) + len(Q.CONTROLS) + len(Q.ENDS) * (len(curve) - 1)
    count["07_map_quality"] = tuned(["baseline", *curve]) + arms * seeds if maps and pixel_splits else 0
    return {name: count[name] for name in (profile.notebooks if notebooks is None else notebooks)}


def summary(profile: Profile, splits: pd.DataFrame | None = None) -> dict:
    """The work in a few numbers: classifier trainings, parser trainings, image passes (training and inference)."""
    w = work(profile, splits)
    train = w[w["pass"] == "train"]
    return {"classifier_trainings": int(train.loc[train.model != "parser", "trainings"].sum()),
            "parser_trainings": int(train.loc[train.model == "parser", "trainings"].sum()),
            "training_passes": int(train["images"].sum()),
            "inference_passes": int(w.loc[w["pass"] == "infer", "images"].sum()),
            "image_hw": _hw(profile.image_hw), "epochs": profile.epochs}


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
