# SPDX-License-Identifier: GPL-3.0-or-later
"""DistributedDataParallel under torchrun: two CPU processes (gloo) end with identical weights,
and those equal the weights of one process trained on the same global batches."""

import os
import socket
import subprocess
import sys

import torch
from training_helpers import make_h36m, mixste_recipe, write_recipe

from liftrig.lifter.checkpoints import read_checkpoint
from liftrig.training.config import load_config
from liftrig.training.loop import build, train

# Each rank trains, then saves its own copy of the weights for the test to compare.
WORKER = """
import os, sys, torch
from liftrig.training.config import load_config
from liftrig.training.loop import train
summary = train(load_config(sys.argv[1]), show_progress=False)
torch.save(summary["model"].state_dict(), os.path.join(sys.argv[2], f"rank{summary['rank']}.pt"))
# A file per rank: the two ranks' prints would interleave on the shared stdout.
with open(os.path.join(sys.argv[2], f"rank{summary['rank']}.txt"), "w") as f:
    f.write(f"world {summary['world_size']} losses {[e['loss'] for e in summary['history']]}")
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_gloo_ranks_agree_with_each_other_and_with_one_process(tmp_path):
    data = make_h36m(tmp_path / "h36m", subjects=("S1", "S5", "S9", "S11"), actions=("Walking",),
                     frames=36)
    # No drop path (it would draw different random numbers per sample on each rank); whole batches
    # only (max_steps_per_epoch), so both runs see the same 8 clips per step.
    text = mixste_recipe(data, tmp_path / "ddp", epochs=2, batch_size=8, drop_path=0.0,
                         extra_train="max_steps_per_epoch = 4")
    recipe = write_recipe(tmp_path / "ddp.toml", text)
    (tmp_path / "worker.py").write_text(WORKER)
    run = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nnodes", "1", "--nproc-per-node", "2",
         "--master-addr", "127.0.0.1", "--master-port", str(free_port()),
         str(tmp_path / "worker.py"), str(recipe), str(tmp_path)],
        capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert run.returncode == 0, run.stdout + run.stderr
    said = [(tmp_path / f"rank{r}.txt").read_text() for r in (0, 1)]
    assert all(text.startswith("world 2 ") for text in said), said
    assert said[0] == said[1]                      # the same losses on both ranks
    rank0 = torch.load(tmp_path / "rank0.pt", weights_only=True)
    rank1 = torch.load(tmp_path / "rank1.pt", weights_only=True)
    for name in rank0:
        assert torch.equal(rank0[name], rank1[name]), name
    # Only rank 0 writes files, and its export holds the same weights.
    exported, _ = read_checkpoint(tmp_path / "ddp" / "last.safetensors")
    for name, tensor in exported.state_dict().items():
        assert torch.equal(tensor, rank0[name]), name

    single = load_config(str(write_recipe(tmp_path / "one.toml", text.replace(
        str(tmp_path / "ddp"), str(tmp_path / "one")))))
    one = train(single, show_progress=False)["model"].state_dict()
    for name in rank0:
        a, b = one[name], rank0[name]
        if name.endswith("attn.qkv.bias"):
            # The key bias shifts every attention score of a query equally, which softmax ignores:
            # its gradient is rounding noise, which Adam scales up to whole steps. Compare q and v.
            dim = a.shape[0] // 3
            a, b = torch.cat([a[:dim], a[2 * dim:]]), torch.cat([b[:dim], b[2 * dim:]])
        assert torch.allclose(a, b, atol=2e-5, rtol=1e-4), name
    torch.manual_seed(1)
    initial = build(single).state_dict()  # the weights before training: they did move
    assert not torch.allclose(initial["head.1.weight"], rank0["head.1.weight"], atol=1e-3)
