#!/usr/bin/env bash
# Evaluate the trained default model and ship it inside the package with its model card and
# originality index. Usage: bash scripts/ship-default.sh [N_SAMPLES]  (after train-default.sh)
# Each step's result is kept in $EVAL; a re-run skips the steps already done.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-100}
DATA=data-out/broad
OLD=data-out/default                # the chorale model's data (chorales read as piano)
OLD_VOICES=data-out/default-voices  # the same pieces read as today (chorales sing), same splits
RUN=${RUN:-runs/broad-from}        # the run whose best/ ships (RUN=... EVAL=... to ship another)
BASE=runs/base-chorale
PREV=${PREV:-runs/prev-default}    # the default model this one replaces (copied before shipping)
EVAL=${EVAL:-runs/broad-eval}
ONLY=${ONLY:-}                      # sampling candidates to try (whole_settings.py --only), or all
M="$RUN/best"
mkdir -p "$EVAL"
[ -f "$PREV/config.json" ] || cp -r src/tuplet/data/default-model "$PREV"
if [ ! -f "$BASE/config.json" ]; then  # the chorale model, as shipped at commit 30a8d9c
  mkdir -p "$BASE"
  for f in config.json model.safetensors energy.json; do
    git show "30a8d9c:src/tuplet/data/default-model/$f" > "$BASE/$f"
  done
fi
bash scripts/default-data.sh  # the three datasets, on the default model's splits
step() { [ -f "$1" ] && echo "have $1" || { echo "making $1"; shift; "$@"; }; }

# per-note NLL: the new model and the chorale model, on the new test split and on the chorale
# model's own test pieces (read both ways)
for model in new old prev; do
  ck=$M; [ $model = old ] && ck=$BASE; [ $model = prev ] && ck=$PREV
  step "$EVAL/nll-$model-broad.json" tuplet evaluate --model "$ck" --data "$DATA" --split test --out "$EVAL/nll-$model-broad.json"
  step "$EVAL/nll-$model-old.json" tuplet evaluate --model "$ck" --data "$OLD" --split test --out "$EVAL/nll-$model-old.json"
  step "$EVAL/nll-$model-old-voices.json" tuplet evaluate --model "$ck" --data "$OLD_VOICES" --split test --out "$EVAL/nll-$model-old-voices.json"
done

# sampling settings, chosen on WHOLE pieces of the VALID split (scripts/whole_settings.py: 64
# whole unconditional pieces per candidate, each whole-piece measure and MMT's three metrics
# against the valid pieces' mean, in units of their SD; the smallest mean distance wins)
step "$EVAL/whole-settings.txt" bash -c "python scripts/whole_settings.py --data '$DATA' \
  --model '$M' --n 16 --seeds 1,2,3,4 ${ONLY:+--only \"$ONLY\"} > '$EVAL/whole-settings.tmp' && \
  mv '$EVAL/whole-settings.tmp' '$EVAL/whole-settings.txt'"
FLAGS=$(sed -n 's/^flags: //p' "$EVAL/whole-settings.txt")
SAMPLING=$(sed -n 's/^json: //p' "$EVAL/whole-settings.txt")
echo "chosen on whole valid pieces: $FLAGS"

# N unconditional samples under those settings against the test split (first 64 beats, as MMT)
step "$EVAL/samples-chosen/sample-001.json" tuplet generate --model "$M" --n "$N" --seed 1 \
  --max-beats 64 $FLAGS --out "$EVAL/samples-chosen" --force --quiet --originality off
step "$EVAL/metrics-chosen/evaluation.json" tuplet evaluate "$EVAL/samples-chosen" \
  --reference "$DATA" --split test --trim 64 --out "$EVAL/metrics-chosen"
# ... and with MMT's own sampler
step "$EVAL/samples-mmt/sample-001.json" tuplet generate --model "$M" --n "$N" --seed 1 --max-beats 64 \
  --top-k-frac 0.1 --out "$EVAL/samples-mmt" --force --quiet --originality off
step "$EVAL/metrics-mmt/evaluation.json" tuplet evaluate "$EVAL/samples-mmt" --reference "$DATA" \
  --split test --trim 64 --out "$EVAL/metrics-mmt"
