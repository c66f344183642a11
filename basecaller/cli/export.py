"""basecaller export: turn a training checkpoint into a model directory."""

from __future__ import annotations

NAME = "export"
HELP = "write a model directory (config.toml + weights.pt) from a training checkpoint"


def add_arguments(parser) -> None:
    parser.add_argument("checkpoint", help="a checkpoint written by basecaller train (last.pt or best.pt)")
    parser.add_argument("-o", "--output", required=True, help="model directory to write")
    parser.add_argument("--config", help="config.toml of the run (default: beside the checkpoint's run)")
    parser.add_argument("--preset", default="fast")
    parser.add_argument("--chemistry", default="r9.4.1", choices=["r9.4.1", "r10.4.1"])
    parser.add_argument("--sample-rate", type=int, default=4000)
    parser.add_argument("--calibrate", metavar="VALID_CHUNKS",
                        help="fit the qscore calibration on this chunk dataset (held-out chunks)")
    parser.add_argument("--move-bias", type=float, metavar="B",
                        help="decode this model with move bias B (config.toml [basecall] move_bias; before "
                             "--calibrate, so the qscores are fitted on the biased calls)")
    parser.add_argument("--note", action="append", default=[], metavar="KEY=VALUE",
                        help="provenance to record under [training] (repeatable)")


def run(args) -> int:
    from pathlib import Path

    from basecaller.models.config import ModelConfig, preset
    from basecaller.training.basecaller import export_checkpoint

    run_config = Path(args.checkpoint).parent / "config.toml"
    if args.config:
        config = ModelConfig.load(args.config)
    elif run_config.exists():
        config = ModelConfig.load(run_config)
    else:
        config = preset(args.preset, args.chemistry, args.sample_rate)
    if args.move_bias is not None:
        config.move_bias = args.move_bias
    notes = dict(item.split("=", 1) for item in args.note)
    model = export_checkpoint(args.checkpoint, config, args.output, notes, calibrate_on=args.calibrate)
    print(f"wrote {args.output} (step {model.config.training.get('steps')})")
    return 0
