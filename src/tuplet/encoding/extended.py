"""The tuplet encoding: MMT's note tuples plus drums, velocity, tempo, meter and key.

Rows are ``(type, beat, position, pitch, duration, instrument, velocity, tempo, meter, key)``.
The sequence is start-of-song, one instrument row per distinct instrument of the note rows
(by code), start-of-notes, every timed event sorted by ``(beat, position, type, pitch,
duration, instrument)``, end-of-song. Timed events are time signatures (type 3), keys (4),
tempos (5) and notes (6); see ``docs/encoding.md`` for the whole contract.
"""

from __future__ import annotations

import numpy as np

from tuplet.encoding import vocab
from tuplet.encoding.config import EncodingConfig, check_codes, valid_rows
from tuplet.encoding.mmt import adjust_resolution
from tuplet.notes import Notes

_META = ("time-signature", "key", "tempo")
_META_FIELD = {"time-signature": "meter", "key": "key", "tempo": "tempo"}


def instrument_codes(notes: Notes) -> np.ndarray:
    """The tuplet instrument code of every note (drums: 65; 0 = dropped program)."""
    melodic = vocab.instrument_of_program(notes.program, extended=True)
    return np.where(notes.is_drum, vocab.DRUMS_CODE, melodic)


def kept_mask(notes: Notes) -> np.ndarray:
    """Notes the tuplet encoding keeps at any beat: an instrument, pitch 0..127, onset >= 0."""
    return (
        (instrument_codes(notes) > 0)
        & (notes.pitch >= 0)
        & (notes.pitch <= 127)
        & (notes.onset_ticks >= 0)
    )


