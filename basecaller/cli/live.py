"""basecaller live: watch a folder and basecall each signal file once it is complete."""

from __future__ import annotations

NAME = "live"
HELP = "watch a folder tree and basecall new pod5/fast5/slow5 files as they complete"


def add_arguments(parser) -> None:
    parser.add_argument("watch_dir", help="folder to watch (recursively)")
    parser.add_argument("-o", "--output", required=True, dest="out_dir",
                        help="output folder: per-file calls, merged sequencing_summary.tsv, live_journal.jsonl")
    parser.add_argument("--model", default="auto", help="shipped model name or model directory (default: auto)")
    parser.add_argument("--device", default="cpu", help="auto, cpu, cuda or mps (default: cpu)")
    parser.add_argument("--batch-size", type=int, help="windows per batch (default: the model's)")
    parser.add_argument("--threads", type=int, help="CPU model worker threads (default: every core)")
    parser.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16", "fp16"])
    parser.add_argument("--backend", default="auto", choices=["auto", "torch", "onnx", "openvino"],
                        help="CPU inference engine (see basecaller basecall --help)")
    parser.add_argument("--min-samples", type=int, default=200, help="skip reads with fewer samples")
    parser.add_argument("--min-qscore", type=float, default=0.0, help="drop reads with a lower mean qscore")
    parser.add_argument("--format", default="fastq", choices=["fastq", "fastq.gz", "bam"], dest="output_format",
                        help="per-file output format (default: fastq)")
    parser.add_argument("--poll", type=float, default=1.0,
                        help="at most this many seconds between folder scans (default: 1); file-system "
                             "events wake the watcher sooner")
    parser.add_argument("--no-events", action="store_true",
                        help="poll only, no file-system events (e.g. where inotify is unreliable)")
    parser.add_argument("--settle", type=float, default=2.0,
                        help="a file must be unchanged this many seconds before it is called (default: 2)")
    parser.add_argument("--idle-timeout", type=float, help="stop after this many seconds without new files")
    parser.add_argument("--stop-file", help="stop (after calling the files complete by then) once this file exists")
    parser.add_argument("--ignore-chemistry", action="store_true", help="basecall reads of another chemistry")
    parser.add_argument("--no-progress", action="store_true", help="no progress lines")


def run(args) -> int:
    import signal

    from basecaller.live.watch import LiveOptions, LiveWatcher

    options = LiveOptions(
        watch_dir=args.watch_dir, out_dir=args.out_dir, model=args.model, device=args.device,
        batch_size=args.batch_size, threads=args.threads, precision=args.precision, backend=args.backend, min_samples=args.min_samples,
        min_qscore=args.min_qscore, output_format=args.output_format, poll_interval_s=args.poll,
        settle_s=args.settle, idle_timeout_s=args.idle_timeout, stop_file=args.stop_file,
        check_chemistry=not args.ignore_chemistry, progress=not args.no_progress, events=not args.no_events)
    watcher = LiveWatcher(options)

    def on_signal(signum, _frame):
        if watcher._stop.is_set():  # a second signal: stop now
            raise KeyboardInterrupt
        watcher.request_stop(abort_current=True)

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, on_signal)
    report = watcher.run()
    print(report.line())
    return 0
