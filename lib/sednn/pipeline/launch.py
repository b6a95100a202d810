"""torchrun entry point: every classifier of the profile with DistributedDataParallel, one process per GPU.

    torchrun --nproc_per_node 4 -m sednn.pipeline.launch --profile gpu            # tuning grid, seeds, ablation arms
    torchrun --nproc_per_node 2 -m sednn.pipeline.launch --profile cpu --models baseline proposed

Run notebooks 01 and 02 first (manifest, photo cache, parser maps); notebooks 03-05 then find the finished
checkpoints (same signature) and only predict and report. The helpers it shares with training are in
``sednn.training.distributed``.
"""
from __future__ import annotations

import argparse
import sys

from sednn.core.profiles import PROFILES
from sednn.study import classifiers as C
from sednn.study.run import Run
from sednn.training.distributed import init_from_env, is_main, shutdown, world


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="torchrun ... -m sednn.pipeline.launch", description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="cpu", choices=sorted(PROFILES))
    ap.add_argument("--models", nargs="*", default=None,
                    help="default: the models the profile's plan tunes (sednn.core.plan)")
    ap.add_argument("--split-seed", type=int, default=0)
    ap.add_argument("--device", default="auto", help="auto | cpu | cuda (one GPU per process)")
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--manifest", default=None, help="your own data (as for the runner)")
    ap.add_argument("--work-dir", default=None)
    ap.add_argument("--compile", action="store_true", help="torch.compile the training forward/backward")
    args = ap.parse_args(argv)
    device = init_from_env(args.device)
    try:
        run = Run.create(args.profile, args.split_seed, args.data_dir, device, work_dir=args.work_dir,
                         compile=args.compile, manifest=args.manifest)
        for name in args.models or run.plan().tuned_models():
            trials = C.tune(run, name)
            if is_main():
                chosen = trials[trials.chosen]
                print(f"[sednn] {name}: lr mult {chosen.lr_mult.iloc[0]:g}, val macro AUC "
                      f"{chosen.val_macro_auc.mean():.4f} over seeds {chosen.seed.tolist()} "
                      f"({world()[1]} processes)", flush=True)
    finally:
        shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
