"""Linear probes: what a frozen representation still says about the toy world's attributes.

Protocol. The model is frozen. Its L2-normalised embeddings of the **train** split are the probe's
training examples, those of the evaluation split (test) its test examples. A probe is a
multinomial logistic regression (lbfgs, fixed ``random_state``) on standardised features, trained
on at most ``max_train`` examples (a seeded subset) so that a probe takes a fraction of a second.
The fits use one BLAS thread: these small problems ran about 9x slower with two threads beside
torch's thread pool on a 2-core CPU.
Each probe is reported next to the **majority baseline**: the accuracy of always answering the
train split's most frequent label.

Targets and inputs:

* attributes (``ATTRIBUTES`` of the toy world): **clean** images and captions (no shortcut);
* the shortcut (``digit_0`` = most significant ... ``digit_{n-1}``): images and captions **with**
  their evaluation shortcut, whose number is fixed by the image's index in the split (``index``
  in unique mode, ``index % 2**n_bits`` in bits mode); the train-split probes use an evaluation
  injector over the train split too, with the training glyphs and the train split's own
  rendering stream, the test-split probes the evaluation glyphs: the digit probes measure
  whether the number is readable in handwriting the probe never saw.

Modalities:

* ``image``: one example per image;
* ``caption``: every caption is an example with its image's label. A caption-specific attribute
  is named by one caption of five, so even a perfect caption encoder cannot exceed about
  ``1/5 + 4/5 * majority`` on it here;
* ``caption_naming``: only the captions that name the attribute (all five for the shared colour
  and shape, one for a caption-specific one, all five for the shortcut digits): what the caption
  encoder keeps of the information it was shown.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from ..corpus import Corpus
from ..data.loading import eval_captions, eval_images
from ..data.toy import SPECIFIC
from .conditions import encode_images, encode_texts
from ..models.base import ContrastiveModel
from ..shortcuts import ShortcutInjector

MODALITIES = ("image", "caption", "caption_naming")


def linear_probe(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, test_y: np.ndarray,
                 max_train: int = 1000, seed: int = 0) -> dict[str, float | int]:
    """Fit a linear probe on ``train_x (N, D)`` / ``train_y (N,)`` and score it on the test data.

    Returns ``accuracy`` and ``majority`` (fractions in [0, 1]) and the example counts. A
    constant ``train_y`` needs no fit: the probe answers that label.
    """
    if len(train_x) > max_train:
        keep = np.random.default_rng(seed).choice(len(train_x), max_train, replace=False)
        train_x, train_y = train_x[keep], train_y[keep]
    values, counts = np.unique(train_y, return_counts=True)
    majority_label = values[np.argmax(counts)]
    majority = float(np.mean(test_y == majority_label))
    if len(values) == 1:
        accuracy = majority
    else:
        probe = make_pipeline(StandardScaler(),
                              LogisticRegression(max_iter=500, random_state=seed))
        with threadpool_limits(limits=1, user_api="blas"):
            probe.fit(train_x, train_y)
            accuracy = float(probe.score(test_x, test_y))
    return {"accuracy": accuracy, "majority": majority, "n_train": int(len(train_x)),
            "n_test": int(len(test_x))}


def digit_labels(numbers: Sequence[int], n_digits: int) -> dict[str, np.ndarray]:
    """``{"digit_0": (N,), ...}``: the decimal digits of zero-padded ``numbers``, most
    significant first."""
    numbers = np.asarray(numbers)
    return {f"digit_{i}": (numbers // 10 ** (n_digits - 1 - i)) % 10 for i in range(n_digits)}


def _features(model: ContrastiveModel, corpus: Corpus,
              injector: ShortcutInjector | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Image features ``(N, D)``, caption features ``(5N, D)`` and caption ``(image, k)`` index
    ``(5N, 2)``, all with the evaluation shortcut when ``injector`` is given."""
    images = encode_images(model, eval_images(corpus, injector, *model.image_transform())).numpy()
    texts, _ = eval_captions(corpus, injector)  # image-major, as caption_index()
    captions = encode_texts(model, texts).numpy()
    return images, captions, np.array(corpus.caption_index()).reshape(-1, 2)


def _probe_all_modalities(target: str, kind: str, labels: tuple[np.ndarray, np.ndarray],
                          feats: tuple[tuple, tuple], naming: int | None, max_train: int,
                          seed: int) -> list[dict]:
    """Probe one target from the image, caption and caption_naming features.
    ``labels`` and ``feats`` hold (train, test); ``naming`` is the caption index that names the
    target, or None when every caption does."""
    rows = []
    for modality in MODALITIES:
        if modality == "caption_naming" and naming is None:  # the same examples as "caption"
            rows.append({**rows[-1], "modality": modality})
            continue
        xs, ys = [], []
        for (images, captions, index), y in zip(feats, labels):
            if modality == "image":
                xs.append(images)
                ys.append(y)
            else:
                keep = np.ones(len(index), bool) if modality == "caption" else index[:, 1] == naming
                xs.append(captions[keep])
                ys.append(y[index[keep, 0]])
        result = linear_probe(xs[0], ys[0], xs[1], ys[1], max_train, seed)
        rows.append({"modality": modality, "target": target, "kind": kind, **result})
    return rows


def probe_model(model: ContrastiveModel, train: Corpus, test: Corpus,
                injectors: tuple[ShortcutInjector, ShortcutInjector], seed: int = 0,
                max_train: int = 1000) -> list[dict]:
    """Every probe of a model: one record per (modality, target).

    ``injectors``: the evaluation injectors of the train and test splits (the run's plan,
    :meth:`~svl_lib.config.ExperimentConfig.injector_plan`: the train split's with the training
    glyphs, the test split's with the evaluation glyphs, each split with its own rendering stream,
    so no probe test image shares a digit tile with a probe training image); their numbers are the
    digit probes' labels. ``seed`` seeds the probes. Records:
    ``{"modality", "target", "kind" ("attribute" | "shortcut"), "accuracy", "majority",
    "n_train", "n_test"}`` (JSON-ready).
    """
    if not train.labels:
        raise ValueError(f"{train!r} has no attribute labels: probes need the toy world")
    if any(not inj.evaluation or inj.spec.mode == "none" for inj in injectors):
        raise ValueError("probe_model needs evaluation injectors with a shortcut ('unique' or 'bits') "
                         "for the digit probes")
    shortcut = injectors[0].spec
    model.eval()
    clean = (_features(model, train, None), _features(model, test, None))
    rows = []
    for attr in train.labels:
        naming = SPECIFIC.index(attr) if attr in SPECIFIC else None
        labels = (np.asarray(train.labels[attr]), np.asarray(test.labels[attr]))
        rows += _probe_all_modalities(attr, "attribute", labels, clean, naming, max_train, seed)
    marked = tuple(_features(model, c, inj) for c, inj in zip((train, test), injectors))
    digits = [digit_labels([inj.number(i) for i in range(c.n_images)], shortcut.n_digits)
              for c, inj in zip((train, test), injectors)]
    for target in digits[0]:
        labels = (digits[0][target], digits[1][target])
        rows += _probe_all_modalities(target, "shortcut", labels, marked, None, max_train, seed)
    return rows
