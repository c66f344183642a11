"""Pore k-mer models: read at run time from the shared data folder, never shipped.

A model maps every k-mer (lexicographic ACGT order, base-4 index with A=0 ... T=3) to a
current level. ``centre`` is the position inside the k-mer of the base the level is
attributed to, so the level of base ``i`` is that of ``seq[i - centre : i - centre + k]``.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from basecaller.errors import InputError

#: Environment variable naming a directory (or file) that holds the k-mer models.
KMER_MODELS_ENV = "BASECALLER_KMER_MODELS"


@dataclass(frozen=True)
class Chemistry:
    """What the simulator needs to know about a pore before any fitting."""

    name: str
    k: int
    centre: int
    model_file: str
    units: str  # "pA" or "normalised"
    sequencing_kit: str
    flow_cell_product_code: str


CHEMISTRIES = {
    "r9.4.1": Chemistry(
        "r9.4.1", 6, 2, "ont_legacy_r9.4_180mv_450bps_6mer_template_median68pA.model",
        "pA", "sqk-lsk109", "FLO-MIN106",
    ),
    "r10.4.1": Chemistry(
        "r10.4.1", 9, 7, "dna_r10.4.1_e8.2_400bps_9mer_levels_v1.reconstructed.txt",
        "normalised", "sqk-lsk114", "FLO-PRO114M",
    ),
}


@dataclass(frozen=True)
class KmerModel:
    """Levels (and, where the file has them, relative noise spreads) indexed by k-mer."""

    chemistry: Chemistry
    levels: np.ndarray  # (4**k,) float32, in the model's units
    noise_rel: np.ndarray | None  # (4**k,) float32, mean 1, or None for a flat spread
    path: str

    @property
    def k(self) -> int:
        return self.chemistry.k


def get_chemistry(name: str) -> Chemistry:
    try:
        return CHEMISTRIES[name.lower()]
    except KeyError:
        known = ", ".join(CHEMISTRIES)
        raise InputError(f"unknown chemistry {name!r} (known: {known})") from None


def default_model_dir() -> Path:
    """``$BASECALLER_KMER_MODELS`` if set, else ``../shared/data/kmer_models`` beside the repo."""
    if os.environ.get(KMER_MODELS_ENV):
        return Path(os.environ[KMER_MODELS_ENV])
    repo_root = Path(__file__).resolve().parents[2]
    return repo_root.parent / "shared" / "data" / "kmer_models"


def resolve_model_path(chemistry: Chemistry, path: str | os.PathLike | None = None) -> Path:
    """A file path is used as is; a directory is searched for the chemistry's default file."""
    where = Path(path) if path is not None else default_model_dir()
    if where.is_dir():
        where = where / chemistry.model_file
    if not where.is_file():
        raise InputError(
            f"k-mer model for {chemistry.name} not found; pass --kmer-model PATH "
            f"or set {KMER_MODELS_ENV}",
            path=str(where),
        )
    return where


def load_kmer_model(chemistry: str = "r9.4.1", path: str | os.PathLike | None = None) -> KmerModel:
    """Read a tab-separated k-mer table (``kmer level [level_stdv sd_mean ...]``), cached."""
    chem = get_chemistry(chemistry)
    return _load(chem, resolve_model_path(chem, path).resolve())


@functools.lru_cache(maxsize=4)
def _load(chem: Chemistry, model_path: Path) -> KmerModel:
    kmers, columns = _read_table(model_path)
    if any(len(kmer) != chem.k for kmer in kmers) or len(kmers) != 4**chem.k:
        raise InputError(f"expected all {4**chem.k} {chem.k}-mers", path=str(model_path))
    index = kmer_indices(np.frombuffer("".join(kmers).encode(), np.uint8), chem.k)[:: chem.k]
    levels = np.empty(4**chem.k, np.float32)
    levels[index] = columns[:, 0]
    noise_rel = None
    if columns.shape[1] >= 3:  # ONT .model files: level_mean, level_stdv, sd_mean, ...
        noise_rel = np.empty_like(levels)
        noise_rel[index] = columns[:, 2] / columns[:, 2].mean()
    for array in (levels, noise_rel):
        if array is not None:
            array.setflags(write=False)  # shared through the cache
    return KmerModel(chem, levels, noise_rel, str(model_path))


def _read_table(path: Path) -> tuple[list[str], np.ndarray]:
    with open(path) as handle:
        lines = [line for line in handle if line.strip() and not line.startswith(("#", "kmer"))]
    if not lines:
        raise InputError("empty k-mer model", path=str(path))
    tokens = np.array("".join(lines).split())
    try:
        table = tokens.reshape(len(lines), -1)
        return [kmer.upper() for kmer in table[:, 0]], table[:, 1:].astype(np.float64)
    except ValueError as error:
        raise InputError(f"malformed k-mer model ({error})", path=str(path)) from None


_CODE = np.full(256, 255, np.uint8)
for _code, _base in enumerate(b"ACGT"):
    _CODE[_base] = _code
    _CODE[ord(chr(_base).lower())] = _code


def encode(sequence: str | bytes | np.ndarray) -> np.ndarray:
    """ASCII bases to codes 0..3 (A, C, G, T); anything else raises InputError."""
    raw = sequence.encode() if isinstance(sequence, str) else sequence
    codes = _CODE[np.frombuffer(raw, np.uint8) if isinstance(raw, bytes) else raw]
    if codes.size and codes.max() > 3:
        raise InputError("sequence holds bases other than ACGT")
    return codes


def kmer_indices(sequence: np.ndarray, k: int) -> np.ndarray:
    """Base-4 index of every k-mer window (``len - k + 1`` of them), by rolling encoding.

    ``sequence`` is ASCII (uint8) or already codes 0..3.
    """
    codes = sequence if sequence.size == 0 or sequence.max() <= 3 else encode(sequence)
    n_windows = codes.size - k + 1
    index = np.zeros(max(n_windows, 0), np.int64)
    for offset in range(k):
        index = index * 4 + codes[offset : offset + n_windows]
    return index
