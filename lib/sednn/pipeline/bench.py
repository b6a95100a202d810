"""Throughput benchmark: training and inference images/s and peak memory per model (the parser included), as
ratios to the baseline measured in the same run, plus the input pipeline's overhead and the frozen prefix's cost.
Models that train from the stored prefix (``sednn.training.prefix``) are timed from it, as they train; the parser at its
own photo size. From these rates ``sednn.core.workload`` projects the time of the whole profile.

    python -m sednn.pipeline.bench --profile cpu     # what `make bench` does; writes results/bench.csv, projection.csv
    make bench PROFILE=gpu DEVICE=cuda      # -> results/gpu/bench.csv, results/gpu/projection.csv
"""
from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from sednn.core import paths, workload
from sednn.core.catalog import traits
from sednn.core.io import write_csv
from sednn.core.plan import DatasetShape, make_plan
from sednn.core.profiles import PROFILES, get_profile, hw_text
from sednn.data import labels as L
from sednn.models import SemanticParser, create_backbone, create_model
from sednn.pipeline.machine import cpu_model
from sednn.study.parsing import parser_loss
from sednn.training.device import resolve_device
from sednn.training.fit import TrainConfig, make_optimizer, multilabel_loss, optimizer_step, prepare_for_training
from sednn.training.tensors import TensorData

PARSER = "parser"


