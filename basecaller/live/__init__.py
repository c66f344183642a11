"""Live basecalling: a folder watcher, a prefix caller for adaptive sampling, a readfish
plugin and a playback harness.

Submodules import torch and the readers lazily; import what you need:

- ``basecaller.live.watch``: ``LiveWatcher`` / ``watch_folder`` (what ``basecaller live`` runs)
- ``basecaller.live.prefix``: ``PrefixCaller``, ``SignalChunk``, ``PrefixCall``
- ``basecaller.live.readfish_caller``: ``Caller``, a readfish ``CallerABC`` plugin
- ``basecaller.live.playback``: replay pod5 reads as live chunks or as files written over time
"""
