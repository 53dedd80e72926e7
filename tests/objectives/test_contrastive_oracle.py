"""mmzoo's clip and siglip losses against open_clip's ClipLoss / SigLipLoss (the oracle).

On one process and on two gloo processes (losses and gradients with respect to the features).
open_clip is a test-only dependency: these tests are skipped without it.
"""

from __future__ import annotations

import json
import math
import socket

import pytest
import torch
import torch.nn.functional as F

open_clip_loss = pytest.importorskip("open_clip.loss")

from mmzoo.contracts import Batch  # noqa: E402
from mmzoo.objectives.contrastive import ClipObjective, SigLipObjective  # noqa: E402

TOL = 1e-5
_BATCH = Batch(inputs={}, targets={}, ids=[])


def _features(seed: int, batch: int, dim: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    first = F.normalize(torch.randn(batch, dim, generator=generator, dtype=torch.float64), dim=-1).float()
    second = F.normalize(first + torch.randn(batch, dim, generator=generator).double(), dim=-1).float()
    return first, second


def _mmzoo_loss(objective, first, second):
    first = first.clone().requires_grad_(True)
    second = second.clone().requires_grad_(True)
    loss = objective({"a": first, "b": second}, _BATCH).loss
    loss.backward()
    return loss.detach(), first.grad, second.grad


def _oracle_loss(loss_fn, first, second, *args):
    first = first.clone().requires_grad_(True)
    second = second.clone().requires_grad_(True)
    loss = loss_fn(first, second, *args)
    loss.backward()
    return loss.detach(), first.grad, second.grad


def _max_diff(ours, theirs) -> float:
    return max(float((x - y).abs().max()) for x, y in zip(ours, theirs))


def _clip(scale: float, **options) -> ClipObjective:
    objective = ClipObjective(["a", "b"], **options)
    with torch.no_grad():
        objective.logit_scale.fill_(math.log(scale))
    return objective


def _siglip(scale: float, bias: float) -> SigLipObjective:
    objective = SigLipObjective(["a", "b"])
    with torch.no_grad():
        objective.logit_scale.fill_(math.log(scale))
        objective.logit_bias.fill_(bias)
    return objective


def test_default_logit_scales_follow_open_clip():
    assert ClipObjective(["a", "b"]).logit_scale.item() == pytest.approx(math.log(1 / 0.07))
    siglip = SigLipObjective(["a", "b"])
    assert siglip.logit_scale.item() == pytest.approx(math.log(10))
    assert siglip.logit_bias.item() == pytest.approx(-10.0)


@pytest.mark.parametrize("batch", [1, 7, 64])
@pytest.mark.parametrize("scale", [1 / 0.07, 3.0, 100.0])
def test_clip_matches_open_clip_on_one_process(batch, scale):
    first, second = _features(batch, batch)
    ours = _mmzoo_loss(_clip(scale), first, second)
    theirs = _oracle_loss(open_clip_loss.ClipLoss(), first, second, torch.tensor(scale))
    assert _max_diff(ours, theirs) < TOL


@pytest.mark.parametrize("batch", [1, 7, 64])
@pytest.mark.parametrize(("scale", "bias"), [(10.0, -10.0), (3.0, 0.5), (60.0, -2.0)])
def test_siglip_matches_open_clip_on_one_process(batch, scale, bias):
    first, second = _features(batch, batch)
    ours = _mmzoo_loss(_siglip(scale, bias), first, second)
    theirs = _oracle_loss(open_clip_loss.SigLipLoss(), first, second, torch.tensor(scale), torch.tensor(bias))
    assert _max_diff(ours, theirs) < TOL * max(1.0, float(theirs[0]))


# -- two processes over gloo ----------------------------------------------------------------

_CLIP_CASES = [
    {"local_loss": local, "gather_with_grad": with_grad} for local in (False, True) for with_grad in (True, False)
]
_SIGLIP_CASES = ["bidir", "shift", "reduce", "gather"]


def _worker(rank: int, world_size: int, port: int, out_dir: str) -> None:
    import torch.distributed as dist

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world_size)
    try:
        first, second = _features(100 + rank, 6)
        diffs: dict[str, float] = {}
        for case in _CLIP_CASES:
            scale = 1 / 0.07
            ours = _mmzoo_loss(_clip(scale, **case), first, second)
            oracle = open_clip_loss.ClipLoss(rank=rank, world_size=world_size, **case)
            theirs = _oracle_loss(oracle, first, second, torch.tensor(scale))
            diffs[f"clip {case}"] = _max_diff(ours, theirs)
        for impl in _SIGLIP_CASES:
            ours = _mmzoo_loss(_siglip(10.0, -10.0), first, second)
            oracle = open_clip_loss.SigLipLoss(rank=rank, world_size=world_size, dist_impl=impl)
            theirs = _oracle_loss(oracle, first, second, torch.tensor(10.0), torch.tensor(-10.0))
            diffs[f"siglip {impl}"] = _max_diff(ours, theirs) / max(1.0, float(theirs[0]))
        with open(f"{out_dir}/rank{rank}.json", "w") as handle:
            json.dump(diffs, handle)
    finally:
        dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.skipif(not torch.distributed.is_available(), reason="torch.distributed is not available")
def test_clip_and_siglip_match_open_clip_over_two_gloo_processes(tmp_path):
    world_size = 2
    # "fork" spares each child re-importing torch, mmzoo and open_clip (seconds each); the children
    # only run tiny CPU ops and gloo, which are safe after a fork. "spawn" where fork is missing.
    methods = torch.multiprocessing.get_all_start_methods()
    torch.multiprocessing.start_processes(
        _worker,
        args=(world_size, _free_port(), str(tmp_path)),
        nprocs=world_size,
        join=True,
        start_method="fork" if "fork" in methods else "spawn",
    )
    for rank in range(world_size):
        diffs = json.loads((tmp_path / f"rank{rank}.json").read_text())
        assert len(diffs) == len(_CLIP_CASES) + len(_SIGLIP_CASES)
        bad = {case: diff for case, diff in diffs.items() if not diff < TOL}
        assert not bad, f"rank {rank}: losses or gradients differ from open_clip: {bad}"
