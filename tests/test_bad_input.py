"""Bad input: one clear line naming the file (and read), the good reads still come through,
and the skipped ones are counted. The tests corrupt files themselves."""

from __future__ import annotations

import shutil
import subprocess
import sys

import numpy as np
import pytest
from conftest import DATA_SAMPLES, needs_shared
from fast5_factory import write_multi_read_fast5

from basecaller.errors import SkipLog
from basecaller.io.open import open_reads

GOOD_POD5 = DATA_SAMPLES / "lambda_r941" / "reads.pod5"


def _good_reads():
    return list(open_reads(GOOD_POD5))


def _collect(paths):
    skips = SkipLog()
    reads = list(open_reads(paths, skips=skips))
    return reads, skips


def test_missing_path_is_skipped_and_named(tmp_path, capsys):
    reads, skips = _collect([tmp_path / "missing.pod5", GOOD_POD5])
    assert len(reads) == 7 and skips.total == 1
    assert "missing.pod5: no such file or directory" in capsys.readouterr().err


def test_unknown_format_is_skipped(tmp_path, capsys):
    bogus = tmp_path / "reads.txt"
    bogus.write_text("not signal")
    reads, skips = _collect([bogus, GOOD_POD5])
    assert len(reads) == 7 and skips.total == 1
    assert "unknown signal format '.txt'" in capsys.readouterr().err


def test_truncated_pod5_is_reported(tmp_path, capsys):
    data = GOOD_POD5.read_bytes()
    broken = tmp_path / "truncated.pod5"
    broken.write_bytes(data[: len(data) // 2])
    reads, skips = _collect([broken, GOOD_POD5])
    assert len(reads) >= 7 and skips.total >= 1
    assert "truncated.pod5" in capsys.readouterr().err


def test_garbage_fast5_is_reported(tmp_path, capsys):
    broken = tmp_path / "garbage.fast5"
    broken.write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(range(256)) * 20)
    reads, skips = _collect([broken, GOOD_POD5])
    assert len(reads) == 7 and skips.total == 1
    assert "garbage.fast5" in capsys.readouterr().err


def test_fast5_with_empty_and_nan_reads_keeps_the_good_ones(tmp_path, capsys):
    reads = _good_reads()[:4]
    empty = np.zeros(0, dtype=np.int16)
    nan_signal = reads[2].signal_dac.astype(np.float32)
    nan_signal[10] = np.nan
    path = tmp_path / "mixed.fast5"
    write_multi_read_fast5(path, reads, signals=[None, empty, nan_signal, None])
    good, skips = _collect([path])
    assert [r.read_id for r in good] == [reads[0].read_id, reads[3].read_id]
    assert skips.total == 2
    err = capsys.readouterr().err
    assert f"read {reads[1].read_id}: read has no signal" in err
    assert f"read {reads[2].read_id}: signal holds NaN or infinite samples" in err
    assert "mixed.fast5" in err


@needs_shared
def test_truncated_blow5_is_reported(shared_data, tmp_path, capsys):
    data = (shared_data / "r1041_squigualiser_blow5/reads.blow5").read_bytes()
    broken = tmp_path / "truncated.blow5"
    broken.write_bytes(data[: len(data) // 3])
    reads, skips = _collect([broken, GOOD_POD5])
    assert len(reads) >= 7 and skips.total >= 1
    assert "truncated.blow5" in capsys.readouterr().err


def test_cli_reports_one_line_without_traceback(tmp_path):
    broken = tmp_path / "broken.pod5"
    broken.write_bytes(b"not a pod5 file at all")
    shutil.copy(GOOD_POD5, tmp_path / "good.pod5")
    out = tmp_path / "out.pod5"
    result = subprocess.run([sys.executable, "-m", "basecaller", "convert", str(tmp_path), "-o", str(out)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert "broken.pod5" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert "wrote 7 reads" in result.stdout and "skipped 1" in result.stdout
    assert sum(1 for _ in open_reads(out)) == 7


def test_cli_error_for_nothing_usable(tmp_path):
    result = subprocess.run([sys.executable, "-m", "basecaller", "chunks", str(tmp_path / "nope"), "--source",
                             "tombo", "-o", str(tmp_path / "out")], capture_output=True, text=True)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "no chunks could be cut" in result.stderr


@pytest.mark.parametrize(("extra", "message"), [([], "--source pseudo needs --labels"),
                                                 (["--labels", "missing.fastq"], "no such label file")])
def test_pseudo_labels_need_a_label_file(tmp_path, extra, message):
    result = subprocess.run([sys.executable, "-m", "basecaller", "chunks", str(GOOD_POD5), "--source", "pseudo",
                             "-o", str(tmp_path / "out"), *extra], capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("argv", [["--help"], ["convert", "--help"], ["chunks", "--help"]])
def test_help_runs(argv):
    result = subprocess.run([sys.executable, "-m", "basecaller", *argv], capture_output=True, text=True)
    assert result.returncode == 0 and "usage:" in result.stdout
