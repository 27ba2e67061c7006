"""How original a piece is against a corpus: cardinality scores and verbatim runs.

The measures (REFERENCE.md section 6; Yin, Reuben, Stepney and Collins):

* **cardinality score** of two note point sets (onset, pitch):
  ``CS(P, Q) = max_t |{p in P : p + t in Q}| / max(|P|, |Q|)``, the translations ``t`` moving
  in time and pitch, so an excerpt copied elsewhere or transposed still counts. A piece is cut
  into 16-beat windows (hop 8); each window's notes ``P`` are scored against the corpus, where
  ``Q`` is the passage of a training piece over the same span of time that the translation
  lands on (so training passages are taken at every offset, not only on a hop-8 grid, and a
  copy is found whole wherever it starts); ``originality = 1 - mean over windows of the
  window's best CS``;
* **verbatim run**: the longest run of notes whose (pitch interval, onset ratio) tokens equal a
  run in the corpus (of each piece's top line, the highest note at each onset), so a melody
  quoted in another key and tempo counts.

Searching every translation against every training note would be a scan of the whole corpus
per window. Instead, :class:`OriginalityIndex` hashes each note with its next two notes (their
time and pitch intervals: a shape that moves with the music), looks a window's shapes up, lets
each hit vote for a (training piece, translation), and verifies the best-voted translations
exactly. A window copied from the corpus is found (its shapes all vote for one translation);
for weak resemblances (CS well under 0.3) the score found can be below the true maximum.

Onsets are rounded to :data:`GRID` steps per beat, drums left out (a rhythm is no melody).
The index holds the corpus's point sets only and is saved as a plain ``.npz`` (no pickles).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tuplet.errors import BadFileError, TupletError
from tuplet.notes import Notes

GRID = 12
"""Onset steps per beat of the point sets (quarter-note triplets and sixteenths are exact)."""
WINDOW_BEATS = 16
HOP_BEATS = 8
MIN_WINDOW_NOTES = 4
"""A window with fewer notes is not scored (too few to tell copying from chance)."""
SHAPE_SUCCESSORS = 3
"""Each note's shapes pair it with two of its next this many notes."""
SHAPE_MAX_BEATS = 4
"""A shape spans at most this many beats."""
MAX_SHAPE_HITS = 2000
"""A shape found more often than this in the corpus (a repeated chord, a scale step) casts no
votes: it would cost the most time and point nowhere (bench/originality.py: scoring a 64-beat
piece against the default corpus takes 48 ms with this cap, 120 ms without; on a corpus ten
times larger, 39 ms against 1.3 s; the window scores found are then 0.017 below the exact best
on average, equal in 72% of windows)."""
CANDIDATES = 32
"""Best-voted translations verified exactly per window."""
KGRAM = 5
"""Verbatim runs are found from runs of this many equal tokens."""
INDEX_FILE = "originality.npz"

_T = np.int64


@dataclass
class WindowScore:
    """The best match of one window of a piece.

    Attributes:
        start_beat: Where the window starts in the piece scored.
        notes: Its notes.
        cs: Its best cardinality score against the corpus.
        piece, at_beat, transpose: The best match: the corpus piece, the beat where the
            window's first note lands in it, and the transposition in semitones.
    """

    start_beat: float
    notes: int
    cs: float
    piece: str | None
    at_beat: float | None
    transpose: int | None


@dataclass
class OriginalityReport:
    """How a piece compares with a corpus (see the module docstring)."""

    originality: float | None
    max_cs: float | None
    closest: str | None
    closest_window_beat: float | None
    closest_at_beat: float | None
    closest_transpose: int | None
    verbatim_notes: int
    verbatim_piece: str | None
    windows: list[WindowScore] = field(default_factory=list)
    verdict: str = "ok"
    reason: str = ""
    thresholds: dict[str, Any] | None = None

    def to_dict(self, *, windows: bool = True) -> dict[str, Any]:
        """The report as JSON-safe data (without the windows if ``windows`` is False)."""
        d = asdict(self)
        if not windows:
            del d["windows"]
        return d

    def summary(self) -> str:
        """One line, for the command line."""
        if self.originality is None:
            head = "originality: too few notes to score"
        elif self.closest is None or self.closest_at_beat is None:
            head = (
                f"originality {self.originality:.2f} (no corpus window shares its note "
                f"shapes); longest verbatim run {self.verbatim_notes} notes"
            )
        else:
            head = (
                f"originality {self.originality:.2f} (closest: {self.closest} at beat "
                f"{self.closest_at_beat:g}, CS {self.max_cs:.2f}); longest verbatim run "
                f"{self.verbatim_notes} notes"
            )
        return head + (f" -- {self.verdict.upper()}: {self.reason}" if self.verdict != "ok" else "")


