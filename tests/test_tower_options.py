"""The per-tower options: loading only the image tower (``init_parts``), clipping gradients per
tower (``grad_clip_mode``, the norms before clipping logged), LTD on the image side
(``ltd_side``), mean pooling of the toy GRU (``text_pooling``), and the decoder's L_rec on a
split (:func:`svl_lib.train.objectives.reconstruction_on_split`, ``metrics["ltd_rec"]``)."""
import json

import pytest
import torch
import torch.nn.functional as F

from svl_lib.config import ExperimentConfig
from svl_lib.data.loading import CaptionDataset
from svl_lib.data.toy import ToyWorld
from svl_lib.evaluate.conditions import encode_images, encode_texts
from svl_lib.data.loading import eval_images
from svl_lib.experiments.checkpoints import initial_model
from svl_lib.experiments.experiment import run_experiment
from svl_lib.train.gradients import clip_gradients, clip_groups
from svl_lib.losses import InfoNCE
from svl_lib.ltd import TargetCache, TargetDecoder, reconstruction_loss
from svl_lib.models import build_model
from svl_lib.models.base import ContrastiveModel
from svl_lib.models.gru import GRUTextEncoder
from svl_lib.models.toy import ToyDualEncoder
from svl_lib.models.vocab import Vocabulary
from svl_lib.train.objectives import LTDObjective, reconstruction_on_split
from svl_lib.train.devices import seed_everything
from svl_lib.train.loop import TrainSettings, train
from svl_lib.outputs import ModelOutput
from svl_lib.experiments.registries import resolve
from tiny import tiny_config


class FakeEncoder:
    """A deterministic 'sentence encoder': a 6-d target per string."""

    dim = 6

    def __call__(self, texts: list[str]) -> torch.Tensor:
        return torch.stack([torch.tensor([float(hash(t) % 97 + i) for i in range(self.dim)])
                            for t in texts])


def _toy(pooling: str = "last") -> tuple[ToyDualEncoder, ToyWorld]:
    world = ToyWorld(30, 5, 10)
    corpus = world.split("train")
    torch.manual_seed(0)
    vocab = Vocabulary.build(c for caps in corpus.captions for c in caps)
    return ToyDualEncoder(vocab, 32, 8, text_pooling=pooling), world


def _ltd(side: str = "caption", dim: int = 8) -> LTDObjective:
    torch.manual_seed(1)
    return LTDObjective(InfoNCE(), TargetCache("fake", FakeEncoder()),
                        TargetDecoder(dim, FakeEncoder.dim, hidden=16), "unconstrained", side=side)


