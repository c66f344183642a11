#!/usr/bin/env bash
# Rebuild the R9.4(.1) chunk sets that the shipped models were trained and validated on
# (README, "Shipped models and accuracy"), from ../shared/data, into one folder.
#
#   bash benchmarks/build_training_sets.sh /work/runs      # about 20 s on one core
#
# Held out everywhere: Lambda_NEB:14000-26000 and NC_000913.3:514000-531000 (the simulated
# E. coli reads keep off a wider 505-540 kb window). Each step is skipped when its output exists,
# so an interrupted build resumes.
set -euo pipefail
OUT=${1:?usage: build_training_sets.sh OUTDIR}
DATA=${DATA:-$(cd "$(dirname "$0")/../.." && pwd)/shared/data}
LAMBDA_HOLDOUT=Lambda_NEB:14000-26000
ECOLI_HOLDOUT=NC_000913.3:514000-531000
CHUNKS=(--chunk-len 3600 --step 1800)
mkdir -p "$OUT"

step() {  # step OUTPUT COMMAND...: run COMMAND unless OUTPUT already exists
    local target=$1; shift
    if [[ -e $target ]]; then echo "have $target"; return; fi
    echo "building $target"; "$@"
}

step "$OUT/lambda" basecaller chunks "$DATA/r941_lambda_tombo/fast5" --source tombo \
    -o "$OUT/lambda" "${CHUNKS[@]}" --holdout "$LAMBDA_HOLDOUT"
step "$OUT/ecoli_f5c" basecaller chunks "$DATA/r94_ecoli_f5c/mapped_signal_nanopolish.hdf5" \
    --source taiyaki -o "$OUT/ecoli_f5c" "${CHUNKS[@]}" --holdout "$ECOLI_HOLDOUT"
# Session 21: the same lambda and E. coli reads 1.25x slower (the CRF models drop more bases on slow reads)
step "$OUT/lambda_x125" basecaller chunks "$DATA/r941_lambda_tombo/fast5" --source tombo \
    -o "$OUT/lambda_x125" "${CHUNKS[@]}" --holdout "$LAMBDA_HOLDOUT" --time-stretch 1.25
step "$OUT/ecoli_x125" basecaller chunks "$DATA/r94_ecoli_f5c/mapped_signal_nanopolish.hdf5" \
    --source taiyaki -o "$OUT/ecoli_x125" "${CHUNKS[@]}" --holdout "$ECOLI_HOLDOUT" --time-stretch 1.25
step "$OUT/meteore" basecaller chunks "$DATA/r9_ecoli_meteore_tombo/fast5" --source tombo \
    -o "$OUT/meteore" "${CHUNKS[@]}"
# simulated_set READS CHUNKS FASTA N EXCLUDE SEED: N fitted-simulator R9.4.1 reads of FASTA, kept off
# EXCLUDE, into OUT/sim/READS, then cut into chunks in OUT/CHUNKS
simulated_set() {
    step "$OUT/sim/$1" basecaller simulate --fasta "$3" -n "$4" --exclude "$5" --seed "$6" -o "$OUT/sim/$1"
    step "$OUT/$2" basecaller chunks "$OUT/sim/$1" --source simulated -o "$OUT/$2" "${CHUNKS[@]}"
}
ECOLI=$DATA/references/ecoli_k12_mg1655.fna.gz
LAMBDA=$DATA/r941_lambda_tombo/Lambda_phage.fna
simulated_set ecoli simfit_ecoli "$ECOLI" 800 NC_000913.3:505000-540000 11
simulated_set lambda simfit_lambda "$LAMBDA" 200 "$LAMBDA_HOLDOUT" 12
# Session 13's larger simulated sets (the from-scratch CRF runs, README "Session 13"): 3,000 E. coli
# and 600 lambda reads, off the same held-out windows.
simulated_set ecoli_big simbig_ecoli "$ECOLI" 3000 NC_000913.3:505000-540000 21
simulated_set lambda_big simbig_lambda "$LAMBDA" 600 "$LAMBDA_HOLDOUT" 22
# Session 22: recombined reads (basecaller chunks --recombine): real signal spliced into new sequences, held-out intervals kept out
step "$OUT/lambda_recomb" basecaller chunks "$DATA/r941_lambda_tombo/fast5" --source tombo \
    -o "$OUT/lambda_recomb" "${CHUNKS[@]}" --holdout "$LAMBDA_HOLDOUT" --recombine 400 --seed 6
