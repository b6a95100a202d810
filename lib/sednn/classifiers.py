"""The classifiers (notebooks 03-05): one tuning budget for every model, every seed, every ablation arm.

An ``Arm`` is one way of training a model: which semantic map it sees (vocabulary, predicted or ground truth),
on which rows (all, or the pixel-annotated half alone), with which new-module lr multiplier. ``tune`` trains
each grid point with the profile's tuning seeds and picks the best mean **validation** macro AUC; the chosen
point is then trained with every seed of the profile. The test split is predicted once per trained model and
read only by ``sednn.report``.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
import torch

from . import data as D
from . import distributed as dist
from .experiment import Run, code_fingerprint
from .io import atomic_write, write_json
from .map_conditions import condition_maps
from .metrics import macro_auc
from .models import create_model
from .parsing import maps_name, predicted_maps
from .train import TrainConfig, fit, load_best, multilabel_loss, predict, seed_everything, steps_per_epoch

NO_VOCABULARY = "none"  # the baseline's arm where a dataset has no map vocabulary
MAIN_MODELS = ["baseline", "early_fusion", "input_masking", "late_fusion", "proposed"]
ALTERNATIVES = ["early_fusion", "input_masking", "late_fusion"]


def alternatives(profile) -> list[str]:
    """The alternatives ``profile`` trains, in ``ALTERNATIVES`` order."""
    unknown = set(profile.alternatives) - set(ALTERNATIVES)
    if unknown:
        raise ValueError(f"profile {profile.name!r}: unknown alternatives {sorted(unknown)}; choose from {ALTERNATIVES}")
    return [m for m in ALTERNATIVES if m in profile.alternatives]


def main_models(profile) -> list[str]:
    """The main table's models in ``profile``: the baseline, the alternatives it trains, the proposed model."""
    return ["baseline", *alternatives(profile), "proposed"]


@dataclass(frozen=True)
class Arm:
    model: str
    vocabulary: str  # the parser whose map the model sees
    maps: str = "predicted"  # "ground_truth" (the oracle-trained bound) or another condition of sednn.map_conditions
    rows: str = "all"  # or "pixel": train/val/test restricted to the pixel-annotated half
    lr_mult: float | None = None  # None: the value ``tune`` chose for this model

    def key(self, seed: int) -> str:
        parts = [self.model.replace("@", "at"), self.vocabulary]
        if self.maps != "predicted":
            parts.append("gt" if self.maps == "ground_truth" else self.maps.replace(":", "-"))
        if self.rows != "all":
            parts.append(self.rows)
        return "-".join(parts) + f"-m{self.lr_mult:g}_s{seed}"


def main_arm(run: Run, model: str, vocab: str | None = None) -> Arm:
    return Arm(model, vocab or run.map_vocabulary or NO_VOCABULARY)


def build_model(run: Run, name: str, vocab: str, seed: int, pretrained: bool = True):
    seed_everything(seed)
    classes = run.vocab(vocab).num_classes if vocab != NO_VOCABULARY else 1  # only models that ignore the map
    model = create_model(name, len(run.targets), classes, run.backbone, pretrained)
    model.freeze_backbone(run.profile.freeze_stages)
    return model


def uses_map(run: Run, arm: Arm) -> bool:
    return build_model(run, arm.model, arm.vocabulary, 0, pretrained=False).uses_map


def arm_maps(run: Run, arm: Arm) -> np.ndarray | None:
    """The maps ``arm``'s model sees (None for a model that ignores them)."""
    if not uses_map(run, arm):
        return None
    run.require_maps()
    if arm.maps == "predicted":
        return predicted_maps(run, arm.vocabulary)
    if arm.maps.startswith("parser:"):  # another encoder's parser
        return predicted_maps(run, arm.vocabulary, arm.maps.split(":", 1)[1])
    key = ("condition", arm.vocabulary, arm.maps)
    if key not in run._cache:
        groups = [run.indices(s, D.PIXEL_SOURCE) for s in D.SPLITS]  # "shuffled" draws within a split
        run._cache[key] = condition_maps(arm.maps, run.gt_soft_maps(arm.vocabulary),
                                         predicted_maps(run, arm.vocabulary), groups, run.seed)
    return run._cache[key]


def maps_fingerprint(run: Run, arm: Arm) -> str | None:
    """The checksum of the parser maps ``arm``'s maps come from (a checkpoint made with other maps is not reused)."""
    backbone = arm.maps.split(":", 1)[1] if arm.maps.startswith("parser:") else None
    return run.array_cache.sha256(maps_name(run, arm.vocabulary, backbone))


def arm_data(run: Run, arm: Arm):
    """Tensors for ``arm``; the stored prefix that its model can use (none for early fusion)."""
    model = build_model(run, arm.model, arm.vocabulary, 0, pretrained=False)
    key = ("data", model.prefix_input, arm.vocabulary, arm.maps) if model.uses_map else ("data", model.prefix_input)
    if key not in run._cache:
        run._cache[key] = run.data(arm_maps(run, arm), with_prefix=model.prefix_input)
    return run._cache[key]


