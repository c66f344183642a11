#!/usr/bin/env bash
# The stages that grew r1041_4khz_crf into r1041_4khz_wide_crf (sessions 23-25), one per call:
#
#   bash benchmarks/train_r1041_wide.sh RUNS STAGE [CORE]
#
# RUNS is the folder that benchmarks/build_training_sets.sh filled; STAGE one of the names
# below; CORE the CPU the single-threaded run is pinned to (default 0). Each stage writes
# RUNS/STAGE, checkpoints every 250 steps and resumes from its last.pt when called again.
# Stages start from the previous one's run folder (or a shipped model), so run them in order:
#   w128      r1041_4khz_crf grown to 128 units and stem channels (session 23, 3,000 steps)
#   w192      w128 grown to 192 units (session 24, 2,500 steps; shipped as r1041_4khz_wide_crf)
#   w192b     control: w192 kept at 192 units, with r1041_simbig_ecoli in the mix (session 24)
#   w256      w192 grown to 256 units, the same mix as w192b (sessions 24-25)
#   w256d     w192 grown to 256 units as w256, with dropout 0.2 (session 25)
# Then: basecaller export RUNS/STAGE/checkpoints/best.pt -o MODEL --calibrate RUNS/r1041_remora_can/valid
set -euo pipefail
RUNS=${1:?usage: train_r1041_wide.sh RUNS STAGE [CORE]}
STAGE=${2:?usage: train_r1041_wide.sh RUNS STAGE [CORE]}
CORE=${3:-0}
cd "$RUNS"

BASE_SETS="r1041_remora_can/train r1041_remora_mod/train r1041_squig r1041_sim_ecoli"
case $STAGE in
  w128)  FROM=r1041_4khz_crf; UNITS=128; DROPOUT=0.1; LR=5e-4; STEPS=3000; SEED=130; SETS=$BASE_SETS; MIX=0.2,0.2,0.3,0.3 ;;
  w192)  FROM=w128; UNITS=192; DROPOUT=0.1; LR=5e-4; STEPS=2500; SEED=140; SETS=$BASE_SETS; MIX=0.2,0.2,0.3,0.3 ;;
  w192b) FROM=w192; UNITS=192; DROPOUT=0.1; LR=3e-4; STEPS=3000; SEED=151; SETS="$BASE_SETS r1041_simbig_ecoli"; MIX=0.2,0.2,0.3,0.1,0.2 ;;
  w256)  FROM=w192; UNITS=256; DROPOUT=0.1; LR=5e-4; STEPS=3000; SEED=150; SETS="$BASE_SETS r1041_simbig_ecoli"; MIX=0.2,0.2,0.3,0.1,0.2 ;;
  w256d) FROM=w192; UNITS=256; DROPOUT=0.2; LR=5e-4; STEPS=3000; SEED=160; SETS="$BASE_SETS r1041_simbig_ecoli"; MIX=0.2,0.2,0.3,0.1,0.2 ;;
  *) echo "train_r1041_wide.sh: unknown stage '$STAGE' (w128, w192, w192b, w256, w256d)" >&2; exit 2 ;;
esac

RESUME=(); [[ -e $STAGE/checkpoints/last.pt ]] && RESUME=(--resume)
# shellcheck disable=SC2086  # SETS is a list of folders
OMP_NUM_THREADS=1 exec taskset -c "$CORE" basecaller train --init-from "$FROM" --hidden-size "$UNITS" \
  --dropout "$DROPOUT" --chunks $SETS --mix "$MIX" --valid r1041_remora_can/valid -o "$STAGE" \
  --lr "$LR" --warmup-steps 100 --steps "$STEPS" --batch-size 16 --ema-decay 0.999 --seed "$SEED" \
  --validate-every 250 --checkpoint-every 250 --threads 1 --quiet "${RESUME[@]}"