def bench_models(profile) -> list[str]:
    """What a profile trains, as its plan on CCP tunes it (``sednn.core.plan``), and the parser."""
    return [*make_plan(profile, DatasetShape.ccp(profile)).tuned_models(), PARSER]


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _peak_mb(device) -> float:
    """CUDA: peak allocated by this model's steps. CPU: the process's high-water mark so far (only grows)."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # process high-water mark (Linux: KiB)


def _timed(fn, steps: int, warmup: int, device) -> float:
    for _ in range(warmup):
        fn()
    _sync(device)
    t0 = time.perf_counter()
    for _ in range(steps):
        fn()
    _sync(device)
    return (time.perf_counter() - t0) / steps


def training_step(model, prof, dev, compile: bool = False, loss_fn=multilabel_loss):
    """``step(batch)``: the optimiser step of ``sednn.training.fit.fit`` (same loss, autocast, optimiser, compile)."""
    cfg = TrainConfig(prof.epochs, prof.batch_size, prof.lr, max(prof.lr_mults), prof.weight_decay, seed=0,
                      device=str(dev), bf16_autocast=prof.bf16_autocast, compile=compile)
    net = prepare_for_training(model, cfg, dev)
    opt = make_optimizer(model, cfg)
    return lambda batch: optimizer_step(net, opt, loss_fn, batch, dev, cfg.bf16_autocast)


def as_trained(name: str, model, batch, prof):
    """The batch as model ``name`` trains on it: models that take the frozen prefix get its stored output
    (``sednn.training.prefix``) and start after it; early fusion, whose first convolution learns, gets the photo."""
    if not prof.freeze_stages or (name != PARSER and traits(name).prefix_input is None):
        return batch
    with torch.no_grad():
        x = model.backbone.prefix(batch[0], prof.freeze_stages).contiguous(memory_format=torch.channels_last)
    return x, *batch[1:-1], prof.freeze_stages


def bench_model(name: str, prof, dev, num_labels: int):
    torch.manual_seed(0)
    num_classes = L.ccp_vocabulary(prof.vocabulary).num_classes
    if name == PARSER:
        model = SemanticParser(create_backbone(prof.parser_backbone, pretrained=False), num_classes)
        model.backbone.freeze(prof.freeze_stages)
    else:
        model = create_model(name, num_labels, num_classes, pretrained=False, freeze_stages=prof.freeze_stages)
    return model.to(dev).to(memory_format=torch.channels_last)


def synthetic_data(profile, n: int, num_labels: int, device) -> TensorData:
    """Random uint8 photos and maps of the profile's sizes: throughput does not depend on content."""
    rng = np.random.default_rng(0)
    h, w = profile.image_hw
    s = profile.map_stride
    k = L.ccp_vocabulary(profile.vocabulary).num_classes
    return TensorData.from_arrays(rng.integers(0, 255, (n, h, w, 3), dtype=np.uint8),
                                  rng.integers(0, 255, (n, k, h // s, w // s), dtype=np.uint8),
                                  (rng.random((n, num_labels)) < 0.1), (0.5,) * 3, (0.5,) * 3, device=device)


def model_batch(name: str, prof, data: TensorData, bs: int, dev, gen):
    """One training batch of ``name`` as it trains: (input, map, target, start) for a classifier; (input, class
    map, start) for the parser, whose target is a class per pixel at a quarter of its photo's size."""
    x, m, y, start = data.batch(torch.arange(bs), dev, gen)
    if name != PARSER:
        return x, m, y, start
    h, w = prof.image_hw
    classes = F.interpolate(m.argmax(1, keepdim=True).float(), size=(h // 4, w // 4), mode="nearest")[:, 0].long()
    return x, classes, start


def _time_model(name, prof, dev, data, bs, gen, steps, warmup, compile, num_labels) -> dict:
    """One model's training step and inference on one batch of its kind."""
    is_parser = name == PARSER
    at = prof.at_parser_size() if is_parser else prof
    model = bench_model(name, prof, dev, num_labels)
    step = training_step(model, prof, dev, compile, parser_loss if is_parser else multilabel_loss)
    batch = as_trained(name, model, model_batch(name, at, data[is_parser], bs, dev, gen), prof)
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)

    @torch.no_grad()
    def infer_step():
        model(batch[0], None if is_parser else batch[1], start=batch[-1])

    model.train()
    t_train = _timed(lambda: step(batch), steps, warmup, dev)
    model.eval()
    t_infer = _timed(infer_step, steps, warmup, dev)
    return {"model": name, "device": str(dev), "compiled": compile, "batch": bs, "image_hw": hw_text(at.image_hw),
            "train_img_per_s": bs / t_train, "infer_img_per_s": bs / t_infer, "train_step_s": t_train,
            "peak_mem_mb": _peak_mb(dev)}


def _input_pipeline(prof, dev, data, bs, gen, steps, warmup, compile, num_labels) -> dict:
    """Cutting, normalising and augmenting batches from the cache, against batches already prepared."""
    step = training_step(bench_model("baseline", prof, dev, num_labels).train(), prof, dev, compile)
    prepared = data.batch(torch.arange(bs), dev, gen)
    t_pipeline = _timed(lambda: step(data.batch(torch.randperm(len(data), generator=gen)[:bs], dev, gen)),
                        steps, warmup, dev)
    t_prepared = _timed(lambda: step(prepared), steps, warmup, dev)
    return {"model": "input pipeline (baseline)", "device": str(dev), "compiled": compile, "batch": bs,
            "image_hw": hw_text(prof.image_hw), "train_step_s": t_pipeline,
            "loader_overhead_ratio": t_pipeline / t_prepared}


def _prefix_rate(prof, at, dev, data, bs, steps, warmup, num_labels) -> dict:
    """Images/s of the frozen prefix store at ``at``'s photo size."""
    model = bench_model("baseline", prof, dev, num_labels).train()
    photos = data.batch(torch.arange(bs), dev)[0]
    with torch.no_grad():
        t_prefix = _timed(lambda: model.backbone.prefix(photos, prof.freeze_stages), steps, warmup, dev)
    return {"model": f"{workload.PREFIX} (stem + {prof.freeze_stages} stages, stored)", "device": str(dev),
            "compiled": False, "batch": bs, "image_hw": hw_text(at.image_hw), "infer_img_per_s": bs / t_prefix}


def benchmark(profile: str = "cpu", device: str = "auto", steps: int = 10, warmup: int = 3,
              num_labels: int = 42, batch_size: int | None = None, rounds: int = 2,
              compile: bool = False, models: list[str] | None = None,
              image_hw: tuple[int, int] | None = None) -> pd.DataFrame:
    """Same batch and warm-up for every model; ``batch_size`` overrides the profile's (tests use a tiny one).

    Models are timed round-robin ``rounds`` times and each keeps its fastest round: on a shared CPU the
    first model measured was otherwise systematically slower (process warm-up), biasing the ratios.
    ``image_hw``: the profile's recipe at another size (what a size would cost before a profile is made for it).
    Inference is timed in float32, as ``sednn.training.fit.predict`` runs it."""
    prof, dev = get_profile(profile, **({"image_hw": tuple(image_hw)} if image_hw else {})), resolve_device(device)
    models = list(models or bench_models(prof))
    if "baseline" not in models:
        raise ValueError("the baseline is the reference of every ratio: include it in models")
    bs = batch_size or prof.batch_size
    pprof = prof.at_parser_size()
    data = {False: synthetic_data(prof, bs * 4, num_labels, dev), True: synthetic_data(pprof, bs, num_labels, dev)}
    gen = torch.Generator().manual_seed(0)
    rows = [_time_model(name, prof, dev, data, bs, gen, steps, warmup, compile, num_labels) for name in models * rounds]
    df = pd.DataFrame(rows).sort_values("train_step_s").drop_duplicates("model")
    df = df.set_index("model").loc[models].reset_index()
    df["infer_img_per_s"] = pd.DataFrame(rows).groupby("model")["infer_img_per_s"].max().loc[models].to_numpy()
    base = df.set_index("model").loc["baseline"]
    df["train_step_ratio_to_baseline"] = df["train_step_s"] / base["train_step_s"]
    df["infer_ratio_to_baseline"] = base["infer_img_per_s"] / df["infer_img_per_s"]
    extra = [_input_pipeline(prof, dev, data[False], bs, gen, steps, warmup, compile, num_labels)]
    if prof.freeze_stages:  # what the stored prefix costs, once per image and view (sednn.training.prefix)
        sizes = {False: prof} | ({True: pprof} if pprof.image_hw != prof.image_hw and PARSER in models else {})
        extra += [_prefix_rate(prof, at, dev, data[key], bs, steps, warmup, num_labels) for key, at in sizes.items()]
    machine = torch.cuda.get_device_name(dev) if dev.type == "cuda" else cpu_model()
    return pd.concat([df, pd.DataFrame(extra)], ignore_index=True).assign(machine=machine)


def profile_ops(profile: str = "cpu", device: str = "auto", models=("baseline", "proposed"), steps: int = 5,
                warmup: int = 2, num_labels: int = 42, batch_size: int | None = None, top: int = 12) -> pd.DataFrame:
    """Where a training step spends its time: torch.profiler's operators ranked by self time, per model,
    with each operator's share of the step's total self time."""
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    prof, dev = get_profile(profile), resolve_device(device)
    bs = batch_size or prof.batch_size
    data = synthetic_data(prof, bs, num_labels, dev)
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if dev.type == "cuda" else [])
    rows = []
    for name in models:
        model = bench_model(name, prof, dev, num_labels).train()
        step = training_step(model, prof, dev)
        batch = as_trained(name, model, data.batch(torch.arange(bs), dev, torch.Generator()), prof)
        for _ in range(warmup):
            step(batch)
        _sync(dev)
        with torch_profile(activities=activities) as trace:
            for _ in range(steps):
                step(batch)
            _sync(dev)
        events = trace.key_averages()
        time_of = (lambda e: e.self_device_time_total) if dev.type == "cuda" else (lambda e: e.self_cpu_time_total)
        total = sum(time_of(e) for e in events)
        for e in sorted(events, key=time_of, reverse=True)[:top]:
            rows.append({"model": name, "device": str(dev), "batch": bs, "operator": e.key,
                         "calls_per_step": e.count / steps,
                         "self_ms_per_step": time_of(e) / 1e3 / steps, "share_of_step": time_of(e) / total})
    return pd.DataFrame(rows)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m sednn.pipeline.bench", description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="cpu", choices=sorted(PROFILES))
    ap.add_argument("--device", default="auto")
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=None, help="default: the profile's")
    ap.add_argument("--compile", action="store_true", help="torch.compile the training step")
    ap.add_argument("--models", nargs="*", default=None, help="default: what the profile trains, and the parser")
    ap.add_argument("--image-hw", nargs=2, type=int, default=None, metavar=("H", "W"),
                    help="the profile's recipe at another input size (default: the profile's)")
    ap.add_argument("--out", default=None, help="default: the profile's results folder / bench.csv")
    ap.add_argument("--ops-out", default=None, help="torch.profiler operator table (default: beside --out); "
                                                     "empty: skip")
    args = ap.parse_args(argv)
    out_dir = paths.results_dir_for(args.profile)
    args.out = args.out or str(out_dir / "bench.csv")
    args.ops_out = str(out_dir / "bench_ops.csv") if args.ops_out is None else args.ops_out
    df = benchmark(args.profile, args.device, args.steps, args.warmup, batch_size=args.batch_size, rounds=args.rounds,
                   compile=args.compile, models=args.models, image_hw=args.image_hw)
    write_csv(args.out, df)
    print(df.to_markdown(index=False, floatfmt=".3f"))
    if args.models is None and args.image_hw is None:  # every rate the profile needs: project its whole run
        projection = workload.projection(get_profile(args.profile), df)
        write_csv(Path(args.out).with_name("projection.csv"), projection)
        print(f"\nProjected time of the whole {args.profile!r} profile on {df['device'].iloc[0]} from these rates "
              f"(sednn.core.workload):")
        print(projection.to_markdown(index=False, floatfmt=".0f"))
    if args.ops_out:
        ops = profile_ops(args.profile, args.device, batch_size=args.batch_size)
        write_csv(args.ops_out, ops)
        print(ops.to_markdown(index=False, floatfmt=".3f"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
