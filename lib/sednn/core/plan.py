"""What a profile trains, from the profile and a few facts about the dataset (no data read, no torch): which map
vocabulary plays which part, and the parsers, tuned models and arms (``sednn.core.arms``) of every notebook.
Notebooks 02-07, the torchrun launcher, the work count and the benchmark all read this one plan.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

from sednn.core.arms import (
    CONTROL_NAMES,
    ENDS,
    GROUND_TRUTH,
    PREDICTED,
    AblationGroup,
    Arm,
    MapCondition,
    VocabularyRoles,
    curve,
    vocabulary_roles,
)
from sednn.core.catalog import ALTERNATIVES, ARGUMENT_ABLATIONS, FUSION_STAGES
from sednn.core.profiles import Profile

NOTEBOOKS = ("01_data_prep", "02_semantic_maps", "03_baseline", "04_alternatives", "05_proposed", "06_attention",
             "07_map_quality")  # a profile runs its own selection of them (Profile.notebooks)
CCP_VOCABULARIES = ("regions", "garments")  # CCP's two map vocabularies, coarsest first (a test checks the order)
NO_VOCABULARY = "none"  # the baseline's arm where a dataset has no map vocabulary


# --------------------------------------------------------------------------- the plan
@dataclass(frozen=True)
class DatasetShape:
    """What the plan needs to know of a dataset."""

    vocabularies: tuple[str, ...] = CCP_VOCABULARIES  # coarsest first; none: only the baseline trains
    parser: bool = True  # the project's parser is trained (not where the dataset brings maps of its own)
    pixel_splits: bool = True  # train, val and test each hold pixel-annotated images (oracle arms, notebook 07)
    only_pixel_rows: bool = False  # every row has a ground-truth map (the map_quality profile's rows)

    @classmethod
    def ccp(cls, profile: Profile) -> DatasetShape:
        return cls(only_pixel_rows=profile.rows == "pixel")


@dataclass(frozen=True)
class ParserTraining:
    vocabulary: str
    encoder: str
    lr: float


@dataclass(frozen=True)
class Trained:
    """Arms trained at their model's chosen lr multiplier, each with every seed of ``seeds``."""

    arms: tuple[Arm, ...]
    seeds: tuple[int, ...]
    group: AblationGroup | None = None


@dataclass(frozen=True)
class NotebookPlan:
    parsers: tuple[ParserTraining, ...] = ()
    tuned: tuple[Arm, ...] = ()  # each on the lr grid with the tuning seeds, then every seed at the chosen point
    trained: tuple[Trained, ...] = ()

    def trainings(self, profile: Profile) -> int:
        """Its ``sednn.training.fit.fit`` calls (a reused checkpoint counted too)."""
        return (len(self.parsers) + len(self.tuned) * tuning_trainings(profile)
                + sum(len(t.arms) * len(t.seeds) for t in self.trained))


def tuning_trainings(profile: Profile) -> int:
    """The trainings tuning makes of one model: the grid with the tuning seeds, then the other seeds at the chosen
    point."""
    return len(profile.lr_mults) * len(profile.tune_seeds) + len(set(profile.seeds) - set(profile.tune_seeds))


def alternatives(profile: Profile) -> list[str]:
    """The alternatives ``profile`` trains, in ``ALTERNATIVES`` order."""
    unknown = set(profile.alternatives) - set(ALTERNATIVES)
    if unknown:
        raise ValueError(f"profile {profile.name!r}: unknown alternatives {sorted(unknown)}; choose from "
                         f"{list(ALTERNATIVES)}")
    return [m for m in ALTERNATIVES if m in profile.alternatives]


def main_models(profile: Profile) -> list[str]:
    """The main table's models in ``profile``: the baseline, the alternatives it trains, the proposed model."""
    return ["baseline", *alternatives(profile), "proposed"]


def argument_ablations(profile: Profile) -> list[str]:
    """The ablations that carry the argument, where the profile runs them."""
    return list(ARGUMENT_ABLATIONS) if profile.argument_ablations else []


def curve_models(profile: Profile) -> list[str]:
    """The models trained along the map-quality curve: the proposed model, and input masking where the profile
    trains it (the ``map_quality`` profile does not: its conditions would add trainings beyond the study's budget)."""
    return ["proposed", *(["input_masking"] if "input_masking" in alternatives(profile) else [])]


def curve_conditions(profile: Profile, model: str) -> list[MapCondition]:
    """The proposed model's curve: the parser's maps, the blends, the ground truth and the maps of the profile's
    other parsers; input masking's: the ends."""
    if model != "proposed":
        return list(ENDS)
    return [*curve(profile.blend_weights), *(MapCondition("parser", encoder=b) for b in profile.other_parsers)]


