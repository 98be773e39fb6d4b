"""JPEGs decoded at a reduced size (PIL ``draft``) for transforms that start by resizing: the
decoded size, the pixels the model gets, the errors, and which transforms allow it."""
import numpy as np
import pytest
import torch
from PIL import Image
from torchvision import transforms

from svl_lib.data.karpathy import JpegFiles
from svl_lib.data.corpus import Corpus
from svl_lib.data.loading import CaptionDataset, ResizeTo, RandomTransform, decode_side, eval_images

CLIP_PREPARE = transforms.Compose([transforms.Resize(224), transforms.CenterCrop(224)])


def _photo(path, size) -> None:
    rng = np.random.default_rng(0)
    small = rng.integers(0, 256, (size[1] // 16, size[0] // 16, 3), dtype=np.uint8)
    Image.fromarray(small).resize(size, Image.Resampling.BILINEAR).save(path, quality=90)


def test_a_jpeg_is_decoded_at_the_smallest_scale_that_keeps_the_side(tmp_path) -> None:
    _photo(tmp_path / "a.jpg", (640, 480))
    _photo(tmp_path / "b.jpg", (640, 427))
    files = JpegFiles(tmp_path, ["a.jpg", "b.jpg", "missing.jpg"])
    assert files.load(0, 224).size == (320, 240)
    assert files.load(0, 100).size == (160, 120)
    assert files.load(0, None).size == (640, 480)
    assert files.load(1, 224).size == (640, 427)  # 427 // 224 = 1: no reduction
    with pytest.raises(FileNotFoundError, match="missing.jpg"):
        files.load(2, 224)


def test_only_transforms_that_start_by_resizing_the_shorter_side_allow_it() -> None:
    assert decode_side(CLIP_PREPARE) == 224
    assert decode_side(transforms.Compose([transforms.Resize([256]), transforms.CenterCrop(224)])) == 256
    assert decode_side(transforms.Resize((224, 224))) is None
    assert decode_side(RandomTransform(transforms.RandomResizedCrop(224))) is None
    assert decode_side(ResizeTo(64)) is None and decode_side(None) is None


def test_datasets_give_the_model_nearly_the_pixels_of_a_full_decode(tmp_path) -> None:
    _photo(tmp_path / "a.jpg", (640, 480))
    corpus = Corpus("photos", "train", [["a caption"]], JpegFiles(tmp_path, ["a.jpg"]))
    tensor = transforms.ToTensor()
    full = tensor(CLIP_PREPARE(Image.open(tmp_path / "a.jpg").convert("RGB")))
    for image in (CaptionDataset(corpus, None, CLIP_PREPARE, tensor)[0][0],
                  eval_images(corpus, None, CLIP_PREPARE, tensor)[0]):
        assert image.shape == full.shape == (3, 224, 224)
        assert 0 < (image - full).abs().mean() < 0.01  # reduced decode, same picture
    assert torch.equal(CaptionDataset(corpus, None, ResizeTo(224), tensor)[0][0],
                       tensor(ResizeTo(224)(Image.open(tmp_path / "a.jpg").convert("RGB"))))
