"""IFM and the triplet loss through the experiment config: the objective built, and a tiny run."""
import pytest
import torch
import torch.nn.functional as F

from svl_lib.data.loading import CaptionDataset
from svl_lib.data.toy import ToyWorld
from svl_lib.config import ExperimentConfig
from svl_lib.experiments.experiment import run_experiment
from svl_lib.train.objectives import build_objective
from svl_lib.losses import IFMLoss, InfoNCE, SigmoidLoss, TripletLoss, info_nce, sigmoid_from_similarities, vse_triplet
from svl_lib.outputs import ModelOutput


@pytest.fixture(scope="module")
def dataset() -> CaptionDataset:
    return CaptionDataset(ToyWorld(20, 5, 5).split("train"))


def test_config_builds_the_matching_loss(dataset) -> None:
    g = torch.Generator().manual_seed(0)
    img = F.normalize(torch.randn(6, 8, generator=g), dim=-1)
    txt = F.normalize(torch.randn(6, 8, generator=g), dim=-1)
    plain = build_objective(ExperimentConfig(), dataset)
    assert isinstance(plain.loss_fn, InfoNCE)
    out = ModelOutput(img, txt, torch.tensor(10.0), torch.tensor(-10.0))
    assert float(plain(out, [])[0]) == pytest.approx(float(info_nce(img, txt, 10.0)))
    triplet = build_objective(ExperimentConfig(loss="triplet", triplet_margin=0.3,
                                               triplet_max_violation=False,
                                               triplet_reduction="mean"), dataset)
    assert isinstance(triplet.loss_fn, TripletLoss)
    assert float(triplet(out, [])[0]) == pytest.approx(
        float(vse_triplet(img, txt, None, 0.3, False, "mean")))
    ifm = build_objective(ExperimentConfig(loss="triplet", ifm_epsilon=0.1), dataset)
    assert isinstance(ifm.loss_fn, IFMLoss) and isinstance(ifm.loss_fn.base, TripletLoss)
    assert ifm.loss_fn.epsilon == 0.1
    sigmoid = build_objective(ExperimentConfig(loss="sigmoid", ifm_epsilon=0.1), dataset)
    assert isinstance(sigmoid.loss_fn.base, SigmoidLoss)
    plain_sigmoid = float(sigmoid_from_similarities(img @ txt.T, 10.0, -10.0))
    assert float(sigmoid(out, [])[0]) > plain_sigmoid  # IFM makes the sigmoid loss harder too
    assert float(IFMLoss(SigmoidLoss(), 0.0)(img, txt, 10.0, -10.0)) == pytest.approx(plain_sigmoid)
    with pytest.raises(ValueError, match="needs a logit bias"):
        sigmoid(ModelOutput(img, txt, torch.tensor(10.0)), [])


@pytest.mark.slow
@pytest.mark.parametrize("loss", ["infonce", "triplet", "sigmoid"])
def test_ifm_tiny_run_trains(tmp_path, loss: str) -> None:
    config = ExperimentConfig(n_train=300, n_val=10, n_test=40, epochs=1, batch_size=64,
                              n_digits=3, loss=loss, ifm_epsilon=0.1, shortcut_mode="unique",
                              eval_conditions=("clean", "shortcut"))
    metrics = run_experiment(config, tmp_path / "run")
    assert metrics["steps"] == 1500 // 64
    assert torch.isfinite(torch.tensor(metrics["final_loss"]))
    assert set(metrics["eval"]) == {"clean", "shortcut"}