@dataclass(frozen=True)
class Plan:
    profile: Profile
    shape: DatasetShape
    roles: VocabularyRoles
    notebooks: dict[str, NotebookPlan] = field(default_factory=dict, compare=False)

    def __getitem__(self, notebook: str) -> NotebookPlan:
        return self.notebooks[notebook]

    def main_arm(self, model: str) -> Arm:
        return Arm(model, self.roles.main or NO_VOCABULARY)

    def tuned_models(self, notebooks=("03_baseline", "04_alternatives", "05_proposed")) -> list[str]:
        """The models tuned in ``notebooks``, in their order: the main models, then the argument ablations."""
        return [a.model for n in notebooks for a in self.notebooks[n].tuned]

    def trainings(self, notebooks=None) -> dict[str, int]:
        """Trainings per notebook (the profile's notebooks by default): what the runner's progress counts against."""
        return {n: self.notebooks[n].trainings(self.profile) for n in (notebooks or self.profile.notebooks)}

    def map_vocabularies(self) -> list[str]:
        """The vocabularies the notebooks need maps of: the main comparison's, the oracle-trained bound's, the other
        one for its ablation (as the profile asks; coarsest first)."""
        p, roles = self.profile, self.roles
        needed = {roles.main} | ({roles.oracle} if p.oracle_training else set()) \
            | ({roles.other} if p.other_vocabulary else set())
        return [v for v in self.shape.vocabularies if v in needed]

    def map_quality_arms(self) -> dict[str, Arm]:
        """Row name -> arm of the map-quality study: the baseline, each curve model at each of its conditions, the
        proposed model's controls; on every row where the dataset holds only pixel-annotated ones, else on the
        pixel-annotated half (as ablation (e)), with the oracle vocabulary's maps."""
        vocab, rows = self.roles.oracle, "all" if self.shape.only_pixel_rows else "pixel"
        out = {"baseline": Arm("baseline", vocab, PREDICTED, rows)}
        for model in curve_models(self.profile):
            out.update({f"{model} ({c})": Arm(model, vocab, c, rows) for c in curve_conditions(self.profile, model)})
        unknown = set(self.profile.controls) - set(CONTROL_NAMES)
        if unknown:
            raise ValueError(f"profile {self.profile.name!r}: unknown controls {sorted(unknown)}; choose from "
                             f"{', '.join(CONTROL_NAMES)}")
        out.update({f"proposed ({c})": Arm("proposed", vocab, MapCondition(c), rows) for c in self.profile.controls})
        return out


def make_plan(profile: Profile, shape: DatasetShape, backbone: str = "efficientnet_lite0",
              best_alternative: str | None = None) -> Plan:
    """The plan of every notebook. ``best_alternative``: the alternative the oracle and other-vocabulary arms train,
    chosen on validation after notebook 04 (``sednn.study.classifiers.best_alternative``; notebook 05 passes it);
    None: the profile's first, which counts the same (``input_masking`` was chosen in every run so far)."""
    best_alternative = best_alternative or next(iter(alternatives(profile)), None)
    roles = vocabulary_roles(shape.vocabularies, profile.vocabulary)
    plan = Plan(profile, shape, roles)  # its helpers; the notebooks' plans are filled in below
    maps, seeds = bool(shape.vocabularies), tuple(profile.seeds)
    encoders = [profile.parser_backbone, *profile.other_parsers]
    parsers = tuple(ParserTraining(v, e, lr) for v in plan.map_vocabularies() for e in encoders
                    for lr in profile.parser_lrs) if shape.parser else ()
    nb = {name: NotebookPlan() for name in NOTEBOOKS}
    nb["02_semantic_maps"] = NotebookPlan(parsers=parsers)
    nb["03_baseline"] = NotebookPlan(tuned=(plan.main_arm("baseline"),))
    if maps:
        nb["04_alternatives"] = NotebookPlan(tuned=tuple(map(plan.main_arm, alternatives(profile))))
        nb["05_proposed"] = NotebookPlan(tuned=tuple(map(plan.main_arm, ["proposed", *argument_ablations(profile)])),
                                         trained=_fifth(plan, backbone, best_alternative))
    if maps and shape.pixel_splits:
        nb["07_map_quality"] = NotebookPlan(tuned=tuple(map(plan.main_arm, ["baseline", *curve_models(profile)])),
                                            trained=(Trained(tuple(plan.map_quality_arms().values()), seeds),))
    return replace(plan, notebooks=nb)


def _fifth(plan: Plan, backbone: str, best_alternative: str | None) -> tuple[Trained, ...]:
    """Notebook 05's arms beside its tuned models: the single-stage variants (first seed), the oracle-trained
    bound, the other vocabulary."""
    p, roles, shape = plan.profile, plan.roles, plan.shape
    out = []
    if p.stage_variants:
        out.append(Trained(tuple(replace(plan.main_arm("proposed"), stages=(s,)) for s in FUSION_STAGES[backbone]),
                           tuple(p.seeds[:1]), AblationGroup.SINGLE_STAGE))
    oracle, other = p.oracle_training and shape.pixel_splits, p.other_vocabulary and roles.other
    if (oracle or other) and best_alternative is None:
        raise ValueError(f"profile {p.name!r}: the oracle and other-vocabulary arms train the best alternative, "
                         "and the profile trains none")
    if oracle:
        arms = [Arm("baseline", roles.oracle, PREDICTED, "pixel")]
        for model in ("proposed", best_alternative):
            arms += [Arm(model, roles.oracle, maps, "pixel") for maps in (PREDICTED, GROUND_TRUTH)]
        out.append(Trained(tuple(arms), tuple(p.seeds), AblationGroup.ORACLE_TRAINED))
    if other:
        out.append(Trained(tuple(Arm(m, roles.other) for m in ("proposed", best_alternative)), tuple(p.seeds),
                           AblationGroup.OTHER_VOCABULARY))
    return tuple(out)
