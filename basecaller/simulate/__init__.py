"""The k-mer signal simulator: sequence in, raw nanopore current out, with exact truth.

    reads = simulate_reads(random_genome(50_000, 0.5, seed=1), chemistry="r10.4.1", seed=1)
    write_simulation("sim/", reads, chemistry="r10.4.1", sample_rate_hz=4000, seed=1)
"""

from basecaller.io.fastx import read_fasta
from basecaller.simulate.genome import Fragment, random_genome, reverse_complement, write_fasta
from basecaller.simulate.kmer_model import (
    CHEMISTRIES,
    KMER_MODELS_ENV,
    KmerModel,
    kmer_indices,
    load_kmer_model,
)
from basecaller.simulate.params import ChemistryParams, load_params
from basecaller.simulate.simulator import SAMPLE_RATES_HZ, SimulatedRead, simulate_reads
from basecaller.simulate.writer import write_simulation

__all__ = [
    "CHEMISTRIES",
    "KMER_MODELS_ENV",
    "SAMPLE_RATES_HZ",
    "ChemistryParams",
    "Fragment",
    "KmerModel",
    "SimulatedRead",
    "kmer_indices",
    "load_kmer_model",
    "load_params",
    "random_genome",
    "read_fasta",
    "reverse_complement",
    "simulate_reads",
    "write_fasta",
    "write_simulation",
]
