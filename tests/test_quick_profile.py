"""The real `quick` profile end to end (MiniLM + RedditBias, ~20 minutes on 2 cores): slow,
so out of CI; `make test-all` runs it."""
import pytest

from taskfair import ArtifactStore
from precompute.profiles import load_profile
from precompute.pipeline import run_study


@pytest.mark.slow
def test_quick_profile_beats_the_majority_class(tmp_path):
    res = run_study(load_profile("quick", {"output_root": str(tmp_path)}), progress=False)
    ArtifactStore(tmp_path).open("quick")  # the manifest verifies
    fft = res.headline.set_index("method").loc["FFT", "accuracy"]
    assert fft > res.summary["majority_baseline_test"] + 0.1
    assert sum(res.timings.values()) < 15 * 60
