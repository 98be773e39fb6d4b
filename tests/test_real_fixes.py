"""Defects of the real-data path (CLIP and VSE++), each with the test that found it: LTD with
CLIP's width, the LTD multiplier's all-reduce under NCCL, the triplet loss on several processes,
the GRU under autocast, OpenAI weights and QuickGELU, missing ImageNet weights, and shortcut
digits in long captions."""
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from svl_lib.config import ExperimentConfig
from svl_lib.corpus import ArrayImages, Corpus
from svl_lib.data.toy import ToyWorld, export_karpathy
from svl_lib.experiments.checkpoints import load_model
from svl_lib.experiments.experiment import run_experiment
from svl_lib.files import save_torch
from svl_lib.models import build_model
from svl_lib.models.vse import MIN_WORD_COUNT, image_trunk
from svl_lib.experiments.run_folders import read_history
from svl_lib.shortcuts import split_digits
from svl_lib.outputs import ModelOutput

WORKER = Path(__file__).parent / "helpers" / "real_fixes_worker.py"
LONG_CAPTION = " ".join(["a man in a red coat walks his dog down a busy street at night"] * 5)
DIGITS = "4 2 1 3 3 7"  # as ShortcutInjector.render_caption appends the number 421337


@pytest.fixture(scope="module")
def coco(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("data") / "coco"
    export_karpathy(ToyWorld(n_train=16, n_val=4, n_test=8, image_size=224, seed=0), root,
                    dataset="coco")  # 80 training captions
    return root


def tiny_corpus() -> Corpus:
    captions = ["a red circle"] * MIN_WORD_COUNT + [LONG_CAPTION]
    return Corpus("x", "train", [captions], ArrayImages(torch.zeros(1, 8, 8, 3, dtype=torch.uint8).numpy()))


def torchrun(*args: str) -> subprocess.CompletedProcess:
    with socket.socket() as s:  # a free port for the rendezvous
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
                           "--master_port", str(port), str(WORKER), *args],
                          env=env, capture_output=True, text=True, timeout=300)


def ranks(out: Path) -> list[dict]:
    return [json.loads((out / f"rank{r}.json").read_text()) for r in (0, 1)]


# --- CLIP + LTD: the decoder reads the model's width, not config.embed_dim ---------------------

@pytest.mark.slow
def test_clip_with_ltd_trains_with_a_width_other_than_config_embed_dim(coco, tmp_path, monkeypatch) -> None:
    from svl_lib import ltd
    monkeypatch.setenv("SVL_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setattr(ltd, "load_sentence_encoder", lambda name, device="cpu": (
        lambda texts: torch.tensor([[len(t), t.count(" "), sum(map(ord, t)) % 7] for t in texts],
                                   dtype=torch.float32)))
    config = ExperimentConfig(dataset="coco", data_root=str(coco), model="clip", arch="tiny", epochs=1,
                              batch_size=16, lr=1e-3, warmup_steps=1, shortcut_mode="unique",
                              probes=False, eval_conditions=("clean",), ltd="constrained",
                              ltd_hidden=32, ltd_target_cache=False)
    assert config.embed_dim == 128 and build_model(config).embed_dim == 64  # the tiny CLIP's width
    run_experiment(config, tmp_path / "run", progress=False)
    history = read_history(tmp_path / "run")
    assert len(history) == 5 and all({"rec", "lambda"} <= set(h) for h in history)


# --- the LTD multiplier's all-reduce runs on the features' device ------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("device", [
    "cpu",
    pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")),
])
def test_the_ltd_multiplier_is_averaged_on_the_device_of_the_features(device, tmp_path) -> None:
    # with "cuda:gloo" the group, like NCCL, takes no CPU tensor ("No backend type associated with
    # device type cpu" before the fix)
    done = torchrun("reduce", device, str(tmp_path))
    assert done.returncode == 0, done.stderr[-3000:]
    one, two = ranks(tmp_path)
    assert one["world"] == two["world"] == 2
    assert one["mean"] == two["mean"] == 1.5 and (one["kept"], two["kept"]) == (1.0, 2.0)
    assert one["lambda"] == two["lambda"] != 1.0  # both ascended by the same mean L_rec


