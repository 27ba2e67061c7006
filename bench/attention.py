"""Speed of the musical self-attention analysis: 100 sequences of 1024 events, mmt-paper model.

Random weights (the speed does not depend on training), the MMT encoding with max_beat 256, and
synthetic sequences shaped like MMT data (start-of-song, instrument rows, start-of-notes,
about four notes per beat sorted as the encoder sorts them, end-of-song). Prints the machine,
the whole analysis (every layer, head and default field), and where the time goes: the forward
pass that returns the attention weights, the same pass without them, and the counting.

    python bench/attention.py                 # 100 sequences, one at a time
    python bench/attention.py --n 20 --batch-size 2
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch

from machine import cpu_model
from tuplet.analysis.attention import analyze_attention, default_fields, gamma_from_maps
from tuplet.encoding import get_encoding
from tuplet.model.transformer import MusicTransformer, preset

ENCODING = get_encoding("mmt", max_beat=256)


def load() -> str:
    try:
        return " ".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        return "?"


def sequence(rng: np.random.Generator, length: int) -> np.ndarray:
    """One MMT-shaped sequence of exactly ``length`` rows."""
    types = ENCODING.type_codes
    instruments = np.sort(rng.choice(np.arange(1, 65), size=4, replace=False))
    n_notes = length - 3 - len(instruments)
    beat = np.sort(rng.integers(0, 256, size=n_notes))
    notes = np.stack(
        [
            np.full(n_notes, types["note"]),
            beat + 1,
            rng.choice([1, 1, 1, 4, 7, 10], size=n_notes),
            rng.integers(36, 85, size=n_notes) + 1,
            rng.integers(1, 33, size=n_notes),
            rng.choice(instruments, size=n_notes),
        ],
        axis=1,
    )
    notes = notes[np.lexsort(notes[:, ::-1].T)]
    head = np.zeros((2 + len(instruments), 6), dtype=np.int64)
    head[1:-1, 0], head[1:-1, 5] = types["instrument"], instruments
    head[-1, 0] = types["start-of-notes"]
    end = np.zeros((1, 6), dtype=np.int64)
    end[0, 0] = types["end-of-song"]
    return np.concatenate([head, notes, end]).astype(np.int64)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100, help="sequences")
    parser.add_argument("--events", type=int, default=1024)
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    torch.manual_seed(0)
    config = preset("mmt-paper", ENCODING.fields, ENCODING.vocab_sizes)
    model = MusicTransformer(config).eval()
    rng = np.random.default_rng(0)
    seqs = [sequence(rng, args.events) for _ in range(args.n)]
    print(f"machine: {cpu_model()}, {os.cpu_count()} cores, torch {torch.__version__} "
          f"({torch.get_num_threads()} threads), load average {load()}")  # fmt: skip
    print(f"model: mmt-paper, {model.num_parameters():,} parameters, random weights; "
          f"{args.n} sequences x {args.events} events, batches of {args.batch_size}; "
          f"fields {', '.join(default_fields(ENCODING))}")  # fmt: skip

    start = time.perf_counter()
    stats = analyze_attention(model, seqs, ENCODING, batch_size=args.batch_size)
    total = time.perf_counter() - start
    assert stats.n_sequences == args.n
    print(f"analysis: {total:.1f} s, {args.n / total:.2f} sequences/s "
          f"({total / args.n:.2f} s per sequence)")  # fmt: skip

    # where the time goes, on one batch
    batch = torch.as_tensor(np.stack(seqs[: args.batch_size]))
    with torch.inference_mode():
        model.hidden(batch)  # warm-up
        t0 = time.perf_counter()
        model.hidden(batch)
        t1 = time.perf_counter()
        _, maps = model.hidden(batch, return_attention=True)
        t2 = time.perf_counter()
        gamma_from_maps(maps, batch, ENCODING)
        t3 = time.perf_counter()
    b = len(batch)
    print(f"per sequence: forward without weights {(t1 - t0) / b:.2f} s, "
          f"forward returning weights {(t2 - t1) / b:.2f} s, "
          f"counting {(t3 - t2) / b:.2f} s; load average {load()}")  # fmt: skip


if __name__ == "__main__":
    main()
