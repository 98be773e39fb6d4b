"""Tests for svl_lib.evaluate.retrieval: brute-force agreement, ties, perfect features, chance, errors."""
from __future__ import annotations

import itertools
import statistics

import pytest
import torch
import torch.nn.functional as F

from svl_lib.evaluate.retrieval import chance_metrics, retrieval_metrics

DEFAULT_KEYS = {
    "i2t_r1", "i2t_r5", "i2t_r10", "t2i_r1", "t2i_r5", "t2i_r10", "rsum",
    "i2t_medr", "i2t_meanr", "t2i_medr", "t2i_meanr", "n_images", "n_captions",
}


def brute_force(image_features, text_features, text_to_image, ks=(1, 5, 10), tie_tol=1e-5):
    """The protocol written plainly: full score matrix, python loops, pessimistic ties."""
    scores = (image_features.double() @ text_features.double().T).tolist()
    owner = [int(i) for i in text_to_image]
    n, m = len(scores), len(owner)
    i2t = []
    for i in range(n):
        best_gt = max(scores[i][c] for c in range(m) if owner[c] == i)
        i2t.append(sum(1 for c in range(m) if owner[c] != i and scores[i][c] >= best_gt - tie_tol))
    t2i = []
    for c in range(m):
        gt = scores[owner[c]][c]
        t2i.append(sum(1 for i in range(n) if i != owner[c] and scores[i][c] >= gt - tie_tol))
    out = {}
    for name, ranks in (("i2t", i2t), ("t2i", t2i)):
        for k in ks:
            out[f"{name}_r{k}"] = 100.0 * sum(r < k for r in ranks) / len(ranks)
    out["rsum"] = sum(out.values())
    for name, ranks in (("i2t", i2t), ("t2i", t2i)):
        out[f"{name}_medr"] = statistics.median(r + 1 for r in ranks)
        out[f"{name}_meanr"] = statistics.mean(r + 1 for r in ranks)
    out["n_images"], out["n_captions"] = n, m
    return out


def random_corpus(counts, dim=32, seed=0, dtype=torch.float64):
    """Images and captions that are noisy copies of them, so ranks are spread out."""
    g = torch.Generator().manual_seed(seed)
    images = F.normalize(torch.randn(len(counts), dim, generator=g, dtype=dtype), dim=1)
    text_to_image = torch.repeat_interleave(torch.arange(len(counts)), torch.tensor(counts))
    text_to_image = text_to_image[torch.randperm(len(text_to_image), generator=g)]
    noise = torch.randn(len(text_to_image), dim, generator=g, dtype=dtype)
    texts = F.normalize(images[text_to_image] + 1.2 * noise, dim=1)
    return images, texts, text_to_image


FIVE_EACH = [5] * 40
UNEVEN = [1, 7, 2, 5, 3, 1, 4, 6, 2, 5] * 4


@pytest.mark.parametrize("counts", [FIVE_EACH, UNEVEN], ids=["five_each", "uneven"])
@pytest.mark.parametrize("chunk_size", [1, 3, 1000])
def test_matches_brute_force(counts, chunk_size):
    images, texts, text_to_image = random_corpus(counts)
    expected = brute_force(images, texts, text_to_image)
    got = retrieval_metrics(images, texts, text_to_image, chunk_size=chunk_size)
    assert set(got) == DEFAULT_KEYS
    assert got == pytest.approx(expected, rel=1e-12, abs=1e-12)
    assert 0 < got["i2t_r1"] < got["i2t_r10"] < 100  # the corpus is neither trivial nor hopeless


def test_chunk_sizes_agree_in_float32():
    images, texts, text_to_image = random_corpus(UNEVEN, dim=64, seed=1, dtype=torch.float32)
    results = [retrieval_metrics(images, texts, text_to_image.tolist(), chunk_size=c)
               for c in (1, 3, 7, 40, 500)]
    assert all(r == results[0] for r in results)
    assert results[0] == pytest.approx(brute_force(images, texts, text_to_image), rel=1e-12)