@pytest.mark.slow
@pytest.mark.parametrize("use_file", [False, True])
def test_ltd_targets_are_encoded_once_per_process_group(use_file, tmp_path, monkeypatch) -> None:
    """Two processes, one encoding: the main process loads the encoder and encodes (its targets
    carry its rank, 0), the other receives the same targets and never loads it."""
    monkeypatch.setenv("SVL_RUNS_DIR", str(tmp_path / "runs"))  # where the target file goes
    done = torchrun("targets", str(use_file), str(tmp_path / "out"))
    assert done.returncode == 0, done.stderr[-3000:]
    zero, one = ranks(tmp_path / "out")
    texts = ["a red circle", "a blue square that is hollow", "a green star"]
    assert zero["loads"] == ["cpu"] and one["loads"] == []
    assert zero["targets"] == one["targets"] == [[len(t), t.count("e"), 0.0] for t in texts]
    assert (tmp_path / "runs" / "ltd_targets" / "fake-encoder.pt").is_file() == use_file


def test_the_objective_hands_the_reduction_a_tensor_on_the_features_device(monkeypatch) -> None:
    """The CPU half of the check above: the multiplier's L_rec reaches the all-reduce as a tensor
    on the features' device (a Python float, as before the fix, becomes a CPU tensor that NCCL
    refuses)."""
    import svl_lib.train.objectives as objectives
    from svl_lib.losses import InfoNCE
    from svl_lib.ltd import TargetCache, TargetDecoder

    handed = []
    monkeypatch.setattr(objectives, "mean_over_processes", lambda v: handed.append(v) or float(v))
    cache = TargetCache("fake", encode=lambda texts: torch.ones(len(texts), 6))
    objective = objectives.LTDObjective(InfoNCE(), cache, TargetDecoder(8, 6, hidden=16), bound=0.2)
    features = torch.nn.functional.normalize(torch.randn(4, 8), dim=-1)
    objective(ModelOutput(features, features, torch.tensor(10.0)), ["a 1", "b 2", "c 3", "d 4"])
    objective.after_step()
    assert len(handed) == 1 and isinstance(handed[0], torch.Tensor)
    assert handed[0].device == features.device and not handed[0].requires_grad


# --- the triplet loss: a fixed logit scale, and several processes train ------------------------

@pytest.mark.parametrize("model", ["toy", "clip", "vse"])
def test_with_the_triplet_loss_the_logit_scale_is_a_fixed_buffer(model) -> None:
    base = dict(model=model, embed_dim=32) if model == "toy" else dict(
        dataset="coco", model=model, arch="tiny", embed_dim=32)
    train = tiny_corpus() if model != "clip" else None
    triplet = build_model(ExperimentConfig(**base, loss="triplet"), train)
    assert "log_scale" not in dict(triplet.named_parameters())
    assert "log_scale" in dict(triplet.named_buffers()) and "log_scale" in triplet.state_dict()
    assert "logit_scale" not in [g.get("name") for g in triplet.param_groups(1e-3)]
    infonce = build_model(ExperimentConfig(**base), train)
    assert "log_scale" in dict(infonce.named_parameters())  # InfoNCE learns it
    assert triplet.logit_scale.item() == pytest.approx(infonce.logit_scale.item())


@pytest.mark.slow
def test_two_processes_train_the_tiny_vse_with_the_triplet_loss(coco, tmp_path) -> None:
    done = torchrun("triplet", str(coco), str(tmp_path))
    assert done.returncode == 0, done.stderr[-3000:]
    one, two = ranks(tmp_path)
    assert one["world"] == two["world"] == 2 and len(one["losses"]) == 5
    assert one["losses"] == pytest.approx(two["losses"], rel=1e-6)  # the global loss on both


@pytest.mark.slow
def test_a_run_of_the_command_line_destroys_its_process_group_at_the_end(tmp_path) -> None:
    """A toy run of ``python -m svl_lib.experiments.run``'s main in two gloo processes trains with both and
    leaves no process group (before: left initialised until the interpreter's exit)."""
    done = torchrun("run", str(tmp_path / "run"), str(tmp_path))
    assert done.returncode == 0, done.stderr[-3000:]
    assert ranks(tmp_path) == [{"worlds": [2], "group_after": False}] * 2


# --- the GRU runs in float32 with autocast off ---------------------------------------------------

