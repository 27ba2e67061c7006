"""Does the extraction audit catch a model that copies? A deliberately overfitted one.

    python scripts/overfit_audit.py [--out runs/overfit] [--steps 400]

Copies ten Bach chorales of music21's corpus into OUT/src, prepares them with five held out
(the test split, pinned with ``splits_from``), trains a small model (2 layers, d 128) for
``--steps`` steps on the other five with no dropout and no augmentation, so that it learns them
by heart, and runs ``tuplet audit extraction`` on it (1-, 2- and 4-bar prompts, 8 bars
continued). docs/responsibility.md compares the figures with the shipped model's.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

from tuplet.responsibility.audit import audit_extraction
from tuplet.corpus import prepare
from tuplet.generation.generate import load_model
from tuplet.io.score import music21_corpus_paths
from tuplet.training.train import TrainConfig, train


def main() -> None:
    """Prepare, overfit, audit."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default="runs/overfit")
    ap.add_argument("--steps", type=int, default=400)
    args = ap.parse_args()
    out = Path(args.out)
    shutil.rmtree(out, ignore_errors=True)
    src = out / "src"
    src.mkdir(parents=True)
    files = music21_corpus_paths("bach")[20:30]
    for f in files:
        shutil.copy(f, src / f.name)
    common = {"jobs": 1, "progress": False, "rights": "public_domain", "filters": None}
    prepare([str(src / f.name) for f in files[5:]], out / "held", split=(0.0, 0.0, 1.0), **common)
    prepare([src], out / "data", split=(1.0, 0.0, 0.0), splits_from=out / "held", **common)
    config = TrainConfig(
        preset="tiny", model_overrides={"dropout": 0.0, "d_model": 128, "n_head": 4},
        steps=args.steps, batch_size=5, lr=2e-3, warmup_steps=20, decay_steps=args.steps,
        valid_every=100, max_seq_len=512, max_beat=256, augment=False, fim_rate=0.0, seed=0,
    )  # fmt: skip
    train(out / "data", out / "run", config, progress=False)
    lm = load_model(out / "run" / "last")
    result = audit_extraction(lm, out / "data", n_pieces=5, heldout_split="test")
    print(result.table())
    (out / "extraction.json").write_text(json.dumps(result.to_dict(), indent=2) + "\n")


if __name__ == "__main__":
    main()
