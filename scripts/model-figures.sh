#!/usr/bin/env bash
# The figures docs/default-model.md gives for a candidate default model, beyond what
# scripts/ship-default.sh writes: instruments asked for with the range rule off, whole pieces,
# continuations, per-note NLL on the test split. Every file is kept in OUT; a re-run skips the
# files already there. Usage: bash scripts/model-figures.sh MODEL OUT [SEEDS]
#   MODEL: a checkpoint folder with its sampling settings (e.g. src/tuplet/data/default-model)
set -euo pipefail
cd "$(dirname "$0")/.."
M=${1:?usage: model-figures.sh MODEL OUT [SEEDS]}
OUT=${2:?usage: model-figures.sh MODEL OUT [SEEDS]}
SEEDS=${3:-1 2 3}
DATA=data-out/broad
mkdir -p "$OUT"
step() { [ -s "$1" ] && echo "have $1" || { echo "making $1"; f=$1; shift; "$@" > "$f.tmp" && mv "$f.tmp" "$f"; }; }

step "$OUT/nll-test.txt" tuplet evaluate --model "$M" --data "$DATA" --split test --out "$OUT/nll-test.json"
for seed in $SEEDS; do
  for ensemble in violin,viola,cello flute,oboe,clarinet,bassoon; do
    step "$OUT/range-$ensemble-$seed.txt" python scripts/whole_pieces.py --data "$DATA" --model "$M" \
      --n 16 --seed "$seed" --instruments "$ensemble" --rules-off range --range-detail
  done
  step "$OUT/whole-$seed.txt" python scripts/whole_pieces.py --data "$DATA" --model "$M" --n 32 --seed "$seed"
  step "$OUT/cont-$((seed - 1)).txt" tuplet evaluate --continuations --model "$M" --data "$DATA" \
    --split test --seed "$((seed - 1))" --quiet --out "$OUT/cont-$((seed - 1)).json"
done
for voices in choir piano; do
  step "$OUT/range-$voices-1.txt" python scripts/whole_pieces.py --data "$DATA" --model "$M" \
    --n 16 --seed 1 --instruments "$voices" --rules-off range --range-detail
done
step "$OUT/whole-off-1.txt" python scripts/whole_pieces.py --data "$DATA" --model "$M" --n 32 \
  --seed 1 --rules-off range,polyphony,drums,gap

# one line per file: the share of each program's notes in its range
grep -H "in range, per program" "$OUT"/range-*.txt | sed "s|$OUT/||"
grep -H "longest_gap_beats" "$OUT"/whole-*.txt | sed "s|$OUT/||"
grep -H -A2 "^pitch_class_entropy\|^metric" "$OUT"/cont-*.txt | grep -v "^--" | sed "s|$OUT/||"
