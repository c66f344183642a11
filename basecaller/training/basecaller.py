"""Training a basecaller (CTC or CRF head) on chunk datasets, with validation by decoded
identity; the loop itself is ``training.fit``."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from basecaller.alphabet import decode_labels
from basecaller.ctc.decode import Decoded, fit_qscore_calibration, mean_qscore
from basecaller.data.chunks import ChunkDataset
from basecaller.data.loader import Augment, ChunkBatches
from basecaller.errors import InputError
from basecaller.models.config import ModelConfig
from basecaller.models.contract import decode_scores
from basecaller.models.crf import CRFModel, build_model
from basecaller.models.ctc import CTCModel
from basecaller.models.directory import load_model, save_model_dir
from basecaller.models.widen import widen_into
from basecaller.training import parallel
from basecaller.training.checkpoint import load_checkpoint
from basecaller.training.fit import BASECALLER_FIT, FitOptions, fit
from basecaller.training.seeding import seed_everything
from basecaller.training.trainer import inference_weights

__all__ = ["calibrate_qscores", "chunk_identities", "crf_loss", "ctc_loss", "decode_chunks", "edit_identity",
           "export_checkpoint", "loss_for", "train_basecaller"]


def ctc_loss(model: nn.Module, batch: dict) -> tuple[torch.Tensor, dict]:
    """Mean CTC loss per target base of a batch of chunks."""
    log_probs = model(batch["signal"])  # (N, T', 5)
    steps = torch.full((log_probs.shape[0],), log_probs.shape[1], dtype=torch.int64)
    loss = nn.functional.ctc_loss(log_probs.transpose(0, 1).float(), batch["targets"], steps,
                                  batch["target_lengths"], blank=0, reduction="mean", zero_infinity=True)
    return loss, {}


def crf_loss(model: nn.Module, batch: dict) -> tuple[torch.Tensor, dict]:
    """Mean CRF loss per target base (``basecaller.crf.crf_loss``) of a batch of chunks."""
    from basecaller.crf import crf_loss as loss_of_scores

    scores = model(batch["signal"])  # (N, T', 4^k * 5)
    return loss_of_scores(scores.transpose(0, 1), batch["targets"], batch["target_lengths"], model.state_len), {}


def loss_for(model: nn.Module):
    """The training loss of a model's head."""
    return crf_loss if isinstance(model, CRFModel) else ctc_loss


def _chunk_decoder(model: nn.Module):
    """Uncalibrated call of one chunk's model output: greedy for CTC, Viterbi (first k-mer
    included, so it compares with the whole label) for CRF."""
    return lambda scores: decode_scores(scores, model.config, include_start=True)


def edit_identity(call: str, truth: str, infix: bool = False) -> float:
    """matches / alignment columns of a global edit-distance alignment of call and truth
    (edlib, unit costs); with ``infix`` the truth is aligned to its best-matching part of the
    call. Training-time validation; ``basecaller.evaluate`` measures identity against a
    reference with minimap2."""
    import edlib

    if not call or not truth:
        return 0.0
    alignment = edlib.align(truth, call, mode="HW", task="path") if infix else edlib.align(call, truth, task="path")
    ops = re.findall(r"(\d+)([=XID])", alignment["cigar"])
    columns = sum(int(n) for n, _ in ops)
    return sum(int(n) for n, op in ops if op == "=") / columns


@torch.inference_mode()
def decode_chunks(model: nn.Module, dataset: ChunkDataset, max_chunks: int = 256, batch_size: int = 64,
                  device: torch.device | str = "cpu") -> list[tuple[Decoded, str]]:
    """Greedy (CTC) or Viterbi (CRF), uncalibrated calls of the first ``max_chunks`` chunks,
    each with its truth."""
    model.eval()
    decode = _chunk_decoder(model)
    count = min(max_chunks, len(dataset))
    results = []
    for start in range(0, count, batch_size):
        stop = min(start + batch_size, count)
        signal = torch.as_tensor(np.asarray(dataset.chunks[start:stop], dtype=np.float32), device=device)
        for row, log_probs in enumerate(model(signal).float().cpu().numpy()):
            results.append((decode(log_probs), decode_labels(dataset.labels(start + row))))
    return results


