"""Augmentation that knows instruments: range-keeping shifts and instrument swaps."""

from __future__ import annotations

import numpy as np

from tuplet.encoding import encode, get_encoding
from tuplet.instruments import LINE_INSTRUMENTS
from tuplet.notes import from_rows
from tuplet.ranges import instrument_table
from tuplet.training.augment import HIGH_EDGE, LOW_EDGE, shift_bounds, swap_instruments
from tuplet.training.dataset import make_example

TUPLET = get_encoding("tuplet")
COL = {name: TUPLET.field_index(name) for name in ("pitch", "instrument", "beat", "position")}
NOTE = TUPLET.type_codes["note"]
INSTRUMENT = TUPLET.type_codes["instrument"]
TABLE = instrument_table(TUPLET)


def code_of(name: str) -> int:
    return TUPLET.instrument_names.index(name) + 1


def quartet_and_choir():
    """A violin line down to its open G, a cello line, and a choir singing four-note chords."""
    rows = []
    for beat in range(16):
        rows.append((beat * 12, 12, 55 + beat % 8, 64, 40, False, 0))  # violin G3..D4
        rows.append((beat * 12, 12, 40 + beat % 10, 64, 42, False, 1))  # cello E2..C#3
        for pitch in (48, 55, 60, 64):  # voices: C major chords
            rows.append((beat * 12, 12, pitch, 64, 52, False, 2))
    return encode(from_rows(rows, 12), TUPLET)


def test_range_shift_keeps_the_violin_above_its_open_g() -> None:
    codes = quartet_and_choir()
    violin = code_of("violin")
    lowest = []
    for seed in range(200):
        for range_shift in (False, True):
            rng = np.random.default_rng(seed)
            out = make_example(codes, TUPLET, max_beat=256, max_seq_len=10_000, rng=rng,
                               range_shift=range_shift)  # fmt: skip
            notes = out[out[:, 0] == NOTE]
            p = notes[notes[:, COL["instrument"]] == violin, COL["pitch"]] - 1
            lowest.append((range_shift, int(p.min())))
    with_rule = [low for on, low in lowest if on]
    without = [low for on, low in lowest if not on]
    assert min(with_rule) >= 55  # G3, the violin's lowest note
    assert min(without) < 55  # MMT's shift takes it below: the rule is needed
    assert len(set(with_rule)) > 3  # and still shifts


def test_shift_bounds_ignore_notes_already_out_of_range() -> None:
    violin = code_of("violin")
    pitch = np.array([50, 60, 70])  # 50 is below the violin already
    low, high = shift_bounds(pitch, np.full(3, violin), TUPLET, -5, 6)
    assert (low, high) == (-5, 6)  # 60 and 70 may move 5 down or 6 up: 50 does not narrow it
    low, high = shift_bounds(np.array([56, 101]), np.full(2, violin), TUPLET, -5, 6)
    assert (low, high) == (-1, 2)  # G#3 may go one down, G7 is 103: two up


def test_swaps_move_lines_to_instruments_that_can_play_them() -> None:
    codes = quartet_and_choir()
    moved_to = set()
    for seed in range(100):
        out = swap_instruments(codes, TUPLET, np.random.default_rng(seed))
        notes, head = out[out[:, 0] == NOTE], out[out[:, 0] == INSTRUMENT]
        # the music is untouched: same rows but the instrument column (unisons may reorder)
        same = [c for c in range(out.shape[1]) if c != COL["instrument"]]
        before = codes[codes[:, 0] == NOTE]
        assert sorted(map(tuple, notes[:, same])) == sorted(map(tuple, before[:, same]))
        # the instrument rows name exactly the instruments that play, in code order
        playing = np.unique(notes[:, COL["instrument"]])
        assert list(head[:, COL["instrument"]]) == sorted(playing.tolist())
        assert len(playing) == 3  # tracks never merge

        def track(rows, code, same=same):
            return sorted(map(tuple, rows[rows[:, COL["instrument"]] == code][:, same]))

        for old in np.unique(before[:, COL["instrument"]]):
            new = [c for c in playing if track(notes, c) == track(before, old)]
            assert len(new) == 1  # each track moved whole
            new_code = int(new[0])
            p = notes[notes[:, COL["instrument"]] == new_code, COL["pitch"]] - 1
            if new_code != old:
                moved_to.add(TUPLET.instrument_names[new_code - 1])
                assert TUPLET.instrument_names[old - 1] != "voices"  # chords stay
                assert TUPLET.instrument_names[new_code - 1] in LINE_INSTRUMENTS
                low, high = TABLE.low[new_code], TABLE.high[new_code]
                assert low <= p.min() and p.max() <= high
                # where the instrument is at home: the line's median in its range's middle
                span = high - low
                assert low + LOW_EDGE * span <= np.median(p) <= high - HIGH_EDGE * span
    # the cello line reaches the bassoon; the violin's low line (G3..D4) is never shown to
    # the flute or the oboe at the bottom of their ranges, but to the viola, the horn...
    assert "bassoon" in moved_to and {"viola", "horn"} <= moved_to
    assert not {"flute", "oboe"} & moved_to


