"""The sentences across resolutions follow each row's interval (sednn.reporting.prose.claim)."""
import pandas as pd

from sednn.reporting import resolution


def _rows(model, cis):
    return [{"model": model, "resolution": res, "profile": prof, "delta_macro_auc": (lo + hi) / 2,
             "delta_ci_low": lo, "delta_ci_high": hi}
            for (res, prof), (lo, hi) in zip([("192x128", "cpu"), ("384x256", "cpu_384")], cis)]


def test_a_verdict_that_changes_with_resolution_says_so():
    t = pd.DataFrame([*_rows("baseline", [(0, 0), (0, 0)]), *_rows("input_masking", [(0.003, 0.04), (-0.02, 0.01)]),
                      *_rows("proposed", [(-0.02, 0.01), (-0.02, 0.01)]), *_rows("late_fusion", [(-0.04, 0.01)])[:1]])
    assert resolution.compared_models(t) == ["proposed", "input_masking"]  # late_fusion: one size only
    assert resolution.sentence(t, "proposed").startswith("The verdict on the `proposed` model holds at every")
    s = resolution.sentence(t, "input_masking")
    assert "changes with resolution" in s
    assert "at 192x128 (cpu) it beats the baseline" in s and "at 384x256 (cpu_384) it is not distinguishable" in s
