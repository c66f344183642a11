"""Kept for old imports: ``CalledRead`` lives in ``basecaller.io.records``."""

from basecaller.io.records import CalledRead

__all__ = ["CalledRead"]
