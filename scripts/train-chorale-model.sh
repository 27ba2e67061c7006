#!/usr/bin/env bash
# Train the chorale model: the default model shipped until 2026-12-02, and the base the broad
# default model was fine-tuned from (scripts/train-default.sh; docs/default-model.md).
# Usage: bash scripts/train-chorale-model.sh [STEPS] [POSITION]
# Re-run to resume after a stop; a larger STEPS extends a run that finished (a warm restart).
set -euo pipefail
cd "$(dirname "$0")/.."
STEPS=${1:-600}
POSITION=${2:-hybrid-rotary}
DATA=data-out/default
OUT=runs/default
# Only material whose terms allow it: the music21 corpus's Bach chorales, Monteverdi madrigals
# and trecento pieces (public-domain compositions; encodings distributed with music21 by
# permission). Palestrina is left out: its files reserve the rights to derivative formats.
# The Essen folk songs are left out: non-commercial, legal status unclear.
[ -f "$DATA/dataset.json" ] || tuplet data prepare music21:bach music21:monteverdi music21:trecento \
  --out "$DATA" --encoding tuplet --quiet
# The rights gate refuses the music21 corpus (its encodings' basis is unknown): go on, saying why
# (the reason goes into every checkpoint and the model card; resuming a run started before the
# gate needs it too, and a run started with it keeps it)
RIGHTS=(--allow-unverified --reason "public-domain compositions; music21 corpus encodings distributed with permission (terms recorded in provenance, not verified)")
if [ -f "$OUT/last/config.json" ]; then
  tuplet train "$DATA" --out "$OUT" --resume --steps "$STEPS" "${RIGHTS[@]}"
else
  tuplet train "$DATA" --out "$OUT" --preset small --position "$POSITION" --cascade on \
    --clean-loss on --steps "$STEPS" --batch-size 8 --max-seq-len 512 --lr 5e-4 \
    --warmup-steps 100 --decay-steps "$STEPS" --valid-every 50 --valid-batches 3 --early-stop 6 \
    --fim-rate 0.25 --seed 0 "${RIGHTS[@]}"
fi
