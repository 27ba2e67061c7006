#!/usr/bin/env bash
# The same training budget for MMT-as-published and for each of tuplet's improvements, on the
# bundled Bach chorales in the mmt encoding; results in docs/results.md.
# Usage: bash scripts/ablation.sh [STEPS]   (resumable: finished runs are skipped)
# Each run's per-note NLL on the test split goes to runs/ablation/NAME/nll-test.json.
set -euo pipefail
cd "$(dirname "$0")/.."
STEPS=${1:-300}
DATA=data-out/bach-mmt
[ -d "$DATA" ] || tuplet data prepare music21:bach --out "$DATA" --encoding mmt --quiet
common=(--preset small --steps "$STEPS" --batch-size 8 --max-seq-len 512 --lr 5e-4
        --warmup-steps 50 --decay-steps "$STEPS" --valid-every 100 --early-stop 0 --seed 0 --quiet)
# The rights gate refuses the music21 corpus (its encodings' basis is unknown): go on, saying why
# (the reason goes into every checkpoint and the model card; resuming a run started before the
# gate needs it too, and a run started with it keeps it)
RIGHTS=(--allow-unverified --reason "public-domain compositions; music21 corpus encodings distributed with permission (terms recorded in provenance, not verified)")
run() {  # name, model options...
  local name=$1; shift
  local out=runs/ablation/$name
  if [ -f "$out/last/config.json" ]; then
    tuplet train "$DATA" --out "$out" --resume --quiet "${RIGHTS[@]}"  # a finished run returns at once
  else
    tuplet train "$DATA" --out "$out" "${common[@]}" "${RIGHTS[@]}" "$@"
  fi
}
run mmt-published   --position absolute     --cascade off --clean-loss off
run clean-loss      --position absolute     --cascade off --clean-loss on
run cascade         --position absolute     --cascade on  --clean-loss on
run onset-rotary    --position onset-rotary --cascade on  --clean-loss on
run hybrid-rotary   --position hybrid-rotary --cascade on --clean-loss on
for name in mmt-published clean-loss cascade onset-rotary hybrid-rotary; do
  out=runs/ablation/$name
  [ -f "$out/nll-test.json" ] || tuplet evaluate --model "$out/best" --data "$DATA" --split test \
    --out "$out/nll-test.json" > /dev/null
  python -c "import json,sys; r=json.load(open(sys.argv[1])); print(f'{sys.argv[2]:<15} test NLL/note event {r[\"nll_per_note_event\"]:.4f}  per event {r[\"nll_per_event\"]:.4f}')" \
    "$out/nll-test.json" "$name"
done
