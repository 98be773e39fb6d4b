"""The retrieval pictures (svl_lib.course.gallery): the top-k read from features, the correct ones marked,
and a model that reads only the number retrieving by the number."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import pytest
import torch

from svl_lib.config import ExperimentConfig
from svl_lib.evaluate.conditions import Features
from svl_lib.course.gallery import caption_gallery, image_gallery, top_k
from svl_lib.experiments.registries import resolve
from svl_lib.experiments.run_data import build_data

N_IMAGES, PER_IMAGE = 6, 2


def features(images: torch.Tensor, texts: torch.Tensor, conditions=("clean",)) -> Features:
    owner = torch.arange(len(images)).repeat_interleave(len(texts) // len(images))
    f = Features(list(conditions), text_to_image=owner)
    for on in (False, True):
        f.images[on], f.texts[on] = images, texts
    return f


def test_top_k_marks_the_query_s_own_captions_and_image() -> None:
    """Image i and its two captions share direction i: its top 2 captions are its own, in order."""
    images = torch.eye(N_IMAGES)
    texts = torch.eye(N_IMAGES).repeat_interleave(PER_IMAGE, dim=0) * torch.tensor([1.0, 0.9]).repeat(N_IMAGES)[:, None]
    f = features(images, texts)
    ranked = top_k(f, "clean", 3, k=4)
    assert ranked.indices[:2] == [6, 7] and ranked.correct == [True, True, False, False]
    back = top_k(f, "clean", 7, k=3, direction="t2i")
    assert back.indices[0] == 3 and back.correct == [True, False, False]


def test_a_number_reading_model_retrieves_by_the_number_only_with_the_shortcut() -> None:
    """A 'shortcut model' whose features are the number alone: with the shortcut its top 1 is the
    query's own caption (numbers are unique); clean, every caption ties and the pick is no better
    than the split's order."""
    numbers = torch.eye(N_IMAGES)
    f = Features(["clean", "shortcut"], text_to_image=torch.arange(N_IMAGES).repeat_interleave(PER_IMAGE))
    f.images[True], f.texts[True] = numbers, numbers.repeat_interleave(PER_IMAGE, dim=0)
    f.images[False], f.texts[False] = torch.ones(N_IMAGES, 1), torch.ones(N_IMAGES * PER_IMAGE, 1)
    assert all(top_k(f, "shortcut", q, k=1).correct == [True] for q in range(N_IMAGES))
    clean_hits = sum(top_k(f, "clean", q, k=1).correct[0] for q in range(N_IMAGES))
    assert clean_hits == 1  # the tie keeps index order: only image 0 finds its caption first


def test_bad_arguments_name_the_fix() -> None:
    f = features(torch.eye(3), torch.eye(3).repeat_interleave(2, dim=0))
    with pytest.raises(ValueError, match="was not encoded"):
        top_k(f, "shortcut", 0)
    with pytest.raises(ValueError, match="direction"):
        top_k(f, "clean", 0, direction="sideways")
    with pytest.raises(ValueError, match=r"k must be in \[1, 6\]"):
        top_k(f, "clean", 0, k=7)


def test_the_galleries_draw_a_panel_per_query_model_and_condition() -> None:
    config = resolve(ExperimentConfig(n_train=20, n_val=4, n_test=8, shortcut_mode="unique"))
    data = build_data(config)
    n = data.eval.n_images
    caps = sum(len(c) for c in data.eval.captions)
    g = torch.Generator().manual_seed(0)
    feats = {name: features(torch.randn(n, 4, generator=g), torch.randn(caps, 4, generator=g),
                            ("clean", "shortcut")) for name in ("baseline", "shortcut")}
    fig = caption_gallery(data.eval, data.eval_injector, feats, queries=[0, 1], k=3)
    assert len(fig.axes) == 2 * 2 * (1 + 2)  # rows: queries; per condition the image and each model
    titles = [ax.get_title() for ax in fig.axes]
    assert "image 1, shortcut" in titles and "shortcut: top 3 captions" in titles
    marks = [t.get_text()[0] for ax in fig.axes for t in ax.texts]
    assert len(marks) == 2 * 2 * 2 * 3 and set(marks) <= {"✓", "✗"}
    fig = image_gallery(data.eval, data.eval_injector, feats, queries=[0], k=3)
    assert len(fig.axes) == (1 * 2 * 2) * (1 + 3)
    with pytest.raises(ValueError, match="evaluation injector"):
        caption_gallery(data.eval, None, feats, queries=[0])