# -- config ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("changes,match", [
    ({"init_parts": "text"}, r"init_parts must be one of \('all', 'image'\)"),
    ({"init_parts": "image"}, "set init_from to that run's folder"),
    ({"grad_clip_mode": "tower"}, r"grad_clip_mode must be one of \('joint', 'per_tower'\)"),
    ({"ltd_side": "text", "ltd": "constrained"}, r"ltd_side must be one of \('caption', 'image'\)"),
    ({"ltd_side": "image"}, "set ltd to 'constrained' or 'unconstrained'"),
    ({"text_pooling": "max"}, r"text_pooling must be one of \('last', 'mean'\)"),
    ({"text_pooling": "mean", "model": "vse", "dataset": "coco"}, "for the toy model's GRU"),
])
def test_bad_tower_options_are_one_clear_error(changes: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        resolve(ExperimentConfig(**changes))


def test_defaults_keep_every_run_key_and_the_options_change_it() -> None:
    base = resolve(ExperimentConfig())
    defaults = dict(init_parts="all", grad_clip_mode="joint", ltd_side="caption", text_pooling="last")
    assert base.replace(**defaults).key() == base.key()
    assert len({base.key(), base.replace(grad_clip_mode="per_tower").key(),
                base.replace(text_pooling="mean").key(),
                base.replace(ltd="constrained").key(),
                base.replace(ltd="constrained", ltd_side="image").key()}) == 5


# -- towers and gradient clipping -----------------------------------------------------------------

def test_tower_parameters_split_every_model_into_image_text_and_the_scale() -> None:
    toy, _ = _toy()
    vse = build_model(ExperimentConfig(dataset="coco", model="vse", arch="tiny", embed_dim=16),
                      ToyWorld(10, 2, 2).split("train"))
    clip = build_model(ExperimentConfig(dataset="coco", model="clip", arch="tiny"))
    for model, image_module in ((toy, toy.image_encoder), (vse, None), (clip, clip.clip.visual)):
        towers = model.tower_parameters()
        ids = {name: {id(p) for p in params} for name, params in towers.items()}
        assert not ids["image"] & ids["text"]
        everything = {id(p) for p in model.parameters()}
        assert ids["image"] | ids["text"] | {id(model.log_scale)} == everything
        if image_module is not None:
            assert ids["image"] == {id(p) for p in image_module.parameters()}
    assert {id(p) for p in vse.tower_parameters()["text"]} == {id(p) for p in vse.text_encoder.parameters()}


def test_image_lr_scale_trains_the_toy_image_tower_at_its_own_rate() -> None:
    """Every model, the toy one included, gives the loop an "image" group: image_lr_scale is never
    a setting that changes the run key but not training."""
    toy, world = _toy()
    groups = {g["name"]: g for g in toy.param_groups(1e-3)}
    assert set(groups) == {"image", "text", "logit_scale"}
    assert {id(p) for p in groups["image"]["params"]} == {id(p) for p in toy.image_encoder.parameters()}
    dataset = CaptionDataset(world.split("train"), None, *toy.image_transform(train=True))
    history = train(toy, dataset, TrainSettings(1, 10, 1e-3, warmup_steps=1, image_lr_scale=0.1),
                    progress=False)
    assert history[0]["lr"] == pytest.approx(1e-4)  # the first group is the image tower's


def test_a_model_without_its_towers_cannot_be_built() -> None:
    class Partial(ContrastiveModel):
        def image_embedding(self, images):
            return images

    with pytest.raises(TypeError, match="abstract"):
        Partial(8)
    assert ContrastiveModel.__abstractmethods__ == {"image_embedding", "text_embedding", "text_tokenizer"}


def _fill_grads(params: list[torch.nn.Parameter], norm: float) -> None:
    """Gradients of total L2 norm ``norm``, spread over ``params``."""
    grads = [torch.ones_like(p) for p in params]
    scale = norm / torch.linalg.vector_norm(torch.stack([g.norm() for g in grads]))
    for p, g in zip(params, grads):
        p.grad = g * scale


def _norm(params) -> float:
    return float(torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in params])))


def test_per_tower_clipping_clips_each_tower_to_its_own_norm_and_logs_the_norms_before() -> None:
    model, _ = _toy()
    decoder = TargetDecoder(8, 6, hidden=4)
    extra = list(decoder.parameters())
    params = [p for p in model.parameters()] + extra
    groups = clip_groups(model, extra, params)
    assert set(groups) == {"image", "text", "objective", "rest"} and groups["rest"] == [model.log_scale]
    sizes = {"image": 10.0, "text": 1.0, "objective": 3.0, "rest": 0.5}

    def clipped(mode: str) -> tuple[dict, dict]:
        for name, norm in sizes.items():
            _fill_grads(groups[name], norm)
        logged = clip_gradients(params, groups, 2.0, mode, torch.device("cpu"))
        return {k: float(v) for k, v in logged.items()}, {n: _norm(g) for n, g in groups.items()}

    logged, after = clipped("per_tower")
    assert logged == pytest.approx({"grad_norm_image": 10.0, "grad_norm_text": 1.0,
                                    "grad_norm_objective": 3.0}, rel=1e-5)  # before clipping
    assert after == pytest.approx({"image": 2.0, "text": 1.0, "objective": 2.0, "rest": 0.5}, rel=1e-4)
    logged_joint, after_joint = clipped("joint")
    assert logged_joint == pytest.approx(logged, rel=1e-5)
    total = sum(n ** 2 for n in sizes.values()) ** 0.5
    assert after_joint["text"] == pytest.approx(2.0 / total, rel=1e-4)  # < 1: joint scales it down
    assert after_joint["image"] == pytest.approx(20.0 / total, rel=1e-4)
    reference = [p.grad.clone() for p in params]
    clipped("joint")
    for name, norm in sizes.items():
        _fill_grads(groups[name], norm)
    torch.nn.utils.clip_grad_norm_(params, 2.0)  # joint is exactly the loop's former call
    assert all(torch.equal(p.grad, r) for p, r in zip(params, reference))


@pytest.mark.slow
def test_the_loop_logs_tower_norms_and_per_tower_equals_joint_when_nothing_is_clipped() -> None:
    histories = {}
    for mode in ("joint", "per_tower"):
        model, world = _toy()
        objective = _ltd()
        settings = TrainSettings(epochs=1, batch_size=16, lr=1e-3, grad_clip=1e9, grad_clip_mode=mode)
        histories[mode] = train(model, CaptionDataset(world.split("train")), settings,
                                objective=objective, progress=False)
    assert histories["joint"] == histories["per_tower"]
    record = histories["joint"][-1]
    assert {"grad_norm_image", "grad_norm_text", "grad_norm_objective"} <= set(record)
    assert all(isinstance(record[k], float) and record[k] > 0 for k in record if k.startswith("grad_norm"))