def test_keys_follow_ks():
    images, texts, text_to_image = random_corpus(FIVE_EACH)
    got = retrieval_metrics(images, texts, text_to_image, ks=(2, 3))
    recalls = ["i2t_r2", "i2t_r3", "t2i_r2", "t2i_r3"]
    assert list(got)[:5] == recalls + ["rsum"]
    assert got["rsum"] == pytest.approx(sum(got[key] for key in recalls))
    assert got == pytest.approx(brute_force(images, texts, text_to_image, ks=(2, 3)), rel=1e-12)


def test_docstring_example():
    # image_features = score rows and text_features = identity make the score matrix exact.
    scores = torch.tensor([[0.2, 0.9, 0.5], [0.7, 0.1, 0.7]])
    got = retrieval_metrics(scores, torch.eye(3), [0, 0, 1])
    assert got["i2t_r1"] == 50.0 and got["i2t_medr"] == 1.5
    assert got["t2i_r1"] == pytest.approx(200 / 3) and got["t2i_meanr"] == pytest.approx(4 / 3)
    assert got["n_images"] == 2 and got["n_captions"] == 3


def test_ties_count_against_the_query_in_both_directions():
    # image_features = score rows and text_features = identity make the score matrix exact.
    # Captions c0, c1 belong to image 0, c2 to image 1, c3 to image 2.
    near = 5e-6
    scores = torch.tensor([
        #  c0          c1    c2          c3
        [0.6,        0.6,  0.6,        0.1],  # GT c0 = c1 = 0.6 (no penalty); c2 ties exactly
        [0.3,        0.2,  0.8,        0.1],  # GT c2 = 0.8 wins
        [0.4 - near, 0.2,  0.8 - near, 0.4],  # GT c3 = 0.4; c0 is just below, c2 above
    ], dtype=torch.float64)
    text_to_image = [0, 0, 1, 2]
    expected_ranks = {  # tie_tol: (i2t ranks, t2i ranks), 0-based
        1e-5: ([1, 0, 2], [0, 0, 1, 0]),  # near-ties count: c0 for image 2, image 2 for c2
        1e-6: ([1, 0, 1], [0, 0, 0, 0]),  # near-ties are plain wins for the query
        0.0: ([1, 0, 1], [0, 0, 0, 0]),  # exact ties still count against the query
    }
    for tie_tol, (i2t, t2i) in expected_ranks.items():
        for chunk_size in (1, 2, 3):
            got = retrieval_metrics(scores, torch.eye(4, dtype=torch.float64), text_to_image,
                                    ks=(1, 2), chunk_size=chunk_size, tie_tol=tie_tol)
            for name, ranks in (("i2t", i2t), ("t2i", t2i)):
                n = len(ranks)
                assert got[f"{name}_r1"] == pytest.approx(100 * sum(r < 1 for r in ranks) / n)
                assert got[f"{name}_r2"] == pytest.approx(100 * sum(r < 2 for r in ranks) / n)
                assert got[f"{name}_meanr"] == pytest.approx(1 + sum(ranks) / n)
            assert got == pytest.approx(
                brute_force(scores, torch.eye(4, dtype=torch.float64), text_to_image, ks=(1, 2),
                            tie_tol=tie_tol), rel=1e-12)


def test_exact_duplicates_tie_and_self_never_counts():
    # Perfect features except that images 0 and 1 are identical, as are their captions
    # (the toy world's identical caption strings): every such pair is an exact tie.
    g = torch.Generator().manual_seed(3)
    images = F.normalize(torch.randn(30, 512, generator=g), dim=1)
    images[1] = images[0]
    text_to_image = torch.arange(30).repeat_interleave(5)
    texts = images[text_to_image].clone()
    for chunk_size in (1, 3, 64):
        got = retrieval_metrics(images, texts, text_to_image, chunk_size=chunk_size)
        # t2i: captions of images 0 and 1 (10 of 150) tie with the twin image -> rank 1.
        assert got["t2i_r1"] == pytest.approx(100 * 140 / 150)
        assert got["t2i_r5"] == 100.0
        # i2t: images 0 and 1 tie with the twin's 5 captions -> rank 5, a miss at k = 5.
        assert got["i2t_r1"] == got["i2t_r5"] == pytest.approx(100 * 28 / 30)
        assert got["i2t_r10"] == 100.0
        assert got["i2t_meanr"] == pytest.approx((28 * 1 + 2 * 6) / 30)
        assert got == pytest.approx(brute_force(images, texts, text_to_image), rel=1e-12)


