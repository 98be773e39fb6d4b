"""Trains the tiny CLIP for a few steps and records, per process: the items it loaded, the loss of
each step, a checksum of its weights and (rank 0) the weights. Run as ``python`` (one process) or
under ``torchrun --nproc_per_node 2`` (gloo on the CPU). Arguments: data root, batch size, out dir."""
import json
import sys
from pathlib import Path

import torch

from svl_lib.config import ExperimentConfig
from svl_lib.data.loading import CaptionDataset
from svl_lib.distributed import launched, rank_and_world, setup
from svl_lib.experiments.registries import resolve
from svl_lib.experiments.run_data import build_data
from svl_lib.models import build_model
from svl_lib.train.objectives import build_objective
from svl_lib.train.devices import seed_everything
from svl_lib.train.loop import TrainSettings, train

root, batch_size, out = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3])
if launched():
    setup(cpu=True)
rank, world = rank_and_world()
config = resolve(ExperimentConfig(dataset="coco", data_root=root, model="clip", arch="tiny", epochs=1,
                                  batch_size=batch_size, lr=1e-3, warmup_steps=1, shortcut_mode="unique",
                                  probes=False, device="cpu"))
data = build_data(config)
seed_everything(config.seed)
model = build_model(config, data.train)


class Recording(CaptionDataset):
    """Remembers which items this process loaded (the loop asks for ``(epoch, item)``)."""
    seen: list[int] = []

    def __getitem__(self, key: tuple[int, int]):
        self.seen.append(key[1])
        return super().__getitem__(key)


dataset = Recording(data.train, data.train_injector, *model.image_transform(train=True))
seen = Recording.seen
losses: list[float] = []
train(model, dataset, TrainSettings(1, batch_size, 1e-3, warmup_steps=1), build_objective(config, dataset),
      on_step=lambda record: losses.append(record["loss"]), progress=False)
checksum = float(sum(p.double().sum() for p in model.parameters()))
out.mkdir(parents=True, exist_ok=True)
(out / f"rank{rank}.json").write_text(json.dumps({"world": world, "seen": seen, "losses": losses,
                                                  "checksum": checksum}))
if rank == 0:
    torch.save(model.state_dict(), out / "weights.pt")
