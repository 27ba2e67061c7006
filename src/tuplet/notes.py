"""The one in-memory note table every stage after reading works on.

A :class:`Notes` is a structure of numpy arrays, one row per note, with times in **ticks** at a
stated resolution (``ticks_per_beat``, a beat being a quarter note), plus the tempo map, the
time-signature map and the key signatures where the source had them, and the source's tracks
where it had them.

Schema (all arrays of one table have the same length ``n``):

=================  =========  ====================================================
column             dtype      meaning
=================  =========  ====================================================
``onset_ticks``    int64      note start, ticks from the start of the piece (>= 0)
``duration_ticks`` int64      note length in ticks (>= 0)
``pitch``          int16      MIDI pitch 0..127 (for drums: the GM drum key)
``velocity``       int16      MIDI velocity 1..127
``program``        int16      General MIDI program 0..127 (0 for drums)
``is_drum``        bool       True for a percussion (channel 10) note
``track``          int32      index of the source track (0-based)
=================  =========  ====================================================

Maps (each sorted by tick; may be empty, meaning "not stated"):

* tempo: ``tempo_ticks`` (int64), ``tempo_qpm`` (float64, quarter notes per minute);
* time signatures: ``timesig_ticks`` (int64), ``timesig_numerator`` and
  ``timesig_denominator`` (int16);
* key signatures: ``key_ticks`` (int64), ``key_fifths`` (int16, -7..7 sharps (+) or flats (-)),
  ``key_mode`` (int16, 0 major, 1 minor).

Tracks (``tracks``, a tuple of :class:`Track`; may be empty, meaning "not stated", as in a
freshly generated piece): entry ``i`` is the source's track ``i``, the one whose notes have
``track == i``: its ``name``, MIDI ``channel`` (0..15; 9, and only 9, for drums), ``program``
(0 for drums) and ``is_drum``. Where it is stated, every note's ``track`` indexes it, and
:func:`tuplet.io.midi.write_midi` writes one MIDI track per entry, a file's shape. A track may
hold no notes (e.g. a part silent in a prompt's first bars).

All conversions here are pure functions that return new tables; they keep the maps and the
track table (:func:`concat`: the first table's).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Any

import numpy as np

NOTE_COLUMNS: tuple[str, ...] = (
    "onset_ticks",
    "duration_ticks",
    "pitch",
    "velocity",
    "program",
    "is_drum",
    "track",
)
NOTE_DTYPES: dict[str, Any] = {
    "onset_ticks": np.int64,
    "duration_ticks": np.int64,
    "pitch": np.int16,
    "velocity": np.int16,
    "program": np.int16,
    "is_drum": np.bool_,
    "track": np.int32,
}
DEFAULT_QPM = 120.0
DRUM_CHANNEL = 9
"""MIDI channel 10 (0-based 9): General MIDI's percussion channel."""


@dataclass(frozen=True, kw_only=True)
class Track:
    """One track of a source file: what a note's ``track`` index points to.

    Attributes:
        name: The track's name in the file (``""`` where it has none).
        channel: MIDI channel 0..15: 9 for drums, any other for a pitched track.
        program: General MIDI program 0..127 (0 for drums).
        is_drum: A percussion track.
    """

    name: str = ""
    channel: int = 0
    program: int = 0
    is_drum: bool = False

    def __post_init__(self) -> None:
        for name, kind in (("name", str), ("channel", int), ("program", int), ("is_drum", bool)):
            object.__setattr__(self, name, kind(getattr(self, name)))
        if not 0 <= self.program <= 127:
            raise ValueError(f"track program must be 0..127, got {self.program}")
        if not 0 <= self.channel <= 15 or (self.channel == DRUM_CHANNEL) != self.is_drum:
            raise ValueError(
                f"track channel {self.channel}: drums play on channel {DRUM_CHANNEL}, "
                "other tracks on 0..15 but that one"
            )


def free_channel(tracks: tuple[Track, ...] | list[Track], is_drum: bool) -> int:
    """The channel for a new track beside ``tracks``.

    Drums play on :data:`DRUM_CHANNEL`; a pitched track takes the lowest channel that no track
    uses, or, with all 15 taken, the lowest of those fewest tracks use.
    """
    if is_drum:
        return DRUM_CHANNEL
    counts = [0] * 16
    for t in tracks:
        counts[t.channel] += 1
    return min((c for c in range(16) if c != DRUM_CHANNEL), key=lambda c: (counts[c], c))