# -- LTD on the image side ------------------------------------------------------------------------

def _grads(objective: LTDObjective, contrastive_only: bool) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    img = F.normalize(torch.randn(4, 8, generator=g), dim=-1).requires_grad_()
    txt = F.normalize(torch.randn(4, 8, generator=g), dim=-1).requires_grad_()
    caps = ["a b", "c d", "e f", "a b"]
    loss = (InfoNCE()(img, txt, torch.tensor(10.0)) if contrastive_only
            else objective(ModelOutput(img, txt, torch.tensor(10.0)), caps)[0])
    loss.backward()
    return img.grad, txt.grad


def test_image_side_ltd_decodes_the_image_embedding_towards_its_caption_target() -> None:
    con_img, con_txt = _grads(_ltd(), contrastive_only=True)
    img_grad, txt_grad = _grads(_ltd("image"), contrastive_only=False)
    assert torch.equal(txt_grad, con_txt)  # the reconstruction reaches no text feature
    assert not torch.allclose(img_grad, con_img)  # it does reach the image features
    img_grad, txt_grad = _grads(_ltd("caption"), contrastive_only=False)
    assert torch.equal(img_grad, con_img) and not torch.allclose(txt_grad, con_txt)
    g = torch.Generator().manual_seed(0)
    img, txt = (F.normalize(torch.randn(4, 8, generator=g), dim=-1) for _ in range(2))
    caps = ["a b", "c d", "e f", "a b"]
    for side, decoded in (("image", img), ("caption", txt)):
        objective = _ltd(side)
        _, parts = objective(ModelOutput(img, txt, torch.tensor(10.0)), caps)
        expected = reconstruction_loss(objective.decoder(decoded), objective.cache.lookup(caps)).detach()
        assert float(parts["rec"]) == pytest.approx(float(expected))
    assert _ltd().side == "caption"
    with pytest.raises(ValueError, match="LTD side must be one of"):
        _ltd("text")


# -- mean pooling ---------------------------------------------------------------------------------

def test_mean_pooling_ignores_padding_and_differs_from_the_last_state() -> None:
    torch.manual_seed(0)
    mean = GRUTextEncoder(20, 8, word_dim=4, hidden=6, pooling="mean")
    last = GRUTextEncoder(20, 8, word_dim=4, hidden=6, pooling="last")
    last.load_state_dict(mean.state_dict())
    caption = torch.tensor([3, 7, 5, 9])
    alone = mean(caption[None], torch.tensor([4]))
    padded = torch.zeros(2, 9, dtype=torch.long)
    padded[0, :4], padded[1] = caption, torch.arange(1, 10)
    in_batch = mean(padded, torch.tensor([4, 9]))[0]
    assert torch.allclose(alone[0], in_batch, atol=1e-6)  # the padding counts for nothing
    outputs, _ = mean.gru(mean.embed(caption[None]).float())
    assert torch.allclose(alone, mean.head(outputs.mean(1)), atol=1e-6)
    assert not torch.allclose(alone, last(caption[None], torch.tensor([4])), atol=1e-3)
    model = build_model(ExperimentConfig(text_pooling="mean", embed_dim=8), ToyWorld(10, 2, 2).split("train"))
    assert model.text_encoder.pooling == "mean"


# -- L_rec on a split -----------------------------------------------------------------------------

@pytest.mark.parametrize("side", ["caption", "image"])
def test_reconstruction_on_split_is_the_mean_l_rec_over_the_splits_captions(side: str) -> None:
    model, world = _toy()
    model.eval()
    objective = _ltd(side)
    corpus = world.split("test")
    value = reconstruction_on_split(model, objective, corpus, max_images=4, batch_size=3)
    captions = [c for caps in corpus.captions[:4] for c in caps]
    owners = [i for i, caps in enumerate(corpus.captions[:4]) for _ in caps]
    with torch.no_grad():
        if side == "caption":
            features = encode_texts(model, captions)
        else:
            features = encode_images(model, eval_images(corpus, None, *model.image_transform()))[owners]
        expected = reconstruction_loss(objective.decoder(features), objective.cache.lookup(captions))
    assert value == pytest.approx(float(expected), rel=1e-5)
    everything = reconstruction_on_split(model, objective, corpus)
    assert everything != pytest.approx(value)  # max_images=None: every caption of the split


# -- init_parts="image", and every option in one run -----------------------------------------------

