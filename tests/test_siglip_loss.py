"""SigLIP's pairwise sigmoid loss: equal to open_clip's ``SigLipLoss`` in one process and per rank
in two CPU processes (gloo), low on well separated pairs and high on swapped ones."""
import importlib.util
from pathlib import Path
from types import ModuleType

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F

from svl_lib.losses import SigmoidLoss, sigmoid_from_similarities, sigmoid_loss

SCALE, BIAS = 10.0, -10.0
WORLD = 2


def open_clip_loss_module() -> ModuleType:
    """open_clip's ``loss.py`` alone (it needs torch only), without importing the package, whose
    import takes seconds in each spawned process."""
    package = importlib.util.find_spec("open_clip")
    if package is None:
        pytest.skip("open_clip is not installed")
    spec = importlib.util.spec_from_file_location(
        "open_clip_loss", Path(package.submodule_search_locations[0]) / "loss.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def features(batch: int, dim: int = 16, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Random L2-normalised ``(batch, dim)`` image and text features in float64."""
    generator = torch.Generator().manual_seed(seed)
    return tuple(F.normalize(torch.randn(batch, dim, generator=generator, dtype=torch.float64), dim=-1)
                 for _ in range(2))


def loss_and_grads(loss_fn, image: torch.Tensor, text: torch.Tensor) -> dict[str, torch.Tensor]:
    """The loss of fresh leaf copies of the inputs (scale 10, bias -10) and its gradients."""
    leaves = {"image": image.clone().requires_grad_(), "text": text.clone().requires_grad_(),
              "scale": torch.tensor(SCALE, dtype=torch.float64, requires_grad=True),
              "bias": torch.tensor(BIAS, dtype=torch.float64, requires_grad=True)}
    loss = loss_fn(leaves["image"], leaves["text"], leaves["scale"], leaves["bias"])
    loss.backward()
    return {"loss": loss.detach(), **{name: leaf.grad for name, leaf in leaves.items()}}


def assert_same(ours: dict[str, torch.Tensor], reference: dict[str, torch.Tensor]) -> None:
    assert ours.keys() == reference.keys()
    for name in ours:
        assert torch.allclose(ours[name], reference[name], rtol=0, atol=1e-6), name


def test_sigmoid_loss_equals_open_clips_siglip_loss_in_one_process() -> None:
    image, text = features(8)
    # open_clip's forward multiplies by logit_scale as given: it takes the exponentiated scale
    ours = loss_and_grads(sigmoid_loss, image, text)
    reference = loss_and_grads(open_clip_loss_module().SigLipLoss(), image, text)
    assert_same(ours, reference)
    assert all(grad.abs().max() > 0 for grad in ours.values())
    sims = image @ text.T
    assert sigmoid_from_similarities(sims, SCALE, BIAS) == pytest.approx(ours["loss"].item(), abs=1e-12)


def test_separated_pairs_give_a_low_loss_and_swapped_pairs_a_high_one() -> None:
    image = torch.eye(4, dtype=torch.float64)  # orthogonal: S = I for the right pairing
    assert sigmoid_loss(image, image, 100.0, -50.0) < 1e-10  # every logit +-50 on the right side
    swapped = image[[1, 0, 2, 3]]  # pairs 0 and 1 exchange their captions
    loss = sigmoid_loss(image, swapped, 100.0, -50.0)
    # two positives at logit -50 and two negatives at +50 cost about 50 each, over 4 rows
    assert loss == pytest.approx(4 * 50.0 / 4, rel=1e-6)
    with pytest.raises(ValueError, match="both be \\(B, D\\)"):
        sigmoid_loss(image, image[:3], 1.0, 0.0)
    with pytest.raises(ValueError, match="use 0 <= offset <= 4"):
        sigmoid_from_similarities(torch.zeros(4, 8), 1.0, 0.0, offset=5)


def run_rank(rank: int, init_method: str, out: str) -> None:
    """One of ``WORLD`` processes: its half of the global batch through our loss and open_clip's
    ``SigLipLoss(rank, WORLD)``; both results saved to ``out/rank{rank}.pt``."""
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=init_method, rank=rank, world_size=WORLD)
    try:
        image, text = (half.chunk(WORLD)[rank] for half in features(8 * WORLD))
        reference = open_clip_loss_module().SigLipLoss(rank=rank, world_size=WORLD)
        torch.save({"ours": loss_and_grads(sigmoid_loss, image, text),
                    "open_clip": loss_and_grads(reference, image, text)}, Path(out) / f"rank{rank}.pt")
    finally:
        dist.destroy_process_group()


def plain_rank_losses(image: torch.Tensor, text: torch.Tensor, scale: torch.Tensor,
                      bias: torch.Tensor) -> torch.Tensor:
    """The per-rank losses written plainly on the full ``(W B, W B)`` matrix: rank ``r``'s rows,
    label +1 on the global diagonal, divided by the local ``B``."""
    labels = 2 * torch.eye(len(image), dtype=image.dtype) - 1
    pairs = -F.logsigmoid(labels * (scale * image @ text.T + bias))
    return torch.stack([rows.sum() / len(rows) for rows in pairs.chunk(WORLD)])


def test_two_processes_each_give_open_clips_per_rank_loss_and_gradients(tmp_path) -> None:
    init_method = f"file://{tmp_path / 'rendezvous'}"
    mp.spawn(run_rank, args=(init_method, str(tmp_path)), nprocs=WORLD, join=True)
    results = [torch.load(tmp_path / f"rank{rank}.pt") for rank in range(WORLD)]
    for result in results:
        assert_same(result["ours"], result["open_clip"])
    # independent check: the per-rank losses, and the gradients of their sum (what the gathered
    # backward delivers to each rank's own features)
    image, text = (t.clone().requires_grad_() for t in features(8 * WORLD))
    scale, bias = (torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in (SCALE, BIAS))
    losses = plain_rank_losses(image, text, scale, bias)
    losses.sum().backward()
    assert losses[0].item() != pytest.approx(losses[1].item())  # the ranks' losses differ
    for rank, result in enumerate(results):
        ours = result["ours"]
        assert ours["loss"].item() == pytest.approx(losses[rank].item(), abs=1e-9)
        assert torch.allclose(ours["image"], image.grad.chunk(WORLD)[rank], atol=1e-9)
        assert torch.allclose(ours["text"], text.grad.chunk(WORLD)[rank], atol=1e-9)
    total_scale = sum(result["ours"]["scale"] for result in results)
    assert total_scale.item() == pytest.approx(scale.grad.item(), abs=1e-9)


def test_the_training_objective_s_global_loss_is_the_mean_of_the_per_process_losses() -> None:
    """The objective gives SigmoidLoss every process's features (one global loss per process);
    that loss is the mean over the W processes of open_clip's per-process losses, so after the
    processes' gradient average both train the same."""
    image, text = features(8)
    whole = SigmoidLoss()(image, text, 10.0, -10.0)
    per_rank = [sigmoid_from_similarities(image[r * 4:(r + 1) * 4] @ text.T, 10.0, -10.0, offset=r * 4)
                for r in range(2)]
    assert float(whole) == pytest.approx(float(sum(per_rank) / 2), rel=1e-12)