@pytest.mark.parametrize("tie_tol", [0.0, 1e-5])
@pytest.mark.parametrize("counts", [FIVE_EACH, UNEVEN], ids=["five_each", "uneven"])
def test_perfect_features(counts, tie_tol):
    g = torch.Generator().manual_seed(4)
    images = F.normalize(torch.randn(len(counts), 512, generator=g), dim=1)
    text_to_image = torch.repeat_interleave(torch.arange(len(counts)), torch.tensor(counts))
    texts = images[text_to_image]
    for chunk_size in (1, 7, 1024):
        got = retrieval_metrics(images, texts, text_to_image, chunk_size=chunk_size,
                                tie_tol=tie_tol)
        for key in DEFAULT_KEYS - {"rsum", "n_images", "n_captions"}:
            assert got[key] == (1.0 if key.endswith("r") else 100.0), key
        assert got["rsum"] == 600.0
        assert (got["n_images"], got["n_captions"]) == (len(counts), sum(counts))


def permutation_chance(counts, k):
    """Exact i2t hit rate at k by enumerating every ordering of the captions."""
    m = sum(counts)
    owners = [i for i, c in enumerate(counts) for _ in range(c)]
    orders = list(itertools.permutations(range(m)))
    rates = [sum(any(owners[c] == i for c in order[:k]) for order in orders) / len(orders)
             for i in range(len(counts))]
    return 100.0 * sum(rates) / len(rates)


def test_chance_metrics_exact_small_cases():
    got = chance_metrics([1, 2], ks=(1,))
    assert got["i2t_r1"] == pytest.approx(50.0)  # (1/3 + 2/3) / 2
    assert got["t2i_r1"] == pytest.approx(50.0)
    counts = [1, 2, 3]
    got = chance_metrics(counts, ks=(1, 2, 4, 10))
    for k in (1, 2, 4):
        assert got[f"i2t_r{k}"] == pytest.approx(permutation_chance(counts, k))
        assert got[f"t2i_r{k}"] == pytest.approx(100 * min(k, 3) / 3)
    assert got["i2t_r10"] == pytest.approx(100.0) and got["t2i_r10"] == 100.0
    assert got["rsum"] == pytest.approx(sum(v for key, v in got.items() if key != "rsum"))
    assert set(chance_metrics(torch.tensor([5] * 10))) == {
        "i2t_r1", "i2t_r5", "i2t_r10", "t2i_r1", "t2i_r5", "t2i_r10", "rsum"}


def test_chance_metrics_match_random_features():
    counts = [1, 2, 3, 4, 5] * 8  # 40 images, 120 captions
    text_to_image = torch.repeat_interleave(torch.arange(40), torch.tensor(counts))
    g = torch.Generator().manual_seed(5)
    trials = []
    for _ in range(60):
        images = F.normalize(torch.randn(40, 64, generator=g), dim=1)
        texts = F.normalize(torch.randn(120, 64, generator=g), dim=1)
        trials.append(retrieval_metrics(images, texts, text_to_image))
    expected = chance_metrics(counts)
    for key, value in expected.items():
        mean = sum(t[key] for t in trials) / len(trials)
        assert mean == pytest.approx(value, abs=2.0 if key != "rsum" else 6.0), key


def _corpus_for_errors():
    return torch.eye(4), torch.eye(4)[[0, 1, 2, 3, 3]], [0, 1, 2, 3, 3]


