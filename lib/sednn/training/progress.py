"""Where a headless run stands, from the kernels to the terminal that started it.

Every finished training (``sednn.training.fit.fit``) appends one JSON line to the file that ``SEDNN_PROGRESS``
names (the runner sets it for the kernels it starts); the runner's :class:`Watcher` reads the new lines as they come
and shows each with the count of trainings done of the profile's total (``sednn.core.plan.Plan.trainings``) and the
time left at the rate measured so far: a progress bar on a terminal, plain lines elsewhere (CI, a log file). Outside
a runner (JupyterLab) the variable is unset and nothing is written.
"""
from __future__ import annotations

import json
import os
import sys
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

ENV = "SEDNN_PROGRESS"


@dataclass(frozen=True)
class Training:
    """One finished training as ``fit`` ends it: ``reused`` when every epoch came from an earlier checkpoint."""

    desc: str
    epochs: int
    kept_epoch: int
    val_score: float
    seconds: float
    reused: bool

    def line(self) -> str:
        how = "reused" if self.reused else f"{self.seconds:.0f} s"
        return (f"{self.desc}: {self.epochs} epochs, kept epoch {self.kept_epoch} "
                f"(validation {self.val_score:.4f}), {how}")


def report(training: Training) -> None:
    """Append ``training`` to the run's progress file, if a runner asked for one."""
    path = os.environ.get(ENV)
    if path:
        with open(path, "a") as f:  # one short line per write: appends of a few hundred bytes do not interleave
            f.write(json.dumps(asdict(training)) + "\n")


def read_new(path: Path, offset: int) -> tuple[list[Training], int]:
    """The complete lines written to ``path`` after byte ``offset``, and the offset after them."""
    if not path.exists():
        return [], offset
    with open(path, "rb") as f:
        f.seek(offset)
        chunk = f.read()
    complete = chunk[:chunk.rfind(b"\n") + 1]
    lines = [Training(**json.loads(line)) for line in complete.decode().splitlines() if line.strip()]
    return lines, offset + len(complete)


def time_left(done: int, total: int | None, seconds_per_training: float | None) -> str | None:
    """"about 34 min left" at the rate measured so far; None before it is measured, or with nothing left."""
    if not total or seconds_per_training is None or done >= total:
        return None
    return f"about {(total - done) * seconds_per_training / 60:.0f} min left"


def eta(done: int, total: int | None, seconds_per_training: float | None) -> str:
    """"12/160 trainings, about 34 min left" (the count alone where the total or the rate is not known yet)."""
    if not total:
        return f"{done} trainings"
    left = time_left(done, total, seconds_per_training)
    return f"{done}/{total} trainings" + (f", {left}" if left else "")


class Watcher:
    """Shows each training as it finishes. ``start`` once per run, ``set_total`` when the total is known (after the
    data is prepared), ``stop`` at the end."""

    def __init__(self, path: Path, total: int | None = None, stream=None, poll_s: float = 1.0):
        self.path, self.total, self.stream, self.poll_s = Path(path), total, stream or sys.stdout, poll_s
        self.done = self.fresh = 0
        self.first: float | None = None  # when the first fresh training ended: the rate is measured from there
        self.offset = self.path.stat().st_size if self.path.exists() else 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._bar = None
        if self.stream.isatty():
            from tqdm import tqdm

            self._bar = tqdm(total=total, unit="training", file=self.stream, dynamic_ncols=True, disable=False)

    def set_total(self, total: int | None) -> None:
        self.total = total
        if self._bar is not None:
            self._bar.total = total
            self._bar.refresh()

    def start(self) -> "Watcher":
        os.environ[ENV] = str(self.path)
        self._thread.start()
        return self

    def say(self, text: str) -> None:
        """A line of the runner's own, above the bar where there is one."""
        if self._bar is not None:
            self._bar.write(text, file=self.stream)
        else:
            print(text, file=self.stream, flush=True)

    def seconds_per_training(self) -> float | None:
        """Wall time per fresh training since the first one ended (what each costs with the notebooks' other work
        between them; the data preparation and kernel starts before the first are not repeated), reused ones free."""
        if self.fresh < 2:
            return None
        return (time.monotonic() - self.first) / (self.fresh - 1)

    def poll(self) -> list[Training]:
        new, self.offset = read_new(self.path, self.offset)
        for t in new:
            self.done += 1
            if not t.reused:
                self.fresh += 1
                self.first = self.first or time.monotonic()
            rate = self.seconds_per_training()
            if self._bar is not None:
                self.say(f"[sednn] {t.line()}")
                self._bar.update(1)
                self._bar.set_postfix_str(time_left(self.done, self.total, rate) or "")
            else:
                self.say(f"[sednn] {t.line()} | {eta(self.done, self.total, rate)}")
        return new

    def _loop(self) -> None:
        while not self._stop.wait(self.poll_s):
            self.poll()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        self.poll()
        if self._bar is not None:
            self._bar.close()
        os.environ.pop(ENV, None)
