"""Captions are tokenized by the model's picklable CPU tokenizer in the DataLoader's collate
function (in its workers when there are any); the loop only moves the tokens to the device.
``tokenize`` stays the CPU tokenizer followed by the move, and training results are unchanged."""
import os
import pickle
from pathlib import Path

import pytest
import torch

from svl_lib.config import ExperimentConfig
from svl_lib.data import load_split
from svl_lib.corpus import ArrayImages, Corpus
from svl_lib.data.loading import CaptionDataset, TokenizingCollate
from svl_lib.data.toy import ToyWorld, export_karpathy
from svl_lib.models import build_model
from svl_lib.models.base import ContrastiveModel
from svl_lib.models.vse import MIN_WORD_COUNT
from svl_lib.train.loop import TrainSettings, train

LONG = " ".join(["a man in a red coat walks his dog down a busy street at night"] * 5)
CAPTIONS = ["a red circle on a blue square 4 2 1", LONG + " 4 2 1 3 3 7", "a dog"]
# the losses of these seeded runs before tokenization moved into the DataLoader
TOY_LOSSES = [5.329342365264893, 5.756073951721191, 5.441974639892578, 4.979879379272461,
              4.697553634643555, 4.253365516662598, 3.8129899501800537, 3.9914796352386475,
              3.4716596603393555, 3.7670912742614746, 3.2231736183166504, 3.321549892425537]
REAL_LOSSES = {"clip": [3.1033191680908203, 3.283477306365967],
               "vse": [3.199594736099243, 4.1219587326049805]}


def build(kind: str) -> ContrastiveModel:
    if kind == "toy":
        return build_model(ExperimentConfig(), ToyWorld(n_train=4, n_val=1, n_test=1).split("train"))
    captions = ["a red circle"] * MIN_WORD_COUNT + [LONG]
    corpus = Corpus("x", "train", [captions], ArrayImages(torch.zeros(1, 8, 8, 3, dtype=torch.uint8).numpy()))
    return build_model(ExperimentConfig(dataset="coco", model=kind, arch="tiny", embed_dim=32), corpus)


def parts(text) -> tuple[torch.Tensor, ...]:
    return (text,) if isinstance(text, torch.Tensor) else tuple(text)


@pytest.mark.parametrize("kind", ["toy", "clip", "vse"])
def test_the_cpu_tokenizer_pickles_and_tokenize_is_it_followed_by_the_move(kind) -> None:
    model = build(kind)
    tokenizer = pickle.loads(pickle.dumps(model.text_tokenizer()))
    cpu = tokenizer(CAPTIONS)
    assert all(t.device.type == "cpu" and len(t) == len(CAPTIONS) for t in parts(cpu))
    moved, direct = parts(model.text_to_device(cpu)), parts(model.tokenize(CAPTIONS))
    assert len(moved) == len(direct) and all(torch.equal(a, b) for a, b in zip(moved, direct))
    assert all(a.device == b.device for a, b in zip(moved, direct))


def test_the_collate_stacks_images_and_tokenizes_the_captions_in_order() -> None:
    model = build("toy")
    collate = pickle.loads(pickle.dumps(TokenizingCollate(model.text_tokenizer())))
    items = [(torch.full((3, 4, 4), float(n)), caption, n) for n, caption in enumerate(CAPTIONS)]
    images, captions, (ids, lengths) = collate(items)
    assert images.shape == (3, 3, 4, 4) and images[:, 0, 0, 0].tolist() == [0.0, 1.0, 2.0]
    assert captions == CAPTIONS
    expected_ids, expected_lengths = model.vocab.encode(CAPTIONS)
    assert torch.equal(ids, expected_ids) and torch.equal(lengths, expected_lengths)


class LoggedTokenizer:
    """A tokenizer that appends the id of the process it runs in to the file ``log``."""

    def __init__(self, tokenizer, log: Path):
        self.tokenizer, self.log = tokenizer, log

    def __call__(self, captions: list[str]):
        with open(self.log, "a") as f:
            f.write(f"{os.getpid()}\n")
        return self.tokenizer(captions)


def no_tokenize(self, captions):
    raise AssertionError("the training loop called model.tokenize")


def _toy_run(workers: int, log: Path, monkeypatch) -> list[dict]:
    corpus = ToyWorld(40, 4, 8, seed=0).split("train")
    torch.manual_seed(0)
    model = build_model(ExperimentConfig(n_train=40, n_val=4, n_test=8, embed_dim=16), corpus)
    tokenizer = model.text_tokenizer()
    monkeypatch.setattr(model, "text_tokenizer", lambda: LoggedTokenizer(tokenizer, log))
    monkeypatch.setattr(type(model), "tokenize", no_tokenize)
    settings = TrainSettings(epochs=2, batch_size=32, lr=1e-3, num_workers=workers)
    return train(model, CaptionDataset(corpus), settings, progress=False)


@pytest.fixture
def two_threads():
    """TOY_LOSSES were recorded with two torch threads (2 cores): the sums inside a matrix product,
    and so the last digits of a loss, depend on the thread count (make test-all runs one per worker)."""
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


@pytest.mark.slow
def test_a_worker_tokenizes_and_the_history_is_unchanged(tmp_path, monkeypatch, two_threads) -> None:
    in_process = _toy_run(0, tmp_path / "main.log", monkeypatch)
    in_worker = _toy_run(1, tmp_path / "worker.log", monkeypatch)
    assert in_worker == in_process
    assert [r["loss"] for r in in_worker] == pytest.approx(TOY_LOSSES, rel=1e-5)
    main = (tmp_path / "main.log").read_text().split()
    worker = (tmp_path / "worker.log").read_text().split()
    assert len(main) == len(worker) == 12 and set(main) == {str(os.getpid())}
    assert len(set(worker)) == 1 and worker[0] != str(os.getpid())  # one worker made every batch


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["clip", "vse"])
def test_the_tiny_real_models_train_as_before_with_a_worker(kind, tmp_path, monkeypatch) -> None:
    root = tmp_path / "coco"
    export_karpathy(ToyWorld(n_train=8, n_val=4, n_test=8, image_size=224, seed=0), root, dataset="coco")
    config = ExperimentConfig(dataset="coco", data_root=str(root), model=kind, arch="tiny", embed_dim=32,
                              epochs=1, batch_size=16, lr=1e-3, warmup_steps=1, probes=False)
    split = load_split(config, "train")
    torch.manual_seed(0)
    model = build_model(config, split)
    monkeypatch.setattr(type(model), "tokenize", no_tokenize)
    dataset = CaptionDataset(split, None, *model.image_transform(train=True))
    settings = TrainSettings(epochs=1, batch_size=16, lr=1e-3, warmup_steps=1, num_workers=1)
    history = train(model, dataset, settings, progress=False)
    assert [r["loss"] for r in history] == pytest.approx(REAL_LOSSES[kind], rel=1e-5)