def _arr(values: Any, dtype: Any) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(values, dtype=dtype).reshape(-1))


def _empty(dtype: Any) -> np.ndarray:
    return np.zeros(0, dtype=dtype)


@dataclass(frozen=True, eq=False)
class Notes:
    """A note table (see the module docstring for the schema)."""

    ticks_per_beat: int
    onset_ticks: np.ndarray = field(default_factory=lambda: _empty(np.int64))
    duration_ticks: np.ndarray = field(default_factory=lambda: _empty(np.int64))
    pitch: np.ndarray = field(default_factory=lambda: _empty(np.int16))
    velocity: np.ndarray = field(default_factory=lambda: _empty(np.int16))
    program: np.ndarray = field(default_factory=lambda: _empty(np.int16))
    is_drum: np.ndarray = field(default_factory=lambda: _empty(np.bool_))
    track: np.ndarray = field(default_factory=lambda: _empty(np.int32))
    tempo_ticks: np.ndarray = field(default_factory=lambda: _empty(np.int64))
    tempo_qpm: np.ndarray = field(default_factory=lambda: _empty(np.float64))
    timesig_ticks: np.ndarray = field(default_factory=lambda: _empty(np.int64))
    timesig_numerator: np.ndarray = field(default_factory=lambda: _empty(np.int16))
    timesig_denominator: np.ndarray = field(default_factory=lambda: _empty(np.int16))
    key_ticks: np.ndarray = field(default_factory=lambda: _empty(np.int64))
    key_fifths: np.ndarray = field(default_factory=lambda: _empty(np.int16))
    key_mode: np.ndarray = field(default_factory=lambda: _empty(np.int16))
    tracks: tuple[Track, ...] = ()

    def __post_init__(self) -> None:
        if int(self.ticks_per_beat) <= 0:
            raise ValueError(f"ticks_per_beat must be positive, got {self.ticks_per_beat}")
        object.__setattr__(self, "ticks_per_beat", int(self.ticks_per_beat))
        for name, dtype in {
            **NOTE_DTYPES,
            "tempo_ticks": np.int64,
            "tempo_qpm": np.float64,
            "timesig_ticks": np.int64,
            "timesig_numerator": np.int16,
            "timesig_denominator": np.int16,
            "key_ticks": np.int64,
            "key_fifths": np.int16,
            "key_mode": np.int16,
        }.items():
            object.__setattr__(self, name, _arr(getattr(self, name), dtype))
        n = len(self.onset_ticks)
        for name in NOTE_COLUMNS:
            if len(getattr(self, name)) != n:
                raise ValueError(f"column {name} has {len(getattr(self, name))} rows, not {n}")
        for group in (
            ("tempo_ticks", "tempo_qpm"),
            ("timesig_ticks", "timesig_numerator", "timesig_denominator"),
            ("key_ticks", "key_fifths", "key_mode"),
        ):
            lengths = {len(getattr(self, g)) for g in group}
            if len(lengths) != 1:
                raise ValueError(f"map columns {group} differ in length")
        object.__setattr__(self, "tracks", tuple(self.tracks))
        if self.tracks and n and not 0 <= self.track.min() <= self.track.max() < len(self.tracks):
            raise ValueError(f"a note's track is not one of the {len(self.tracks)} tracks")

    # ------------------------------------------------------------------ basics
    def __len__(self) -> int:
        return len(self.onset_ticks)

    def __repr__(self) -> str:
        return (
            f"Notes({len(self)} notes, {self.ticks_per_beat} ticks/beat, "
            f"{self.length_beats:.1f} beats, programs={sorted(set(self.program.tolist()))}, "
            f"drums={int(self.is_drum.sum())})"
        )

    def equals(self, other: Notes) -> bool:
        """Whether two tables hold exactly the same rows and maps, in the same order."""
        if self.ticks_per_beat != other.ticks_per_beat or self.tracks != other.tracks:
            return False
        return all(
            np.array_equal(getattr(self, f.name), getattr(other, f.name))
            for f in fields(self)
            if f.name not in ("ticks_per_beat", "tracks")
        )

    @property
    def end_ticks(self) -> int:
        """The tick at which the last note ends (0 for an empty table)."""
        if len(self) == 0:
            return 0
        return int((self.onset_ticks + self.duration_ticks).max())

    @property
    def length_beats(self) -> float:
        """Length in beats (quarter notes), up to the end of the last note."""
        return self.end_ticks / self.ticks_per_beat

    def note_columns(self) -> dict[str, np.ndarray]:
        """The note columns by name (views, not copies)."""
        return {name: getattr(self, name) for name in NOTE_COLUMNS}

    def select(self, mask_or_index: np.ndarray) -> Notes:
        """The notes picked by a boolean mask or an index array; maps are kept."""
        cols: dict[str, Any] = {k: v[mask_or_index] for k, v in self.note_columns().items()}
        return replace(self, **cols)

    def sorted(self) -> Notes:
        """Notes sorted by onset, then pitch, duration, program, drum flag and track."""
        order = np.lexsort(
            (
                self.track,
                self.is_drum,
                self.program,
                self.duration_ticks,
                self.pitch,
                self.onset_ticks,
            )
        )
        return self.select(order)

    # ------------------------------------------------------------- time maps
    def seconds(self, ticks: np.ndarray | int) -> np.ndarray:
        """Convert ticks to seconds through the tempo map.

        Before the first tempo (and where none is stated) the tempo is 120 qpm, as a MIDI
        file plays and FluidSynth renders it.

        Args:
            ticks: Tick positions (any shape).

        Returns:
            Seconds, float64, same shape.
        """
        t = np.asarray(ticks, dtype=np.float64)
        if len(self.tempo_ticks) == 0 or self.tempo_ticks[0] > 0:
            starts = np.concatenate([[0], self.tempo_ticks]).astype(np.float64)
            qpm = np.concatenate([[DEFAULT_QPM], self.tempo_qpm])
        else:
            starts = self.tempo_ticks.astype(np.float64)
            qpm = self.tempo_qpm
        qpm = np.where(qpm > 0, qpm, DEFAULT_QPM)
        sec_per_tick = 60.0 / (qpm * self.ticks_per_beat)
        seg_start_sec = np.concatenate([[0.0], np.cumsum(np.diff(starts) * sec_per_tick[:-1])])
        idx = np.clip(np.searchsorted(starts, t, side="right") - 1, 0, len(starts) - 1)
        return seg_start_sec[idx] + (t - starts[idx]) * sec_per_tick[idx]

    @property
    def length_seconds(self) -> float:
        """Length in seconds, up to the end of the last note."""
        return float(self.seconds(self.end_ticks))


