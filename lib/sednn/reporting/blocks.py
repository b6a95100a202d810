"""The generated blocks of README.md and docs/*.md (``sednn.reporting.readme``), each rendered from ``results/``
alone: run lines, tables, the work and cost of the profiles, the benchmarks."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from sednn.core import paths, provenance, workload
from sednn.core.profiles import PROFILES, TEST_PROFILES
from sednn.reporting.prose import oracle_sentence


def _csv(results: Path, name: str) -> pd.DataFrame:
    return pd.read_csv(results / f"{name}.csv")


def run_line(results: Path) -> str:
    r = json.loads((results / "RUN.json").read_text())
    p = r["profile"]
    times = ", ".join(f"{k} {v / 60:.1f} min" for k, v in r["notebook_seconds"].items())
    parser_hw = p.get("parser_image_hw")
    encoder = p.get("parser_backbone", "efficientnet_lite0").replace("efficientnet_lite", "Lite")  # older runs: Lite0
    parser = f", {encoder} parser" + (f" at {parser_hw[0]}x{parser_hw[1]}" if parser_hw else "")
    return (f"Run: profile **`{p['name']}`** ({p['image_hw'][0]}x{p['image_hw'][1]}{parser}, {epochs_text(r)}, "
            f"model seeds {', '.join(map(str, r['model_seeds']))}, lr multiplier grid "
            f"{', '.join(f'{m:g}' for m in p['lr_mults'])}), split seed {r['split_seed']}, device **{r['device']}**"
            f" ({machine_text(r)}, {r['torch_threads']} threads), commit `{r['git_commit'][:7]}`, "
            f"{r['total_seconds'] / 60:.1f} minutes ({times}).{resumed_note(r)}{several_runs_note(r)}\n")


def machine_text(r: dict) -> str:
    """'AMD EPYC, AVX2': the GPU, or the CPU with the vector kernels torch ran (two CPUs of one name can differ, and
    so do their numbers)."""
    if r.get("gpu"):
        return r["gpu"]
    capability = (r.get("torch_backends") or {}).get("cpu_capability")
    return f"{r.get('cpu_model')}, {capability}" if capability else str(r.get("cpu_model"))


def _epochs(n: int) -> str:
    return f"{n} epoch" + ("" if n == 1 else "s")


def epochs_text(r: dict) -> str:
    """'8 epochs (17 on the pixel-annotated half: the same optimizer steps)', from a run's record (runs before the
    schedule counted steps: '8 epochs')."""
    epochs, by_rows = r["profile"]["epochs"], r.get("training_epochs") or {}
    if by_rows.get("all", epochs) != epochs:  # a run on the pixel-annotated rows alone
        return f"{_epochs(by_rows['all'])} (the optimizer steps of {_epochs(epochs)} of the full training split)"
    if by_rows.get("pixel", epochs) != epochs:
        return f"{_epochs(epochs)} ({by_rows['pixel']} on the pixel-annotated half: the same optimizer steps)"
    return _epochs(epochs)


def several_runs_note(r: dict) -> str:
    """Results of more than one run (a partial rerun): which notebooks each commit made."""
    groups = provenance.runs(r)
    if len(groups) < 2:
        return ""
    return (" **These results come from " + f"{len(groups)} runs**: " + "; ".join(
        f"{', '.join(names)} at `{commit[:7]}`" for commit, names in groups) + " (`RUN.json`, `notebooks`).")


def resumed_note(r: dict) -> str:
    """A resumed run: its time over every invocation of the same commit (finished and partial notebooks)."""
    over = r.get("notebook_seconds_all_invocations")
    if not over:
        return ""
    times = ", ".join(f"{k} {v / 60:.1f} min" for k, v in over.items())
    return (f" Resumed after {len(r['earlier_invocations'])} stopped invocation(s); over all of them "
            f"{r['total_seconds_all_invocations'] / 60:.1f} minutes ({times}).")


def profile_times_block(results: Path) -> str:
    """Each committed run's time on its machine, every invocation of a resumed run added up (its RUN.json)."""
    runs = []
    for name in (p for p in PROFILES if p not in TEST_PROFILES):
        path = paths.results_dir_for(name, results) / "RUN.json"
        if not path.exists():
            continue
        r = json.loads(path.read_text())
        seconds = r.get("total_seconds_all_invocations") or r["total_seconds"]
        invocations = 1 + len(r.get("earlier_invocations", []))
        over = f", {invocations} invocations" if invocations > 1 else ""
        runs.append(f"`{name}` {seconds / 60:.0f} minutes ({machine_text(r)}, "
                    f"{r['torch_threads']} threads{over}, commit `{r['git_commit'][:7]}`)")
    return "Time of each committed run, on the machine it ran on: " + "; ".join(runs) + ".\n"


LAST_EPOCHS = 5  # the default parser's validation mIoU over its last epochs: how much it moves on its own


