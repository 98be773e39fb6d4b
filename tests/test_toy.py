import json

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision.transforms import functional

from svl_lib.data.karpathy import read_karpathy
from svl_lib.transforms import to_uint8_tensor
from svl_lib.data.toy import ATTRIBUTES, SHARED, SPECIFIC, ToyWorld, export_karpathy
from svl_lib.models.vocab import Vocabulary, tokenize

WORLD = ToyWorld(n_train=60, n_val=10, n_test=20, seed=3)


def test_split_shapes_labels_and_five_captions() -> None:
    train = WORLD.split("train")
    assert train.n_images == 60 and train.n_captions == 300
    image = np.asarray(train.load_image(0))
    assert image.shape == (32, 32, 3) and image.dtype == np.uint8
    assert set(train.labels) == set(ATTRIBUTES)
    for attr, values in ATTRIBUTES.items():
        assert len(values) >= 3
        assert train.labels[attr].min() >= 0 and train.labels[attr].max() < len(values)


def test_each_caption_has_the_shared_object_and_one_specific_attribute() -> None:
    train = WORLD.split("train")
    for i, caps in enumerate(train.captions):
        value = {a: ATTRIBUTES[a][train.labels[a][i]] for a in ATTRIBUTES}
        obj = f"{value['colour']} {value['shape']}"
        assert len(caps) == 5
        for caption, attr in zip(caps, SPECIFIC):
            assert obj in caption
            assert value[attr] in caption
            for other in SPECIFIC:
                if other != attr:
                    assert f" {value[other]} " not in f" {caption} "


def test_no_single_caption_says_everything() -> None:
    train = WORLD.split("train")
    mentioned = [set(SHARED) | {SPECIFIC[k]} for k in range(5)]
    assert all(m != set(ATTRIBUTES) for m in mentioned)
    assert set().union(*mentioned) == set(ATTRIBUTES)
    assert len({c for caps in train.captions for c in caps}) > 150  # phrasing varies


def test_deterministic_and_splits_independent_of_train_size() -> None:
    a, b = WORLD.split("test"), ToyWorld(n_train=500, n_val=10, n_test=20, seed=3).split("test")
    assert a.captions == b.captions
    assert np.array_equal(np.asarray(a.load_image(5)), np.asarray(b.load_image(5)))
    other = ToyWorld(n_train=60, n_val=10, n_test=20, seed=4).split("test")
    assert other.captions != a.captions


def test_object_is_drawn_below_the_shortcut_band() -> None:
    # the top quarter shows only background (+ noise): its spread is small
    train = ToyWorld(n_train=200, n_val=1, n_test=1).split("train")
    band = np.stack([np.asarray(train.load_image(i))[:7].astype(float) for i in range(200)])
    assert band.std(axis=(1, 2)).max() < 20


def test_bad_world_sizes_raise() -> None:
    with pytest.raises(ValueError, match="n_train"):
        ToyWorld(n_train=0)
    with pytest.raises(ValueError, match="unknown split"):
        WORLD.split("dev")


def test_karpathy_export_round_trip(tmp_path) -> None:
    path = export_karpathy(WORLD, tmp_path / "toy")
    data = json.loads(path.read_text())
    assert data["dataset"] == "toy" and len(data["images"]) == 90
    assert sorted(p.name for p in path.parent.iterdir()) == ["dataset_toy.json", "images"]  # no temp
    first = data["images"][0]
    assert {"split", "imgid", "filename", "sentids", "sentences"} <= set(first)
    assert {"raw", "tokens", "sentid", "imgid"} <= set(first["sentences"][0])
    test = read_karpathy(path, tmp_path / "toy" / "images", "test")
    original = WORLD.split("test")
    assert test.captions == original.captions
    assert np.array_equal(np.asarray(test.load_image(3)), np.asarray(original.load_image(3)))
    assert np.array_equal(test.labels["shape"], original.labels["shape"])
    with pytest.raises(FileExistsError, match="overwrite"):
        export_karpathy(WORLD, tmp_path / "toy")


def test_karpathy_reader_errors(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="Karpathy split file"):
        read_karpathy(tmp_path / "missing.json", tmp_path, "test")
    path = export_karpathy(WORLD, tmp_path / "toy")
    with pytest.raises(ValueError, match="unknown split"):
        read_karpathy(path, tmp_path / "toy" / "images", "dev")
    (tmp_path / "toy" / "images" / "toy_test_000002.png").unlink()
    with pytest.raises(FileNotFoundError, match="missing"):
        read_karpathy(path, tmp_path / "toy" / "images", "test")


def test_vocabulary_keeps_digits_and_pads() -> None:
    assert tokenize("A red circle, 0 42") == ["a", "red", "circle", ",", "0", "4", "2"]
    vocab = Vocabulary.build(["a red circle", "a blue square"])
    assert all(str(d) in vocab.index for d in range(10))
    ids, lengths = vocab.encode(["a red circle 1 2", "a zebra"])
    assert ids.shape == (2, 5) and lengths.tolist() == [5, 2]
    assert ids[1, 1] == 1 and ids[1, 2:].eq(0).all()  # <unk>, then padding


def test_uint8_pixels_become_torchvision_s_values_on_the_model_s_side() -> None:
    """DataLoader workers send uint8 (a quarter of float32's bytes); the model's pixels() gives
    exactly torchvision's ToTensor (the toy CNN) or ToTensor + Normalize (VSE++, CLIP), bit for bit."""
    from torchvision import transforms

    from svl_lib.config import ExperimentConfig
    from svl_lib.models import build_model

    rgb = np.random.default_rng(0).integers(0, 256, (7, 5, 3), dtype=np.uint8)
    corpus = ToyWorld(4, 1, 1, seed=0).split("train")
    models = [build_model(ExperimentConfig(), corpus),
              build_model(ExperimentConfig(model="vse", arch="tiny", embed_dim=32), corpus),
              build_model(ExperimentConfig(model="clip", arch="tiny"))]
    for image in (Image.fromarray(rgb), Image.fromarray(rgb[..., 0])):
        sent = to_uint8_tensor(image)
        assert sent.dtype == torch.uint8 and sent.shape == (3, 7, 5)
        plain = functional.to_tensor(image.convert("RGB"))
        assert torch.equal(models[0].pixels(sent[None])[0], plain) and models[0].pixel_mean_std() is None
        for model in models[1:]:
            mean, std = model.pixel_mean_std()
            assert torch.equal(model.pixels(sent[None])[0], transforms.Normalize(mean, std)(plain))
            assert torch.equal(model.pixels(plain[None]), plain[None])  # float images pass unchanged