def chunk_identities(model: nn.Module, dataset: ChunkDataset, max_chunks: int = 256, batch_size: int = 64,
                     device: torch.device | str = "cpu") -> np.ndarray:
    """Identity of each decoded chunk to its labels."""
    return np.array([edit_identity(d.sequence, truth) for d, truth in decode_chunks(model, dataset, max_chunks,
                                                                               batch_size, device)])


def calibrate_qscores(model: nn.Module, dataset: ChunkDataset, max_chunks: int = 512) -> tuple[float, float]:
    """Fit q' = a*q + b so that a chunk's mean qscore predicts its measured error rate."""
    pairs = decode_chunks(model, dataset, max_chunks)
    mean_q = np.array([mean_qscore(d.qualities) for d, _ in pairs])
    errors = np.array([1.0 - edit_identity(d.sequence, truth) for d, truth in pairs])
    try:
        scale, shift = fit_qscore_calibration(mean_q, errors)
    except ValueError:  # every chunk has the same mean qscore, e.g. a model that calls nothing
        return 1.0, 0.0
    return (scale, shift) if scale > 0 else (1.0, 0.0)  # an untrained model has no usable trend


def _validation(dataset: ChunkDataset | None, valid_chunks: int):
    if dataset is None or not len(dataset):
        return None

    def validate(model: nn.Module) -> dict:
        device = next(model.parameters()).device
        scores = chunk_identities(model, dataset, valid_chunks, device=device)
        return {"valid_identity_mean": float(scores.mean()), "valid_identity_median": float(np.median(scores))}

    return validate


def train_basecaller(config: ModelConfig, train_sets: Sequence[ChunkDataset], out_dir: str | os.PathLike, *,
                     weights: Sequence[float] | None = None, valid_set: ChunkDataset | None = None,
                     options: FitOptions = BASECALLER_FIT, augment: Augment | None = Augment(),
                     valid_chunks: int = 256, init_from: str | None = None,
                     provenance: dict | None = None) -> CTCModel:
    """Train (or fine-tune from ``init_from``) and write the model directory ``out_dir``; the
    model takes the directory's name (the preset or model it started from is kept as
    ``training.base_model``). ``augment`` perturbs the training chunks (None: as they are);
    validation decodes the first ``valid_chunks`` chunks of ``valid_set``.

    Checkpoints go to ``out_dir/checkpoints`` every ``options.checkpoint_every`` steps; with
    ``options.resume`` a run continues from the last one. With ``options.workers`` > 1 the
    training runs data-parallel in that many CPU processes (``training.parallel``).
    """
    run = _Run(config, list(train_sets), str(out_dir), weights, valid_set, options, augment, valid_chunks,
               init_from, provenance)
    if options.workers > 1 and parallel.world_size() == 1:
        return _train_in_workers(run)
    return _train(run)


@dataclass
class _Run:
    """Everything one training run needs (handed to each data-parallel worker)."""

    config: ModelConfig
    train_sets: list
    out_dir: str
    weights: Sequence[float] | None
    valid_set: ChunkDataset | None
    options: FitOptions
    augment: Augment | None
    valid_chunks: int
    init_from: str | None
    provenance: dict | None


