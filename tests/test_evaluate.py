"""Evaluation: error counting on hand-made alignments and identity on the real lambda calls."""

import json
import os
import random
from pathlib import Path

import pytest
from conftest import benchmark_module

from basecaller.cli import main
from basecaller.errors import InputError
from basecaller.evaluate import count_cs, evaluate_calls, summarise

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
LAMBDA = Path(os.environ.get("BASECALLER_SHARED_DATA", SHARED)) / "r941_lambda_tombo"
needs_lambda = pytest.mark.skipif(not LAMBDA.is_dir(), reason="../shared/data is not available")


def test_count_cs_exact_counts_and_homopolymers():
    ref = "ACGTAAAACGTCCGTA"
    # ACG, T->G, AAA, delete A, CG, insert T, TCCGTA
    cs = ":3*tg:3-a:2+t:6"
    counts = count_cs(cs, ref, 0)
    assert (counts.matches, counts.substitutions, counts.insertions, counts.deletions) == (
        14,
        1,
        1,
        1,
    )
    assert counts.identity == pytest.approx(14 / 17)
    assert counts.homopolymer_errors == 1  # the deleted A of AAAA; the inserted T is not in a run
    # inserting a C next to the CC run (run of 2) is not a homopolymer error; next to AAAA it is
    assert count_cs(":11+c:5", ref, 0).homopolymer_errors == 0
    assert count_cs(":6+a:10", ref, 0).homopolymer_errors == 1
    assert count_cs(":6+ag:10", ref, 0).homopolymer_errors == 0


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    rng = random.Random(7)
    seq = "".join(rng.choice("ACGT") for _ in range(20000))
    path = tmp_path_factory.mktemp("ref") / "ref.fa"
    path.write_text(f">chr_test\n{seq}\n")
    return path, seq


def revcomp(seq):
    return seq[::-1].translate(str.maketrans("ACGT", "TGCA"))


def test_hand_made_reads(tmp_path, reference):
    ref_path, ref = reference
    exact = ref[5000:7000]
    edited = list(ref[10000:12000])
    edited[500] = "A" if edited[500] != "A" else "C"  # substitution
    # a deletion and an insertion away from runs, so each has one placement
    gap = next(i for i in range(1000, 1100) if edited[i - 1] != edited[i] != edited[i + 1])
    del edited[gap]
    site = next(i for i in range(1500, 1600) if edited[i - 1] != edited[i])
    edited.insert(site, next(b for b in "ACGT" if b not in (edited[site - 1], edited[site])))
    calls = tmp_path / "calls.fasta"
    reads = {"exact": exact, "rc": revcomp(exact), "edited": "".join(edited), "junk": "ACGT" * 50}
    calls.write_text("".join(f">{name}\n{seq}\n" for name, seq in reads.items()))
    results = {e.read_id: e for e in evaluate_calls(calls, ref_path)}
    assert results["exact"].identity == 1.0 and results["exact"].aligned_fraction == 1.0
    assert (results["exact"].ref_start, results["exact"].ref_end) == (5000, 7000)
    assert results["rc"].identity == 1.0 and results["rc"].strand == "-"
    edit = results["edited"]
    assert (edit.substitutions, edit.insertions, edit.deletions) == (1, 1, 1)
    assert edit.matches == 1998 and edit.identity == pytest.approx(1998 / 2001)
    assert not results["junk"].mapped
    summary = summarise(results.values())
    assert summary["reads"] == 4 and summary["mapped_fraction"] == 0.75


@needs_lambda
def test_demo_calls_median_identity(tmp_path):
    out = tmp_path / "demo"
    rc = main(
        [
            "evaluate",
            str(LAMBDA / "demo_basecalls.fastq"),
            "--reference",
            str(LAMBDA / "Lambda_phage.fna"),
            "-o",
            str(out),
        ]
    )
    assert rc == 0
    summary = json.loads(Path(f"{out}.summary.json").read_text())
    assert summary["reads"] == 50 and summary["mapped"] == 50
    assert summary["median_identity"] == pytest.approx(0.836, abs=0.02)
    rows = Path(f"{out}.per_read.tsv").read_text().splitlines()
    assert len(rows) == 51 and rows[0].startswith("read_id\t")
    assert Path(f"{out}.identity.png").read_bytes()[:4] == b"\x89PNG"
    assert not list(tmp_path.glob("*.tmp-*"))