# the continuation mode's own knobs, laid over those settings, chosen on continuations of the
# VALID split (scripts/continuation_settings.py: 10 rounds; pitch-class entropy and scale
# consistency against another piece's); the test split's continuations are measured after shipping
step "$EVAL/continuation-settings/choice.json" python scripts/continuation_settings.py \
  --data "$DATA" --model "$M" --base "$SAMPLING" --rounds 10 --out "$EVAL/continuation-settings"

# the extraction audit: can it reproduce its training pieces from 1, 2, 4 bars? (drawn with the
# checkpoint's own settings: MMT's top-k 10% here)
step "$EVAL/extraction.json" tuplet audit extraction --model "$M" --data "$DATA" --pieces 20 \
  --out "$EVAL/extraction.json" --quiet
# what it knows, and how it judges prompts: held-out (test) and foreign ones: a drum-heavy
# 10-track pop song (tests/songs.py), a Handel aria arranged for piano, bass, cello, winds and
# drums, flute, clarinet, cello and bass with drums, and random notes on a piano
python - "$EVAL" <<'PY'
import sys
from pathlib import Path
import numpy as np
sys.path.insert(0, "tests")
from songs import write_song
from tuplet.io.midi import write_midi
from tuplet.notes import from_rows
ev = Path(sys.argv[1])
write_song(ev / "foreign-pop-song.mid")
rng = np.random.default_rng(0)
rows = [(int(o), 240, int(p), 80, 0, False, 0)
        for o, p in zip(np.sort(rng.integers(0, 64 * 480, 256)), rng.integers(30, 100, 256))]
write_midi(from_rows(rows, ticks_per_beat=480), ev / "foreign-random-notes.mid")
PY
step "$EVAL/scope.json" tuplet audit scope --model "$M" --data "$DATA" --heldout test --quiet \
  --foreign "$EVAL/foreign-pop-song.mid" tests/data/lascia_chio_pianga.mid \
  tests/data/multitrack_drums.mid "$EVAL/foreign-random-notes.mid" --out "$EVAL/scope.json"

# ship: weights, sampling settings, the silence bound and originality index from the training
# data, the card
python - "$RUN" "$DATA" "$EVAL" "$SAMPLING" "$EVAL/continuation-settings/choice.json" <<'PY'
import json, shutil, sys
from pathlib import Path
import numpy as np
from tuplet.responsibility.card import write_model_card
from tuplet.analysis.evaluate import read_dataset_pieces
from tuplet.responsibility.originality import INDEX_FILE, OriginalityIndex
run, data, ev = map(Path, sys.argv[1:4])
chosen = json.loads(sys.argv[4])
continuation = json.loads(Path(sys.argv[5]).read_text())
nll = json.loads((ev / "nll-new-broad.json").read_text())
metrics = json.loads((ev / "metrics-chosen" / "evaluation.json").read_text())
evaluation = {"held-out test split": {k: v for k, v in nll.items() if isinstance(v, (int, float))}}
for label, name in (("the chorale model's test pieces, read as today", "old-voices"),
                    ("the chorale model's test pieces, read as it was trained (piano)", "old")):
    new = json.loads((ev / f"nll-new-{name}.json").read_text())
    old = json.loads((ev / f"nll-old-{name}.json").read_text())
    evaluation[label] = {"NLL per note, this model": new["nll_per_note_event"],
                         "NLL per note, the chorale model": old["nll_per_note_event"]}
for label, name in (("held-out test split", "broad"),
                    ("the chorale model's test pieces, read as today", "old-voices")):
    prev = json.loads((ev / f"nll-prev-{name}.json").read_text())
    evaluation[label]["NLL per note, the model this one replaced"] = prev["nll_per_note_event"]
table = evaluation.setdefault("unconditional samples vs test split (first 64 beats)", {})
for name in ("pitch_class_entropy", "scale_consistency", "groove_consistency"):
    m = metrics["metrics"][name]
    table[f"{name}: samples mean"] = m["samples_mean"]
    table[f"{name}: test mean"] = m["reference_mean"]
    table[f"{name}: abs. difference"] = m["abs_mean_diff"]
