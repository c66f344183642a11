"""The training loop: determinism, exact resume, early stopping, clipping, checkpoints, BPTT."""

import os

import pytest
import torch
from torch import nn

from basecaller.device import select_device
from basecaller.nn import Recurrent
from basecaller.training import (
    EarlyStopping,
    Trainer,
    TruncatedBPTT,
    bptt_windows,
    read_metrics,
    save_checkpoint,
    warmup_cosine,
)


class TinyTagger(nn.Module):
    """x (N, T, 2) -> logits (N, T, 3), with dropout so the RNG state matters."""

    def __init__(self):
        super().__init__()
        self.core = Recurrent("lstm", 2, 8, num_layers=2, dropout=0.3)
        self.head = nn.Linear(8, 3)

    def forward(self, x, state=None):
        out, state = self.core(x, state=state)
        return self.head(out), state


def tag_loss(model, batch):
    x, y = batch
    logits, _ = model(x)
    loss = nn.functional.cross_entropy(logits.flatten(0, 1), y.flatten())
    return loss, {"accuracy": (logits.argmax(-1) == y).float().mean()}


def epoch_batches(epoch):
    """Five batches whose order and content depend only on the epoch."""
    generator = torch.Generator().manual_seed(100 + epoch)
    x = torch.randn(5, 4, 6, 2, generator=generator)
    return [(x[i], (x[i, :, :, 0] > 0).long() + (x[i, :, :, 1] > 0).long()) for i in range(5)]


def make_trainer(tmp_path=None, max_steps=12, seed=0, **options):
    torch.manual_seed(seed)
    model = TinyTagger()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    scheduler = warmup_cosine(optimizer, total_steps=12, warmup_steps=3)
    options = {"clip_norm": 1.0, "device": "cpu", "progress": False, **options}
    return Trainer(
        model,
        tag_loss,
        optimizer,
        max_steps=max_steps,
        scheduler=scheduler,
        seed=seed,
        checkpoint_dir=tmp_path,
        **options,
    )


def train_losses(result):
    return [r["loss"] for r in result.history if r["kind"] == "train"]


def test_same_seed_gives_bit_identical_losses_on_cpu():
    first = train_losses(make_trainer().fit(epoch_batches))
    second = train_losses(make_trainer().fit(epoch_batches))
    other = train_losses(make_trainer(seed=1).fit(epoch_batches))
    assert len(first) == 12 and first == second
    assert first != other
    assert first[-1] < first[0]


class Interrupt(Exception):
    pass


def test_resumed_run_continues_the_uninterrupted_loss_curve(tmp_path):
    full = make_trainer(tmp_path / "full", checkpoint_every=5).fit(epoch_batches)
    calls = {"n": 0}

    def crashing_loss(model, batch):
        calls["n"] += 1
        if calls["n"] == 9:  # dies during step 9; the last checkpoint is at step 5
            raise Interrupt
        return tag_loss(model, batch)

    broken = make_trainer(tmp_path / "run", checkpoint_every=5)
    broken.loss_fn = crashing_loss
    with pytest.raises(Interrupt):
        broken.fit(epoch_batches)
    assert len(read_metrics(tmp_path / "run" / "metrics.jsonl")) == 8
    resumed = make_trainer(tmp_path / "run", seed=0, checkpoint_every=5, resume=True)
    result = resumed.fit(epoch_batches)
    assert train_losses(result)[5:] == train_losses(full)[5:]
    assert read_metrics(tmp_path / "run" / "metrics.jsonl") == read_metrics(
        tmp_path / "full" / "metrics.jsonl"
    )
    for ours, theirs in zip(resumed.model.parameters(), full_model_params(tmp_path / "full")):
        assert torch.equal(ours, theirs)


def full_model_params(directory):
    state = torch.load(directory / "last.pt", weights_only=False)["model"]
    return list(state.values())