step "$OUT/ecoli_recomb" basecaller chunks "$DATA/r94_ecoli_f5c/mapped_signal_nanopolish.hdf5" \
    --source taiyaki -o "$OUT/ecoli_recomb" "${CHUNKS[@]}" --holdout "$ECOLI_HOLDOUT" --recombine 400 --seed 7
echo "R9.4 chunk sets in $OUT: lambda/{train,valid} ecoli_f5c/{train,valid} lambda_x125 ecoli_x125 meteore simfit_ecoli simfit_lambda simbig_ecoli simbig_lambda lambda_recomb ecoli_recomb"

# R10.4.1 (4 kHz), cut every 500 samples as the last stages of r1041_4khz_fast: the 28 remora reads
# (hg38 labels from the BAMs' MD tags) outside chr13:52314000-52318100, the 27 squigualiser reads
# pseudo-labelled by their FASTQ calls, and the fitted R10.4.1 simulator's E. coli reads.
R10=(--chunk-len 3600 --step 500)
REMORA=$DATA/r1041_remora_4khz
for kind in can mod; do
    step "$OUT/r1041_remora_$kind" basecaller chunks "$REMORA/${kind}_reads.pod5" --source bam \
        --bam "$REMORA/${kind}_mappings.bam" -o "$OUT/r1041_remora_$kind" "${R10[@]}" \
        --holdout chr13:52314000-52318100
done
# Session 22: 300 recombined reads of each (real signal, new sequence: the reads all cover one locus)
for kind in can mod; do
    step "$OUT/r1041_recomb_$kind" basecaller chunks "$REMORA/${kind}_reads.pod5" --source bam \
        --bam "$REMORA/${kind}_mappings.bam" -o "$OUT/r1041_recomb_$kind" "${R10[@]}" \
        --holdout chr13:52314000-52318100 --recombine 300 --junction-bases 8 --seed 5
done
step "$OUT/r1041_squig" basecaller chunks "$DATA/r1041_squigualiser_blow5/reads.blow5" --source pseudo \
    --labels "$DATA/r1041_squigualiser_blow5/reads.fastq" --model r1041_4khz_fast -o "$OUT/r1041_squig" "${R10[@]}"
step "$OUT/sim/r1041_ecoli" basecaller simulate --fasta "$DATA/references/ecoli_k12_mg1655.fna.gz" \
    --chemistry r10.4.1 -n 400 --exclude NC_000913.3:505000-540000 --seed 13 -o "$OUT/sim/r1041_ecoli"
step "$OUT/r1041_sim_ecoli" basecaller chunks "$OUT/sim/r1041_ecoli" --source simulated \
    -o "$OUT/r1041_sim_ecoli" "${R10[@]}"
# 3,000 more simulated R10.4.1 E. coli reads (another seed), for the wider encoders of session 24
step "$OUT/sim/r1041_ecoli_big" basecaller simulate --fasta "$DATA/references/ecoli_k12_mg1655.fna.gz" \
    --chemistry r10.4.1 -n 3000 --exclude NC_000913.3:505000-540000 --seed 14 -o "$OUT/sim/r1041_ecoli_big"
step "$OUT/r1041_simbig_ecoli" basecaller chunks "$OUT/sim/r1041_ecoli_big" --source simulated \
    -o "$OUT/r1041_simbig_ecoli" "${R10[@]}"
echo "R10.4.1 chunk sets in $OUT: r1041_remora_{can,mod}/{train,valid} r1041_recomb_{can,mod} r1041_squig r1041_sim_ecoli r1041_simbig_ecoli"
