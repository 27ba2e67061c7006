#!/usr/bin/env bash
# MMT as published (absolute positions, independent field heads, MMT's loss counting padding and
# undefined fields) trained with exactly the default model's data, options and budget: the
# same-budget comparison in docs/results.md. Resumable.
# Usage: bash scripts/baseline-default.sh [STEPS]   (the default model's run: 600 steps)
set -euo pipefail
cd "$(dirname "$0")/.."
STEPS=${1:-600}
DATA=data-out/default
OUT=runs/default-mmt
[ -f "$DATA/dataset.json" ] || tuplet data prepare music21:bach music21:monteverdi music21:trecento \
  --out "$DATA" --encoding tuplet --quiet
# The rights gate refuses the music21 corpus (its encodings' basis is unknown): go on, saying why
# (the reason goes into every checkpoint and the model card; resuming a run started before the
# gate needs it too, and a run started with it keeps it)
RIGHTS=(--allow-unverified --reason "public-domain compositions; music21 corpus encodings distributed with permission (terms recorded in provenance, not verified)")
if [ -f "$OUT/last/config.json" ]; then
  tuplet train "$DATA" --out "$OUT" --resume --quiet "${RIGHTS[@]}"
else
  tuplet train "$DATA" --out "$OUT" --preset small --position absolute --cascade off \
    --clean-loss off --steps "$STEPS" --batch-size 8 --max-seq-len 512 --lr 5e-4 \
    --warmup-steps 100 --decay-steps "$STEPS" --valid-every 50 --valid-batches 3 --early-stop 6 \
    --fim-rate 0.25 --seed 0 --quiet "${RIGHTS[@]}"
fi
tuplet evaluate --model "$OUT/best" --data "$DATA" --split test --out "$OUT/nll-test.json"