def test_examples_without_augmentation_are_never_swapped(tmp_path) -> None:
    """Training validates without augmentation, so valid examples keep their instruments."""
    from tuplet.corpus import prepare
    from tuplet.io.midi import write_midi
    from tuplet.notes import Track
    from tuplet.training.dataset import SequenceDataset

    # a cello line within every line instrument's reach of C4..E4 (violin, flute, voices...)
    rows = [(b * 480, 480, 60 + b % 5, 64, 42, False, 0) for b in range(64)]
    notes = from_rows(rows, 480)
    from dataclasses import replace

    notes = replace(notes, tracks=(Track(name="Cello", channel=0, program=42),))
    src = tmp_path / "src"
    src.mkdir()
    for i in range(6):
        write_midi(replace(notes, pitch=notes.pitch + i), src / f"piece{i}.mid")
    prepare([str(src)], tmp_path / "data", jobs=1, split=(1.0, 0.0, 0.0), progress=False)
    cello = code_of("cello")
    for augment in (True, False):
        ds = SequenceDataset(tmp_path / "data", "train", augment=augment, swap_rate=1.0)
        assert len(ds) == 6
        kinds = set()
        for epoch in range(8):
            for i in range(len(ds)):
                e = ds[(epoch, i)]
                kinds |= set(e[e[:, 0] == NOTE, COL["instrument"]].tolist())
        assert (kinds == {cello}) == (not augment)


def chorale():
    """Four voices in one choir track: chords, a passing note in the alto, a held bass."""
    rows = []
    soprano, alto, tenor, bass = [72, 71, 72, 74, 72, 71], [67, 67, 69, 67, 64, 62], \
        [64, 62, 64, 62, 60, 59], [48, 55, 53, 55, 57, 55]  # fmt: skip
    for beat in range(6):
        t = beat * 12
        rows.append((t, 12, soprano[beat], 64, 52, False, 0))
        rows.append((t, 12, tenor[beat], 64, 52, False, 0))
        if beat % 2 == 0:  # the bass holds two beats
            rows.append((t, 24, bass[beat], 64, 52, False, 0))
        if beat == 2:  # the alto moves in eighths
            rows.append((t, 6, alto[beat], 64, 52, False, 0))
            rows.append((t + 6, 6, alto[beat] - 2, 64, 52, False, 0))
        else:
            rows.append((t, 12, alto[beat], 64, 52, False, 0))
    return encode(from_rows(rows, 12), TUPLET), (soprano, alto, tenor, bass)


def test_voice_lines_follow_each_voice() -> None:
    from tuplet.training.augment import _times, voice_lines

    codes, (soprano, alto, tenor, bass) = chorale()
    notes = codes[codes[:, 0] == NOTE]
    onset, end = _times(notes, TUPLET)
    pitch = notes[:, COL["pitch"]] - 1
    voice = voice_lines(onset, end, pitch)
    assert voice is not None and voice.max() == 3
    for v, line in enumerate((soprano, alto, tenor, bass)):
        sung = pitch[voice == v].tolist()
        if v == 1:
            line = [*line[:2], 69, 67, *line[3:]]
        if v == 3:
            line = line[::2]
        assert sung == line
    # one line at a time is not a choir's chords; too many notes struck at once is not lines
    assert voice_lines(onset[:1], end[:1], pitch[:1]) is None
    assert voice_lines(np.zeros(7, np.int64), np.full(7, 12), np.arange(60, 67)) is None


