import math

import pytest
import torch
import torch.nn.functional as F

from svl_lib.losses import IFMLoss, InfoNCE, TripletLoss, ifm_perturb, info_nce, triplet_from_similarities, vse_triplet


def brute_force_info_nce(img: torch.Tensor, txt: torch.Tensor, scale: float) -> float:
    """The formula written out with python loops over rows and columns."""
    n = img.shape[0]
    sims = [[scale * float(img[i] @ txt[j]) for j in range(n)] for i in range(n)]
    i2t = sum(-sims[i][i] + math.log(sum(math.exp(sims[i][j]) for j in range(n))) for i in range(n))
    t2i = sum(-sims[j][j] + math.log(sum(math.exp(sims[i][j]) for i in range(n))) for j in range(n))
    return 0.5 * (i2t + t2i) / n


@pytest.mark.parametrize("batch,scale", [(2, 1.0), (7, 14.3), (16, 100.0)])
def test_info_nce_matches_brute_force(batch: int, scale: float) -> None:
    g = torch.Generator().manual_seed(batch)
    img = F.normalize(torch.randn(batch, 8, generator=g, dtype=torch.float64), dim=-1)
    txt = F.normalize(torch.randn(batch, 8, generator=g, dtype=torch.float64), dim=-1)
    got = info_nce(img, txt, torch.tensor(scale, dtype=torch.float64))
    assert float(got) == pytest.approx(brute_force_info_nce(img, txt, scale), rel=1e-9)
    assert float(InfoNCE()(img, txt, scale)) == pytest.approx(float(got), rel=1e-12)


def test_info_nce_is_symmetric_and_low_for_perfect_pairs() -> None:
    g = torch.Generator().manual_seed(0)
    img = F.normalize(torch.randn(32, 16, generator=g), dim=-1)
    txt = F.normalize(torch.randn(32, 16, generator=g), dim=-1)
    assert float(info_nce(img, txt, 10.0)) == pytest.approx(float(info_nce(txt, img, 10.0)), rel=1e-6)
    assert float(info_nce(img, img, 100.0)) < 1e-3 < float(info_nce(img, txt, 100.0))


def test_info_nce_gradient_reaches_logit_scale() -> None:
    scale = torch.tensor(5.0, requires_grad=True)
    img = F.normalize(torch.randn(4, 3), dim=-1)
    info_nce(img, F.normalize(torch.randn(4, 3), dim=-1), scale).backward()
    assert scale.grad is not None and scale.grad != 0


def test_info_nce_rejects_mismatched_shapes() -> None:
    with pytest.raises(ValueError, match="must both be"):
        info_nce(torch.randn(4, 3), torch.randn(5, 3), 1.0)


# --- VSE++ triplet loss and implicit feature modification (IFM) ---------------------------------
def brute_force_triplet(img: torch.Tensor, txt: torch.Tensor, margin: float, max_violation: bool,
                        reduction: str, eps: float = 0.0) -> float:
    """VSE++ written with loops; ``eps`` applies IFM's shift (positives - eps, negatives + eps)."""
    n = img.shape[0]
    sim = [[float(img[i] @ txt[j]) + (-eps if i == j else eps) for j in range(n)] for i in range(n)]
    per_pair = []
    for i in range(n):
        as_image = [max(0.0, margin + sim[i][j] - sim[i][i]) for j in range(n) if j != i]
        as_caption = [max(0.0, margin + sim[j][i] - sim[i][i]) for j in range(n) if j != i]
        agg = max if max_violation else sum
        per_pair.append(agg(as_image) + agg(as_caption))
    return sum(per_pair) if reduction == "sum" else sum(per_pair) / n


def brute_force_ifm_info_nce(img: torch.Tensor, txt: torch.Tensor, scale: float, eps: float) -> float:
    n = img.shape[0]
    sims = [[scale * (float(img[i] @ txt[j]) + (-eps if i == j else eps)) for j in range(n)]
            for i in range(n)]
    i2t = sum(-sims[i][i] + math.log(sum(math.exp(sims[i][j]) for j in range(n))) for i in range(n))
    t2i = sum(-sims[j][j] + math.log(sum(math.exp(sims[i][j]) for i in range(n))) for j in range(n))
    return 0.5 * (0.5 * (i2t + t2i) / n + brute_force_info_nce(img, txt, scale))