def _train(run: _Run) -> CTCModel:
    config, options = run.config, run.options
    seed_everything(options.seed)  # the initial weights, too, follow the seed
    model = _initial_model(config, run.init_from) if run.init_from else build_model(config)
    checkpoints = Path(run.out_dir) / "checkpoints"
    checkpoints.mkdir(parents=True, exist_ok=True)
    if parallel.is_main():
        (checkpoints / "config.toml").write_text(config.dumps())  # lets `basecaller export` rebuild the model
    batches = ChunkBatches(run.train_sets, run.weights, batch_size=options.batch_size,
                           seed=options.seed + parallel.rank(), augment=run.augment)
    validate = _validation(run.valid_set, run.valid_chunks)
    result = fit(model, loss_for(model), batches, options, validate=validate,
                 metric="valid_identity_mean" if run.valid_set is not None else None, mode="max",
                 checkpoint_dir=checkpoints, restore_best=False)
    model = model.cpu()
    if not parallel.is_main():
        return model
    base = Path(str(run.init_from)).name if run.init_from else f"none (trained from scratch as {config.name})"
    config.training = {**(run.provenance or {}), "base_model": base, "steps": result.step,
                       "batch_size": options.batch_size, "chunk_len": int(run.train_sets[0].chunks.shape[1]),
                       **_last_validation(result)}
    config.name = Path(run.out_dir).resolve().name  # read groups name this model, not the one it started from
    model.config = config
    if run.valid_set is not None and len(run.valid_set) > 1:
        config.qscore_scale, config.qscore_shift = calibrate_qscores(model, run.valid_set)
    save_model_dir(run.out_dir, model)
    return model


def _initial_model(config: ModelConfig, init_from: str) -> CTCModel:
    """The model to fine-tune: ``init_from``'s weights under ``config``. When the heads differ
    (e.g. a CRF head on a CTC model) only the stem and recurrent core are taken over; when
    ``config`` is wider (more stem channels or recurrent units) the model is grown into it
    without changing what it computes (``models.widen``); with fewer recurrent layers the
    first ones are kept (the head then learns to read the last of them)."""
    start = load_model(init_from)
    same_shape = start.config.stem == config.stem and start.config.encoder == config.encoder
    if start.config.head == config.head and same_shape:
        start.config = config
        return start
    for key in ("type", "direction"):
        if start.config.encoder.get(key) != config.encoder.get(key):
            raise InputError(f"--init-from {init_from}: its encoder {key} {start.config.encoder.get(key)!r} "
                             f"differs from {config.encoder.get(key)!r}")
    skip = () if start.config.head == config.head else ("head.",)
    try:
        return widen_into(start, build_model(config), skip_prefixes=skip)
    except ValueError as error:
        raise InputError(f"--init-from {init_from}: {error}") from None


def _train_in_workers(run: _Run) -> CTCModel:
    """The run in ``options.workers`` single-threaded CPU processes; worker 0 writes."""
    from basecaller.device import select_device

    if select_device(run.options.device).type != "cpu":
        raise InputError("data-parallel workers train on the CPU; use --workers 1 with an accelerator")
    run.provenance = {**(run.provenance or {}), "workers": run.options.workers}
    parallel.run_workers(_train, run.options.workers, args=(run,))
    return load_model(run.out_dir)


def _last_validation(result) -> dict:
    for record in reversed(result.history):
        if "valid_identity_mean" in record:
            return {k: round(float(v), 4) for k, v in record.items() if k.startswith("valid_")}
    return {}


def describe(config: ModelConfig) -> str:
    return json.dumps(config.to_dict(), indent=2)


def export_checkpoint(checkpoint: str | os.PathLike, config: ModelConfig, out_dir: str | os.PathLike,
                      notes: dict | None = None, calibrate_on: str | os.PathLike | None = None) -> CTCModel:
    """Write the model directory for a training checkpoint (``last.pt`` or ``best.pt``),
    optionally fitting the qscore calibration on a held-out chunk dataset."""
    try:
        state = load_checkpoint(checkpoint, map_location="cpu")
    except (OSError, RuntimeError, EOFError) as error:
        raise InputError(f"unreadable checkpoint ({type(error).__name__})", str(checkpoint)) from None
    model = build_model(config)
    model.load_state_dict(inference_weights(state))
    config.training = {**config.training, "base_model": config.name, **(notes or {}), "steps": int(state["step"])}
    config.name = Path(out_dir).resolve().name
    if calibrate_on:
        config.qscore_scale, config.qscore_shift = calibrate_qscores(model, ChunkDataset.load(calibrate_on))
    save_model_dir(out_dir, model)
    return model
