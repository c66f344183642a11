"""Output writers: FASTQ(.gz), unaligned SAM/BAM, summary TSV, atomic writes and resume."""

import gzip

import numpy as np
import pysam
import pytest

from basecaller.errors import InputError
from basecaller.io.records import CalledRead
from basecaller.io.writers import (
    BamWriter,
    FastqWriter,
    SummaryWriter,
    open_writers,
    read_group,
    read_ids_in_output,
)

RG_ID, RG_FIELDS = read_group("run1", "lstm_fast@v0", "FAO12345", "2021-03-15T10:00:00Z", "lambda")


def called(read_id="read-1", sequence="ACGTTGCA", moves=(1, 0, 1, 1, 0, 1, 1, 1, 0, 1, 1)):
    return CalledRead(
        read_id=read_id,
        sequence=sequence,
        qualities=np.arange(5, 5 + len(sequence), dtype=np.uint8),
        moves=None if moves is None else np.array(moves, dtype=np.uint8),
        stride=5,
        mean_qscore=9.25,
        num_samples=60,
        trimmed_samples=3,
        duration_s=0.015,
        start_time_s=12.5,
        channel="42",
        run_id="run1",
        read_group=RG_ID,
        sample_rate_hz=4000.0,
        filename="reads.pod5",
    )


@pytest.mark.parametrize("suffix", [".bam", ".sam"])
def test_bam_round_trip_tags_and_moves(tmp_path, suffix):
    path = tmp_path / f"calls{suffix}"
    read = called()
    with BamWriter(path, {RG_ID: RG_FIELDS}, emit_moves=True) as writer:
        writer.write(read)
    with pysam.AlignmentFile(str(path), check_sq=False) as sam:
        header = sam.header.to_dict()
        records = list(sam.fetch(until_eof=True))
    assert header["HD"]["VN"] == "1.6" and header["PG"][0]["ID"] == "basecaller"
    (group,) = header["RG"]
    assert group["ID"] == "run1_lstm_fast@v0" and group["PU"] == "FAO12345"
    assert group["DS"] == "runid=run1 basecall_model=lstm_fast@v0" and group["SM"] == "lambda"
    (record,) = records
    assert (
        record.flag == 4 and record.query_name == "read-1" and record.query_sequence == "ACGTTGCA"
    )
    assert list(record.query_qualities) == read.qualities.tolist()
    assert record.get_tag("qs") == pytest.approx(9.25)
    assert (record.get_tag("ns"), record.get_tag("ts"), record.get_tag("RG")) == (60, 3, RG_ID)
    mv = record.get_tag("mv")
    assert mv.typecode == "b" and list(mv) == [5, *read.moves.tolist()]
    assert sum(mv[1:]) == len(record.query_sequence)


def test_bam_without_moves(tmp_path):
    path = tmp_path / "calls.bam"
    with BamWriter(path, {}, emit_moves=False) as writer:
        writer.write(called())
    with pysam.AlignmentFile(str(path), check_sq=False) as sam:
        record = next(sam.fetch(until_eof=True))
    assert not record.has_tag("mv") and record.has_tag("qs")


@pytest.mark.parametrize("name", ["calls.fastq", "calls.fq.gz"])
def test_fastq_round_trip(tmp_path, name):
    path = tmp_path / name
    reads = [called("a"), called("b", "TTTACG", None)]
    with FastqWriter(path) as writer:
        for read in reads:
            writer.write(read)
    if name.endswith(".gz"):
        with gzip.open(path, "rt") as handle:
            assert handle.readline().startswith("@a\tqs:f:9.25\tns:i:60\tts:i:3\tRG:Z:run1_")
    with pysam.FastxFile(str(path)) as fastq:
        entries = list(fastq)
    assert [e.name for e in entries] == ["a", "b"]
    assert [e.sequence for e in entries] == ["ACGTTGCA", "TTTACG"]
    assert list(entries[1].get_quality_array()) == reads[1].qualities.tolist()
    assert entries[0].comment.split("\t")[:3] == ["qs:f:9.25", "ns:i:60", "ts:i:3"]


@pytest.mark.parametrize("name", ["calls.fastq.gz", "calls.bam"])
def test_exception_leaves_no_output_and_no_temp(tmp_path, name):
    with pytest.raises(RuntimeError):
        with open_writers(tmp_path / name, summary_path=tmp_path / "summary.tsv") as writers:
            writers.write(called())
            raise RuntimeError("model crashed")
    assert list(tmp_path.iterdir()) == []


def test_summary_columns(tmp_path):
    path = tmp_path / "summary.tsv"
    with SummaryWriter(path) as writer:
        writer.write(called())
    header, row = (line.split("\t") for line in path.read_text().splitlines())
    assert header[:2] == ["filename", "read_id"] and header[-1] == "mean_qscore_template"
    values = dict(zip(header, row))
    assert values["read_id"] == "read-1" and values["sequence_length_template"] == "8"
    assert float(values["duration"]) == pytest.approx(0.015) and values["num_samples"] == "60"


@pytest.mark.parametrize("name", ["calls.fq.gz", "calls.sam"])
def test_resume_keeps_finished_reads(tmp_path, name):
    path = tmp_path / name
    assert read_ids_in_output(path) == set()
    with open_writers(path, {RG_ID: RG_FIELDS}) as writers:
        writers.write(called("a"))
    assert read_ids_in_output(path) == {"a"}
    with open_writers(path, {RG_ID: RG_FIELDS}, resume=True) as writers:
        writers.write(called("b"))
    assert read_ids_in_output(path) == {"a", "b"}


def test_unknown_suffix_is_input_error(tmp_path):
    with pytest.raises(InputError):
        open_writers(tmp_path / "calls.txt")


def test_called_read_from_decoded():
    from basecaller.ctc import greedy_decode
    from basecaller.io.read import Read

    labels = np.array([0, 1, 1, 0, 2, 3, 0, 4])
    log_probs = np.log(np.where(np.eye(5)[labels] > 0, 0.99, 0.0025)).astype(np.float32)
    raw = Read(
        "r1",
        np.zeros(50, dtype=np.int16),
        0.0,
        1.0,
        4000.0,
        channel="7",
        run_id="run1",
        source_path="/x/a.pod5",
    )
    read = CalledRead.from_decoded(raw, greedy_decode(log_probs), stride=5, trimmed_samples=10)
    assert (read.sequence, read.num_samples, read.trimmed_samples, read.filename) == (
        "ACGT",
        50,
        10,
        "a.pod5",
    )
    assert read.mean_qscore == pytest.approx(20.0) and read.moves.sum() == 4
    assert read.duration_s == pytest.approx(50 / 4000)


def test_failed_open_discards_the_other_writer(tmp_path):
    with pytest.raises(OSError):
        with open_writers(tmp_path / "calls.fastq", summary_path=tmp_path / "no" / "summary.tsv"):
            pass
    assert list(tmp_path.iterdir()) == []
