"""Which pore chemistry a read comes from, from every piece of run metadata the formats carry.

Sources, most specific first: the live basecall config name (``dna_r10.4.1_e8.2_400bps_...``),
the flow cell product code (``FLO-PRO114M``), the sequencing kit (``SQK-LSK114``), the
experiment script / protocol name (which embeds flow cell and kit codes), the pore type, and
the sample rate (5 kHz runs are R10.4.1 only). Chemistries are reported as the pores we have
models for: R10.4 runs (FLO-*112, Q20EA/LSK112 kits) count as ``r10.4.1``, R9 and R9.4 runs
as ``r9.4.1``. Sources that disagree between pore families make the read ``ambiguous``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from basecaller.io.read import Read

__all__ = ["Chemistry", "detect_chemistry", "R10", "R9"]

R10, R9 = "r10.4.1", "r9.4.1"

_CONFIG = [(re.compile(r"r10(\.\d)*|e8\.2"), R10), (re.compile(r"r9(\.\d)*"), R9)]
_FLOW_CELLS = [(re.compile(r"FLO[-_](MIN|PRO|FLG)11\d"), R10),
               (re.compile(r"FLO[-_](MIN|PRO|FLG)10\d|FLO[-_]PRO00\d|FLO[-_]FLG001"), R9)]
_KIT_NAMES = r"(LSK|NBD|RBK|RAD|ULK|PCB|PCS|NBA|RPB|PBK|RAB|LWB|PSK|CS)"
_KITS = [(re.compile(_KIT_NAMES + r"11[2-9]|Q20"), R10), (re.compile(_KIT_NAMES + r"(0\d\d|10\d|11[01])"), R9)]
_PORES = [(re.compile(r"r10", re.I), R10), (re.compile(r"r9", re.I), R9)]


@dataclass(frozen=True)
class Chemistry:
    """``name`` is r9.4.1, r10.4.1, ``None`` (nothing tells) or "ambiguous"; ``evidence`` lists
    what each source said, for messages."""

    name: str | None
    evidence: tuple[str, ...] = ()

    @property
    def known(self) -> bool:
        return self.name in (R9, R10)


def _match(table, text: str) -> str | None:
    for pattern, chemistry in table:
        if text and pattern.search(text):
            return chemistry
    return None


def _votes(read: Read) -> list[tuple[str, str, str]]:
    """(source, value, chemistry) for each source that names one."""
    sources = [("basecall config", read.basecall_config, _CONFIG, str.lower),
               ("flow cell", read.flow_cell_product, _FLOW_CELLS, str.upper),
               ("kit", read.sequencing_kit, _KITS, str.upper),
               ("protocol", read.protocol, _FLOW_CELLS, str.upper),
               ("protocol", read.protocol, _KITS, str.upper),
               ("pore type", read.pore_type, _PORES, str)]
    votes = [(source, value, _match(table, case(value))) for source, value, table, case in sources]
    votes = [(s, v, c) for s, v, c in votes if c]
    if read.sample_rate_hz == 5000:
        votes.append(("sample rate", "5000 Hz", R10))
    return votes


def detect_chemistry(read: Read) -> Chemistry:
    """The read's chemistry from its metadata (see the module docstring)."""
    votes = _votes(read)
    evidence = tuple(dict.fromkeys(f"{source} {value}" for source, value, _ in votes))
    names = {chemistry for _, _, chemistry in votes}
    if not names:
        return Chemistry(None, evidence)
    if len(names) > 1:
        return Chemistry("ambiguous", evidence)
    return Chemistry(names.pop(), evidence)
