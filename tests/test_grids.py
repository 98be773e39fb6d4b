"""The experiment grids shipped with the course: one per experiment of the paper (toy, CLIP, VSE++),
each valid at every point and runnable with one command."""
import json

import pytest

from svl_lib.experiments.cluster import submit_plan
from svl_lib.experiments.checkpoints import init_source
from svl_lib.experiments.grids import GRIDS, grid_names, load_grid
from svl_lib.experiments.run_folders import run_status
from svl_lib.experiments.sweep import main

EXPECTED = {  # grid -> number of runs
    "toy_shortcuts": 12, "toy_bits": 14, "toy_temperature": 8, "toy_ltd": 8, "toy_ifm": 10,
    "clip_shortcuts": 12, "clip_bits": 28, "clip_temperature": 16, "clip_ltd": 24, "clip_ifm": 20,
    "vse_shortcuts": 8, "vse_bits": 28, "vse_ltd": 24, "vse_ifm": 20,
    "claims_pretrain": 5, "claims_finetune": 30, "claims_image_tower": 30, "claims_scratch": 30,
    "trial_clipping": 15, "trial_headroom": 60, "trial_caption_side": 30, "trial_image_side_ltd": 5,
    "trial_caption_only": 10, "trial_memorisation": 20, "trial_paper_ltd": 20,
    "trial_decoder_warmup": 15, "claims_bits": 21, "control_scratch_stage1": 10, "control_scratch_matched": 10,
    "claims_pretrain_shortcut": 5, "control_shortcut_start": 10, "control_image_tower_matched": 10,
    "trial_ltd_length": 15,
}


@pytest.mark.parametrize("name", grid_names())
def test_every_grid_is_valid_at_every_point(name, tmp_path) -> None:
    grid = load_grid(name)
    plan = grid.plan(tmp_path)
    assert len(plan) == EXPECTED[name] and grid.experiment
    assert len({folder for folder, _ in plan}) == len(plan)  # one folder per point
    if name.startswith(("clip", "vse")):
        assert {config.dataset for _, config in plan} == {"coco", "flickr30k"}
        assert {config.model for _, config in plan} == {name.split("_")[0]}


def test_the_reference_settings_per_grid(tmp_path) -> None:
    """Unique ids rotate every epoch except in the reference's COCO configs of the VSE++
    shortcuts, CLIP LTD and VSE++ IFM experiments; the VSE++ ResNet uses SyncBatchNorm."""
    fixed = {"vse_shortcuts", "clip_ltd", "vse_ifm"}
    for name in grid_names():
        if not name.startswith(("clip", "vse")):
            continue
        for _, config in load_grid(name).plan(tmp_path / name):
            assert config.shortcut_rotate == (name not in fixed or config.dataset != "coco"), name
            assert config.sync_batchnorm == (config.model == "vse"), name


def test_the_paper_s_gpu_grids_say_they_train_in_fp32_as_the_paper(tmp_path) -> None:
    """The CLIP and VSE++ grids set precision="fp32" (the paper's); the toy grids keep the
    course's default (bf16 on a GPU; a CPU runs fp32 anyway)."""
    for name in grid_names():
        said = json.loads((GRIDS / f"{name}.json").read_text())["base"].get("precision")
        precisions = {config.precision for _, config in load_grid(name).plan(tmp_path / name)}
        if name.startswith(("clip", "vse")):
            assert said == "fp32" and precisions == {"fp32"}, name
        else:
            assert said is None and precisions == {"bf16"}, name


def test_the_shipped_grids_are_the_expected_ones() -> None:
    assert set(grid_names()) == set(EXPECTED)
    with pytest.raises(ValueError, match="no grid 'nope'"):
        load_grid("nope")


@pytest.mark.slow
def test_a_grid_runs_with_one_command_and_skips_what_finished(tmp_path, capsys) -> None:
    args = ["--grid-file", "toy_shortcuts", "--out", str(tmp_path), "--grid", "seed=0", "--set",
            "n_train=300", "n_test=50", "epochs=1", "batch_size=64", "probes=False"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert out.startswith("toy_shortcuts: Toy: baseline") and out.count(": train") == 4
    folders = sorted(p.name for p in tmp_path.iterdir())
    assert folders == ["shortcut_mode=none,seed=0", "shortcut_mode=unique,seed=0",
                       "shortcut_mode=unique,shortcut_on_caption=False,seed=0",
                       "shortcut_mode=unique,shortcut_on_image=False,seed=0"]
    assert all(run_status(tmp_path / f) == "finished" for f in folders)
    assert main(args) == 0 and capsys.readouterr().out.count("skip (finished)") == 4


@pytest.mark.parametrize("name", ["claims_finetune", "claims_image_tower"])
def test_fine_tuning_grids_start_each_point_from_its_seed_of_the_required_grid(name, tmp_path) -> None:
    (pretrain, pretrain_root), (grid, root) = load_grid(name).stages(tmp_path)
    assert pretrain.name == "claims_pretrain" and pretrain_root == tmp_path / pretrain.name
    sources = {config.seed: folder for folder, config in pretrain.plan(pretrain_root)}
    for folder, config in grid.plan(root):
        assert config.init_from == f"claims_pretrain/seed={config.seed}"
        assert init_source(folder, config.init_from) == sources[config.seed]
        assert config.key() != config.replace(init_from=None, init_parts="all").key()


def test_a_cluster_holds_back_points_whose_pretraining_has_not_finished(tmp_path) -> None:
    plan = load_grid("claims_finetune").plan(tmp_path)
    assert submit_plan(plan, tmp_path / "jobs", cluster="local") == []  # nothing submitted yet
    assert not (tmp_path / "jobs").exists()


@pytest.mark.slow
def test_a_fine_tuning_grid_runs_its_pretraining_first_with_one_command(tmp_path, capsys) -> None:
    args = ["--grid-file", "claims_finetune", "--out", str(tmp_path), "--grid", "seed=0",
            "--set", "n_train=300", "n_test=50", "epochs=1", "batch_size=64", "probes=False"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert out.index("claims_pretrain:") < out.index("claims_finetune:")
    assert out.count(": train") == 5 + 6  # five pretraining seeds, then the six variants of seed 0
    assert all(run_status(tmp_path / "claims_pretrain" / f"seed={s}") == "finished" for s in range(5))
    for point in ("shortcut_mode=none,seed=0", "shortcut_mode=unique,ifm_epsilon=0.1,seed=0"):
        assert run_status(tmp_path / point) == "finished"