def _features(batch: int, seed: int, dim: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    img = F.normalize(torch.randn(batch, dim, generator=g, dtype=torch.float64), dim=-1)
    txt = F.normalize(torch.randn(batch, dim, generator=g, dtype=torch.float64), dim=-1)
    return img, txt


@pytest.mark.parametrize("max_violation", [True, False])
@pytest.mark.parametrize("reduction", ["sum", "mean"])
@pytest.mark.parametrize("batch,margin", [(2, 0.2), (9, 0.2), (16, 0.5)])
def test_triplet_matches_brute_force(batch: int, margin: float, max_violation: bool,
                                     reduction: str) -> None:
    img, txt = _features(batch, seed=batch + 100)
    got = vse_triplet(img, txt, None, margin, max_violation, reduction)
    want = brute_force_triplet(img, txt, margin, max_violation, reduction)
    assert want > 0
    assert float(got) == pytest.approx(want, rel=1e-9)
    module = TripletLoss(margin, max_violation, reduction)
    assert float(module(img, txt, torch.tensor(50.0))) == pytest.approx(want, rel=1e-9)


def test_triplet_ignores_logit_scale_and_is_zero_when_pairs_win_by_the_margin() -> None:
    img, txt = _features(6, seed=3)
    assert float(vse_triplet(img, txt, 1.0)) == float(vse_triplet(img, txt, 100.0))
    eye = torch.eye(6, dtype=torch.float64)  # orthogonal pairs: positives 1, negatives 0
    assert float(vse_triplet(eye, eye, margin=0.2)) == 0.0
    assert float(vse_triplet(eye, eye, margin=1.5, reduction="mean")) == pytest.approx(2 * 0.5)


def test_max_violation_picks_the_hardest_negative() -> None:
    img, txt = _features(8, seed=5)
    hard = float(vse_triplet(img, txt, max_violation=True))
    total = float(vse_triplet(img, txt, max_violation=False))
    assert 0 < hard < total
    # every hinge is active (margin 10), yet only one negative per query gets a gradient: 2B
    # off-diagonal entries at most, against all B(B-1) for the sum over negatives
    counts = {}
    for max_violation in (True, False):
        sims = (img @ txt.T).clone().requires_grad_(True)
        triplet_from_similarities(sims, margin=10.0, max_violation=max_violation).backward()
        off = sims.grad.clone().fill_diagonal_(0)
        counts[max_violation] = int((off != 0).sum())
    assert counts[True] <= 2 * 8 and counts[False] == 8 * 7


@pytest.mark.parametrize("batch,scale,eps", [(2, 1.0, 0.1), (7, 14.3, 0.05), (12, 30.0, 0.5)])
def test_ifm_info_nce_matches_brute_force(batch: int, scale: float, eps: float) -> None:
    img, txt = _features(batch, seed=batch)
    got = IFMLoss(InfoNCE(), eps)(img, txt, torch.tensor(scale, dtype=torch.float64))
    assert float(got) == pytest.approx(brute_force_ifm_info_nce(img, txt, scale, eps), rel=1e-9)


def test_ifm_with_epsilon_zero_is_plain_info_nce_and_raises_the_loss_otherwise() -> None:
    img, txt = _features(10, seed=1)
    plain = float(info_nce(img, txt, 10.0))
    assert float(IFMLoss(InfoNCE(), 0.0)(img, txt, 10.0)) == pytest.approx(plain, rel=1e-12)
    assert float(IFMLoss(InfoNCE(), 0.1)(img, txt, 10.0)) > plain


def test_ifm_with_triplet_matches_brute_force() -> None:
    img, txt = _features(7, seed=11)
    for max_violation in (True, False):
        base = TripletLoss(0.2, max_violation, "sum")
        got = float(IFMLoss(base, 0.1)(img, txt, 1.0))
        want = 0.5 * (brute_force_triplet(img, txt, 0.2, max_violation, "sum")
                      + brute_force_triplet(img, txt, 0.2, max_violation, "sum", eps=0.1))
        assert got == pytest.approx(want, rel=1e-9)


def test_ifm_perturbation_moves_positives_down_and_negatives_up() -> None:
    sims = torch.zeros(3, 3)
    out = ifm_perturb(sims, 0.25)
    assert torch.equal(out.diagonal(), torch.full((3,), -0.25))
    assert torch.equal(out[~torch.eye(3, dtype=torch.bool)], torch.full((6,), 0.25))


def test_bad_loss_settings_are_rejected() -> None:
    with pytest.raises(ValueError, match="epsilon must be >= 0"):
        IFMLoss(InfoNCE(), -0.1)
    with pytest.raises(ValueError, match="epsilon must be >= 0"):
        ifm_perturb(torch.zeros(2, 2), -1.0)
    with pytest.raises(ValueError, match="reduction"):
        TripletLoss(reduction="max")
    with pytest.raises(ValueError, match="margin"):
        TripletLoss(margin=-0.1)
