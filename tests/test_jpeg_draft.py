"""JPEGs decoded at full size by default, as open_clip and the reference decode them; at a reduced
size (PIL ``draft``) only when asked (``jpeg_draft``), for transforms that start by resizing: the
decoded size, the pixels the model gets, the errors, and which transforms allow it."""
import json

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision import transforms

from svl_lib.config import ExperimentConfig
from svl_lib.data import load_split
from svl_lib.data.karpathy import JpegFiles
from svl_lib.corpus import Corpus
from svl_lib.data.loading import CaptionDataset, eval_images
from svl_lib.transforms import ResizeTo, RandomTransform, decode_side
from svl_lib.models import build_model

CLIP_PREPARE = transforms.Compose([transforms.Resize(224), transforms.CenterCrop(224)])


def _photo(path, size) -> None:
    rng = np.random.default_rng(0)
    small = rng.integers(0, 256, (size[1] // 16, size[0] // 16, 3), dtype=np.uint8)
    Image.fromarray(small).resize(size, Image.Resampling.BILINEAR).save(path, quality=90)


def test_a_jpeg_is_decoded_at_the_smallest_scale_that_keeps_the_side_when_asked(tmp_path) -> None:
    _photo(tmp_path / "a.jpg", (640, 480))
    _photo(tmp_path / "b.jpg", (640, 427))
    files = JpegFiles(tmp_path, ["a.jpg", "b.jpg", "missing.jpg"], draft=True)
    assert files.load(0, 224).size == (320, 240)
    assert files.load(0, 100).size == (160, 120)
    assert files.load(0, None).size == (640, 480)
    assert files.load(1, 224).size == (640, 427)  # 427 // 224 = 1: no reduction
    with pytest.raises(FileNotFoundError, match="missing.jpg"):
        files.load(2, 224)
    assert JpegFiles(tmp_path, ["a.jpg"]).load(0, 224).size == (640, 480)  # the default: full size


def test_only_transforms_that_start_by_resizing_the_shorter_side_allow_it() -> None:
    assert decode_side(CLIP_PREPARE) == 224
    assert decode_side(transforms.Compose([transforms.Resize([256]), transforms.CenterCrop(224)])) == 256
    assert decode_side(transforms.Resize((224, 224))) is None
    assert decode_side(RandomTransform(transforms.RandomResizedCrop(224))) is None
    assert decode_side(ResizeTo(64)) is None and decode_side(None) is None


def test_datasets_asked_for_draft_give_the_model_nearly_the_pixels_of_a_full_decode(tmp_path) -> None:
    _photo(tmp_path / "a.jpg", (640, 480))
    corpus = Corpus("photos", "train", [["a caption"]], JpegFiles(tmp_path, ["a.jpg"], draft=True))
    tensor = transforms.ToTensor()
    full = tensor(CLIP_PREPARE(Image.open(tmp_path / "a.jpg").convert("RGB")))
    for image in (CaptionDataset(corpus, None, CLIP_PREPARE, tensor)[0][0],
                  eval_images(corpus, None, CLIP_PREPARE, tensor)[0]):
        assert image.shape == full.shape == (3, 224, 224)
        assert 0 < (image - full).abs().mean() < 0.01  # reduced decode, same picture
    assert torch.equal(CaptionDataset(corpus, None, ResizeTo(224), tensor)[0][0],
                       tensor(ResizeTo(224)(Image.open(tmp_path / "a.jpg").convert("RGB"))))


def test_clip_images_are_decoded_at_full_size_in_training_and_evaluation(tmp_path) -> None:
    """A COCO-layout split read as a run reads it: the image CLIP gets, in training and in
    evaluation, is the full-size decode through the same resize; ``jpeg_draft=True`` reduces it."""
    root = tmp_path / "coco"
    (root / "images" / "val2014").mkdir(parents=True)
    _photo(root / "images" / "val2014" / "a.jpg", (640, 480))
    entry = {"split": "test", "filepath": "val2014", "filename": "a.jpg",
             "sentences": [{"raw": "a photo"}]}
    (root / "dataset_coco.json").write_text(json.dumps({"dataset": "coco", "images": [entry]}))
    config = ExperimentConfig(dataset="coco", data_root=str(root), model="clip", arch="tiny")
    model = build_model(config)
    prepare, tensor = model.image_transform()
    full = tensor(prepare(Image.open(root / "images" / "val2014" / "a.jpg").convert("RGB")))
    corpus = load_split(config, "test")
    assert torch.equal(CaptionDataset(corpus, None, *model.image_transform(train=True))[0][0], full)
    assert torch.equal(eval_images(corpus, None, prepare, tensor)[0], full)
    drafted = load_split(config.replace(jpeg_draft=True), "test")
    assert drafted.load_image.load(0, 224).size == (320, 240)
    assert not torch.equal(eval_images(drafted, None, prepare, tensor)[0], full)