def test_early_stopping_stops_and_keeps_the_best_model(tmp_path):
    scores = iter([0.5, 0.7, 0.6, 0.65, 0.69, 0.9])
    trainer = make_trainer(
        tmp_path,
        max_steps=50,
        validate=lambda model: {"accuracy": next(scores)},
        validate_every=2,
        early_stopping=EarlyStopping("accuracy", mode="max", patience=3),
    )
    result = trainer.fit(epoch_batches)
    assert result.stopped_early and result.step == 10
    assert (result.best, result.best_step) == (0.7, 4)
    best = torch.load(tmp_path / "best.pt", weights_only=False)
    assert best["step"] == 4
    validations = [r for r in read_metrics(tmp_path / "metrics.jsonl") if r["kind"] == "validation"]
    assert [r["accuracy"] for r in validations] == [0.5, 0.7, 0.6, 0.65, 0.69]


def test_gradient_clipping_bounds_the_update():
    torch.manual_seed(0)
    model = nn.Linear(3, 1)
    before = [p.detach().clone() for p in model.parameters()]
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    batch = (torch.full((4, 3), 10.0), torch.zeros(4, 1))

    def loss_fn(model, batch):
        return nn.functional.mse_loss(model(batch[0]), batch[1])

    trainer = Trainer(
        model, loss_fn, optimizer, max_steps=1, clip_norm=0.1, device="cpu", progress=False
    )
    result = trainer.fit([batch])
    update = torch.cat([(p - b).flatten() for p, b in zip(model.parameters(), before)])
    assert result.history[0]["grad_norm"] > 1.0
    assert update.norm().item() == pytest.approx(0.1, rel=1e-4)


def test_checkpoint_write_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "last.pt"
    save_checkpoint({"step": 1}, path)

    def failing_replace(source, target):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError):
        save_checkpoint({"step": 2}, path)
    assert torch.load(path)["step"] == 1
    assert os.listdir(tmp_path) == ["last.pt"]


def test_device_choice():
    assert select_device("cpu").type == "cpu"
    expected = "cuda" if torch.cuda.is_available() else None
    assert select_device("auto").type == (expected or select_device("auto").type)
    if not torch.cuda.is_available() and not torch.backends.mps.is_available():
        assert select_device("auto").type == "cpu"


def test_bptt_windows_cover_the_sequence_with_next_step_targets():
    tokens = torch.arange(22).reshape(2, 11)
    windows = list(bptt_windows(tokens, window=4))
    assert [w.start for w in windows] == [0, 4, 8] and [w.first for w in windows] == [1, 0, 0]
    assert torch.equal(torch.cat([w.inputs for w in windows], 1), tokens[:, :-1])
    assert torch.equal(torch.cat([w.targets for w in windows], 1), tokens[:, 1:])


def test_truncated_bptt_carries_detached_state_across_windows():
    torch.manual_seed(0)
    model = Recurrent("gru", 3, 5)
    x = torch.randn(2, 12, 3, requires_grad=True)
    whole, _ = model(x)
    outputs = []

    def step(model, window, state):
        out, state = model(window.inputs, state=state)
        outputs.append(out)
        return out.pow(2).mean(), state

    carry = TruncatedBPTT(step)
    losses = [carry(model, w) for w in bptt_windows(x, 5, targets=x)]
    torch.testing.assert_close(torch.cat(outputs, dim=1), whole)
    assert not carry.state.requires_grad
    losses[-1].backward()  # the last window's loss reaches only the last window's inputs
    assert x.grad[:, :10].abs().max() == 0 and x.grad[:, 10:].abs().max() > 0
    carry(model, next(bptt_windows(x, 5, targets=x)))
    assert len(outputs) == 4 and torch.allclose(outputs[-1], whole[:, :5])


