"""The classifiers (notebooks 03-05, 07): one tuning budget for every model, every seed, every arm of the plan
(``sednn.core.plan``: what an ``Arm`` is, and which arms a profile trains). ``tune`` trains each grid point with the
profile's tuning seeds and picks the best mean **validation** macro AUC (of the epoch each training keeps: its last,
``KEEP``); the chosen point is then trained with every seed of the profile. The test split is predicted once per
trained model and read only by ``sednn.study.tables``.
"""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import torch

from sednn.core.arms import PREDICTED, Arm
from sednn.core.catalog import traits
from sednn.core.epochs import steps_per_epoch, training_epochs
from sednn.core.io import atomic_write, write_json
from sednn.core.metrics import macro_auc
from sednn.core.plan import NO_VOCABULARY, alternatives
from sednn.data.manifest import PIXEL_SOURCE, SPLITS
from sednn.models import create_model
from sednn.study.map_conditions import condition_maps
from sednn.study.parsing import maps_name, predicted_maps
from sednn.study.run import Run
from sednn.training import distributed as dist
from sednn.training.device import seed_everything
from sednn.training.fingerprint import code_fingerprint
from sednn.training.fit import TrainConfig, fit, kept_epoch, load_kept, multilabel_loss, predict

# A classifier keeps its last epoch. Its best epoch by validation macro AUC was picked on a few hundred validation
# images at most (110 on the pixel-annotated half), so the pick followed the score's noise: on held-out halves of
# the validation split the last epoch scored as well or better, and the baseline's seeds spread a third less.
KEEP = "last"


def main_arm(run: Run, model: str, vocab: str | None = None) -> Arm:
    return Arm(model, vocab or run.map_vocabulary or NO_VOCABULARY)


def map_classes(run: Run, arm: Arm) -> int:
    """The classes of the map ``arm``'s model sees (1 without a vocabulary: only map-free models run there)."""
    return run.vocab(arm.vocabulary).num_classes if arm.vocabulary != NO_VOCABULARY else 1


def build_model(run: Run, arm: Arm, seed: int, pretrained: bool = True):
    """``arm``'s model, its initial weights drawn from ``seed``."""
    seed_everything(seed)
    return create_model(arm.model, len(run.targets), map_classes(run, arm), run.backbone, pretrained,
                        stages=arm.stages, freeze_stages=run.profile.freeze_stages)


def arm_maps(run: Run, arm: Arm) -> np.ndarray | None:
    """The maps ``arm``'s model sees (None for a model that ignores them)."""
    if not traits(arm.model).uses_map:
        return None
    run.require_maps()
    if arm.maps == PREDICTED:
        return predicted_maps(run, arm.vocabulary)
    if arm.maps.name == "parser":  # another encoder's parser
        return predicted_maps(run, arm.vocabulary, arm.maps.encoder)
    key = (arm.vocabulary, arm.maps)
    if key not in run.memo.condition_maps:
        groups = [run.indices(s, PIXEL_SOURCE) for s in SPLITS]  # "shuffled" draws within a split
        run.memo.condition_maps[key] = condition_maps(arm.maps, run.gt_soft_maps(arm.vocabulary),
                                                      predicted_maps(run, arm.vocabulary), groups, run.seed)
    return run.memo.condition_maps[key]


def maps_fingerprint(run: Run, arm: Arm) -> str | None:
    """The checksum of the parser maps ``arm``'s maps come from (a checkpoint made with other maps is not reused)."""
    return run.array_cache.sha256(maps_name(run, arm.vocabulary, arm.maps.encoder))


def arm_data(run: Run, arm: Arm):
    """Tensors for ``arm``; the stored prefix that its model can use (none for early fusion)."""
    model = traits(arm.model)
    key = (model.prefix_input, arm.vocabulary, arm.maps) if model.uses_map else (model.prefix_input,)
    if key not in run.memo.tensors:
        run.memo.tensors[key] = run.data(arm_maps(run, arm), with_prefix=model.prefix_input)
    return run.memo.tensors[key]


def arm_indices(run: Run, arm: Arm, split: str) -> np.ndarray:
    return run.indices(split, PIXEL_SOURCE if arm.rows == "pixel" else None)


def arm_epochs(run: Run, arm: Arm) -> int:
    """The epochs ``arm`` trains: as many optimizer steps as the profile's epochs of the full training split."""
    return training_epochs(run.profile.epochs, run.dataset.schedule_rows, len(arm_indices(run, arm, "train")),
                           run.profile.batch_size)


def checkpoint_dir(run: Run, arm: Arm, seed: int):
    return run.work_dir / "checkpoints" / arm.key(seed)


def prediction_path(run: Run, arm: Arm, seed: int):
    return run.work_dir / "predictions" / f"{arm.key(seed)}.npz"