def note_rows(notes: Notes, config: EncodingConfig) -> tuple[np.ndarray, ...]:
    """The note events of a table at 12 ticks per beat.

    Returns:
        ``(onset_ticks, pitch, duration_code, instrument, velocity_code)``, int64, sorted by
        that tuple, one note per ``(onset, pitch, duration code, instrument)`` (the loudest),
        beats ``>= max_beat`` dropped.
    """
    keep = kept_mask(notes) & (notes.onset_ticks // config.resolution < config.max_beat)
    onset = notes.onset_ticks[keep]
    pitch = notes.pitch[keep].astype(np.int64)
    duration = vocab.duration_code(notes.duration_ticks[keep])
    instrument = instrument_codes(notes)[keep]
    velocity = vocab.velocity_code(notes.velocity[keep], config.velocity_bins)
    # one int64 sort key: onset (< 12 * max_beat <= 1.2e7 < 2**24), then 7 bits each for pitch,
    # duration, instrument and velocity
    group = (((onset << 7 | pitch) << 7 | duration) << 7) | instrument
    order = np.argsort(group << 7 | velocity, kind="stable")
    group = group[order]
    # the last row of each (onset, pitch, duration, instrument) group is the loudest
    last = np.ones(len(group), dtype=bool)
    last[:-1] = group[1:] != group[:-1]
    order = order[last]
    return onset[order], pitch[order], duration[order], instrument[order], velocity[order]


def normalise_events(ticks: np.ndarray, code: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A map as events: valid codes only, by tick, the last at each tick, no repeated value."""
    ok = code > 0
    ticks, code = ticks[ok], code[ok]
    order = np.argsort(ticks, kind="stable")
    ticks, code = ticks[order], code[order]
    last = np.ones(len(ticks), dtype=bool)
    last[:-1] = ticks[1:] != ticks[:-1]
    ticks, code = ticks[last], code[last]
    changed = np.ones(len(ticks), dtype=bool)
    changed[1:] = code[1:] != code[:-1]
    return ticks[changed], code[changed]


def meta_events(notes: Notes, config: EncodingConfig) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Tick and code of the time-signature, key and tempo events of a table at 12 ticks/beat.

    Entries that cannot be encoded (a meter outside the table, a key outside -7..7, a tempo
    that is not a positive number) are dropped, so the value before them stays in force;
    then each map keeps the last entry at each tick and drops entries that repeat the code in
    force; entries at beats ``>= max_beat`` (or before 0) are dropped last.
    """
    codes = {
        "time-signature": vocab.meter_code(notes.timesig_numerator, notes.timesig_denominator),
        "key": vocab.key_code(notes.key_fifths, notes.key_mode),
        "tempo": vocab.tempo_code(
            notes.tempo_qpm,
            config.tempo_bins_per_octave,
            config.tempo_min_qpm,
            config.tempo_max_qpm,
        ),
    }
    ticks = {
        "time-signature": notes.timesig_ticks,
        "key": notes.key_ticks,
        "tempo": notes.tempo_ticks,
    }
    events = {}
    limit = config.max_beat * config.resolution
    for name in _META:
        t, c = normalise_events(ticks[name], codes[name])
        inside = (t >= 0) & (t < limit)
        events[name] = (t[inside], c[inside])
    return events


def encode_tuplet(notes: Notes, config: EncodingConfig) -> np.ndarray:
    """Encode a table with the tuplet encoding."""
    res = config.resolution
    n = adjust_resolution(notes, res)
    onset, pitch, duration, instrument, velocity = note_rows(n, config)
    events = meta_events(n, config)
    types = config.type_codes
    col = {name: i for i, name in enumerate(config.fields)}

    timed = np.zeros((len(onset), len(config.fields)), dtype=np.int64)
    timed[:, col["type"]] = types["note"]
    timed[:, col["beat"]] = onset // res + 1
    timed[:, col["position"]] = onset % res + 1
    timed[:, col["pitch"]] = pitch + 1
    timed[:, col["duration"]] = duration
    timed[:, col["instrument"]] = instrument
    timed[:, col["velocity"]] = velocity
    # notes are sorted already: each map event goes in before the notes at or after its
    # tick (its type code is below the note's), the events of one tick in type order
    parts = []
    for name in _META:
        ticks, code = events[name]
        part = np.zeros((len(ticks), len(config.fields)), dtype=np.int64)
        part[:, col["type"]] = types[name]
        part[:, col["beat"]] = ticks // res + 1
        part[:, col["position"]] = ticks % res + 1
        part[:, col[_META_FIELD[name]]] = code
        parts.append(part)
    meta = np.concatenate(parts)
    meta_ticks = (meta[:, col["beat"]] - 1) * res + meta[:, col["position"]] - 1
    order = np.lexsort((meta[:, col["type"]], meta_ticks))
    timed = np.insert(timed, np.searchsorted(onset, meta_ticks[order]), meta[order], axis=0)

    instruments = np.unique(instrument)
    head = np.zeros((len(instruments) + 2, len(config.fields)), dtype=np.int64)
    head[0, 0] = types["start-of-song"]
    head[1:-1, 0] = types["instrument"]
    head[1:-1, col["instrument"]] = instruments
    head[-1, 0] = types["start-of-notes"]
    tail = np.zeros((1, len(config.fields)), dtype=np.int64)
    tail[0, 0] = types["end-of-song"]
    return np.concatenate([head, timed, tail])


def _assemble(
    config: EncodingConfig,
    notes: tuple[np.ndarray, ...],
    events: dict[str, tuple[np.ndarray, np.ndarray]],
) -> Notes:
    """The decoded table from note codes and map events (tracks by instrument code)."""
    onset, pitch, duration, instrument, velocity = notes
    _, track = np.unique(instrument, return_inverse=True)
    ts_ticks, meter = events["time-signature"]
    numerator, denominator = vocab.meter_of_code(meter)
    key_ticks, key = events["key"]
    fifths, mode = vocab.key_of_code(key)
    tempo_ticks, tempo = events["tempo"]
    qpm = vocab.tempo_centres(
        config.tempo_bins_per_octave, config.tempo_min_qpm, config.tempo_max_qpm
    )[tempo]
    return Notes(
        ticks_per_beat=config.resolution,
        onset_ticks=onset,
        duration_ticks=vocab.KNOWN_DURATIONS_TICKS[duration - 1],
        pitch=pitch,
        velocity=vocab.velocity_centres(config.velocity_bins)[velocity],
        program=vocab.INSTRUMENT_PROGRAM[instrument],
        is_drum=instrument == vocab.DRUMS_CODE,
        track=track.reshape(-1),
        tempo_ticks=tempo_ticks,
        tempo_qpm=qpm,
        timesig_ticks=ts_ticks,
        timesig_numerator=numerator,
        timesig_denominator=denominator,
        key_ticks=key_ticks,
        key_fifths=fifths,
        key_mode=mode,
    )


def decode_tuplet(codes: np.ndarray, config: EncodingConfig) -> Notes:
    """Decode tuplet codes up to the first end-of-song.

    Notes come out in row order; time-signature, key and tempo rows become the maps (sorted
    by tick; the last row at a tick wins; rows repeating the value in force are dropped).
    Rows with a code out of range in a field their type defines are skipped.
    """
    rows = check_codes(codes, config)
    col = {name: i for i, name in enumerate(config.fields)}
    res = config.resolution

    def ticks_of(r: np.ndarray) -> np.ndarray:
        return (r[:, col["beat"]] - 1) * res + r[:, col["position"]] - 1

    note = rows[valid_rows(rows, config, "note")]
    notes = (
        ticks_of(note),
        note[:, col["pitch"]] - 1,
        note[:, col["duration"]],
        note[:, col["instrument"]],
        note[:, col["velocity"]],
    )
    events = {}
    for name in _META:
        r = rows[valid_rows(rows, config, name)]
        events[name] = normalise_events(ticks_of(r), r[:, col[_META_FIELD[name]]])
    return _assemble(config, notes, events)


def quantise_tuplet(notes: Notes, config: EncodingConfig) -> Notes:
    """What survives a tuplet encode and decode, computed straight from the notes."""
    n = adjust_resolution(notes, config.resolution)
    return _assemble(config, note_rows(n, config), meta_events(n, config))