# ---------------------------------------------------------------- conversions
def to_resolution(notes: Notes, ticks_per_beat: int) -> Notes:
    """Rescale every time to another resolution, rounding to the nearest tick.

    Onsets and note *ends* are rounded to the nearest tick and each duration is their
    difference, so notes that touch still touch (this is what MusPy's ``adjust_resolution``
    does, which the MMT preprocessing uses); halves round to even.

    Args:
        notes: The table.
        ticks_per_beat: The new resolution (ticks per quarter note).

    Returns:
        A new table at the new resolution.
    """
    if ticks_per_beat == notes.ticks_per_beat:
        return notes
    factor = ticks_per_beat / notes.ticks_per_beat

    def scale(t: np.ndarray) -> np.ndarray:
        return np.round(t * factor).astype(np.int64)

    return replace(
        notes,
        ticks_per_beat=ticks_per_beat,
        onset_ticks=scale(notes.onset_ticks),
        duration_ticks=scale(notes.onset_ticks + notes.duration_ticks) - scale(notes.onset_ticks),
        tempo_ticks=scale(notes.tempo_ticks),
        timesig_ticks=scale(notes.timesig_ticks),
        key_ticks=scale(notes.key_ticks),
    )


def shift_ticks(notes: Notes, offset_ticks: int) -> Notes:
    """Move every note and map entry by ``offset_ticks`` (negative moves earlier).

    Map entries that would fall before tick 0 collapse onto tick 0, keeping the last one.
    """

    def move_map(ticks: np.ndarray, *cols: np.ndarray) -> list[np.ndarray]:
        t = ticks + offset_ticks
        if len(t) == 0:
            return [t, *cols]
        before = t <= 0
        keep = ~before
        if before.any():
            keep[np.flatnonzero(before)[-1]] = True
        t = np.maximum(t, 0)
        return [t[keep], *(c[keep] for c in cols)]

    tt, tq = move_map(notes.tempo_ticks, notes.tempo_qpm)
    st, sn, sd = move_map(notes.timesig_ticks, notes.timesig_numerator, notes.timesig_denominator)
    kt, kf, km = move_map(notes.key_ticks, notes.key_fifths, notes.key_mode)
    return replace(
        notes,
        onset_ticks=notes.onset_ticks + offset_ticks,
        tempo_ticks=tt,
        tempo_qpm=tq,
        timesig_ticks=st,
        timesig_numerator=sn,
        timesig_denominator=sd,
        key_ticks=kt,
        key_fifths=kf,
        key_mode=km,
    )


