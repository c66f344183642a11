"""basecaller basecall: raw signal files in, reads out (FASTQ, SAM or BAM)."""

from __future__ import annotations

import argparse

NAME = "basecall"
HELP = "basecall pod5/fast5/slow5 files or folders to FASTQ(.gz), SAM or BAM"


def add_arguments(parser) -> None:
    parser.add_argument("inputs", nargs="+", help="signal files or folders (any mix of formats)")
    parser.add_argument("-o", "--output", required=True, help="output .fastq, .fastq.gz, .sam or .bam")
    parser.add_argument("--model", default="auto",
                        help="shipped model name or model directory; auto picks by chemistry and sample rate")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or mps")
    parser.add_argument("--batch-size", type=int, help="windows per batch (default: the model's)")
    parser.add_argument("--window", type=int, help="inference window length in samples (default: the model's)")
    parser.add_argument("--chunk-size", type=int, dest="window", help=argparse.SUPPRESS)  # the old name of --window
    parser.add_argument("--overlap", type=int, help="window overlap in samples (default: the model's)")
    parser.add_argument("--beam", type=int, default=0, help="beam width (0 = greedy or, for CRF models, Viterbi: the default; "
                             "a CRF model's beam is at least 32 wide)")
    parser.add_argument("--move-bias", type=float, metavar="B",
                        help="add B to every base-emitting score before decoding (CRF: moves; CTC: taken off the "
                             "blank); > 0 calls more bases. Default: the model's own (config.toml [basecall])")
    parser.add_argument("--read-ids", help="text file of read ids to basecall")
    parser.add_argument("--min-qscore", type=float, default=0.0, help="drop reads with a lower mean qscore")
    parser.add_argument("--min-samples", type=int, default=200, help="skip reads with fewer samples")
    parser.add_argument("--emit-moves", action="store_true", help="write the move table (mv tag) to SAM/BAM")
    parser.add_argument("--summary", help="sequencing summary TSV (default: OUTPUT.summary.tsv)")
    parser.add_argument("--no-summary", action="store_true", help="do not write a sequencing summary")
    parser.add_argument("--resume", action="store_true", help="keep reads already in OUTPUT and skip them")
    parser.add_argument("--int8", action="store_true", help="int8 dynamic quantisation on CPU")
    parser.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16", "fp16"],
                        help="model arithmetic: auto = fp16 on CUDA, bf16 on CPUs with native bf16 "
                             "(AVX512-BF16/AMX), else fp32")
    parser.add_argument("--backend", default="auto", choices=["auto", "torch", "onnx", "openvino"],
                        help="CPU inference engine: auto = OpenVINO on a CPU where it is installed (bf16 on CPUs "
                             "with bf16 units, else fp32; it then runs without importing torch), else ONNX Runtime "
                             "where torch would run fp32, else torch")
    parser.add_argument("--threads", type=int,
                        help="CPU: model worker threads, one core each (default: every core); GPU: torch CPU threads")
    parser.add_argument("--ignore-chemistry", action="store_true", help="basecall reads of another chemistry")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args) -> int:
    import sys

    from basecaller.inference.job import BasecallRequest, basecall_files

    request = BasecallRequest(
        inputs=args.inputs, output=args.output, model=args.model, device=args.device, batch_size=args.batch_size,
        window=args.window, overlap=args.overlap, beam_size=args.beam, move_bias=args.move_bias,
        read_ids_file=args.read_ids,
        min_qscore=args.min_qscore, min_samples=args.min_samples, emit_moves=args.emit_moves,
        summary=None if args.no_summary else (args.summary or f"{args.output}.summary.tsv"), resume=args.resume,
        int8=args.int8, precision=args.precision, backend=args.backend, threads=args.threads, check_chemistry=not args.ignore_chemistry,
        progress=not args.no_progress)
    report = basecall_files(request)
    print(report.line())
    if report.reads_written or report.reads_already_done:
        return 0
    print(f"basecaller basecall: error: no read was basecalled ({report.skips.summary()}); the outputs are "
          "empty", file=sys.stderr)
    return 2
