import math

import pytest
import torch
import torch.nn.functional as F

from svl_lib.losses import InfoNCE, info_nce


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
