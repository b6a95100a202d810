"""The typed values a plan is made of (``sednn.core.plan``): which map vocabulary plays which part, the map
conditions, an :class:`Arm` (one way of training a model: which semantic map it sees, on which rows, with which
new-module lr multiplier) and the ablation groups. Text comes in and goes out at the edges only: tables and checkpoint
names write them with ``str`` and ``label``, ``MapCondition.parse`` reads them back."""
from __future__ import annotations

from dataclasses import dataclass, replace
from enum import Enum


@dataclass(frozen=True)
class VocabularyRoles:
    """Which map vocabulary plays which part (None: the dataset has none for it)."""

    main: str | None  # the models' map
    oracle: str | None  # the oracle-trained bound's and the map-quality study's
    other: str | None  # the other-vocabulary ablation's


def vocabulary_roles(names, preferred: str) -> VocabularyRoles:
    """``main``: ``preferred`` when the dataset has it, else the first by name; ``oracle``: the coarsest (fewest
    classes), as it says least about which label is there; ``other``: the first other than main (None when there
    is one). ``names`` are ordered by number of classes, then by name."""
    names = list(names)
    if not names:
        return VocabularyRoles(None, None, None)
    main = preferred if preferred in names else sorted(names)[0]
    others = sorted(n for n in names if n != main)
    return VocabularyRoles(main, names[0], others[0] if others else None)


CONTROL_NAMES = ("presence", "foreground", "shuffled")
CONDITION_NAMES = ("predicted", "ground_truth", "blend", "parser", *CONTROL_NAMES)


@dataclass(frozen=True)
class MapCondition:
    """The maps an arm's model sees (``sednn.study.map_conditions`` makes them): the parser's (``predicted``),
    another encoder's parser's (``parser``, with ``encoder``), the ground truth, a ``blend`` of the two (``weight``
    of the ground truth), or a control. Written as text (``str``) in tables and checkpoint names."""

    name: str
    weight: float | None = None
    encoder: str | None = None

    def __post_init__(self):
        if self.name not in CONDITION_NAMES:
            raise ValueError(f"unknown map condition {self.name!r}: predicted, ground_truth, blend:<a>, "
                             f"parser:<encoder>, {', '.join(CONTROL_NAMES)}")
        if (self.name == "blend") != (self.weight is not None) or (self.name == "parser") != bool(self.encoder):
            raise ValueError(f"map condition {self.name!r}: a blend has a weight, a parser an encoder, no other")

    @classmethod
    def parse(cls, text: str) -> MapCondition:
        """``predicted``, ``ground_truth``, ``blend:0.5``, ``parser:efficientnet_lite2``, ``presence`` ..."""
        name, _, arg = text.partition(":")
        if name == "blend":
            return cls(name, weight=float(arg))
        return cls(name, encoder=arg or None)

    def __str__(self) -> str:
        if self.name == "blend":
            return f"blend:{self.weight:g}"
        return f"parser:{self.encoder}" if self.name == "parser" else self.name

    @property
    def kind(self) -> str:
        """How the map-quality table groups it: parser, blend, ground truth or control."""
        if self.name in CONTROL_NAMES:
            return "control"
        return {"predicted": "parser", "parser": "parser", "ground_truth": "ground truth"}.get(self.name, "blend")


PREDICTED, GROUND_TRUTH = MapCondition("predicted"), MapCondition("ground_truth")


def curve(blend_weights) -> tuple[MapCondition, ...]:
    """The map-quality curve: the parser's maps, the blends toward the ground truth (``blend_weights``, each
    strictly between 0 and 1), the ground truth."""
    if not all(0 < a < 1 for a in blend_weights):
        raise ValueError(f"blend weights {tuple(blend_weights)}: each strictly between 0 (the parser) and 1 (the "
                         "ground truth)")
    return (PREDICTED, *(MapCondition("blend", weight=a) for a in sorted(blend_weights)), GROUND_TRUTH)


# Input masking at the curve's ends only: each of its conditions costs a masked prefix store of every image and view
# besides its trainings. The ends are the arms of ablation (e), so a profile that runs (e) has them already.
ENDS = (PREDICTED, GROUND_TRUTH)


@dataclass(frozen=True)
class Arm:
    model: str
    vocabulary: str  # the vocabulary of the map the model sees
    maps: MapCondition = PREDICTED
    rows: str = "all"  # or "pixel": train/val/test restricted to the pixel-annotated half
    lr_mult: float | None = None  # None: the value tuning chose for this model
    stages: tuple[int, ...] | None = None  # the proposed model's fusion stages (None: the backbone's default)

    @property
    def label(self) -> str:
        """The model as tables name it: ``proposed@2`` for a single-stage variant."""
        return f"{self.model}@{'+'.join(map(str, self.stages))}" if self.stages else self.model

    def key(self, seed: int) -> str:
        """The name of its checkpoint and predictions."""
        parts = [self.label.replace("@", "at"), self.vocabulary]
        if self.maps != PREDICTED:
            parts.append("gt" if self.maps == GROUND_TRUTH else str(self.maps).replace(":", "-"))
        if self.rows != "all":
            parts.append(self.rows)
        return "-".join(parts) + f"-m{self.lr_mult:g}_s{seed}"

    def at(self, lr_mult: float) -> Arm:
        return replace(self, lr_mult=lr_mult)


class AblationGroup(Enum):
    """The rows of the ablation table, by the label tables and readers share."""

    MAIN = "main"
    SE_ONLY = "(a) SE gate, no map"
    NO_GATE = "(b) no gate"
    ORACLE_AT_TEST = "(c) oracle at test time"
    SINGLE_STAGE = "(d) single stage"
    ORACLE_TRAINED = "(e) oracle-trained bound"
    OTHER_VOCABULARY = "(f) other vocabulary"

    @property
    def label(self) -> str:
        return self.value


# What the ablation table's ``maps`` column says beside predicted and none.
MAPS_ORACLE_TRAINED = "ground truth (oracle-trained)"
MAPS_ORACLE_AT_TEST = "ground truth at test time only"
