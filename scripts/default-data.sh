#!/usr/bin/env bash
# Prepare the default model's datasets with the splits it was trained and tested on.
# Usage: bash scripts/default-data.sh   (train-default.sh and ship-default.sh call it)
#
# An item's split is a function of its content hash, and the hash of its codes. The chorale
# model's dataset was prepared when chorale voices were still read as piano, so its splits
# come from that reading: data-out/default is prepared by the code of that time (commit
# 30a8d9c, run from a temporary git worktree), and every later dataset takes its splits from
# it (--splits-from). Prepared with today's code instead, the chorales would hash differently
# and land in other splits: the shipped model's training pieces would be tested on.
set -euo pipefail
cd "$(dirname "$0")/.."
OLD=data-out/default                # the chorale model's data (chorales read as piano)
OLD_VOICES=data-out/default-voices  # the same pieces read as today (chorales sing), same splits
DATA=data-out/broad                 # the default model's data
CHORALE_COMMIT=30a8d9c              # the chorale model, as shipped
# Sources: composers dead more than 100 years (public domain everywhere, Mexico's life + 100
# included) and anonymous medieval and Renaissance music. Left out: Palestrina (its files
# reserve the rights to derivative formats), the Essen folk songs (non-commercial, legal status
# unclear), the folk-tune collections (one line, not multi-voice: O'Neill, Ryan, Aird,
# Nottingham, miscFolk), the lead sheets (Irving Berlin, d. 1989), Amy Beach (d. 1944),
# J. Rosamond Johnson (d. 1954), Schoenberg (d. 1951), Webern (d. 1945), music21's demos.
SOURCES=(bach monteverdi trecento beethoven mozart haydn schumann josquin corelli chopin cpebach
         handel joplin schubert verdi weber liliuokalani ciconia luca lusitano)
if [ ! -f "$OLD/dataset.json" ]; then
  tree=$(mktemp -d)
  trap 'git worktree remove --force "$tree" 2>/dev/null || rm -rf "$tree"' EXIT
  git worktree add --detach --force "$tree" "$CHORALE_COMMIT" -q
  PYTHONPATH="$tree/src" python -m tuplet data prepare music21:bach music21:monteverdi \
    music21:trecento --out "$OLD" --encoding tuplet --quiet
fi
[ -f "$OLD_VOICES/dataset.json" ] || tuplet data prepare music21:bach music21:monteverdi \
  music21:trecento --out "$OLD_VOICES" --encoding tuplet --splits-from "$OLD" --quiet
[ -f "$DATA/dataset.json" ] || tuplet data prepare "${SOURCES[@]/#/music21:}" --out "$DATA" \
  --encoding tuplet --splits-from "$OLD" --quiet
# the splits the default model's figures are on (docs/default-model.md)
python - "$OLD" "$DATA" <<'PY'
import json, sys
from collections import Counter
for folder, want in zip(sys.argv[1:], ({"train": 467, "valid": 18, "test": 28},
                                       {"train": 547, "valid": 28, "test": 36})):
    got = Counter(json.loads(line)["split"] for line in open(f"{folder}/index.jsonl"))
    if dict(got) != want:
        sys.exit(f"{folder}: splits {dict(got)}, not the default model's {want}")
PY
