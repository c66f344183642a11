"""Readers on the real files: counts, sample totals and metadata match the data README."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from conftest import DATA_SAMPLES, needs_shared
from fast5_factory import write_multi_read_fast5

from basecaller.errors import SkipLog
from basecaller.io.open import find_signal_files, open_reads
from basecaller.io.pod5 import write_pod5

# (folder, reads, samples, sample rate, kit) as stated in ../shared/data/README.md
EXPECTED = [
    ("r941_lambda_tombo/fast5", 50, 3_979_791, 4000, "SQK-LSK109"),
    ("r1041_remora_4khz/can_reads.pod5", 14, 1_016_064, 4000, "SQK-LSK114"),
    ("r1041_remora_4khz/mod_reads.pod5", 14, 1_268_652, 4000, "SQK-LSK114"),
    ("r1041_dorado_5khz/duplex.pod5", 4, 1_425_322, 5000, "SQK-LSK114"),
    ("r1041_dorado_5khz/single_channel_multi_read.pod5", 3, 1_874_486, 5000, "SQK-LSK114"),
    ("r1041_squigualiser_blow5/reads.blow5", 27, 1_924_460, 4000, "SQK-LSK114"),
]


@needs_shared
@pytest.mark.parametrize("relative, reads, samples, rate, kit", EXPECTED)
def test_read_counts_and_sample_totals(shared_data, relative, reads, samples, rate, kit):
    skips = SkipLog()
    found = list(open_reads(shared_data / relative, skips=skips))
    assert len(found) == reads
    assert sum(r.num_samples for r in found) == samples
    assert {r.sample_rate_hz for r in found} == {rate}
    assert {r.sequencing_kit for r in found} == {kit}
    assert skips.total == 0
    assert len({r.read_id for r in found}) == reads


@needs_shared
def test_metadata_and_calibration(shared_data):
    fast5 = next(open_reads(shared_data / "r941_lambda_tombo/fast5"))
    assert fast5.flow_cell_id == "AGD599" and fast5.run_id.startswith("248f8352")
    # pA = (DAC + offset) * range / digitisation, with the channel_id attributes of the file.
    assert fast5.scale_pa_per_dac == pytest.approx(1497.7718505859375 / 8192.0)
    assert fast5.signal_pa[0] == pytest.approx((fast5.signal_dac[0] + 4.0) * 1497.7718505859375 / 8192.0, rel=1e-6)
    blow5 = next(open_reads(shared_data / "r1041_squigualiser_blow5/reads.blow5"))
    assert blow5.flow_cell_id == "PAG70700" and blow5.channel == "2852"
    pod5_read = next(open_reads(shared_data / "r1041_remora_4khz/can_reads.pod5"))
    assert pod5_read.flow_cell_id == "PAK29931" and pod5_read.offset_dac == -253.0
    # Typical open-channel DNA current sits between 50 and 150 pA.
    assert 50 < np.median(pod5_read.signal_pa) < 150


@needs_shared
def test_mixed_directory_tree_streams_every_format(shared_data):
    files = find_signal_files([shared_data])
    assert {f.rsplit(".", 1)[1] for f in files} == {"fast5", "pod5", "blow5"}
    per_set = Counter(Path(read.source_path).relative_to(shared_data).parts[0] for read in open_reads(shared_data))
    assert per_set == {"r941_lambda_tombo": 50, "r1041_remora_4khz": 14 + 14, "r1041_dorado_5khz": 4 + 3,
                       "r1041_squigualiser_blow5": 27, "r94_ecoli_f5c": 112, "r9_ecoli_meteore_tombo": 50,
                       "r9_puc19_signalalign": 10}


@needs_shared
def test_read_id_filter_and_minimum_length(shared_data):
    folder = shared_data / "r941_lambda_tombo/fast5"
    wanted = {"080fbbfd-2a90-4f17-a3ec-5a5f41d2378c", "0a15def6-87d4-4028-b2b2-9c220e3daad6"}
    assert {r.read_id for r in open_reads(folder, read_ids=wanted)} == wanted
    long_reads = list(open_reads(folder, min_samples=200_000))
    assert len(long_reads) == 5 and all(r.num_samples >= 200_000 for r in long_reads)


@needs_shared
def test_multi_read_vbz_fast5_round_trip(shared_data, tmp_path):
    originals = list(open_reads(shared_data / "r941_lambda_tombo/fast5"))[:4]
    path = tmp_path / "multi.fast5"
    write_multi_read_fast5(path, originals, vbz=True)
    back = list(open_reads(path))
    assert [r.read_id for r in back] == [r.read_id for r in originals]
    for original, read in zip(originals, back):
        np.testing.assert_array_equal(read.signal_dac, original.signal_dac)
        np.testing.assert_allclose(read.signal_pa, original.signal_pa, rtol=1e-6)


@needs_shared
def test_pod5_writer_round_trip_from_blow5(shared_data, tmp_path):
    originals = list(open_reads(shared_data / "r1041_squigualiser_blow5/reads.blow5"))[:5]
    assert write_pod5(str(tmp_path / "copy.pod5"), originals) == 5
    back = list(open_reads(tmp_path / "copy.pod5"))
    for original, read in zip(originals, back):
        assert (read.read_id, read.channel, read.run_id) == (original.read_id, original.channel, original.run_id)
        np.testing.assert_allclose(read.signal_pa, original.signal_pa, rtol=1e-6)


def test_shipped_lambda_sample_reads():
    reads = list(open_reads(DATA_SAMPLES / "lambda_r941" / "reads.pod5"))
    assert len(reads) == 7
    assert all(r.sample_rate_hz == 4000 and r.num_samples > 3000 for r in reads)


def test_reads_stream_lazily(tmp_path):
    """open_reads is a generator: nothing is read before iteration starts."""
    generator = open_reads(tmp_path / "does-not-exist.pod5")
    assert iter(generator) is generator
