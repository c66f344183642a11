"""The corrupt-input suite: damaged copies of real pod5, fast5 and blow5 files, each mixed into a
folder of good files and read the way `basecaller basecall` reads them, in a child process.

    python benchmarks/corrupt_inputs.py [--per-kind 20] [--seed 0] [--basecall 5]

Prints files tried, crashes (a child killed by a signal, or a Python traceback: must be 0),
good reads lost (must be 0) and files that lost reads without a one-line reason naming them
(must be 0). ``--basecall N`` also runs the whole `basecaller basecall` on N of the folders.
The damage: truncation at random offsets, flipped bytes in the header, the index/footer and
the signal, zero length, wrong magic bytes, a wrong extension, NaN/inf/all-zero signal, zero
or NaN calibration, sample rate 0 or absurd, a 50 M-sample read, duplicate read ids, a
symlink loop, a dangling symlink and a file without read permission.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("BASECALLER_SHARED_DATA", REPO.parent / "shared" / "data"))
GOOD_POD5 = REPO / "data_samples" / "lambda_r941" / "reads.pod5"


def real_sources() -> dict[str, Path]:
    """One real file per format (the shipped pod5 sample, and ../shared files where present)."""
    sources = {"pod5": GOOD_POD5}
    fast5 = sorted((SHARED / "r941_lambda_tombo" / "fast5").glob("*.fast5"))
    if fast5:
        sources["fast5"] = fast5[0]
    blow5 = SHARED / "r1041_squigualiser_blow5" / "reads.blow5"
    if blow5.exists():
        sources["blow5"] = blow5
    return sources


# --- byte-level damage ----------------------------------------------------------------------

def _flip(data: bytearray, start: int, stop: int, rng: random.Random, count: int = 8) -> bytearray:
    stop = max(start + 1, min(stop, len(data)))
    for _ in range(count):
        position = rng.randrange(start, stop)
        data[position] ^= 1 << rng.randrange(8)
    return data


def byte_damage(source: Path, kind: str, rng: random.Random) -> tuple[bytes, str]:
    """(damaged bytes, file suffix) of one kind of damage to ``source``."""
    data = bytearray(source.read_bytes())
    suffix = source.suffix
    if kind == "truncated":
        return bytes(data[: rng.randrange(1, len(data))]), suffix
    if kind == "flipped_header":
        return bytes(_flip(data, 0, 4096, rng)), suffix
    if kind == "flipped_index":
        return bytes(_flip(data, max(0, len(data) - 4096), len(data), rng)), suffix
    if kind == "flipped_signal":
        return bytes(_flip(data, len(data) // 4, 3 * len(data) // 4, rng, count=32)), suffix
    if kind == "zero_length":
        return b"", suffix
    if kind == "wrong_magic":
        data[:8] = bytes(rng.randrange(256) for _ in range(8))
        return bytes(data), suffix
    if kind == "wrong_extension":
        others = [s for s in (".pod5", ".fast5", ".blow5") if s != suffix]
        return bytes(data), rng.choice(others)
    raise ValueError(kind)


BYTE_KINDS = ("truncated", "flipped_header", "flipped_index", "flipped_signal", "zero_length", "wrong_magic",
              "wrong_extension")


# --- content-level damage (valid containers holding bad reads) ---------------------------------

def _sample_reads():
    from basecaller.io.open import open_reads

    return list(open_reads(GOOD_POD5))


def content_damage(kind: str, folder: Path, index: int) -> list[Path]:
    """Write a pod5 file whose reads are damaged in content; returns the paths written."""
    import numpy as np

    from basecaller.io.pod5 import write_pod5

    reads = _sample_reads()[:2]
    for read in reads:
        read.read_id = _new_id(index, read.read_id) if kind != "duplicate_ids" else read.read_id
        if kind == "nan_calibration":
            read.scale_pa_per_dac = float("nan")
        elif kind == "zero_calibration":
            read.scale_pa_per_dac = 0.0
        elif kind == "zero_signal":
            read.signal_dac = np.zeros_like(read.signal_dac)
        elif kind == "sample_rate_zero":
            read.sample_rate_hz = 0.0
        elif kind == "sample_rate_absurd":
            read.sample_rate_hz = 65000.0  # the most pod5 can store (uint16)
        elif kind == "huge_read":
            read.signal_dac = np.resize(read.signal_dac, 50_000_000)
            break
    reads = reads[:1] if kind == "huge_read" else reads
    path = folder / f"damaged_{index}_{kind}.pod5"
    write_pod5(str(path), reads)
    return [path]


def _new_id(index: int, read_id: str) -> str:
    return f"{index:08x}{read_id[8:]}"


CONTENT_KINDS = ("nan_calibration", "zero_calibration", "zero_signal", "sample_rate_zero", "sample_rate_absurd",
                 "duplicate_ids", "huge_read")
FOLDER_KINDS = ("symlink_loop", "dangling_symlink", "unreadable")


def folder_damage(kind: str, folder: Path, source: Path, index: int) -> list[Path]:
    if kind == "symlink_loop":
        loop = folder / f"loop_{index}"
        loop.symlink_to(folder, target_is_directory=True)
        return [loop]
    if kind == "dangling_symlink":
        link = folder / f"dangling_{index}.pod5"
        link.symlink_to(folder / "does_not_exist.pod5")
        return [link]
    target = folder / f"unreadable_{index}{source.suffix}"
    shutil.copyfile(source, target)
    target.chmod(0)
    return [target]


# --- running one case -------------------------------------------------------------------------

@dataclasses.dataclass
class Outcome:
    kind: str
    crashed: bool
    good_lost: int
    unexplained: bool
    detail: str = ""


def read_folder_in_child(folder: Path, timeout_s: float = 300) -> tuple[int, str, str]:
    """Read every file of ``folder`` as `basecaller basecall` does, in a fresh interpreter:
    prints ``read_id<TAB>file`` per read."""
    code = ("import sys\nfrom basecaller.errors import SkipLog\nfrom basecaller.io.open import open_reads\n"
            "skips = SkipLog()\nfor r in open_reads([sys.argv[1]], skips=skips):\n"
            "    print(r.read_id, r.source_path, sep='\\t')\nprint(skips.summary(), file=sys.stderr)\n")
    try:
        result = subprocess.run([sys.executable, "-c", code, str(folder)], capture_output=True, text=True,
                                errors="replace", timeout=timeout_s, env={**os.environ, "OMP_NUM_THREADS": "1"})
    except subprocess.TimeoutExpired:
        return -9, "", f"hung for more than {timeout_s:.0f} s"
    return result.returncode, result.stdout, result.stderr


def judge(kind: str, folder: Path, damaged: list[Path], good_ids: set[str], returncode: int, stdout: str,
          stderr: str, original_reads: int) -> Outcome:
    rows = [line.split("\t") for line in stdout.splitlines() if "\t" in line]
    seen = {read_id for read_id, _ in rows}
    crashed = returncode < 0 or "Traceback" in stderr
    from_damaged = sum(1 for _, path in rows if any(Path(path).name == d.name for d in damaged))
    lost_some = from_damaged < original_reads
    named = any(d.name in line for d in damaged for line in stderr.splitlines() if line.startswith("skipped:"))
    unexplained = lost_some and not named and kind not in ("symlink_loop",)
    return Outcome(kind, crashed, len(good_ids - seen), unexplained,
                   detail=f"rc={returncode} reads_from_damaged={from_damaged}/{original_reads}")


def good_folder(root: Path, sources: dict[str, Path]) -> Path:
    folder = root / "good"
    folder.mkdir()
    for fmt, path in sources.items():
        shutil.copyfile(path, folder / f"good_{fmt}{path.suffix}")
    return folder


def reads_in(path: Path) -> int:
    rc, stdout, _ = read_folder_in_child(path)
    return sum(1 for line in stdout.splitlines() if "\t" in line) if rc == 0 else 0


def make_case(root: Path, good: Path, kind: str, fmt: str, source: Path, index: int,
              rng: random.Random) -> tuple[Path, list[Path], int]:
    """A folder with the good files and one damaged file (or link); with the damaged file's
    number of reads before the damage."""
    folder = root / f"case_{index}"
    shutil.copytree(good, folder, symlinks=True)
    if kind in BYTE_KINDS:
        data, suffix = byte_damage(source, kind, rng)
        damaged = [folder / f"damaged_{index}_{kind}_{fmt}{suffix}"]
        damaged[0].write_bytes(data)
        return folder, damaged, SOURCE_READS[fmt]
    if kind in CONTENT_KINDS:
        return folder, content_damage(kind, folder, index), 1 if kind == "huge_read" else 2
    return folder, folder_damage(kind, folder, source, index), 0 if kind != "unreadable" else SOURCE_READS[fmt]


SOURCE_READS: dict[str, int] = {}


def run_suite(root: Path, per_kind: int, seed: int, content: bool = True) -> list[Outcome]:
    rng = random.Random(seed)
    sources = real_sources()
    good = good_folder(root, sources)
    for fmt, path in sources.items():
        SOURCE_READS[fmt] = reads_in(path)
    rc, stdout, _ = read_folder_in_child(good)
    good_ids = {line.split("\t")[0] for line in stdout.splitlines() if "\t" in line}
    cases = [(kind, fmt) for kind in BYTE_KINDS for fmt in sources for _ in range(per_kind)]
    if content:
        cases += [(kind, "pod5") for kind in CONTENT_KINDS] + [(kind, "pod5") for kind in FOLDER_KINDS]
    outcomes = []
    for index, (kind, fmt) in enumerate(cases):
        folder, damaged, original = make_case(root, good, kind, fmt, sources[fmt], index, rng)
        returncode, stdout, stderr = read_folder_in_child(folder)
        outcomes.append(judge(f"{kind}/{fmt}", folder, damaged, good_ids, returncode, stdout, stderr, original))
        shutil.rmtree(folder, ignore_errors=True)
    return outcomes


def summarise(outcomes: list[Outcome]) -> dict:
    return {"files_tried": len(outcomes), "crashes": sum(o.crashed for o in outcomes),
            "good_reads_lost": sum(o.good_lost for o in outcomes),
            "losses_without_reason": sum(o.unexplained for o in outcomes)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--per-kind", type=int, default=20, help="damaged files per byte-level kind and format")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", help="keep the work folder here")
    args = parser.parse_args()
    root = Path(args.keep or tempfile.mkdtemp(prefix="corrupt-"))
    root.mkdir(parents=True, exist_ok=True)
    try:
        outcomes = run_suite(root, args.per_kind, args.seed)
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    for outcome in outcomes:
        if outcome.crashed or outcome.good_lost or outcome.unexplained:
            print(f"FAIL {outcome}")
    print(json.dumps(summarise(outcomes), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
