"""Two CPU processes (torchrun, gloo) train like one process with their global batch: each sees its
own shard, the gathered loss equals the single-process loss, the weights stay in sync and end where
the single process's end."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from svl_lib.data.toy import ToyWorld, export_karpathy
from svl_lib import distributed
from svl_lib.distributed import shard

WORKER = Path(__file__).parent / "helpers" / "distributed_worker.py"
BATCH = 16


def test_shard_splits_every_global_batch_in_rank_order() -> None:
    batches = [[0, 1, 2, 3], [4, 5, 6, 7]]
    assert shard(batches, 0, 2) == [[0, 1], [4, 5]] and shard(batches, 1, 2) == [[2, 3], [6, 7]]
    with pytest.raises(ValueError, match="divisible by the 3 processes"):
        shard(batches, 0, 3)


def test_the_command_line_s_run_destroys_its_process_group_at_the_end(tmp_path, monkeypatch) -> None:
    """``python -m svl_lib.experiments.run``'s main leaves no process group (a one-process gloo group stands in
    for a launcher's, the run is faked) and clears Accelerate's record of it; ``leave`` without a
    group does nothing."""
    import socket

    import torch.distributed as dist
    from accelerate import PartialState

    from svl_lib.experiments import run

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=0, world_size=1)
    try:
        PartialState._shared_state["stands_in"] = True  # what Accelerate records when it joins
        monkeypatch.setattr(run, "run_or_load", lambda config, out: {"eval": {"clean": {"rsum": 1.0}}})
        assert run.main([str(tmp_path / "run")]) == 0
        assert not dist.is_initialized() and PartialState._shared_state == {}
        distributed.leave()  # no group: nothing
    finally:  # no group left to the next tests, whatever happened
        if dist.is_initialized():
            dist.destroy_process_group()
        PartialState._reset_state()


@pytest.mark.slow
def test_two_processes_match_one_process_with_their_global_batch(tmp_path) -> None:
    export_karpathy(ToyWorld(n_train=32, n_val=4, n_test=8, image_size=224, seed=0),
                    tmp_path / "coco", dataset="coco")  # 160 items: 10 steps of 16
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run([sys.executable, str(WORKER), str(tmp_path / "coco"), str(BATCH),
                    str(tmp_path / "one")], check=True, env=env)
    subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
                    "--master_port", "29517", str(WORKER), str(tmp_path / "coco"), str(BATCH),
                    str(tmp_path / "two")], check=True, env=env)
    one = json.loads((tmp_path / "one" / "rank0.json").read_text())
    ranks = [json.loads((tmp_path / "two" / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert one["world"] == 1 and [r["world"] for r in ranks] == [2, 2]
    steps = len(one["losses"])
    assert steps == 10
    for step in range(steps):  # each process loads its own half of the single process's batch
        a, b = (set(r["seen"][step * BATCH // 2:(step + 1) * BATCH // 2]) for r in ranks)
        assert not a & b and a | b == set(one["seen"][step * BATCH:(step + 1) * BATCH])
    assert ranks[0]["losses"] == pytest.approx(one["losses"], rel=1e-4)  # the global loss
    assert ranks[1]["losses"] == pytest.approx(ranks[0]["losses"], rel=1e-6)
    assert ranks[0]["checksum"] == pytest.approx(ranks[1]["checksum"], rel=1e-9)  # in sync
    single = torch.load(tmp_path / "one" / "weights.pt", weights_only=True)
    double = torch.load(tmp_path / "two" / "weights.pt", weights_only=True)
    worst = max((single[k] - double[k]).abs().max().item() for k in single)
    assert worst < 1e-3, worst