@pytest.mark.parametrize("change, message", [
    (dict(image_features=torch.ones(4)), "must be 2-D"),
    (dict(text_features=torch.ones(5, 3)), "feature dimensions differ"),
    (dict(image_features=torch.ones(0, 4), text_to_image=[]), "there are no images"),
    (dict(text_to_image=[0, 1, 2, 3]), r"shape \(5,\), one entry per caption"),
    (dict(text_to_image=[[0, 1, 2, 3, 3]]), "one entry per caption"),
    (dict(text_to_image=[0, 1, 2, 3, 4]), r"must be in \[0, 4\)"),
    (dict(text_to_image=[0, 1, 2, -1, 3]), r"must be in \[0, 4\)"),
    (dict(text_to_image=torch.tensor([0.0, 1, 2, 3, 3])), "must hold integers"),
    (dict(text_to_image=[0, 1, 1, 3, 3]), r"1 image\(s\) have no caption \(first: image 2\)"),
    (dict(ks=()), "ks must be a non-empty list of positive integers"),
    (dict(ks=(0, 5)), "ks must be a non-empty list of positive integers"),
    (dict(ks=(5, 5)), "ks has duplicates"),
    (dict(chunk_size=0), "chunk_size must be positive"),
    (dict(tie_tol=-1.0), "tie_tol must be non-negative"),
])
def test_errors(change, message):
    image_features, text_features, text_to_image = _corpus_for_errors()
    kwargs = dict(image_features=image_features, text_features=text_features,
                  text_to_image=text_to_image) | change
    with pytest.raises(ValueError, match=message):
        retrieval_metrics(**kwargs)


@pytest.mark.parametrize("counts, ks, message", [
    ([5, 0, 5], (1,), "every image needs at least one caption"),
    ([], (1,), "no images"),
    ([5, 5], (-1,), "ks must be"),
])
def test_chance_errors(counts, ks, message):
    with pytest.raises(ValueError, match=message):
        chance_metrics(counts, ks=ks)


def test_ceiling_counts_identical_captions_as_ties_against_the_query() -> None:
    """Images 0: a, b; 1: a; 2: c. Image 1's only caption is also image 0's: i2t rank >= 1. The two
    copies of "a" rank images 0 and 1 once, so one of them is second."""
    from svl_lib.evaluate.retrieval import ceiling_metrics

    m = ceiling_metrics([["a", "b"], ["a"], ["c"]], ks=(1, 5))
    assert m["i2t_r1"] == pytest.approx(200 / 3) and m["i2t_r5"] == 100.0
    assert m["t2i_r1"] == 75.0 and m["t2i_r5"] == 100.0
    assert m["rsum"] == pytest.approx(200 / 3 + 100 + 75 + 100)
    assert ceiling_metrics([["a"], ["b"]])["rsum"] == 600.0  # all strings distinct: no bound below 600
    with pytest.raises(ValueError, match="at least one caption"):
        ceiling_metrics([["a"], []])


def test_a_string_oracle_stays_at_or_below_the_ceiling() -> None:
    """An oracle that embeds each caption string as its own direction and each image as the mean of
    its captions' directions stays at or below the ceiling, on a random corpus with many repeats."""
    from svl_lib.evaluate.retrieval import ceiling_metrics

    g = torch.Generator().manual_seed(0)
    captions = [[f"w{int(torch.randint(0, 12, (1,), generator=g))}" for _ in range(3)] for _ in range(20)]
    vocab = sorted({t for c in captions for t in c})
    text = torch.eye(len(vocab))[[vocab.index(t) for c in captions for t in c]]
    images = torch.nn.functional.normalize(
        torch.stack([text[3 * i:3 * i + 3].mean(0) for i in range(20)]) + 1e-3 * torch.randn(20, len(vocab), generator=g), dim=-1)
    owners = torch.arange(20).repeat_interleave(3)
    oracle = retrieval_metrics(images, text, owners)
    assert oracle["rsum"] <= ceiling_metrics(captions)["rsum"] + 1e-6