@pytest.mark.slow
def test_init_parts_image_loads_only_the_image_tower_and_trains(tiny_runs, tmp_path) -> None:
    source = tiny_runs()
    source.copy_to(tmp_path / "clean")
    config = source.config.replace(shortcut_mode="unique", init_from="clean", init_parts="image")
    saved = torch.load(tmp_path / "clean" / "model.pt", weights_only=True)["state_dict"]
    seed_everything(config.seed)
    model = initial_model(config, tmp_path / "vsepp")
    state = model.state_dict()
    image_keys = [k for k in saved if k.startswith("image_encoder.")]
    assert image_keys and all(torch.equal(state[k], saved[k]) for k in image_keys)
    assert not torch.equal(state["text_encoder.gru.weight_hh_l0"], saved["text_encoder.gru.weight_hh_l0"])
    seed_everything(config.seed)
    fresh = build_model(config, ToyWorld(config.n_train, config.n_val, config.n_test).split("train"))
    text_keys = [k for k in state if not k.startswith("image_encoder.")]
    assert all(torch.equal(state[k], fresh.state_dict()[k]) for k in text_keys)  # a new model's
    metrics = run_experiment(config, tmp_path / "vsepp")
    assert metrics["steps"] > 0
    tuned = torch.load(tmp_path / "vsepp" / "model.pt", weights_only=True)["state_dict"]
    assert not torch.equal(tuned["image_encoder.head.weight"], saved["image_encoder.head.weight"])


@pytest.mark.slow
def test_every_option_together_trains_and_records_ltd_rec(tmp_path) -> None:
    config = tiny_config(ltd="unconstrained", ltd_side="image", ltd_hidden=32, ltd_target_caption="clean",
                         grad_clip_mode="per_tower", text_pooling="mean", probes=False)
    metrics = run_experiment(config, tmp_path / "run")
    history = [json.loads(line) for line in (tmp_path / "run" / "history.jsonl").open()]
    assert all({"grad_norm_image", "grad_norm_text", "grad_norm_objective", "rec"} <= set(h)
               for h in history)
    assert set(metrics["ltd_rec"]) == {"train", "test"}
    assert all(0.0 <= v <= 2.0 for v in metrics["ltd_rec"].values())


def test_decoder_warmup_trains_only_the_decoder_first_then_the_model_on_its_own_schedule() -> None:
    """ltd_decoder_warmup (TrainSettings.frozen_model_steps): during the first steps the model's
    weights stay fixed while the decoder learns; then the model trains, its schedule starting there."""
    toy, world = _toy()
    objective = _ltd()
    start = {k: v.clone() for k, v in toy.named_parameters()}
    decoder_start = [p.detach().clone() for p in objective.decoder.parameters()]
    moved = []

    def after_step(record: dict) -> None:
        model_moved = any(not torch.equal(p, start[k]) for k, p in toy.named_parameters())
        decoder_moved = any(not torch.equal(a, b) for a, b in zip(decoder_start, objective.decoder.parameters()))
        moved.append((model_moved, decoder_moved))

    dataset = CaptionDataset(world.split("train"), None, *toy.image_transform(train=True))
    history = train(toy, dataset, TrainSettings(1, 10, 1e-3, warmup_steps=2, frozen_model_steps=3), objective,
                    on_step=after_step, progress=False)
    assert moved[:3] == [(False, True)] * 3 and moved[3] == (True, True)
    # the model's schedule starts after the warm-up: its linear warm-up (2 steps), then cosine
    assert [r["lr"] for r in history[:5]] == pytest.approx([0.0, 0.0, 0.0, 0.5e-3, 1e-3])


@pytest.mark.parametrize("changes,match", [
    ({"ltd_decoder_warmup": 5}, "warms up the LTD decoder"),
    ({"ltd_decoder_warmup": -1, "ltd": "unconstrained"}, "ltd_decoder_warmup must be >= 0"),
])
def test_bad_decoder_warmups_are_one_clear_error(changes: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        resolve(ExperimentConfig(**changes))


def test_a_warmup_as_long_as_training_is_refused() -> None:
    toy, world = _toy()
    dataset = CaptionDataset(world.split("train"), None, *toy.image_transform(train=True))
    with pytest.raises(ValueError, match="frozen_model_steps=15 must be below the 15"):
        train(toy, dataset, TrainSettings(1, 10, 1e-3, frozen_model_steps=15), _ltd(), progress=False)
    with pytest.raises(ValueError, match="needs an objective with parameters"):
        train(toy, dataset, TrainSettings(1, 10, 1e-3, frozen_model_steps=2), progress=False)