@dataclass(frozen=True)
class Thresholds:
    """When a piece is flagged: ``warn`` above, and ``block`` (draw again, then withhold)."""

    warn_cs: float = 0.6
    block_cs: float = 0.9
    warn_verbatim: int = 12
    block_verbatim: int = 24
    calibrated_on: str = "defaults (not calibrated)"


def points(notes: Notes) -> tuple[np.ndarray, np.ndarray]:
    """(onset in grid steps, pitch) of the pitched notes, unique and sorted by onset, pitch."""
    keep = ~notes.is_drum
    onset = np.rint(notes.onset_ticks[keep] * GRID / notes.ticks_per_beat).astype(_T)
    code = np.unique(onset * 128 + notes.pitch[keep].astype(_T))
    return code // 128, code % 128


def _top_line(onset: np.ndarray, pitch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The highest pitch at each onset (input sorted by onset, pitch)."""
    if len(onset) == 0:
        return onset, pitch
    last = np.r_[onset[1:] != onset[:-1], True]
    return onset[last], pitch[last]


def _tokens(onset: np.ndarray, pitch: np.ndarray) -> np.ndarray:
    """(pitch interval, onset ratio) tokens of a top line, one per note from the third."""
    if len(onset) < 3:
        return np.zeros(0, dtype=_T)
    ioi = np.diff(onset).astype(np.float64)
    ratio = np.clip(np.rint(4 * np.log2(ioi[1:] / ioi[:-1])), -15, 15).astype(_T)
    interval = np.clip(np.diff(pitch)[1:], -127, 127).astype(_T)
    return (interval + 128) * 32 + (ratio + 16)


def _kgram_hashes(tokens: np.ndarray) -> np.ndarray:
    """A 64-bit hash of each run of KGRAM tokens."""
    n = len(tokens) - KGRAM + 1
    if n <= 0:
        return np.zeros(0, dtype=np.uint64)
    h = np.zeros(n, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for j in range(KGRAM):
            h = h * np.uint64(1_000_003) + tokens[j : j + n].astype(np.uint64)
    return h


def _shapes(onset: np.ndarray, pitch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(shape key, anchor note) of each note with two of its next notes (sorted by onset)."""
    n = len(onset)
    keys, anchors = [], []
    idx = np.arange(n)
    for a in range(1, SHAPE_SUCCESSORS + 1):
        for b in range(a + 1, SHAPE_SUCCESSORS + 1):
            ok = idx + b < n
            i = idx[ok]
            dt1, dt2 = onset[i + a] - onset[i], onset[i + b] - onset[i]
            dp1, dp2 = pitch[i + a] - pitch[i], pitch[i + b] - pitch[i]
            near = dt2 <= SHAPE_MAX_BEATS * GRID
            key = ((dt1 * 64 + dt2) * 256 + (dp1 + 128)) * 256 + (dp2 + 128)
            keys.append(key[near])
            anchors.append(i[near])
    if not keys:
        return np.zeros(0, dtype=_T), np.zeros(0, dtype=_T)
    return np.concatenate(keys).astype(_T), np.concatenate(anchors).astype(_T)


class OriginalityIndex:
    """The point sets of a corpus, indexed for :meth:`score` (see the module docstring).

    Args:
        names: Each piece's name (``music21:bach/bwv66.6.mxl``, a file path...).
        onset, pitch, piece: Every note of the corpus: its onset (grid steps), pitch, and the
            index of its piece; sorted by piece, onset, pitch.
        owned: Per piece, whether its rights basis is ``owned`` (copying it only warns).
        thresholds: When to warn and block.
    """

    def __init__(
        self,
        names: list[str],
        onset: np.ndarray,
        pitch: np.ndarray,
        piece: np.ndarray,
        owned: np.ndarray | None = None,
        thresholds: Thresholds | None = None,
    ) -> None:
        self.names = list(names)
        self.onset = np.asarray(onset, dtype=_T)
        self.pitch = np.asarray(pitch, dtype=_T)
        self.piece = np.asarray(piece, dtype=_T)
        n = len(self.names)
        self.owned = np.zeros(n, dtype=bool) if owned is None else np.asarray(owned, dtype=bool)
        self.thresholds = thresholds or Thresholds()
        self.starts = np.searchsorted(self.piece, np.arange(n + 1))
        self.code = self.onset * 128 + self.pitch  # sorted within each piece
        self._build()

    # ------------------------------------------------------------------ building
    @classmethod
    def from_pieces(
        cls, names: list[str], pieces: list[Notes], owned: list[bool] | None = None
    ) -> OriginalityIndex:
        """Index a corpus of note tables."""
        onsets, pitches, ids = [], [], []
        for i, notes in enumerate(pieces):
            o, p = points(notes)
            onsets.append(o)
            pitches.append(p)
            ids.append(np.full(len(o), i, dtype=_T))
        cat = (lambda xs: np.concatenate(xs) if xs else np.zeros(0, dtype=_T))  # noqa: E731
        return cls(names, cat(onsets), cat(pitches), cat(ids),
                   None if owned is None else np.asarray(owned))  # fmt: skip

    @classmethod
    def from_dataset(
        cls, dataset: str | os.PathLike[str], split: str = "train"
    ) -> OriginalityIndex:
        """Index one split of a prepared dataset (marking pieces whose basis is ``owned``)."""
        from tuplet.analysis.evaluate import read_dataset_pieces

        pieces = read_dataset_pieces(dataset, split)
        owned_items = _owned_items(Path(dataset))
        owned = [name in owned_items for name in pieces.names]
        return cls.from_pieces(pieces.names, pieces.pieces, owned)

    def _build(self) -> None:
        keys, pieces, onsets, pitches = [], [], [], []
        for j in range(len(self.names)):
            lo, hi = self.starts[j], self.starts[j + 1]
            k, a = _shapes(self.onset[lo:hi], self.pitch[lo:hi])
            keys.append(k)
            pieces.append(np.full(len(k), j, dtype=_T))
            onsets.append(self.onset[lo:hi][a])
            pitches.append(self.pitch[lo:hi][a])
        empty = np.zeros(0, dtype=_T)
        key = np.concatenate(keys) if keys else empty
        order = np.argsort(key, kind="stable")
        self._key = key[order]
        self._key_piece = (np.concatenate(pieces) if pieces else empty)[order]
        self._key_onset = (np.concatenate(onsets) if onsets else empty)[order]
        self._key_pitch = (np.concatenate(pitches) if pitches else empty)[order]
        # verbatim runs: k-grams of each piece's top-line tokens
        hashes, gram_piece, gram_pos = [], [], []
        for j in range(len(self.names)):
            lo, hi = self.starts[j], self.starts[j + 1]
            h = _kgram_hashes(_tokens(*_top_line(self.onset[lo:hi], self.pitch[lo:hi])))
            hashes.append(h)
            gram_piece.append(np.full(len(h), j, dtype=_T))
            gram_pos.append(np.arange(len(h), dtype=_T))
        h = np.concatenate(hashes) if hashes else np.zeros(0, dtype=np.uint64)
        order = np.argsort(h, kind="stable")
        self._gram = h[order]
        self._gram_piece = (np.concatenate(gram_piece) if gram_piece else empty)[order]
        self._gram_pos = (np.concatenate(gram_pos) if gram_pos else empty)[order]

    # ------------------------------------------------------------------ saving
    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the index as a plain ``.npz`` (atomically)."""
        out = Path(path)
        meta = {"names": self.names, "thresholds": asdict(self.thresholds), "grid": GRID}
        tmp = out.with_name(out.name + ".tmp.npz")
        np.savez_compressed(
            tmp,
            onset=self.onset.astype(np.int32),
            pitch=self.pitch.astype(np.uint8),
            piece=self.piece.astype(np.int32),
            owned=self.owned,
            meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8),
        )
        os.replace(tmp, out)
        return out

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> OriginalityIndex:
        """Read an index written by :meth:`save` (no pickles are read)."""
        try:
            with np.load(path, allow_pickle=False) as z:
                meta = json.loads(bytes(z["meta"]).decode())
                if meta.get("grid") != GRID:
                    raise ValueError(f"grid {meta.get('grid')} (this tuplet uses {GRID})")
                return cls(meta["names"], z["onset"], z["pitch"], z["piece"], z["owned"],
                           Thresholds(**meta["thresholds"]))  # fmt: skip
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise BadFileError(path, f"not an originality index: {exc}") from None

    # ------------------------------------------------------------------ scoring
    def _window(
        self, onset: np.ndarray, pitch: np.ndarray, start: int, exclude: int
    ) -> tuple[float, int, int, int]:
        """(best CS, piece, time shift, transposition) of one window; piece -1 if none."""
        n = len(onset)
        keys, anchors = _shapes(onset, pitch)
        if len(keys) == 0:  # notes too far apart to make a shape: nothing to look up
            return 0.0, -1, 0, 0
        lo = np.searchsorted(self._key, keys, "left")
        hi = np.searchsorted(self._key, keys, "right")
        counts = hi - lo
        common = counts > MAX_SHAPE_HITS  # shapes found everywhere say little: skip them
        if common.all():
            common[np.argmin(counts)] = False  # unless nothing else is left
        counts = np.where(common, 0, counts)
        if counts.sum() == 0:
            return 0.0, -1, 0, 0
        rows = np.repeat(lo - np.cumsum(np.r_[0, counts[:-1]]), counts) + np.arange(counts.sum())
        query = np.repeat(anchors, counts)
        piece = self._key_piece[rows]
        dt = self._key_onset[rows] - onset[query]
        dp = self._key_pitch[rows] - pitch[query]
        keep = piece != exclude
        if not keep.any():
            return 0.0, -1, 0, 0
        vote = (piece[keep] * (1 << 40)) + ((dt[keep] + (1 << 30)) << 8) + (dp[keep] + 128)
        uniq, votes = np.unique(vote, return_counts=True)
        best = uniq[np.argsort(-votes, kind="stable")[:CANDIDATES]]
        result = (0.0, -1, 0, 0)
        codes = onset * 128 + pitch
        for v in best.tolist():
            j = v >> 40
            shift = ((v >> 8) & ((1 << 32) - 1)) - (1 << 30)
            trans = (v & 255) - 128
            lo_j, hi_j = self.starts[j], self.starts[j + 1]
            hits = np.isin(codes + shift * 128 + trans, self.code[lo_j:hi_j]).sum()
            # the training passage over the same span of time as the window's notes
            span = [int(onset[0]) + shift, int(onset[-1]) + shift + 1]
            region = np.searchsorted(self.onset[lo_j:hi_j], span)
            cs = float(hits) / max(n, int(region[1] - region[0]))
            if cs > result[0]:
                result = (cs, int(j), int(shift), int(trans))
        return result

    def _verbatim(self, onset: np.ndarray, pitch: np.ndarray, exclude: int) -> tuple[int, int]:
        """(notes in the longest verbatim run, its piece or -1)."""
        h = _kgram_hashes(_tokens(*_top_line(onset, pitch)))
        if len(h) == 0 or len(self._gram) == 0:
            return 0, -1
        lo = np.searchsorted(self._gram, h, "left")
        hi = np.searchsorted(self._gram, h, "right")
        counts = hi - lo
        if counts.sum() == 0:
            return 0, -1
        rows = np.repeat(lo - np.cumsum(np.r_[0, counts[:-1]]), counts) + np.arange(counts.sum())
        at = np.repeat(np.arange(len(h)), counts)
        piece = self._gram_piece[rows]
        keep = piece != exclude
        if not keep.any():
            return 0, -1
        at, piece, diag = at[keep], piece[keep], self._gram_pos[rows][keep] - at[keep]
        order = np.lexsort((at, diag, piece))
        at, piece, diag = at[order], piece[order], diag[order]
        new_run = np.r_[True, (piece[1:] != piece[:-1]) | (diag[1:] != diag[:-1])
                        | (at[1:] != at[:-1] + 1)]  # fmt: skip
        run_id = np.cumsum(new_run) - 1
        lengths = np.bincount(run_id)
        best = int(np.argmax(lengths))
        # a run of r k-grams covers r + KGRAM - 1 tokens, and t tokens span t + 2 notes
        return int(lengths[best]) + KGRAM - 1 + 2, int(piece[np.flatnonzero(run_id == best)[0]])

    def score(self, notes: Notes, *, exclude: str | None = None) -> OriginalityReport:
        """Score a piece against the corpus (``exclude``: a corpus piece to leave out)."""
        skip = self.names.index(exclude) if exclude in self.names else -1
        onset, pitch = points(notes)
        windows: list[WindowScore] = []
        step, size = HOP_BEATS * GRID, WINDOW_BEATS * GRID
        end = int(onset.max()) + 1 if len(onset) else 0
        starts = range(0, max(1, end - size + step), step) if end > size else [0]
        for s in starts:
            lo, hi = np.searchsorted(onset, [s, s + size])
            if hi - lo < MIN_WINDOW_NOTES:
                continue
            cs, j, shift, trans = self._window(onset[lo:hi], pitch[lo:hi], s, skip)
            windows.append(
                WindowScore(
                    start_beat=s / GRID,
                    notes=int(hi - lo),
                    cs=round(cs, 4),
                    piece=self.names[j] if j >= 0 else None,
                    at_beat=(int(onset[lo]) + shift) / GRID if j >= 0 else None,
                    transpose=trans if j >= 0 else None,
                )
            )
        run, run_piece = self._verbatim(onset, pitch, skip)
        report = OriginalityReport(
            originality=None, max_cs=None, closest=None, closest_window_beat=None,
            closest_at_beat=None, closest_transpose=None, verbatim_notes=run,
            verbatim_piece=self.names[run_piece] if run_piece >= 0 else None, windows=windows,
        )  # fmt: skip
        if windows:
            top = max(windows, key=lambda w: w.cs)
            report.originality = round(1.0 - float(np.mean([w.cs for w in windows])), 4)
            report.max_cs = top.cs
            report.closest, report.closest_window_beat = top.piece, top.start_beat
            report.closest_at_beat, report.closest_transpose = top.at_beat, top.transpose
        self._judge(report)
        return report

    def _judge(self, report: OriginalityReport) -> None:
        t = self.thresholds
        report.thresholds = asdict(t)  # each report says which thresholds judged it
        cs = report.max_cs or 0.0
        owned = {n for n, o in zip(self.names, self.owned.tolist(), strict=True) if o}
        copied_from = report.closest if cs >= t.block_cs else report.verbatim_piece
        if cs >= t.block_cs or report.verbatim_notes >= t.block_verbatim:
            report.verdict = "block"
            report.reason = (
                f"copies {copied_from}: a 16-beat window matches it at CS {cs:.2f}"
                if cs >= t.block_cs
                else f"copies {copied_from}: {report.verbatim_notes} notes verbatim"
            )
            if copied_from in owned:
                report.verdict = "warn"
                report.reason += " (the musician's own piece: only a warning)"
        elif cs > t.warn_cs or report.verbatim_notes >= t.warn_verbatim:
            report.verdict = "warn"
            report.reason = (
                f"close to {report.closest} (CS {cs:.2f} > {t.warn_cs:.2f}, the corpus's "
                "95th percentile)"
                if cs > t.warn_cs
                else f"{report.verbatim_notes} notes verbatim from {report.verbatim_piece}"
            )

    def calibrate(self, n_pieces: int = 200, seed: int = 0) -> Thresholds:
        """Set the thresholds from the corpus itself, and return them.

        Each of ``n_pieces`` corpus pieces (drawn at random) is scored against the others; warn
        above the 95th percentile of their window scores and of their verbatim runs. Blocking
        stays at CS 0.9 and 24 notes (or above the warning, when the corpus's own 95th
        percentile is higher; a window copied whole, CS 1, always blocks).
        """
        rng = np.random.default_rng(seed)
        n = len(self.names)
        picks: list[int] = (
            rng.choice(n, size=min(n, n_pieces), replace=False).tolist() if n else []
        )
        window_cs: list[float] = []
        runs: list[int] = []
        for j in picks:
            lo, hi = self.starts[j], self.starts[j + 1]
            notes = _as_notes(self.onset[lo:hi], self.pitch[lo:hi])
            r = self.score(notes, exclude=self.names[j])
            window_cs += [w.cs for w in r.windows]
            runs.append(r.verbatim_notes)
        if not window_cs:
            return self.thresholds
        warn_cs = float(np.percentile(window_cs, 95))
        warn_run = int(np.ceil(np.percentile(runs, 95)))
        self.thresholds = Thresholds(
            warn_cs=round(warn_cs, 4),
            block_cs=min(1.0, max(0.9, round(warn_cs + 0.05, 4))),  # a whole copy always
            warn_verbatim=max(warn_run, 8),
            block_verbatim=max(24, warn_run + 4),
            calibrated_on=(
                f"{len(picks)} corpus pieces against the rest: {len(window_cs)} windows, "
                f"95th percentile CS {warn_cs:.2f}, verbatim run {warn_run} notes"
            ),
        )
        return self.thresholds


def _as_notes(onset: np.ndarray, pitch: np.ndarray) -> Notes:
    """A note table of grid-step onsets (for scoring corpus pieces against each other)."""
    from tuplet.notes import from_rows

    return from_rows(
        [(int(o), GRID, int(p), 64, 0, False, 0) for o, p in zip(onset, pitch, strict=True)],
        ticks_per_beat=GRID,
    )


def _owned_items(dataset: Path) -> set[str]:
    """Items of a dataset whose recorded rights basis is ``owned``."""
    from tuplet.corpus.store import PROVENANCE_FILE, read_jsonl

    path = dataset / PROVENANCE_FILE
    if not path.is_file():
        return set()
    return {
        r["item"]
        for r in read_jsonl(path)
        if r.get("status") == "kept" and r.get("basis") == "owned"
    }


def index_for_dataset(dataset: str | os.PathLike[str], *, rebuild: bool = False,
                      progress: bool = False) -> OriginalityIndex:  # fmt: skip
    """The index of a dataset's train split, kept in ``DATASET/originality.npz``.

    Built and calibrated on first use; rebuilt when the dataset changed since.
    """
    folder = Path(dataset)
    path = folder / INDEX_FILE
    from tuplet.corpus.store import INDEX_FILE as ITEMS

    if path.is_file() and not rebuild and path.stat().st_mtime >= (folder / ITEMS).stat().st_mtime:
        return OriginalityIndex.load(path)
    if progress:
        import sys

        print(f"indexing {folder} for originality (once)...", file=sys.stderr)
    index = OriginalityIndex.from_dataset(folder)
    index.calibrate()
    index.save(path)
    return index


def index_for_model(model: str | os.PathLike[str] | None) -> OriginalityIndex | None:
    """The index of the corpus a model learned from, or None when none is at hand.

    ``MODEL/originality.npz`` (shipped with the default model), else the index of the dataset
    its checkpoint names, when that dataset is on this machine (built there on first use).
    """
    from tuplet.generation.sample import default_model_path
    from tuplet.model.checkpoint import load_checkpoint_config

    folder = default_model_path() if model is None else Path(model)
    if (folder / INDEX_FILE).is_file():
        return OriginalityIndex.load(folder / INDEX_FILE)
    try:
        info = load_checkpoint_config(folder)
    except TupletError:  # the model's own loading reports a broken checkpoint
        return None
    dataset = info.get("extra", {}).get("trainer", {}).get("dataset")
    if dataset is not None and (Path(dataset) / "dataset.json").is_file():
        return index_for_dataset(dataset, progress=True)
    return None


def new_notes(piece: Notes, prompt: Notes | None) -> Notes:
    """The notes of ``piece`` that are not the prompt's (the model's own)."""
    if prompt is None or len(prompt) == 0:
        return piece
    scale = piece.ticks_per_beat / prompt.ticks_per_beat
    old = set(zip(np.rint(prompt.onset_ticks * scale).astype(np.int64).tolist(),
                  prompt.pitch.tolist(), prompt.is_drum.tolist(), strict=True))  # fmt: skip
    rows = zip(piece.onset_ticks.tolist(), piece.pitch.tolist(), piece.is_drum.tolist(),
               strict=True)  # fmt: skip
    return piece.select(np.array([r not in old for r in rows], dtype=bool))


__all__ = [
    "GRID",
    "HOP_BEATS",
    "INDEX_FILE",
    "WINDOW_BEATS",
    "OriginalityIndex",
    "OriginalityReport",
    "Thresholds",
    "WindowScore",
    "index_for_dataset",
    "index_for_model",
    "new_notes",
    "points",
]