train = read_dataset_pieces(data, "train")
gaps = []
for p in train.pieces:
    on = np.unique(p.onset_ticks) / p.ticks_per_beat
    if len(on) > 1:
        gaps.append(float(np.diff(on).max()))
gap = int(np.ceil(np.percentile(gaps, 95)))  # the longest lets samples fall silent too long
choice = (ev / "whole-settings.txt").read_text().split("| setting |")[1].splitlines()[2:]
sampling = {**chosen,
            "chosen_on": "whole pieces of the validation split (scripts/whole_settings.py: 64 "
            "whole unconditional pieces per candidate; each whole-piece measure and MMT's three "
            "metrics against the valid pieces' mean in units of their SD; mean distances: "
            + "; ".join(f"{r.split('|')[1].strip()} {r.split('|')[2].strip()}" for r in choice
                        if r.startswith("|")) + ")",
            "max_gap_beats": gap,
            "max_gap_beats_from": f"the 95th percentile of the training split's {len(gaps)} "
            f"pieces' longest time between consecutive onsets ({gap} beats; the longest "
            f"{max(gaps):.0f}, the 99th percentile {np.percentile(gaps, 99):.0f})"}
if {k: v for k, v in continuation.items() if k != "chosen_on"}:  # the base may win: no knobs
    sampling["modes"] = {"continuation": continuation}
ship = Path("src/tuplet/data/default-model")
tmp = ship.with_name(ship.name + ".tmp")
shutil.rmtree(tmp, ignore_errors=True)
shutil.copytree(run / "best", tmp)
config = json.loads((tmp / "config.json").read_text())
config["sampling"] = sampling
if "rights_gate" not in config["extra"]:  # the run began before tuplet train checked rights
    from tuplet.responsibility.gate import gate
    config["extra"]["rights_gate"] = gate(
        data, "research", allow_unverified=True,
        reason="public-domain compositions; music21 corpus encodings distributed with "
        "permission (terms recorded in provenance, not verified)",
    ) | {"checked_when": "at shipping: the training run began before tuplet train checked rights"}
(tmp / "config.json").write_text(json.dumps(config, indent=2) + "\n")
config["scope"] = json.loads((ev / "scope.json").read_text())["scope"]
(tmp / "config.json").write_text(json.dumps(config, indent=2) + "\n")
extraction = json.loads((ev / "extraction.json").read_text())
evaluation["extraction audit (continuations of 8 bars reproducing the piece, CS >= 0.9)"] = {
    f"{bars}-bar prompts: {group}": rates[group]
    for bars, rates in extraction["rates"].items() for group in ("train", "heldout", "difference")
}
scope_eval = json.loads((ev / "scope.json").read_text())
evaluation["prompts judged against its scope (first 16 beats)"] = {
    **{f"test pieces: {k}": v for k, v in scope_eval["test"].items()},
    **{f"{Path(f).name}: level": j["level"] for f, j in scope_eval.get("foreign", {}).items()},
}
index = OriginalityIndex.from_pieces(train.names, train.pieces)
index.calibrate()
index.save(tmp / INDEX_FILE)
write_model_card(tmp, data, run_dir=run, evaluation=evaluation, name="tuplet default model")
from tuplet.responsibility.card import write_data_statement
write_data_statement(tmp, data, extraction=extraction, run_dir=run)
shutil.copy(run / "energy.json", tmp / "energy.json")
shutil.copy(run / "loss_curve.png", tmp / "loss_curve.png")
shutil.rmtree(ship, ignore_errors=True)
tmp.rename(ship)
print("shipped", ship, sum(f.stat().st_size for f in ship.iterdir()) // 1024, "KiB;",
      "originality:", index.thresholds.calibrated_on, "; max gap", gap)
PY

# continuations of the test split's pieces by the shipped model, with its continuation settings
step "$EVAL/continuations-test.json" tuplet evaluate --continuations --data "$DATA" --split test \
  --rounds 10 --quiet --out "$EVAL/continuations-test.json"
