"""One plan of what a profile trains, read by notebooks 02-07, the launcher, the work count and the benchmark."""
from dataclasses import replace

import pytest

from sednn.core.arms import GROUND_TRUTH, PREDICTED, AblationGroup, Arm, MapCondition
from sednn.core.plan import DatasetShape, make_plan, tuning_trainings
from sednn.core.profiles import PROFILES, get_profile


def test_the_cpu_profile_plans_every_notebook_as_the_study_describes_it():
    plan = make_plan(PROFILES["cpu"], DatasetShape(), best_alternative="input_masking")  # the cpu run's choice
    assert plan.roles.main == "garments" and plan.roles.oracle == plan.roles.other == "regions"
    assert [(p.vocabulary, p.encoder) for p in plan["02_semantic_maps"].parsers] == [
        ("regions", "efficientnet_lite0")] * 2 + [("garments", "efficientnet_lite0")] * 2  # two lrs each
    assert plan.tuned_models() == ["baseline", "early_fusion", "input_masking", "late_fusion", "proposed", "se_only",
                                   "no_gate"]
    fifth = {t.group: t for t in plan["05_proposed"].trained}
    assert set(fifth) == {AblationGroup.ORACLE_TRAINED, AblationGroup.OTHER_VOCABULARY}  # no stage variants in cpu
    oracle = fifth[AblationGroup.ORACLE_TRAINED]
    assert oracle.arms[0] == Arm("baseline", "regions", PREDICTED, "pixel") and oracle.seeds == (0, 1, 2)
    assert [(a.model, a.maps) for a in oracle.arms[1:]] == [("proposed", PREDICTED), ("proposed", GROUND_TRUTH),
                                                            ("input_masking", PREDICTED),
                                                            ("input_masking", GROUND_TRUTH)]
    assert plan.trainings() == {"01_data_prep": 0, "02_semantic_maps": 4, "03_baseline": 4, "04_alternatives": 12,
                                "05_proposed": 12 + 15 + 6, "06_attention": 0}


def test_the_best_alternative_chosen_on_validation_is_the_one_the_arms_train():
    plan = make_plan(PROFILES["cpu"], DatasetShape(), best_alternative="late_fusion")
    models = {a.model for t in plan["05_proposed"].trained for a in t.arms}
    assert models == {"baseline", "proposed", "late_fusion"}
    with pytest.raises(ValueError, match="trains none"):
        make_plan(get_profile("cpu", alternatives=()), DatasetShape())


def test_stage_variants_are_typed_and_train_with_the_first_seed():
    plan = make_plan(PROFILES["smoke"], DatasetShape())
    stages = {t.group: t for t in plan["05_proposed"].trained}[AblationGroup.SINGLE_STAGE]
    assert [a.label for a in stages.arms] == ["proposed@2", "proposed@4"] and stages.seeds == (0,)
    assert [a.stages for a in stages.arms] == [(2,), (4,)]


def test_what_the_dataset_lacks_the_plan_leaves_out():
    prof = PROFILES["cpu"]
    no_maps = make_plan(prof, DatasetShape(vocabularies=()))
    assert no_maps.trainings() == {"01_data_prep": 0, "02_semantic_maps": 0, "03_baseline": 4, "04_alternatives": 0,
                                   "05_proposed": 0, "06_attention": 0}
    assert no_maps.main_arm("baseline").vocabulary == "none"
    own_maps = make_plan(prof, DatasetShape(parser=False))
    assert own_maps["02_semantic_maps"].parsers == ()
    no_pixel = make_plan(prof, DatasetShape(pixel_splits=False))
    assert {t.group for t in no_pixel["05_proposed"].trained} == {AblationGroup.OTHER_VOCABULARY}
    assert no_pixel["07_map_quality"].trained == ()
    one = make_plan(prof, DatasetShape(vocabularies=("parts",)))
    assert one.roles.main == one.roles.oracle == "parts" and one.roles.other is None


def test_the_map_quality_study_trains_its_curve_and_controls_on_the_pixel_rows():
    prof = PROFILES["map_quality"]
    plan = make_plan(prof, DatasetShape.ccp(prof))
    arms = plan.map_quality_arms()
    assert list(arms) == ["baseline", "proposed (predicted)", "proposed (blend:0.5)", "proposed (ground_truth)",
                          "proposed (presence)"]  # the conditions the profile keeps
    smoke = make_plan(PROFILES["smoke"], DatasetShape()).map_quality_arms()  # a profile with another parser
    assert [a for a in smoke if a.startswith("proposed")] == [
        "proposed (predicted)", "proposed (blend:0.25)", "proposed (blend:0.5)", "proposed (blend:0.75)",
        "proposed (ground_truth)", "proposed (parser:efficientnet_lite2)", "proposed (presence)",
        "proposed (foreground)", "proposed (shuffled)"]  # every condition by default
    assert smoke["proposed (parser:efficientnet_lite2)"].maps == MapCondition("parser", encoder="efficientnet_lite2")
    assert {a.rows for a in arms.values()} == {"all"}  # the profile keeps only pixel-annotated rows
    assert plan["07_map_quality"].trainings(prof) == 2 * tuning_trainings(prof) + len(arms) * 10  # ten seeds
    half = make_plan(PROFILES["cpu"], DatasetShape()).map_quality_arms()
    assert {a.rows for a in half.values()} == {"pixel"} and "input_masking (ground_truth)" in half


def test_a_profile_names_only_known_controls_and_blends_strictly_inside_the_curve():
    with pytest.raises(ValueError, match="unknown controls \\['layout'\\]"):
        make_plan(replace(PROFILES["smoke"], controls=("presence", "layout")), DatasetShape()).map_quality_arms()
    with pytest.raises(ValueError, match=r"blend weights \(0.5, 1.0\): each strictly between 0"):
        make_plan(replace(PROFILES["smoke"], blend_weights=(0.5, 1.0)), DatasetShape())