def maps_before(notes: Notes, end_ticks: int) -> Notes:
    """The table without tempo, time-signature and key entries at or after ``end_ticks``."""
    tempo = notes.tempo_ticks < end_ticks
    timesig = notes.timesig_ticks < end_ticks
    key = notes.key_ticks < end_ticks
    return replace(
        notes,
        tempo_ticks=notes.tempo_ticks[tempo],
        tempo_qpm=notes.tempo_qpm[tempo],
        timesig_ticks=notes.timesig_ticks[timesig],
        timesig_numerator=notes.timesig_numerator[timesig],
        timesig_denominator=notes.timesig_denominator[timesig],
        key_ticks=notes.key_ticks[key],
        key_fifths=notes.key_fifths[key],
        key_mode=notes.key_mode[key],
    )


def maps_within(notes: Notes) -> Notes:
    """The table without tempo, meter and key entries at or after its last note's end.

    An entry at tick 0 stays (it states how the piece starts, even an empty one).
    """
    return maps_before(notes, max(notes.end_ticks, 1))


def concat(tables: list[Notes]) -> Notes:
    """Join note tables of the same resolution.

    Maps and the track table are taken from the first table: the other tables' ``track``
    indices must point into it where it states tracks.
    """
    if not tables:
        raise ValueError("concat needs at least one table")
    tpb = tables[0].ticks_per_beat
    if any(t.ticks_per_beat != tpb for t in tables):
        raise ValueError("concat needs tables of the same resolution")
    cols: dict[str, Any] = {
        name: np.concatenate([getattr(t, name) for t in tables]) for name in NOTE_COLUMNS
    }
    return replace(tables[0], **cols)


def from_rows(
    rows: list[tuple[int, int, int, int, int, bool, int]] | np.ndarray,
    ticks_per_beat: int,
    **maps: Any,
) -> Notes:
    """Build a table from rows of ``(onset, duration, pitch, velocity, program, is_drum, track)``.

    Handy for tests and small hand-made pieces; ``maps`` are passed on as map columns (and
    ``tracks`` as the track table).
    """
    a = np.asarray(rows, dtype=np.int64).reshape(-1, len(NOTE_COLUMNS))
    cols: dict[str, Any] = {name: a[:, i] for i, name in enumerate(NOTE_COLUMNS)}
    cols["is_drum"] = cols["is_drum"].astype(bool)
    return Notes(ticks_per_beat=ticks_per_beat, **cols, **maps)


def track_keys(notes: Notes) -> tuple[np.ndarray, list[tuple[str, int, bool]]]:
    """Each note's track, and each track's (name, program, is_drum).

    A piece with a track table uses it (a track's name, else its instrument's); one without (a
    fresh generation) gets one track per (program, drums) pair, named by its instrument. The
    studio's track list and an audio render's stems (:mod:`tuplet.io.mixdown`) both use it.
    """
    from tuplet.gm import program_name

    if notes.tracks:
        tracks = [
            (t.name or program_name(t.program, t.is_drum), t.program, t.is_drum)
            for t in notes.tracks
        ]
        return notes.track.astype(np.int64), tracks
    pairs = sorted(set(zip(notes.program.tolist(), notes.is_drum.tolist(), strict=True)))
    lookup = {p: i for i, p in enumerate(pairs)}
    keys = np.array(
        [lookup[p] for p in zip(notes.program.tolist(), notes.is_drum.tolist(), strict=True)],
        dtype=np.int64,
    )
    return keys, [(program_name(p, d), p, bool(d)) for p, d in pairs]