def arm_indices(run: Run, arm: Arm, split: str) -> np.ndarray:
    return run.indices(split, D.PIXEL_SOURCE if arm.rows == "pixel" else None)


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
    maps = maps_fingerprint(run, arm) if uses_map(run, arm) else None  # before the seed's model: it reseeds
    cfg = TrainConfig(p.epochs, p.batch_size, p.lr, arm.lr_mult, p.weight_decay, seed, run.device, p.bf16_autocast,
                      run.compile)
    train_idx, val_idx, test_idx = (arm_indices(run, arm, s) for s in ("train", "val", "test"))
    y_val = run.y[val_idx]
    model = build_model(run, arm.model, arm.vocabulary, seed)

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
    test = predict(model, data, test_idx, device, cfg.batch_size * 2)  # stored; read only by sednn.report
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
    return load_best(build_model(run, arm.model, arm.vocabulary, seed, pretrained=False),
                     checkpoint_dir(run, arm, seed), run.device)


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
    mults, tuned = chosen_mults(run), arm.model.partition("@")[0]  # stage variants take the proposed model's
    if tuned not in mults:
        raise FileNotFoundError(f"{choices_path(run)}: {tuned!r} not tuned yet; run its notebook first")
    return replace(arm, lr_mult=mults[tuned]["lr_mult"])


def best_val_score(history: list[dict]) -> tuple[float, int]:
    best = max(history, key=lambda h: h["val_score"])
    return best["val_score"], best["epoch"]


def tune(run: Run, model: str) -> pd.DataFrame:
    """Grid over the new-module lr multiplier with the tuning seeds, chosen by mean validation macro AUC, then
    every seed at the chosen point. Returns ``tuning_table`` of ``model``: one row per trained (mult, seed)."""
    p = run.profile
    base = main_arm(run, model)
    means = pd.Series({mult: np.mean([best_val_score(train(run, replace(base, lr_mult=mult), seed)["history"])[0]
                                      for seed in p.tune_seeds]) for mult in p.lr_mults})
    chosen = float(means.idxmax())
    if dist.is_main():
        mults = chosen_mults(run)
        mults[model] = {"lr_mult": chosen, "val_macro_auc_mean": float(means.max()), "tune_seeds": list(p.tune_seeds)}
        write_json(choices_path(run), mults)
    dist.barrier()
    for seed in p.seeds:
        if seed not in p.tune_seeds:
            train(run, replace(base, lr_mult=chosen), seed)
    return tuning_table(run, [model])


def tune_all(run: Run, models: list[str]) -> pd.DataFrame:
    return pd.concat([tune(run, m) for m in models], ignore_index=True)


def tuning_table(run: Run, models: list[str]) -> pd.DataFrame:
    """Every trial's validation score and the choice, rebuilt from the stored histories (no test numbers)."""
    p, mults = run.profile, chosen_mults(run)
    rows = []
    for model in models:
        chosen = mults[model]["lr_mult"]
        trials = [(m, s, True) for m in p.lr_mults for s in p.tune_seeds]
        trials += [(chosen, s, False) for s in p.seeds if s not in p.tune_seeds]
        for mult, seed, used in trials:
            score, epoch = best_val_score(predictions(run, replace(main_arm(run, model), lr_mult=mult), seed)["history"])
            rows.append({"model": model, "lr_mult": mult, "seed": seed, "val_macro_auc": score, "best_epoch": epoch,
                         "epochs": p.epochs, "used_for_choice": used, "chosen": mult == chosen})
    return pd.DataFrame(rows)


def best_alternative(run: Run) -> str:
    """The alternative with the best mean validation macro AUC over seeds at its chosen point (never test)."""
    def val_mean(model):
        return np.mean([best_val_score(predictions(run, main_arm(run, model), s)["history"])[0]
                        for s in run.profile.seeds])

    return max(alternatives(run.profile), key=val_mean)


def oracle_arms(run: Run) -> list[Arm]:
    """The oracle-trained bound, on the pixel-annotated half's own rows, the oracle vocabulary's maps (CCP:
    ``regions``): baseline once
    (it ignores the map), the proposed model and the best alternative with predicted and with ground-truth maps."""
    vocab = run.oracle_vocabulary
    arms = [Arm("baseline", vocab, "predicted", "pixel")]
    for model in ("proposed", best_alternative(run)):
        arms += [Arm(model, vocab, maps, "pixel") for maps in ("predicted", "ground_truth")]
    return arms


def other_vocabulary_arms(run: Run) -> list[Arm]:
    return [Arm(m, run.other_vocabulary) for m in ("proposed", best_alternative(run))]


def train_arms(run: Run, arms: list[Arm], seeds=None) -> None:
    for arm in arms:
        for seed in run.profile.seeds if seeds is None else seeds:
            train(run, arm, seed)
