"""The CRF head: loss and decoders against brute force, gradients, training, model
directories and basecalling real reads with a CRF model."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from basecaller.crf import CRFLayout, crf_decode, crf_loss, log_partition, step_posteriors, viterbi
from basecaller.crf.decode import HAVE_NUMBA, beam_search
from basecaller.crf.loss import label_scores


def _all_paths(state_len: int, steps: int):
    """Every (start state, choice per step) path: choice 0 stays, b + 1 moves emitting b.
    Yields the score indices (t, dest state, transition) and the emitted bases (start k-mer
    included), worked out from the k-mer definition, independently of CRFLayout's tables."""
    states = 4 ** state_len
    for start in range(states):
        for choices in itertools.product(range(5), repeat=steps):
            state, index = start, []
            bases = [(start // 4 ** (state_len - 1 - i)) % 4 for i in range(state_len)]
            for t, choice in enumerate(choices):
                if choice == 0:
                    index.append((t, state, 0))
                else:
                    dropped = state // 4 ** (state_len - 1)
                    state = (state * 4 + choice - 1) % states
                    index.append((t, state, dropped + 1))
                    bases.append(choice - 1)
            yield start, choices, index, tuple(bases)


def _brute(scores: np.ndarray, state_len: int):
    """(log Z, {emitted bases: log sum of their paths}, best score, best path) of (T, S*5) scores."""
    w = scores.reshape(scores.shape[0], -1, 5)
    totals, by_bases, best = [], {}, (-np.inf, None)
    for start, choices, index, bases in _all_paths(state_len, w.shape[0]):
        total = sum(w[t, s, j] for t, s, j in index)
        totals.append(total)
        by_bases[bases] = np.logaddexp(by_bases.get(bases, -np.inf), total)
        if total > best[0]:
            best = (total, (start, choices, bases))
    return np.logaddexp.reduce(totals), by_bases, best


@pytest.mark.parametrize("state_len", [1, 2])
def test_loss_equals_brute_force_enumeration(state_len):
    rng = np.random.default_rng(state_len)
    steps, batch = 4, 3
    scores = rng.normal(0, 1.5, (steps, batch, 4 ** state_len * 5))
    labels = [[1, 3], [2, 2, 4], [4, 1, 1, 3, 2]][:batch]
    if state_len == 2:
        labels = [[1, 3, 2], [2, 2, 4, 4], [4, 1, 1, 3, 2, 2]]
    width = max(map(len, labels))
    targets = torch.tensor([lab + [0] * (width - len(lab)) for lab in labels])
    lengths = torch.tensor([len(lab) for lab in labels])
    logz = log_partition(torch.tensor(scores), state_len).numpy()
    label = label_scores(torch.tensor(scores), targets, lengths, state_len).numpy()
    losses = []
    for n, lab in enumerate(labels):
        brute_z, by_bases, _ = _brute(scores[:, n], state_len)
        truth = tuple(b - 1 for b in lab)
        assert logz[n] == pytest.approx(brute_z, abs=1e-9)
        assert label[n] == pytest.approx(by_bases[truth], abs=1e-9)
        losses.append((brute_z - by_bases[truth]) / len(lab))
    loss = crf_loss(torch.tensor(scores), targets, lengths, state_len)
    assert float(loss) == pytest.approx(np.mean(losses), abs=1e-9)
    # float32 and bf16 autocast give the same loss (the recursion runs in float32)
    loss32 = crf_loss(torch.tensor(scores, dtype=torch.float32), targets, lengths, state_len)
    assert float(loss32) == pytest.approx(np.mean(losses), abs=1e-4)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss_bf16 = crf_loss(torch.tensor(scores, dtype=torch.float32).bfloat16(), targets, lengths, state_len)
    assert loss_bf16.dtype == torch.float32
    assert float(loss_bf16) == pytest.approx(np.mean(losses), rel=0.05)


def test_unalignable_labels_count_zero():
    scores = torch.randn(3, 2, 4 * 5)
    targets = torch.tensor([[1, 2, 3, 4, 1, 2], [1, 2, 0, 0, 0, 0]])
    loss = crf_loss(scores, targets, torch.tensor([6, 2]), 1)  # 5 moves in 3 steps: impossible
    alone = crf_loss(scores[:, 1:], targets[1:, :2], torch.tensor([2]), 1)
    assert torch.isfinite(loss) and float(loss) == pytest.approx(float(alone), abs=1e-6)


def test_gradcheck_float64():
    torch.manual_seed(0)
    scores = torch.randn(5, 2, 16 * 5, dtype=torch.float64, requires_grad=True)
    targets = torch.tensor([[1, 4, 2, 2], [3, 1, 0, 0]])
    lengths = torch.tensor([4, 2])
    assert torch.autograd.gradcheck(lambda s: crf_loss(s, targets, lengths, 2), (scores,), eps=1e-6, atol=1e-6)
    assert torch.autograd.gradcheck(lambda s: log_partition(s, 1), (scores[:, :, :20].detach().requires_grad_(),))


BACKENDS = [pytest.param(False, id="numpy"),
            pytest.param(True, id="numba", marks=pytest.mark.skipif(not HAVE_NUMBA, reason="no numba"))]


@pytest.mark.parametrize("compiled", BACKENDS)
@pytest.mark.parametrize("state_len", [1, 2])
def test_viterbi_equals_brute_force(state_len, compiled):
    rng = np.random.default_rng(10 + state_len)
    for _ in range(3):
        scores = rng.normal(0, 2.0, (4, 4 ** state_len * 5)).astype(np.float32)
        _, _, (best, (start, choices, bases)) = _brute(scores.astype(np.float64), state_len)
        states, moves, score = viterbi(scores, state_len, compiled)
        assert score == pytest.approx(best, abs=1e-4)
        assert states[0] == start
        assert moves.tolist() == [int(c != 0) for c in choices]
        decoded = crf_decode(scores, state_len, include_start=True, compiled=compiled)
        assert decoded.sequence == "".join("ACGT"[b] for b in bases)
        assert crf_decode(scores, state_len, compiled=compiled).sequence == decoded.sequence[state_len:]


@pytest.mark.skipif(not HAVE_NUMBA, reason="no numba")
def test_compiled_decoding_equals_numpy_on_random_batches():
    rng = np.random.default_rng(21)
    for state_len in (1, 2, 3, 4):
        scores = (rng.normal(size=(3, 200, 4 ** state_len * 5)) * 2).astype(np.float32)
        for ours, theirs in zip(viterbi(scores, state_len, True)[:2], viterbi(scores, state_len, False)[:2]):
            np.testing.assert_array_equal(ours, theirs)  # same float32 additions, same tie-breaking
        assert viterbi(scores[0], state_len, True)[2] == pytest.approx(viterbi(scores[0], state_len, False)[2])
        np.testing.assert_allclose(step_posteriors(scores, state_len, True), step_posteriors(scores, state_len, False),
                                   atol=2e-6)


@pytest.mark.parametrize("compiled", BACKENDS)
def test_posteriors_equal_brute_force(compiled):
    rng = np.random.default_rng(3)
    scores = rng.normal(0, 1.0, (4, 4 * 4 * 5))
    w = scores.reshape(4, -1, 5)
    table = np.zeros((4, 5))
    logz = -np.inf
    for _, choices, index, _ in _all_paths(2, 4):
        total = sum(w[t, s, j] for t, s, j in index)
        logz = np.logaddexp(logz, total)
        for t, choice in enumerate(choices):
            table[t, choice] += np.exp(total)
    np.testing.assert_allclose(step_posteriors(scores.astype(np.float32), 2, compiled), table / np.exp(logz),
                               atol=1e-5)


def _peaked_scores(rng, bases: np.ndarray, state_len: int, steps_per_base: int = 4, noise: float = 1.0):
    """Scores that favour one path through ``bases``: a move into each k-mer, then stays."""
    layout = CRFLayout(state_len)
    kmers = layout.states_of(bases)
    steps = len(kmers) * steps_per_base
    w = rng.normal(0, noise, (steps, layout.num_states, 5)).astype(np.float32)
    for i, kmer in enumerate(kmers):
        t = i * steps_per_base
        if i:
            w[t, kmer, bases[i - 1] + 1] += 6.0
        w[t + 1:t + steps_per_base, kmer, 0] += 6.0
        if not i:
            w[t, kmer, 0] += 6.0
    return w.reshape(steps, -1), "".join("ACGT"[b] for b in bases)


@pytest.mark.parametrize("compiled", BACKENDS)
def test_segmented_and_beam_decoding_agree_with_exact_viterbi(compiled):
    rng = np.random.default_rng(5)
    bases = rng.integers(0, 4, 900)
    scores, truth = _peaked_scores(rng, bases, 3)
    exact = crf_decode(scores, 3, core=None, compiled=compiled)
    assert exact.sequence == truth[3:]
    assert crf_decode(scores, 3, core=1000, compiled=compiled).sequence == exact.sequence  # 4 segments
    segmented = crf_decode(scores, 3, core=400, compiled=compiled)  # 3600 steps: 9 segments
    assert segmented.sequence == exact.sequence
    np.testing.assert_array_equal(segmented.moves, exact.moves)
    assert np.abs(segmented.qualities.astype(int) - exact.qualities).max() <= 1
    assert crf_decode(scores, 3, beam_size=5).sequence == exact.sequence
    assert segmented.moves.sum() == len(segmented.sequence) == len(segmented.qualities)
    assert len(segmented.moves) == len(scores)
    bare = crf_decode(scores, 3, core=400, compiled=compiled, qualities=False)  # Viterbi only
    assert bare.sequence == exact.sequence and len(bare.qualities) == 0
    np.testing.assert_array_equal(bare.moves, exact.moves)
    started = crf_decode(scores, 3, core=None, compiled=compiled, include_start=True, qualities=False)
    assert started.sequence == truth


def test_beam_search_sums_paths_that_viterbi_splits():
    """Two stays of one prefix beat one slightly better single path: the beam finds it."""
    rng = np.random.default_rng(8)
    layout = CRFLayout(1)
    for _ in range(20):
        scores = rng.normal(0, 1.5, (4, layout.num_scores)).astype(np.float32)
        _, by_bases, _ = _brute(scores.astype(np.float64), 1)
        best_bases = max(by_bases, key=by_bases.get)
        states, moves = beam_search(scores[None], 1, beam_size=64)
        bases = [int(states[0, 0])] + [int(states[0, t + 1]) for t in range(4) if moves[0, t]]
        assert tuple(bases) == best_bases


# --- the model, training and basecalling ----------------------------------------------------

def _tiny_crf_config(state_len: int = 3):
    from basecaller.models.config import preset

    config = preset("fast")
    config.stem = {"channels": [4, 16, 48], "kernels": [5, 5, 19], "strides": [1, 1, 5]}
    config.encoder = {"type": "gru", "hidden_size": 48, "num_layers": 2, "direction": "bidirectional"}
    config.window, config.overlap, config.batch_size = 1000, 200, 8
    config.head = {"type": "crf", "state_len": state_len}
    return config


def _simulated_chunks(chunk_len: int = 1000):
    from conftest import DATA_SAMPLES

    from basecaller.data.chunks import ChunkSpec, build_chunks
    from basecaller.data.segmented import simulated_reads

    return build_chunks(simulated_reads(DATA_SAMPLES / "simulated_r941"),
                        ChunkSpec(chunk_len=chunk_len, min_samples_per_base=4))


def test_one_batch_overfit_reads_the_labels_back():
    from basecaller.alphabet import decode_labels
    from basecaller.models.crf import CRFModel
    from basecaller.training.basecaller import crf_loss as batch_loss
    from basecaller.training.basecaller import decode_chunks

    torch.manual_seed(0)
    fixed = _simulated_chunks().subset(np.arange(2))
    batch = {"signal": torch.from_numpy(np.asarray(fixed.chunks, dtype=np.float32)),
             "targets": torch.from_numpy(fixed.references.astype(np.int64)),
             "target_lengths": torch.from_numpy(fixed.reference_lengths.astype(np.int64))}
    model = CRFModel(_tiny_crf_config(2))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses, calls = [], []
    for step in range(1, 121):  # stops once both chunks decode to their labels
        loss, _ = batch_loss(model, batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        if step >= 40 and step % 10 == 0:
            calls = decode_chunks(model, fixed)
            if all(decoded.sequence == truth for decoded, truth in calls):
                break
        model.train()
    assert losses[-1] < 0.2 * losses[0]
    assert len(calls) == 2
    for row, (decoded, truth) in enumerate(calls):
        assert truth == decode_labels(fixed.labels(row)) and len(truth) > 50
        assert decoded.sequence == truth


def test_model_directory_round_trip_and_ctc_configs_unchanged(tmp_path):
    import tomllib

    from basecaller.models.config import ModelConfig, preset
    from basecaller.models.crf import CRFModel
    from basecaller.models.ctc import CTCModel
    from basecaller.models.directory import find_model_dir, load_model, save_model_dir

    torch.manual_seed(1)
    model = CRFModel(_tiny_crf_config(2))
    save_model_dir(tmp_path / "crf", model)
    assert tomllib.loads((tmp_path / "crf" / "config.toml").read_text())["model"]["head"] == {"type": "crf",
                                                                                             "state_len": 2}
    loaded = load_model(tmp_path / "crf")
    assert isinstance(loaded, CRFModel) and loaded.config == model.config and loaded.state_len == 2
    signal = torch.randn(2, 1000)
    model.eval()
    out = loaded.eval()(signal)
    assert out.shape == (2, 200, 16 * 5)
    torch.testing.assert_close(out, model(signal), rtol=0, atol=0)
    # A CTC config writes no head and reads back as CTC; the shipped model still loads as CTC.
    ctc = preset("fast")
    assert "head" not in ctc.to_dict()["model"]
    assert ModelConfig.from_dict(tomllib.loads(ctc.dumps())).head == {"type": "ctc"}
    shipped = load_model("r941_4khz_fast")
    assert type(shipped) is CTCModel and "head" not in (find_model_dir("r941_4khz_fast") / "config.toml").read_text()
    with pytest.raises(Exception, match="head"):
        ModelConfig.from_dict({**ctc.to_dict(), "model": {**ctc.to_dict()["model"], "head": {"type": "rnnt"}}})


def test_inference_scores_equal_training_scores_and_stay_in_range():
    """The in-place float32 tanh of inference gives the training path's scores, in (-5, 5)."""
    from basecaller.models.crf import SCORE_SCALE, CRFModel

    torch.manual_seed(2)
    model = CRFModel(_tiny_crf_config(2)).eval()
    signal = torch.randn(2, 1000)
    training = model(signal)
    assert training.requires_grad and training.dtype == torch.float32
    with torch.inference_mode():
        inference = model(signal)
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        autocast = model(signal)
    assert not inference.requires_grad and autocast.dtype == torch.float32
    torch.testing.assert_close(inference, training.detach(), rtol=0, atol=0)
    torch.testing.assert_close(autocast, inference, rtol=0, atol=0.1)  # bf16 stem, core and head
    assert float(inference.abs().max()) < SCORE_SCALE


def test_crf_model_basecalls_real_reads_to_fastq_and_sam(tmp_path):
    import subprocess
    import sys

    import pysam
    from conftest import DATA_SAMPLES

    from basecaller.io.open import open_reads
    from basecaller.models.crf import CRFModel
    from basecaller.models.directory import save_model_dir

    torch.manual_seed(2)
    lam = DATA_SAMPLES / "lambda_r941"
    model = CRFModel(_tiny_crf_config(3))
    with torch.no_grad():  # untrained, but with stays penalised so that the best path moves
        model.head.bias.view(-1, 5)[:, 0] -= 2.0
    save_model_dir(tmp_path / "crf_model", model)
    reads = {r.read_id: r for r in open_reads(lam)}
    for name in ("calls.fastq", "calls.sam"):
        result = subprocess.run([sys.executable, "-m", "basecaller", "basecall", str(lam), "--model",
                                 str(tmp_path / "crf_model"), "-o", str(tmp_path / name), "--emit-moves",
                                 "--no-progress"], capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
    fastq = (tmp_path / "calls.fastq").read_text().splitlines()
    assert len(fastq) == 4 * len(reads)
    for i in range(0, len(fastq), 4):
        assert fastq[i][0] == "@" and fastq[i + 2] == "+"
        assert len(fastq[i + 1]) == len(fastq[i + 3]) > 0 and set(fastq[i + 1]) <= set("ACGT")
    with pysam.AlignmentFile(str(tmp_path / "calls.sam"), check_sq=False) as sam:
        records = list(sam.fetch(until_eof=True))
    assert len(records) == len(reads)
    stride = 5
    for record in records:
        moves = np.asarray(record.get_tag("mv"))
        sequence = record.query_sequence or ""
        assert moves[0] == stride and moves[1:].sum() == len(sequence) > 0
        assert len(record.query_qualities) == len(sequence)
        signal_steps = -(-(record.get_tag("ns") - record.get_tag("ts")) // stride)
        assert 0 <= signal_steps - (len(moves) - 1) <= 1
        assert isinstance(record.get_tag("qs"), float)
        assert record.get_tag("ns") == reads[record.query_name].num_samples


def test_cli_trains_resumes_and_fine_tunes_a_crf_head(tmp_path):
    import tomllib

    from basecaller.cli import main
    from basecaller.models.crf import CRFModel
    from basecaller.models.ctc import CTCModel
    from basecaller.models.directory import load_model, save_model_dir

    dataset = _simulated_chunks()
    dataset.subset(np.arange(24)).save(tmp_path / "train")
    dataset.subset(np.arange(24, 32)).save(tmp_path / "valid")
    config = _tiny_crf_config(3)
    config.head = {"type": "ctc"}
    (tmp_path / "tiny.toml").write_text(config.dumps())
    common = ["train", "--chunks", str(tmp_path / "train"), "--valid", str(tmp_path / "valid"), "--batch-size", "4",
              "--validate-every", "2", "--checkpoint-every", "2", "--quiet", "--device", "cpu", "--fp32"]
    out = tmp_path / "crf"
    assert main([*common, "-o", str(out), "--config", str(tmp_path / "tiny.toml"), "--head", "crf",
                 "--state-len", "2", "--steps", "2"]) == 0
    first = load_model(out)
    assert isinstance(first, CRFModel) and first.state_len == 2
    assert "valid_identity_mean" in first.config.training
    assert tomllib.loads((out / "checkpoints" / "config.toml").read_text())["model"]["head"]["type"] == "crf"
    assert main([*common, "-o", str(out), "--config", str(tmp_path / "tiny.toml"), "--head", "crf",
                 "--state-len", "2", "--steps", "4", "--resume"]) == 0
    assert load_model(out).config.training["steps"] == 4
    # fine-tune a CTC model with a CRF head: the stem and core are taken over, the head is new
    torch.manual_seed(0)
    save_model_dir(tmp_path / "ctc", CTCModel(config))
    assert main([*common, "-o", str(tmp_path / "tuned"), "--init-from", str(tmp_path / "ctc"), "--head", "crf",
                 "--steps", "1", "--lr", "0"]) == 0
    tuned, start = load_model(tmp_path / "tuned"), load_model(tmp_path / "ctc")
    assert isinstance(tuned, CRFModel) and tuned.state_len == 3
    torch.testing.assert_close(tuned.stem.state_dict(), start.stem.state_dict())
    assert main([*common, "-o", str(tmp_path / "bad"), "--state-len", "2", "--steps", "1"]) == 2


def test_workflow_training_branch_passes_the_head(tmp_path):
    import shutil

    if shutil.which("snakemake") is None:
        pytest.skip("snakemake is not installed")
    from test_workflow import make_workdir, snakemake

    default = snakemake(make_workdir(tmp_path / "ctc"), "--dry-run", "--printshellcmds", "train")
    assert "--head ctc --steps" in default and "--state-len" not in default
    crf = snakemake(make_workdir(tmp_path / "crf", train={"head": "crf", "state_len": 4}), "--dry-run",
                    "--printshellcmds", "train")
    assert "--head crf --state-len 4 --steps" in crf
