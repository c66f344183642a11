"""Data-parallel training over several CPU processes (torch.distributed, gloo).

Every worker trains the same model on its own batches; after each backward pass the gradients
are averaged across the workers (one all-reduce of all of them flattened), so the optimiser
steps stay identical everywhere. Worker 0 validates, logs and writes checkpoints and outputs.
On a 2-core machine, two single-threaded workers train close to twice as fast as one process
(PyTorch's intra-op threads scale far worse on small recurrent batches).

    run_workers(train_function, workers=2, args=(...))   # train_function(*args) in every worker
"""

from __future__ import annotations

import os
import pickle
import tempfile
from collections.abc import Callable, Iterable

import torch
import torch.distributed as dist

__all__ = ["agree", "average_gradients", "broadcast_parameters", "is_main", "rank", "run_workers", "world_size"]


def world_size() -> int:
    """Number of data-parallel workers (1 outside ``run_workers``)."""
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def rank() -> int:
    """This worker's index (0 outside ``run_workers``)."""
    return dist.get_rank() if world_size() > 1 else 0


def is_main() -> bool:
    return rank() == 0


def average_gradients(parameters: Iterable[torch.nn.Parameter]) -> None:
    """Replace every gradient by its mean over the workers (missing ones count as zeros)."""
    if world_size() == 1:
        return
    params = [p for p in parameters if p.requires_grad]
    for p in params:
        if p.grad is None:
            p.grad = torch.zeros_like(p)
    grads = [p.grad for p in params]
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= world_size()
    offset = 0
    for g in grads:
        g.copy_(flat[offset : offset + g.numel()].view_as(g))
        offset += g.numel()


def broadcast_parameters(module: torch.nn.Module) -> None:
    """Copy worker 0's parameters and buffers to every worker."""
    if world_size() == 1:
        return
    for tensor in [*module.parameters(), *module.buffers()]:
        dist.broadcast(tensor.data, src=0)


def agree(flag: bool) -> bool:
    """Worker 0's ``flag``, on every worker."""
    if world_size() == 1:
        return flag
    value = torch.tensor([int(flag)])
    dist.broadcast(value, src=0)
    return bool(value.item())


def _worker(index: int, workers: int, folder: str, threads: int, function: Callable, args: tuple) -> None:
    torch.set_num_threads(threads)
    dist.init_process_group("gloo", init_method="file://" + os.path.join(folder, "rendezvous"),
                            rank=index, world_size=workers)
    try:
        function(*args)
    except BaseException as error:
        _keep_error(folder, index, error)
        raise
    finally:
        dist.destroy_process_group()


def _keep_error(folder: str, index: int, error: BaseException) -> None:
    """Leave a worker's exception for the parent to raise as itself (e.g. a one-line InputError)."""
    try:
        with open(os.path.join(folder, f"error-{index}.pickle"), "wb") as stream:
            pickle.dump(error, stream)
    except (pickle.PicklingError, TypeError, AttributeError):
        pass


def _first_error(folder: str) -> BaseException | None:
    for name in sorted(os.listdir(folder)):
        if name.startswith("error-"):
            with open(os.path.join(folder, name), "rb") as stream:
                return pickle.load(stream)
    return None


def run_workers(function: Callable, workers: int, args: tuple = (), threads: int = 1) -> None:
    """Run ``function(*args)`` (picklable, module level) in ``workers`` processes joined into one
    gloo group, ``threads`` torch threads each; the first worker's error is raised here."""
    if workers < 1:
        raise ValueError("workers must be at least 1")
    with tempfile.TemporaryDirectory(prefix="basecaller-workers-") as folder:
        try:
            torch.multiprocessing.spawn(_worker, args=(workers, folder, threads, function, args),
                                        nprocs=workers, join=True)
        except Exception:
            error = _first_error(folder)
            if error is None:
                raise
            raise error from None