def parsers_block(results: Path) -> str:
    """Test IoU per class of every parser a run trained (its encoder), side by side, and whether another encoder
    beats the default one on validation mIoU by more than the default's own movement over its last epochs."""
    iou = _csv(results, "parser_iou").query("split == 'test'")
    table = iou.pivot_table(index="class", columns="parser", values="iou", sort=False)
    table.columns = [f"test IoU, {c}" for c in table.columns]
    tuning = _csv(results, "parser_tuning")
    default = json.loads((results / "RUN.json").read_text())["profile"]["parser_backbone"]
    picked = tuning[tuning.chosen].set_index("parser")
    chosen = picked["val_miou"]
    own = tuning[(tuning.parser == default) & (tuning.lr == picked.loc[default, "lr"])]
    last = own.sort_values("epoch").val_miou.iloc[-LAST_EPOCHS:]
    spread = last.max() - last.min()
    parts = []
    for parser, score in chosen.drop(default).items():
        gain = score - chosen[default]
        verdict = ("more than that: it would become the default parser" if gain > spread else
                   f"within that: `{default}` stays the default parser")
        parts.append(f"`{parser}` {score:.4f} ({gain:+.4f}), {verdict}")
    others = "; " + "; ".join(parts) if parts else " (the only encoder this run trains)"
    sentence = (f"Validation mIoU of the chosen epoch (the choice's measure): `{default}` {chosen[default]:.4f}, which "
                f"moved by {spread:.4f} over its last {LAST_EPOCHS} epochs{others}.")
    return table.round(3).reset_index().to_markdown(index=False) + "\n\n" + sentence + "\n"


def parser_block(results: Path) -> str:
    iou = _csv(results, "parser_iou")
    keys = ["vocabulary", "class"]  # a merge keeps the classes in vocabulary order, mIoU last
    table = iou[iou.split == "val"][[*keys, "iou"]].merge(iou[iou.split == "test"][[*keys, "iou"]], on=keys,
                                                          suffixes=(" val", " test"))
    return table.round(3).to_markdown(index=False) + "\n"


def tuning_block(results: Path) -> str:
    t = _csv(results, "tuning")
    used = t[t.used_for_choice].pivot_table(index="model", columns="lr_mult", values="val_macro_auc",
                                            aggfunc="mean", sort=False)
    used.columns = [f"val macro AUC, lr mult {c:g}" for c in used.columns]
    kept = "kept_epoch" if "kept_epoch" in t else "best_epoch"  # a run made while classifiers kept their best epoch
    chosen = t[t.chosen].groupby("model", sort=False).agg(chosen=("lr_mult", "first"),
                                                          **{f"{kept}s": (kept, lambda e: "/".join(map(str, e)))})
    return used.round(4).join(chosen).reset_index().to_markdown(index=False) + "\n"


def per_seed_block(results: Path) -> str:
    s = _csv(results, "per_seed")
    table = s.pivot(index="model", columns="seed", values="delta_vs_baseline_same_seed").loc[s.model.unique()]
    table.columns = [f"Δ test macro AUC, seed {c}" for c in table.columns]
    return table.round(4).reset_index().to_markdown(index=False) + "\n"


def oracle_block(results: Path) -> str:
    return oracle_sentence(_csv(results, "ablations")) or "The oracle-trained bound (e) did not run in this profile.\n"


def work_block(results: Path) -> str:
    """What the cpu and gpu profiles ask of the machine (``sednn.core.workload``), on the committed split."""
    splits = pd.read_csv(results / "splits.csv", dtype={"id": str})
    rows = [{"profile": f"`{name}`", **workload.summary(PROFILES[name], splits)} for name in ("cpu", "gpu")]
    return pd.DataFrame(rows).to_markdown(index=False) + "\n"


CHECKED_NOTEBOOKS = ("03_baseline", "04_alternatives", "05_proposed")  # the cpu_hr benchmark has no parser row
BENCH_STUDY = "cpu_hr_bench"  # the cpu_hr benchmark and the record of the run it was checked against, one machine


def projection_check_block(results: Path) -> str:
    """The projection from ``results/cpu_hr_bench/bench.csv`` beside the measured ``cpu_hr`` run of the same machine
    (its ``RUN.json`` kept there: later ``cpu_hr`` runs, on other machines, replace the one in ``results/cpu_hr/``)."""
    bench = pd.read_csv(results / BENCH_STUDY / "bench.csv")
    projected = workload.projection(PROFILES["cpu_hr"], bench, pd.read_csv(results / "cpu_hr" / "splits.csv"),
                                    notebooks=CHECKED_NOTEBOOKS)
    check = workload.against_run(projected, results / BENCH_STUDY / "RUN.json")
    table = check[["notebook", "projected_s", "measured_s", "measured_over_projected"]].round(
        {"projected_s": 0, "measured_s": 0, "measured_over_projected": 3})
    return (table.to_markdown(index=False) + f"\n\nThe run: `{check.cpu_model.iloc[0]}`, commit "
            f"`{check.run_commit.iloc[0][:7]}`; the benchmark was measured for that study on the same machine kind.\n")


def measured_on(bench: pd.DataFrame, which: str = "this file") -> str:
    machines = bench["machine"].dropna().unique() if "machine" in bench else []
    if len(machines):
        return f"Measured on `{', '.join(machines)}` (device `{bench['device'].iloc[0]}`)."
    return f"Device `{bench['device'].iloc[0]}`; {which} predates the benchmark's `machine` column."


