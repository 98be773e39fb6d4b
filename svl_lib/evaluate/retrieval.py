"""Image<->text retrieval metrics for the multi-caption protocol (COCO / Flickr30k style).

There are N images and M captions; caption ``c`` belongs to image ``text_to_image[c]`` and an
image usually has 5 captions (any number >= 1 is allowed). Features are L2-normalised, so the
similarity of image ``i`` and caption ``c`` is the dot product ``s[i, c]``.

Protocol
--------
* image -> text: the rank of image ``i`` is the position of its *best-scoring* ground-truth
  caption among all M captions. A query is a hit at ``k`` when that 0-based rank is ``< k``,
  i.e. "some ground-truth caption is in the top k".
* text -> image: the rank of caption ``c`` is the position of its one image among all N images.
* Ties count against the query (pessimistic). A score within ``tie_tol`` of the ground-truth
  score is a tie, so the 0-based ranks are::

      i2t: rank_i = #{captions j not of image i : s[i, j] >= g_i - tie_tol},
           g_i = max of s[i, c] over the captions c of image i
      t2i: rank_c = #{images i' != text_to_image[c] : s[i', c] >= s[text_to_image[c], c] - tie_tol}

  Ground-truth pairs are excluded by index, never by value, so a ground-truth score never
  competes with itself however the matrix product rounds it. The tolerance is what makes
  genuine ties (identical caption strings of different images, hence identical embeddings)
  count even when two computations of the same dot product differ in the last bits.

Recall@k is reported in percent, ``rsum`` is the sum of all the recalls (600 at most for
ks = (1, 5, 10)), and median / mean ranks are 1-based (the median of an even count is the mean
of the two middle ranks).

Worked example: 2 images, 3 captions, ``text_to_image = [0, 0, 1]`` and scores::

               c0    c1    c2
      image0  0.2   0.9   0.5
      image1  0.7   0.1   0.7

Image 0's best caption c1 (0.9) beats everything: i2t rank 0. Image 1's caption c2 (0.7) is
tied with c0 (0.7), which counts against it: i2t rank 1. Caption c0: image 1 scores 0.7 > 0.2,
t2i rank 1; c1: rank 0; c2: image 0 scores 0.5 < 0.7, rank 0. So i2t_r1 = 50, t2i_r1 = 66.7,
i2t_medr = 1.5, t2i_meanr = 4/3.

Memory stays bounded: images are processed in chunks of ``chunk_size`` rows, and only one
``chunk_size x M`` score block (plus a same-sized 0/1 block) exists at a time.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import torch

__all__ = ["retrieval_metrics", "chance_metrics", "ceiling_metrics"]


def retrieval_metrics(
    image_features: torch.Tensor,
    text_features: torch.Tensor,
    text_to_image: torch.Tensor | Sequence[int],
    ks: Sequence[int] = (1, 5, 10),
    chunk_size: int = 1024,
    tie_tol: float = 1e-5,
) -> dict[str, float]:
    """Recall@k, RSUM and median / mean ranks in both directions (see the module docstring).

    Args:
        image_features: (N, D) float, L2-normalised.
        text_features: (M, D) float, L2-normalised.
        text_to_image: (M,) integers in [0, N): the image of each caption. Every image needs
            at least one caption.
        ks: the cut-offs k of Recall@k; keys are named after them (``i2t_r{k}``, ``t2i_r{k}``).
        chunk_size: image rows scored at once; the working memory is about
            ``8 * chunk_size * M`` bytes in float32 (200 MiB for 1024 rows x 25k captions).
        tie_tol: scores within this distance of the ground-truth score count as ties, against
            the query.

    Returns:
        ``i2t_r{k}`` and ``t2i_r{k}`` for each k (percent), ``rsum``, ``i2t_medr``,
        ``i2t_meanr``, ``t2i_medr``, ``t2i_meanr`` (1-based), ``n_images`` and ``n_captions``.
        Scores are computed in at least float32 on the features' device (with TF32 matrix
        products enabled on a GPU they are only good to about 1e-3, coarser than ``tie_tol``).
    """
    ks = _check_ks(ks)
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be positive, got {chunk_size}")
    if tie_tol < 0:
        raise ValueError(f"tie_tol must be non-negative, got {tie_tol}")
    if image_features.ndim != 2 or text_features.ndim != 2:
        raise ValueError(
            "image_features and text_features must be 2-D (N, D) and (M, D), got shapes "
            f"{tuple(image_features.shape)} and {tuple(text_features.shape)}"
        )
    if image_features.shape[1] != text_features.shape[1]:
        raise ValueError(
            f"feature dimensions differ: images have D={image_features.shape[1]}, "
            f"captions D={text_features.shape[1]}"
        )
    n, m = image_features.shape[0], text_features.shape[0]
    if n == 0:
        raise ValueError("there are no images")
    text_to_image = _check_text_to_image(text_to_image, n, m)

    dtype = torch.promote_types(
        torch.promote_types(image_features.dtype, text_features.dtype), torch.float32
    )
    device = image_features.device
    with torch.no_grad():
        i2t_ranks, t2i_ranks = _ranks(
            image_features.to(dtype),
            text_features.to(device, dtype),
            text_to_image.to(device),
            chunk_size,
            tie_tol,
        )

    metrics: dict[str, float] = {}
    for direction, ranks in (("i2t", i2t_ranks), ("t2i", t2i_ranks)):
        for k in ks:
            metrics[f"{direction}_r{k}"] = 100.0 * (ranks < k).double().mean().item()
    metrics["rsum"] = sum(metrics.values())
    for direction, ranks in (("i2t", i2t_ranks), ("t2i", t2i_ranks)):
        one_based = ranks.double() + 1
        metrics[f"{direction}_medr"] = torch.quantile(one_based, 0.5).item()
        metrics[f"{direction}_meanr"] = one_based.mean().item()
    metrics["n_images"] = n
    metrics["n_captions"] = m
    return metrics


def _ranks(
    images: torch.Tensor,
    texts: torch.Tensor,
    text_to_image: torch.Tensor,
    chunk_size: int,
    tie_tol: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """0-based pessimistic ranks: (N,) image->text and (M,) text->image, in one chunked pass."""
    n, m = images.shape[0], texts.shape[0]
    device = images.device
    # Captions grouped by image: the captions of images [a, b) are by_image[offsets[a]:offsets[b]].
    by_image = torch.argsort(text_to_image, stable=True)
    offsets = [0] + torch.bincount(text_to_image, minlength=n).cumsum(0).tolist()
    # Each caption's ground-truth score, for the text->image threshold. Computed separately from
    # the chunked matrix product, so it may differ in the last bits: the tolerance absorbs that.
    gt_scores = torch.cat([
        (images[text_to_image[s:s + chunk_size]] * texts[s:s + chunk_size]).sum(1)
        for s in range(0, m, chunk_size)
    ])
    t2i_threshold = gt_scores - tie_tol

    rows = min(chunk_size, n)
    scores_buf = torch.empty(rows, m, dtype=images.dtype, device=device)
    # 0/1 comparison results, summed by matrix-vector products (much faster than summing bools);
    # the counts are sums of integers, exact while they stay below 2**24 in float32.
    count_dtype = torch.float32 if max(rows, m) < 2**24 else torch.float64
    hits_buf = torch.empty(rows, m, dtype=count_dtype, device=device)
    ones_m = torch.ones(m, dtype=count_dtype, device=device)
    ones_rows = torch.ones(rows, dtype=count_dtype, device=device)

    i2t_ranks = torch.empty(n, dtype=torch.long, device=device)
    t2i_ranks = torch.zeros(m, dtype=torch.long, device=device)
    for start in range(0, n, chunk_size):
        stop = min(start + chunk_size, n)
        size = stop - start
        scores = torch.mm(images[start:stop], texts.T, out=scores_buf[:size])
        hits = hits_buf[:size]

        gt_caps = by_image[offsets[start]:offsets[stop]]
        gt_rows = text_to_image[gt_caps] - start
        best_gt = torch.full((size,), -math.inf, dtype=scores.dtype, device=device)
        best_gt.scatter_reduce_(0, gt_rows, scores[gt_rows, gt_caps], reduce="amax")
        scores[gt_rows, gt_caps] = -math.inf  # ground-truth pairs never compete

        torch.ge(scores, (best_gt - tie_tol).unsqueeze(1), out=hits)
        i2t_ranks[start:stop] = torch.mv(hits, ones_m).long()
        torch.ge(scores, t2i_threshold, out=hits)
        t2i_ranks += torch.mv(hits.T, ones_rows[:size]).long()
    return i2t_ranks, t2i_ranks


def chance_metrics(
    captions_per_image: Sequence[int] | torch.Tensor, ks: Sequence[int] = (1, 5, 10)
) -> dict[str, float]:
    """Expected Recall@k (percent) and RSUM of random scores on a corpus with these caption counts.

    With N images and M = sum(captions_per_image) captions, an image with K captions is an
    image->text hit at k with probability 1 - C(M - K, k) / C(M, k) (averaged over images), and a
    caption is a text->image hit with probability min(k, N) / N. Returns the ``i2t_r{k}``,
    ``t2i_r{k}`` and ``rsum`` keys of :func:`retrieval_metrics`.
    """
    ks = _check_ks(ks)
    counts = [int(c) for c in torch.as_tensor(captions_per_image).reshape(-1).tolist()]
    if not counts:
        raise ValueError("captions_per_image is empty: there are no images")
    if min(counts) < 1:
        raise ValueError("every image needs at least one caption")
    n, m = len(counts), sum(counts)

    metrics: dict[str, float] = {}
    for k in ks:
        kk = min(k, m)
        misses = sum(math.comb(m - c, kk) / math.comb(m, kk) for c in counts)
        metrics[f"i2t_r{k}"] = 100.0 * (1.0 - misses / n)
    for k in ks:
        metrics[f"t2i_r{k}"] = 100.0 * min(k, n) / n
    metrics["rsum"] = sum(metrics.values())
    return metrics


def ceiling_metrics(captions: Sequence[Sequence[str]], ks: Sequence[int] = (1, 5, 10)) -> dict[str, float]:
    """An upper bound on Recall@k (percent) and RSUM for any model on a corpus whose images have these
    caption strings (``captions[i]``: image i's captions).

    Identical strings get identical embeddings, so they score alike, and a tie counts against the
    query. image -> text: image i's rank is at least the number of other images' captions identical
    to its least-shared caption. text -> image: the images that share a string are ranked once for
    all its copies, so at best one of them is first, one second, and so on (images with more copies
    first). Each query is bounded on its own (one embedding need not serve them all), so the bound may
    not be reachable. Returns the ``i2t_r{k}``, ``t2i_r{k}`` and ``rsum`` keys."""
    ks = _check_ks(ks)
    if not captions or min(len(c) for c in captions) < 1:
        raise ValueError("every image needs at least one caption")
    owners: dict[str, dict[int, int]] = {}
    for image, strings in enumerate(captions):
        for text in strings:
            owners.setdefault(text, {}).setdefault(image, 0)
            owners[text][image] += 1
    i2t = [min(sum(n for other, n in owners[t].items() if other != image) for t in strings)
           for image, strings in enumerate(captions)]
    t2i = [rank for copies in owners.values()
           for rank, n in enumerate(sorted(copies.values(), reverse=True)) for _ in range(n)]
    metrics = {f"i2t_r{k}": 100.0 * sum(r < k for r in i2t) / len(i2t) for k in ks}
    metrics.update({f"t2i_r{k}": 100.0 * sum(r < k for r in t2i) / len(t2i) for k in ks})
    metrics["rsum"] = sum(metrics.values())
    return metrics


def _check_ks(ks: Sequence[int]) -> list[int]:
    ks = [int(k) for k in ks]
    if not ks or min(ks) < 1:
        raise ValueError(f"ks must be a non-empty list of positive integers, got {ks}")
    if len(set(ks)) != len(ks):
        raise ValueError(f"ks has duplicates: {ks}")
    return ks


def _check_text_to_image(
    text_to_image: torch.Tensor | Sequence[int], n: int, m: int
) -> torch.Tensor:
    text_to_image = torch.as_tensor(text_to_image)
    if text_to_image.shape != (m,):
        raise ValueError(
            f"text_to_image must have shape ({m},), one entry per caption, "
            f"got {tuple(text_to_image.shape)}"
        )
    if text_to_image.is_floating_point() and m:  # an empty list becomes a float tensor
        raise ValueError(f"text_to_image must hold integers, got dtype {text_to_image.dtype}")
    text_to_image = text_to_image.long()
    if m and (text_to_image.min() < 0 or text_to_image.max() >= n):
        raise ValueError(
            f"text_to_image values must be in [0, {n}), got range "
            f"[{text_to_image.min().item()}, {text_to_image.max().item()}]"
        )
    missing = torch.bincount(text_to_image, minlength=n) == 0
    if missing.any():
        first = torch.nonzero(missing)[0].item()
        raise ValueError(
            f"{int(missing.sum())} image(s) have no caption (first: image {first})"
        )
    return text_to_image
