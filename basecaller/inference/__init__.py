"""Inference: the streaming basecall pipeline (``pipeline``), the whole basecall job
(``job``), its background stages (``stream``) and pseudo-labels made with it (``pseudo_labels``)."""
