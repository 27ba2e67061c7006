"""Which track a new note belongs to: a file's tracks kept through generation.

A continuation, an infill or an added part keeps the given piece's notes and adds the notes
the model wrote (:func:`tuplet.generation.generate.with_original`). Where the piece states its
tracks
(:attr:`tuplet.notes.Notes.tracks`, as :func:`tuplet.io.midi.read_midi` gives them),
:func:`place_notes` puts each new note on the piece's track of its instrument (the
encoding's instrument: a track of program 53, Voice Oohs, takes the ``voices`` notes the
model writes as program 52), with that track's program. Where several tracks play the
instrument, the one that fits the note best, judged by the piece's notes within
:data:`NEAR_BEATS` beats of it:

* pitched: the track whose notes there lie closest in mean pitch (two vocal parts keep their
  ranges), then the one with more notes there, then the one with the nearest note in time;
* drums: the track that plays that drum key most in the whole piece (a kick track keeps the
  kicks), then as above but for pitch;
* still even: the first of them.

An instrument the piece does not play gets a new track after the piece's, named by its
General MIDI name, on a channel no track uses (:func:`tuplet.notes.free_channel`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import numpy as np

from tuplet.gm import program_name
from tuplet.notes import Notes, Track, free_channel

NEAR_BEATS = 8
"""How far (beats, either side of a new note) the notes that choose its track may lie."""


def _fit_keys(
    piece: Notes, track: int, onset: np.ndarray, pitch: np.ndarray, is_drum: bool
) -> list[np.ndarray]:
    """How badly track ``track`` fits each new note: sort keys, most significant first.

    Returns:
        Three float arrays of the new notes' shape: the pitch misfit (drums: minus the
        track's notes of that key), minus the track's notes within :data:`NEAR_BEATS`, and
        the ticks to its nearest note (inf for a track without notes).
    """
    near = NEAR_BEATS * piece.ticks_per_beat
    mine = piece.track == track
    order = np.argsort(piece.onset_ticks[mine], kind="stable")
    times, pitches = piece.onset_ticks[mine][order], piece.pitch[mine][order].astype(np.int64)
    low = np.searchsorted(times, onset - near, side="left")
    high = np.searchsorted(times, onset + near, side="right")
    count = high - low
    if is_drum:
        misfit = -np.bincount(pitches, minlength=128)[pitch].astype(np.float64)
    else:
        sums = np.concatenate([[0], np.cumsum(pitches)])
        mean = (sums[high] - sums[low]) / np.maximum(count, 1)
        misfit = np.where(count > 0, np.abs(pitch - mean), np.inf)
    gap = np.full(len(onset), np.inf)
    if len(times):
        after = np.clip(np.searchsorted(times, onset), 0, len(times) - 1)
        before = np.clip(after - 1, 0, len(times) - 1)
        gap = np.minimum(np.abs(times[after] - onset), np.abs(times[before] - onset))
    return [misfit, -count.astype(np.float64), gap.astype(np.float64)]


def _best_tracks(
    piece: Notes, candidates: np.ndarray, onset: np.ndarray, pitch: np.ndarray, is_drum: bool
) -> np.ndarray:
    """For each new note, the candidate track that fits it best (see the module docstring)."""
    keys = [_fit_keys(piece, int(t), onset, pitch, is_drum) for t in candidates]
    alive = np.ones((len(candidates), len(onset)), dtype=bool)
    for level in range(len(keys[0])):  # lexicographic minimum over the candidates
        value = np.where(alive, np.stack([k[level] for k in keys]), np.inf)
        alive &= value == value.min(axis=0)
    return candidates[np.argmax(alive, axis=0)]  # the first that is left


def place_notes(
    piece: Notes, added: Notes, instrument_of: Callable[[Notes], np.ndarray]
) -> Notes:
    """The new notes on the piece's tracks (see the module docstring).

    Args:
        piece: The given piece, all of it: its notes that the new ones replace tell which
            track played where. Its resolution is ``added``'s.
        added: The new notes.
        instrument_of: The encoding's instrument code of every note of a table (0 for one
            it cannot hold).

    Returns:
        ``added`` with the piece's tracks and one more per instrument the piece lacks; each
        note's ``track`` set, its program and drum flag its track's. A piece that states no
        tracks gives ``added`` as it is, its tracks numbered after the piece's.
    """
    if not piece.tracks:
        first = int(piece.track.max()) + 1 if len(piece) else 0
        return replace(added, track=added.track + first)
    tracks = list(piece.tracks)
    one_per_track = Notes(
        piece.ticks_per_beat,
        onset_ticks=np.zeros(len(tracks)),
        duration_ticks=np.zeros(len(tracks)),
        pitch=np.zeros(len(tracks)),
        velocity=np.ones(len(tracks)),
        program=np.array([t.program for t in tracks]),
        is_drum=np.array([t.is_drum for t in tracks]),
        track=np.arange(len(tracks)),
    )
    track_codes = instrument_of(one_per_track)
    codes = instrument_of(added)
    placed = np.zeros(len(added), dtype=np.int64)
    for code in np.unique(codes):
        rows = np.flatnonzero(codes == code)
        candidates = np.flatnonzero(track_codes == code)
        is_drum = bool(added.is_drum[rows[0]])
        if len(candidates) == 0:
            program = int(added.program[rows[0]])
            channel = free_channel(tracks, is_drum)
            name = program_name(program, is_drum)
            tracks.append(Track(name=name, channel=channel, program=program, is_drum=is_drum))
            candidates = np.array([len(tracks) - 1])
        if len(candidates) == 1:
            placed[rows] = candidates[0]
        else:
            onset, pitch = added.onset_ticks[rows], added.pitch[rows].astype(np.int64)
            placed[rows] = _best_tracks(piece, candidates, onset, pitch, is_drum)
    return replace(
        added,
        track=placed,
        program=np.array([t.program for t in tracks], dtype=np.int64)[placed],
        is_drum=np.array([t.is_drum for t in tracks], dtype=bool)[placed],
        tracks=tuple(tracks),
    )


__all__ = ["NEAR_BEATS", "place_notes"]