def test_split_choir_gives_each_voice_an_instrument_that_can_play_it() -> None:
    from tuplet.training.augment import split_choir

    codes, _ = chorale()
    choir = code_of("voices")
    played = set()
    kept = 0
    for seed in range(60):
        out = split_choir(codes, TUPLET, np.random.default_rng(seed))
        notes, head = out[out[:, 0] == NOTE], out[out[:, 0] == INSTRUMENT]
        instruments = notes[:, COL["instrument"]]
        assert list(head[:, COL["instrument"]]) == sorted(set(instruments.tolist()))
        # the same notes, in the encoding's order
        same = [c for c in range(out.shape[1]) if c != COL["instrument"]]
        assert sorted(map(tuple, notes[:, same])) == sorted(
            map(tuple, codes[codes[:, 0] == NOTE][:, same])
        )
        assert len(out) == len(codes) + (len(head) - 1)
        timed = out[out[:, COL["beat"]] > 0]
        key = [tuple(r[[COL["beat"], COL["position"], 0, COL["pitch"]]]) for r in timed]
        assert key == sorted(key)
        if set(instruments.tolist()) == {choir}:
            kept += 1
            continue
        assert choir not in instruments
        lines = 0
        for code in set(instruments.tolist()):
            p = notes[instruments == code, COL["pitch"]] - 1
            assert TABLE.low[code] <= p.min() and p.max() <= TABLE.high[code]
            mine = notes[instruments == code]
            onsets = mine[:, COL["beat"]] * 16 + mine[:, COL["position"]]
            _, at_onset = np.unique(onsets, return_counts=True)
            # each instrument plays one line (a string quartet's violins: two, in one track)
            assert at_onset.max() == 1 or (code == code_of("violin") and at_onset.max() == 2)
            lines += at_onset.max()
            played.add(TUPLET.instrument_names[code - 1])
        assert lines == 4 and len(head) in (3, 4)
    assert kept == 0  # a choir of four lines, with instruments free for each, is always split
    assert {"bassoon", "cello"} & played and {"flute", "oboe", "violin"} & played


def test_split_choir_scores_ensembles_with_the_bass_at_the_bottom() -> None:
    from tuplet.training.augment import ENSEMBLES, ensemble_for, split_choir

    codes, (soprano, alto, tenor, bass) = chorale()
    seen = {}
    for seed in range(80):
        out = split_choir(codes, TUPLET, np.random.default_rng(seed))
        notes = out[out[:, 0] == NOTE]
        names = {TUPLET.instrument_names[c - 1] for c in notes[:, COL["instrument"]].tolist()}
        for ensemble in ENSEMBLES[4]:
            if names == set(ensemble):
                seen[ensemble] = notes
    # every quartet that can play the chorale is drawn, and most splits are one of them
    assert set(seen) == set(ENSEMBLES[4])
    for ensemble, notes in seen.items():
        pitch, instrument = notes[:, COL["pitch"]] - 1, notes[:, COL["instrument"]]
        top, low = code_of(ensemble[0]), code_of(ensemble[-1])
        assert sorted(pitch[instrument == low].tolist()) == sorted(bass[::2])
        assert set(soprano) <= set(pitch[instrument == top].tolist())
    wind = seen[("flute", "oboe", "clarinet", "bassoon")]
    oboe = wind[wind[:, COL["instrument"]] == code_of("oboe"), COL["pitch"]] - 1
    assert sorted(oboe.tolist()) == sorted([*alto[:2], 69, 67, *alto[3:]])
    # an ensemble is drawn only if each voice is in its instrument's range and it is free
    lines = [np.array(v) for v in (soprano, alto, tenor, bass)]
    rng = np.random.default_rng(0)
    low_bass = [*lines[:3], lines[3] - 25]  # down to B0: below every quartet's bass
    assert ensemble_for(low_bass, set(), TUPLET, rng) is None
    drawn = [ensemble_for(lines, {code_of("violin")}, TUPLET, rng) for _ in range(40)]
    assert all(d is not None and d[1] == 0 for d in drawn)  # no shift asked for, none made
    free = {tuple(d[0]) for d in drawn if d is not None}
    assert code_of("violin") not in {c for e in free for c in e} and len(free) == 3
    assert ensemble_for(lines[:1], set(), TUPLET, rng) is None  # no ensemble of one