def train(run: Run, arm: Arm, seed: int) -> dict:
    """Train ``arm`` with ``seed`` (resumes; a finished run is only loaded); stores val/test probabilities."""
    arm = resolve(run, arm)
    path = prediction_path(run, arm, seed)
    device = torch.device(run.device)
    p = run.profile
    data = arm_data(run, arm)
    maps = maps_fingerprint(run, arm) if traits(arm.model).uses_map else None
    train_idx, val_idx, test_idx = (arm_indices(run, arm, s) for s in ("train", "val", "test"))
    cfg = TrainConfig(arm_epochs(run, arm), p.batch_size, p.lr, arm.lr_mult, p.weight_decay, seed, run.device,
                      p.bf16_autocast, run.compile, keep=KEEP)
    y_val = run.y[val_idx]
    model = build_model(run, arm, seed)

    def batches(gen):  # under torchrun each process takes its part of every batch
        return (data.at(rows, v, device, augment=True) for rows, v in data.epoch_views(train_idx, cfg.batch_size, gen))

    def score_fn(model):
        return macro_auc(y_val, predict(model, data, val_idx, device, cfg.batch_size * 2))

    signature = cfg.signature(arm=arm.key(seed), backbone=run.backbone, code=code_fingerprint(),
                              maps=maps, views=[p.views, run.seed],
                              rows=run.table[["id", "split"]].to_numpy().tolist(), freeze=p.freeze_stages)
    history = fit(model, cfg, checkpoint_dir(run, arm, seed), batches=batches,
                  steps_per_epoch=steps_per_epoch(len(train_idx), cfg.batch_size), loss_fn=multilabel_loss,
                  score_fn=score_fn, signature=signature, desc=arm.key(seed))
    val = predict(model, data, val_idx, device, cfg.batch_size * 2)
    test = predict(model, data, test_idx, device, cfg.batch_size * 2)  # stored; read only by sednn.study.tables
    if dist.is_main():
        atomic_write(path, lambda f: np.savez(f.open("wb"), val=val, test=test, val_idx=val_idx, test_idx=test_idx,
                                              history=json.dumps(history)))
    dist.barrier()
    return predictions(run, arm, seed)


def predictions(run: Run, arm: Arm, seed: int) -> dict:
    path = prediction_path(run, resolve(run, arm), seed)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no predictions for {arm.model} seed {seed}; train it first")
    with np.load(path) as z:
        out = {k: z[k] for k in z.files}
    out["history"] = json.loads(str(out["history"]))
    return out


def load_model(run: Run, arm: Arm, seed: int):
    """A trained model; a missing checkpoint raises (never untrained weights)."""
    arm = resolve(run, arm)
    return load_kept(build_model(run, arm, seed, pretrained=False), checkpoint_dir(run, arm, seed), run.device)


# --------------------------------------------------------------------------- tuning and seeds
def choices_path(run: Run):
    return run.work_dir / "tuning.json"


def chosen_mults(run: Run) -> dict:
    path = choices_path(run)
    return json.loads(path.read_text()) if path.exists() else {}


def resolve(run: Run, arm: Arm) -> Arm:
    """``arm`` with its lr multiplier: the one ``tune`` chose for the model (a model not tuned yet raises)."""
    if arm.lr_mult is not None:
        return arm
    mults = chosen_mults(run)  # a stage variant takes the proposed model's
    if arm.model not in mults:
        raise FileNotFoundError(f"{choices_path(run)}: {arm.model!r} not tuned yet; run its notebook first")
    return arm.at(mults[arm.model]["lr_mult"])


def kept_val_score(history: list[dict]) -> tuple[float, int]:
    """The validation macro AUC of the epoch a training kept, and that epoch."""
    kept = kept_epoch(history, KEEP)
    return kept["val_score"], kept["epoch"]


def tune(run: Run, model: str) -> pd.DataFrame:
    """Grid over the new-module lr multiplier with the tuning seeds, chosen by mean validation macro AUC, then
    every seed at the chosen point. Returns ``tuning_table`` of ``model``: one row per trained (mult, seed)."""
    p = run.profile
    base = main_arm(run, model)
    means = pd.Series({mult: np.mean([kept_val_score(train(run, base.at(mult), seed)["history"])[0]
                                      for seed in p.tune_seeds]) for mult in p.lr_mults})
    chosen = float(means.idxmax())
    if dist.is_main():
        mults = chosen_mults(run)
        mults[model] = {"lr_mult": chosen, "val_macro_auc_mean": float(means.max()), "tune_seeds": list(p.tune_seeds)}
        write_json(choices_path(run), mults)
    dist.barrier()
    for seed in p.seeds:
        if seed not in p.tune_seeds:
            train(run, base.at(chosen), seed)
    return tuning_table(run, [model])


def tune_all(run: Run, models) -> pd.DataFrame:
    """Each of ``models`` (names, or the main arms of a plan) tuned in turn."""
    return pd.concat([tune(run, getattr(m, "model", m)) for m in models], ignore_index=True)


def tuning_table(run: Run, models: list[str]) -> pd.DataFrame:
    """Every trial's validation score and the choice, rebuilt from the stored histories (no test numbers)."""
    p, mults = run.profile, chosen_mults(run)
    rows = []
    for model in models:
        chosen = mults[model]["lr_mult"]
        trials = [(m, s, True) for m in p.lr_mults for s in p.tune_seeds]
        trials += [(chosen, s, False) for s in p.seeds if s not in p.tune_seeds]
        for mult, seed, used in trials:
            score, epoch = kept_val_score(predictions(run, main_arm(run, model).at(mult), seed)["history"])
            rows.append({"model": model, "lr_mult": mult, "seed": seed, "val_macro_auc": score, "kept_epoch": epoch,
                         "epochs": arm_epochs(run, main_arm(run, model)), "used_for_choice": used,
                         "chosen": mult == chosen})
    return pd.DataFrame(rows)


def best_alternative(run: Run) -> str | None:
    """The alternative with the best mean validation macro AUC over seeds at its chosen point (never test); None
    where the profile trains none."""
    def val_mean(model):
        return np.mean([kept_val_score(predictions(run, main_arm(run, model), s)["history"])[0]
                        for s in run.profile.seeds])

    return max(alternatives(run.profile), key=val_mean, default=None)


def train_arms(run: Run, arms, seeds=None) -> None:
    """Every arm with every seed of ``seeds`` (default: the profile's)."""
    for arm in arms:
        for seed in run.profile.seeds if seeds is None else seeds:
            train(run, arm, seed)


def train_planned(run: Run, trained) -> None:
    """Each group of a notebook's plan (``sednn.core.plan.Trained``): its arms with its seeds."""
    for group in trained:
        train_arms(run, group.arms, group.seeds)
