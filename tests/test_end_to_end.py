"""The paper's effect on the toy world, seeded (about a minute on a 2-core CPU).

Margins set from measured runs of this configuration (seed 0, sklearn digits): shortcut model
RSUM with the shortcut 579 and clean 18; baseline clean 234; chance 16.
"""
import pytest

from svl_lib.config import ExperimentConfig
from svl_lib.experiment import run_experiment

CONFIG = ExperimentConfig(n_train=1000, n_val=50, n_test=200, epochs=4, seed=0)


@pytest.mark.slow
def test_unique_shortcut_is_learned_and_content_is_not(tmp_path) -> None:
    shortcut = run_experiment(CONFIG.replace(shortcut_mode="unique"), tmp_path / "unique")["eval"]
    baseline = run_experiment(CONFIG, tmp_path / "baseline")["eval"]
    assert shortcut["shortcut"]["rsum"] >= 0.8 * 600
    assert baseline["clean"]["rsum"] >= 150
    assert shortcut["clean"]["rsum"] <= 0.25 * baseline["clean"]["rsum"]
    # one modality alone carries no usable shortcut
    assert shortcut["image_only"]["rsum"] <= 0.25 * baseline["clean"]["rsum"]