def test_an_ensemble_may_play_a_choir_moved_into_its_ranges() -> None:
    from tuplet.training.augment import ensemble_for, split_choir

    codes, voices = chorale()
    low = codes.copy()
    low[low[:, 0] == NOTE, COL["pitch"]] -= 6  # the alto's lowest to A-flat 3 (56): below the oboe
    lines = [np.array(v) - 6 for v in voices]
    wind = [code_of(n) for n in ("flute", "oboe", "clarinet", "bassoon")]
    rng = np.random.default_rng(0)
    as_written = [ensemble_for(lines, set(), TUPLET, rng) for _ in range(40)]
    assert all(d is not None and d[0] != wind and d[1] == 0 for d in as_written)
    moved = [ensemble_for(lines, set(), TUPLET, rng, (-5, 6)) for _ in range(80)]
    winds = [d for d in moved if d is not None and d[0] == wind]
    # the wind quartet plays it moved up 2..6 semitones (2 puts the alto's lowest note, 56, on
    # the oboe's lowest, 58; 6 is the span's top), and ensembles that fit as written stay put
    assert winds and {d[1] for d in winds} <= set(range(2, 7)) and len({d[1] for d in winds}) > 1
    assert all(d[1] == 0 for d in moved if d is not None and d[0] != wind)
    seen = 0
    for seed in range(60):
        out = split_choir(low, TUPLET, np.random.default_rng(seed), (-5, 6))
        notes = out[out[:, 0] == NOTE]
        if set(notes[:, COL["instrument"]].tolist()) != set(wind):
            continue
        seen += 1
        shift = int(notes[:, COL["pitch"]].sum() - low[low[:, 0] == NOTE, COL["pitch"]].sum())
        shift //= len(notes)
        assert 2 <= shift <= 6
        for code in wind:  # every voice in its instrument's range, all moved by one shift
            p = notes[notes[:, COL["instrument"]] == code, COL["pitch"]] - 1
            assert TABLE.low[code] <= p.min() and p.max() <= TABLE.high[code]
        assert sorted(notes[:, COL["pitch"]] - shift) == sorted(
            low[low[:, 0] == NOTE, COL["pitch"]]
        )
    assert seen > 0


def test_a_choir_whose_voice_rests_long_stays_a_choir() -> None:
    from tuplet.training.augment import MAX_REST_BEATS, longest_rest, split_choir

    # three voices throughout, a fourth only on the first two beats and the last one: split
    # into lines, that voice would be an instrument silent for most of the piece
    beats = MAX_REST_BEATS + 4
    rows = []
    for beat in range(beats):
        for pitch in (72, 67, 48):
            rows.append((beat * 12, 12, pitch + beat % 2, 64, 52, False, 0))
        if beat < 2 or beat == beats - 1:
            rows.append((beat * 12, 12, 60, 64, 52, False, 0))
    codes = encode(from_rows(rows, 12), TUPLET)
    onset = np.array([0, 0, 12, 24, 36, 48, 60, 60], np.int64)
    voice = np.array([0, 1, 0, 0, 0, 0, 0, 1])  # voice 1 rests from tick 12 to 60
    assert longest_rest(onset, onset + 12, voice) == 48
    assert longest_rest(onset[voice == 0], onset[voice == 0] + 12, voice[voice == 0]) == 0
    choir = code_of("voices")
    for seed in range(10):
        out = split_choir(codes, TUPLET, np.random.default_rng(seed))
        assert (out == codes).all() and set(out[out[:, 0] == NOTE, COL["instrument"]]) == {choir}
    # the same voice singing throughout: split
    tenor = [(b * 12, 12, 60, 64, 52, False, 0) for b in range(beats)]
    rows = [r for r in rows if r[2] != 60] + tenor
    whole = encode(from_rows(rows, 12), TUPLET)
    out = split_choir(whole, TUPLET, np.random.default_rng(0))
    assert choir not in set(out[out[:, 0] == NOTE, COL["instrument"]].tolist())