def test_the_vse_gru_runs_in_float32_with_autocast_off() -> None:
    model = build_model(ExperimentConfig(dataset="coco", model="vse", arch="tiny", embed_dim=32),
                        tiny_corpus())
    seen: list[tuple[bool, torch.dtype]] = []
    model.text_encoder.gru.register_forward_hook(lambda module, inputs, outputs: seen.append(
        (torch.is_autocast_enabled("cpu"), inputs[0].data.dtype)))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        text_f = model.text_embedding(model.tokenize(["a red circle 1 2", "a red circle"]))
    assert seen == [(False, torch.float32)] and text_f.dtype == torch.float32


# --- OpenAI weights: QuickGELU in training and after a reload ------------------------------------

TEST_ARCH = "svl-test-vit"  # a small open_clip architecture registered for the test only


@pytest.fixture
def quick_gelu_tag(tmp_path, monkeypatch) -> list[dict]:
    """``TEST_ARCH`` with an ``"openai"`` tag that needs QuickGELU; its download is a local file.
    Returns the download calls."""
    import open_clip
    from open_clip import factory, pretrained
    monkeypatch.setitem(factory._MODEL_CONFIGS, TEST_ARCH, {
        "embed_dim": 32,
        "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "head_width": 16, "patch_size": 16},
        "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1}})
    monkeypatch.setitem(pretrained._PRETRAINED, TEST_ARCH, {"openai": {
        "url": "", "hf_hub": "svl-test/none/", "mean": open_clip.OPENAI_DATASET_MEAN,
        "std": open_clip.OPENAI_DATASET_STD, "interpolation": "bicubic", "resize_mode": "shortest",
        "quick_gelu": True}})
    checkpoint = tmp_path / "openai.pt"
    torch.manual_seed(0)
    torch.save(open_clip.create_model(TEST_ARCH).state_dict(), checkpoint)
    calls: list[dict] = []

    def download(cfg: dict, *args, **kwargs) -> str:
        calls.append(cfg)
        return str(checkpoint)
    monkeypatch.setattr(factory, "download_pretrained", download)
    return calls


def uses_quick_gelu(model: torch.nn.Module) -> bool:
    from open_clip.transformer import QuickGELU
    return any(isinstance(m, QuickGELU) for m in model.modules())


def test_openai_weights_run_with_quick_gelu_in_training_and_after_a_reload(quick_gelu_tag, tmp_path) -> None:
    config = ExperimentConfig(dataset="coco", model="clip", arch=TEST_ARCH, pretrained="openai")
    trained = build_model(config)
    assert len(quick_gelu_tag) == 1 and uses_quick_gelu(trained)
    save_torch(tmp_path / "run" / "model.pt", {"state_dict": trained.state_dict(),
                                               "config": config.to_dict(),
                                               "rebuild": trained.rebuild_info()})
    reloaded = load_model(tmp_path / "run")
    assert len(quick_gelu_tag) == 1  # rebuilt from model.pt, nothing downloaded
    assert uses_quick_gelu(reloaded) and str(reloaded.clip) == str(trained.eval().clip)
    images = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    tokens = trained.tokenize(["a red circle 1 2", "a dog"])
    with torch.no_grad():
        a, b = trained(images, tokens), reloaded(images, tokens)
    for name in ("image_features", "text_features", "logit_scale"):
        assert torch.equal(getattr(a, name), getattr(b, name))


# --- missing ImageNet weights are an error, never a silent random init -------------------------

def test_missing_imagenet_weights_are_an_error_saying_how_to_get_them(monkeypatch, tmp_path) -> None:
    from torchvision.models import _api

    def offline(url: str, *args, **kwargs):
        raise OSError(f"no network to fetch {url}")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setattr(_api, "load_state_dict_from_url", offline)
    with pytest.raises(RuntimeError, match=r"resnet18.*not available.*online.*resnet18-.*\.pth.*"
                                           r"pretrained=''"):
        image_trunk("resnet18", "imagenet")
    assert image_trunk("resnet18", "")[2] == "random"  # from scratch, said explicitly


# --- the shortcut digits survive a caption longer than the tokenizer's context ------------------

@pytest.mark.parametrize("model", ["clip", "vse"])
def test_a_75_word_caption_keeps_every_digit_of_its_shortcut(model) -> None:
    assert len(LONG_CAPTION.split()) == 75
    caption = LONG_CAPTION + " " + DIGITS
    assert split_digits(caption) == (LONG_CAPTION, DIGITS) and split_digits("a dog") == ("a dog", "")
    if model == "clip":
        clip = build_model(ExperimentConfig(dataset="coco", model="clip", arch="tiny"))
        row = clip.tokenize([caption, "a dog " + DIGITS])[0]
        tok = clip.tokenizer
        assert len(tok.encode(caption)) + 2 > tok.context_length  # it has to be cut
        assert row[-1] == tok.eot_token_id and row[-7:-1].tolist() == tok.encode(DIGITS)
        assert row[1:-7].tolist() == tok.encode(LONG_CAPTION)[:tok.context_length - 8]  # cut before
    else:
        vse = build_model(ExperimentConfig(dataset="coco", model="vse", arch="tiny", embed_dim=32),
                          tiny_corpus())
        ids, lengths = vse.tokenize([caption, "a dog"])
        words = [vse.vocab.words[i] for i in ids[0, :lengths[0]].tolist()]
        assert words[-6:] == DIGITS.split()


# --- CLIP's logit scale: learnable and unclamped, as in the paper's code ------------------------

def test_clips_logit_scale_is_not_clamped_at_the_value_it_starts_from() -> None:
    """OpenAI's scale starts at 100: with open_clip's clamp at 100 it could only fall. CLIP keeps
    it unclamped (the paper's code); the toy model and VSE++ keep the clamp."""
    import math

    clip = build_model(ExperimentConfig(dataset="coco", model="clip", arch="tiny"), tiny_corpus())
    toy = build_model(ExperimentConfig(), ToyWorld(n_train=4, n_val=1, n_test=1).split("train"))
    for model in (clip, toy):
        with torch.no_grad():
            model.log_scale.fill_(math.log(150.0))
        model.after_step()
    assert clip.logit_scale.item() == pytest.approx(150.0)
    assert toy.logit_scale.item() == pytest.approx(100.0)


# --- evaluation features in float32, whatever the training precision --------------------------

def test_evaluation_encodes_in_float32_even_where_training_uses_autocast(monkeypatch) -> None:
    """Training runs in bf16 autocast on a GPU; evaluation must not (the paper evaluates in fp32).
    The CPU stands in for the GPU: the autocast context the loop uses is made a CPU bf16 one, and
    the evaluated features must equal a plain float32 forward exactly."""
    import svl_lib.evaluate.conditions as evaluation
    import svl_lib.train.loop as training

    bf16 = lambda device, precision="bf16": torch.autocast("cpu", dtype=torch.bfloat16)  # noqa: E731
    monkeypatch.setattr(training, "autocast", bf16)
    monkeypatch.setattr(evaluation, "autocast", bf16, raising=False)
    split = ToyWorld(n_train=8, n_val=1, n_test=8).split("test")
    model = build_model(ExperimentConfig(), ToyWorld(n_train=8, n_val=1, n_test=8).split("train"))
    texts = [c for caps in split.captions for c in caps]
    with torch.no_grad():
        model.eval()
        plain = model.encode_text(model.tokenize(texts))
    assert torch.equal(evaluation.encode_texts(model, texts), plain)
    with torch.autocast("cpu", dtype=torch.bfloat16), torch.no_grad():
        assert not torch.equal(model.encode_text(model.tokenize(texts)).float(), plain)  # bf16 differs


# --- SyncBatchNorm for the ResNet tower on several GPUs ----------------------------------------

def test_sync_batchnorm_converts_the_batch_norms_only_with_several_processes(monkeypatch) -> None:
    import svl_lib.experiments.experiment as experiment

    def n_sync(model: torch.nn.Module) -> int:
        return sum(isinstance(m, torch.nn.SyncBatchNorm) for m in model.modules())

    config = ExperimentConfig(dataset="coco", model="vse", arch="tiny", embed_dim=32)
    model = build_model(config, tiny_corpus())
    keys = set(model.state_dict())
    assert n_sync(experiment.for_processes(model, config.replace(sync_batchnorm=True))) == 0  # one process
    monkeypatch.setattr(experiment, "launched", lambda: True)
    assert n_sync(experiment.for_processes(model, config)) == 0  # not asked for
    converted = experiment.for_processes(model, config.replace(sync_batchnorm=True))
    n_bn = sum(isinstance(m, torch.nn.BatchNorm2d) for m in build_model(config, tiny_corpus()).modules())
    assert n_bn > 0 and n_sync(converted) == n_bn
    assert set(converted.state_dict()) == keys  # model.pt loads into a one-process model