def model_rows(bench: pd.DataFrame) -> pd.DataFrame:
    """The rows of a benchmark file that time a model (the others: input pipeline, frozen prefix)."""
    return bench[bench["train_step_ratio_to_baseline"].notna()]


def bench_block(results: Path) -> str:
    """``make bench``'s rates and ratios to the baseline (``results/bench.csv``), and the input pipeline's cost."""
    bench = _csv(results, "bench")
    columns = ["model", "image_hw", "train_img_per_s", "train_step_ratio_to_baseline", "infer_ratio_to_baseline"]
    table = model_rows(bench)[columns].round({"train_img_per_s": 1, "train_step_ratio_to_baseline": 2,
                                              "infer_ratio_to_baseline": 2})
    loader = bench["loader_overhead_ratio"].dropna()
    pipeline = (f" Cutting and augmenting the batches from the cache made a training step "
                f"{(loader.iloc[0] - 1) * 100:+.0f} % longer than the same step on a ready batch."
                if len(loader) else "")
    return table.to_markdown(index=False) + f"\n\n{measured_on(bench)}{pipeline}\n"


HR_BENCH = "cpu_hr_bench"  # the high-resolution profiles' benchmark study, beside the RUN.json it was checked with


def hr_cost_block(results: Path) -> str:
    """What a training step and the prefix store cost at 288x192 and 384x256 (``results/cpu_hr_bench/``)."""
    sizes = [pd.read_csv(results / HR_BENCH / name) for name in ("bench.csv", "bench_384x256.csv")]
    hw = [b["image_hw"].iloc[0] for b in sizes]

    def step(model):
        return [float(b.set_index("model").loc[model, "train_step_s"]) for b in sizes]

    def prefix_rate(b):
        return float(b[b["model"].str.startswith(workload.PREFIX)]["infer_img_per_s"].iloc[0])

    (lo, hi), (plo, phi) = step("baseline"), step("proposed")
    pixels = [int(h) * int(w) for h, w in (s.split("x") for s in hw)]
    machine = json.loads((results / HR_BENCH / "RUN.json").read_text()).get("cpu_model")
    return (f"A baseline training step takes {lo:.2f} s at {hw[0]} and {hi:.2f} s at {hw[1]} ({hi / lo:.2f}x; "
            f"{pixels[1] / pixels[0]:.2f}x the pixels), the proposed model's {plo:.2f} s and {phi:.2f} s; the frozen "
            f"prefix is stored at {prefix_rate(sizes[0]):.0f} and {prefix_rate(sizes[1]):.0f} images/s. "
            f"{measured_on(sizes[0], 'each file')} The run it was checked against ran on `{machine}`.\n")


OPERATOR_KINDS = {"convolution": "convolution", "batch_norm": "BatchNorm", "copy_": "memory copies",
                  "Optimizer.step": "optimizer step"}
OTHER_OPERATORS = "other listed operators"


def bench_ops_block(results: Path) -> str:
    """Shares of a training step's operator self time (``results/bench_ops.csv``), by kind of operator."""
    ops = _csv(results, "bench_ops")
    kind = ops["operator"].map(lambda op: next((k for key, k in OPERATOR_KINDS.items() if key in op), OTHER_OPERATORS))
    shares = ops.assign(kind=kind).pivot_table(index="kind", columns="model", values="share_of_step", aggfunc="sum")
    shares = (100 * shares.reindex([*OPERATOR_KINDS.values(), OTHER_OPERATORS]).fillna(0)).round(1)
    return (shares.rename_axis("% of the step's self time (top operators)").to_markdown() + "\n")


def bench_compiled_block(results: Path) -> str:
    """``torch.compile`` against eager (``results/bench_compiled.csv`` vs ``bench.csv``), with the machine of each."""
    runs = {n: _csv(results, n) for n in ("bench", "bench_compiled")}
    eager, compiled = (model_rows(df).set_index("model")["train_step_s"] for df in runs.values())
    models = [m for m in compiled.index if m in eager.index]
    table = pd.DataFrame({"model": models, "eager_step_s": eager[models].to_numpy(),
                          "compiled_step_s": compiled[models].to_numpy()})
    table["change_%"] = 100 * (table["compiled_step_s"] / table["eager_step_s"] - 1)
    eager_on, compiled_on = (measured_on(df) for df in runs.values())
    where = (measured_on(runs["bench"], "each file") if eager_on == compiled_on
             else f"Eager: {eager_on} Compiled: {compiled_on}")
    return table.round(3).round({"change_%": 1}).to_markdown(index=False) + f"\n\n{where}\n"


def csv_block(name: str, columns: list[str] | None = None, digits: int = 4):
    def block(results: Path) -> str:
        df = _csv(results, name)
        return (df[columns] if columns else df).round(digits).to_markdown(index=False) + "\n"
    return block


def optional(name: str, block, missing: str):
    """A block from a file or folder that exists only after another profile's run."""
    def render(results: Path) -> str:
        return block(results) if (results / name).exists() else missing
    return render


def _text(name: str):
    return lambda r: (r / name).read_text()