def test_resume_mid_sequence_restores_the_carried_bptt_state(tmp_path):
    sequence = torch.randn(2, 25, 3, generator=torch.Generator().manual_seed(0))
    windows = list(bptt_windows(sequence, window=4))  # 6 windows of one long sequence

    def run(directory, max_steps, resume=False):
        torch.manual_seed(0)
        model = Recurrent("gru", 3, 3)
        carry = TruncatedBPTT(
            lambda model, w, state: (
                lambda out: (nn.functional.mse_loss(out[0], w.targets), out[1])
            )(model(w.inputs, state=state))
        )
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        trainer = Trainer(
            model,
            carry,
            optimizer,
            max_steps=max_steps,
            device="cpu",
            progress=False,
            checkpoint_dir=directory,
            resume=resume,
        )
        return train_losses(trainer.fit(windows))

    full = run(tmp_path / "full", 6)
    run(tmp_path / "split", 3)
    assert run(tmp_path / "split", 6, resume=True) == full


def _weights_per_step(trainer):
    """Wrap the trainer's loss so that it records the weights each step starts from."""
    seen = []

    def recording_loss(model, batch):
        seen.append([p.detach().clone() for p in model.parameters()])
        return tag_loss(model, batch)

    trainer.loss_fn = recording_loss
    return seen


def test_moving_average_follows_its_definition_and_leaves_training_alone(tmp_path):
    plain = make_trainer(tmp_path / "plain")
    plain.fit(epoch_batches)
    averaged = make_trainer(tmp_path / "ema", ema_decay=0.8)
    starts = _weights_per_step(averaged)
    averaged.fit(epoch_batches)
    trained = full_model_params(tmp_path / "ema")  # the current weights: as without the average
    assert all(torch.equal(a, b) for a, b in zip(trained, full_model_params(tmp_path / "plain")))
    after_each_step = starts[1:] + [trained]
    expected = after_each_step[0]  # the average starts as a copy of the first step's weights
    for weights in after_each_step[1:]:
        expected = [0.8 * e + 0.2 * w for e, w in zip(expected, weights)]
    for ours, theirs in zip(averaged.model.parameters(), expected):
        torch.testing.assert_close(ours.detach(), theirs)
    assert not all(torch.equal(a.detach(), b) for a, b in zip(averaged.model.parameters(), trained))


def test_moving_average_is_validated_logged_and_resumed_exactly(tmp_path):
    def first_weight(model):
        return {"w": float(next(model.parameters()).flatten()[0])}

    full = make_trainer(tmp_path / "full", checkpoint_every=5, ema_decay=0.7, validate=first_weight,
                        validate_every=4)
    full.fit(epoch_batches)
    broken = make_trainer(tmp_path / "run", checkpoint_every=5, ema_decay=0.7, validate=first_weight,
                          validate_every=4)
    calls = {"n": 0}

    def crashing_loss(model, batch):
        calls["n"] += 1
        if calls["n"] == 9:
            raise Interrupt
        return tag_loss(model, batch)

    broken.loss_fn = crashing_loss
    with pytest.raises(Interrupt):
        broken.fit(epoch_batches)
    resumed = make_trainer(tmp_path / "run", checkpoint_every=5, ema_decay=0.7, validate=first_weight,
                           validate_every=4, resume=True)
    resumed.fit(epoch_batches)
    for ours, theirs in zip(resumed.model.parameters(), full.model.parameters()):
        assert torch.equal(ours, theirs)
    validations = [r for r in read_metrics(tmp_path / "full" / "metrics.jsonl") if r["kind"] == "validation"]
    assert [r["step"] for r in validations] == [4, 8, 12]
    assert all(r["w"] != r["raw_w"] for r in validations)
    assert validations[-1]["w"] == pytest.approx(float(next(full.model.parameters()).flatten()[0]))
    checkpoint = torch.load(tmp_path / "full" / "last.pt", weights_only=False)
    assert validations[-1]["raw_w"] == pytest.approx(float(next(iter(checkpoint["model"].values())).flatten()[0]))