def test_bad_inputs(tmp_path, reference, capsys):
    ref_path, _ = reference
    with pytest.raises(InputError):
        evaluate_calls(tmp_path / "missing.fastq", ref_path)
    not_fasta = tmp_path / "notes.txt"
    not_fasta.write_text("hello\n")
    with pytest.raises(InputError):
        evaluate_calls(not_fasta, ref_path)
    calls = tmp_path / "calls.fa"
    calls.write_text(">r\nACGT\n")
    assert main(["evaluate", str(calls), "-r", str(not_fasta), "-o", str(tmp_path / "x")]) == 2
    assert "not a FASTA reference" in capsys.readouterr().err


def test_unaligned_bam_input(tmp_path, reference):
    import numpy as np

    from basecaller.io.records import CalledRead
    from basecaller.io.writers import BamWriter

    ref_path, ref = reference
    seq = ref[3000:4500]
    read = CalledRead("bam-read", seq, np.full(len(seq), 20, dtype=np.uint8), mean_qscore=20.0)
    with BamWriter(tmp_path / "calls.bam") as writer:
        writer.write(read)
    (result,) = evaluate_calls(tmp_path / "calls.bam", ref_path)
    assert result.read_id == "bam-read" and result.identity == 1.0
    assert (result.ref_start, result.ref_end) == (3000, 4500)


def test_an_empty_call_counts_as_an_unmapped_read_in_bam_and_fastq(tmp_path, reference):
    import numpy as np

    from basecaller.io.records import CalledRead
    from basecaller.io.writers import BamWriter

    ref_path, ref = reference
    seq = ref[3000:4500]
    reads = [CalledRead("empty", "", np.zeros(0, dtype=np.uint8), mean_qscore=0.0),
             CalledRead("good", seq, np.full(len(seq), 20, dtype=np.uint8), mean_qscore=20.0)]
    with BamWriter(tmp_path / "calls.bam") as writer:
        for read in reads:
            writer.write(read)
    (tmp_path / "calls.fastq").write_text("@empty\n\n+\n\n@good\n" + seq + "\n+\n" + "5" * len(seq) + "\n")
    for calls in ("calls.bam", "calls.fastq"):
        empty, good = evaluate_calls(tmp_path / calls, ref_path)
        assert (empty.read_id, empty.mapped, empty.read_length) == ("empty", False, 0)
        assert good.mapped and good.identity == 1.0
        assert summarise([empty, good])["reads"] == 2


def test_held_out_part_identity_scores_only_the_held_out_reference_positions(shared_data):
    accuracy = benchmark_module("accuracy")
    spans = shared_data / "r1041_remora_4khz" / "can_mappings.ref_spans.fasta"
    masks = accuracy.held_out_masks(spans)
    truth = accuracy.read_truth(spans)
    assert sorted(sum(mask) for mask in masks.values()) == [473, 473, 1769, 4012]  # from the headers
    for read_id, mask in masks.items():
        assert len(mask) == len(truth[read_id])
        inside = [i for i, flag in enumerate(mask) if flag]
        assert inside == list(range(inside[0], inside[-1] + 1))  # one stretch of the read
    read_id = max(masks, key=lambda r: sum(masks[r]))
    sequence, mask = truth[read_id], masks[read_id]
    assert accuracy.masked_identity("TTGA" + sequence + "CC", sequence, mask) == 1.0
    swap = {"A": "C", "C": "G", "G": "T", "T": "A"}
    outside = [i for i, flag in enumerate(mask) if not flag][::50]
    inside = [i for i, flag in enumerate(mask) if flag][::40]
    changed_outside = "".join(swap[b] if i in set(outside) else b for i, b in enumerate(sequence))
    changed_inside = "".join(swap[b] if i in set(inside) else b for i, b in enumerate(sequence))
    assert accuracy.masked_identity(changed_outside, sequence, mask) == 1.0
    assert accuracy.masked_identity(changed_inside, sequence, mask) == pytest.approx(1 - len(inside) / sum(mask))
