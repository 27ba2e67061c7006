import os
import pickle
import shutil
import struct
import subprocess
import sys
import wave
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from tuplet.errors import BadFileError, TupletError, UsageError
from tuplet.gm import program_name
from tuplet.io import (
    MIDI_EXTENSIONS,
    SCORE_EXTENSIONS,
    SUPPORTED_EXTENSIONS,
    read_notes,
)
from tuplet.io.midi import read_midi, write_midi
from tuplet.io.score import music21_corpus_paths, read_score, read_score_all
from tuplet.notes import Notes, from_rows, to_resolution

MIDI_FIXTURES = ("bwv66.6.mid", "bwv84.5.mid", "lascia_chio_pianga.mid", "multitrack_drums.mid")


# ------------------------------------------------------------------ helpers
def _vlq(n: int) -> bytes:
    out = [n & 0x7F]
    n >>= 7
    while n:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    return bytes(reversed(out))


def midi_bytes(tracks: list[list[tuple[int, bytes]]], fmt: int = 1, division: int = 96) -> bytes:
    """A standard MIDI file from (delta ticks, event bytes) lists, written out by hand."""
    data = b"MThd" + struct.pack(">IHHH", 6, fmt, len(tracks), division)
    for events in tracks:
        body = b"".join(_vlq(d) + e for d, e in events) + b"\x00\xff\x2f\x00"
        data += b"MTrk" + struct.pack(">I", len(body)) + body
    return data


ONE_NOTE = [(0, b"\x90\x3c\x40"), (96, b"\x80\x3c\x00")]


def assert_bad_file(path: Path, problem: str, read=read_notes) -> BadFileError:
    with pytest.raises(BadFileError) as info:
        read(path)
    message = str(info.value)
    assert "\n" not in message
    assert path.name in message
    assert problem in message, message
    return info.value


def mido_notes(path: Path) -> list[tuple[int, int, int, int, bool]]:
    """(onset, duration, pitch, velocity, is_drum) of every note, read with mido."""
    mido = pytest.importorskip("mido")
    rows = []
    for track in mido.MidiFile(path).tracks:
        now, sounding = 0, {}
        for msg in track:
            now += msg.time
            if msg.type == "note_on" and msg.velocity > 0:
                sounding.setdefault((msg.channel, msg.note), []).append((now, msg.velocity))
            elif msg.type in ("note_on", "note_off"):
                start, velocity = sounding[(msg.channel, msg.note)].pop(0)
                rows.append((start, now - start, msg.note, velocity, msg.channel == 9))
    return sorted(rows)


def rows_of(notes: Notes) -> list[tuple[int, int, int, int, bool]]:
    return sorted(
        zip(
            notes.onset_ticks.tolist(),
            notes.duration_ticks.tolist(),
            notes.pitch.tolist(),
            notes.velocity.tolist(),
            notes.is_drum.tolist(),
            strict=True,
        )
    )


def same_maps(a: Notes, b: Notes) -> bool:
    names = ("tempo_ticks", "timesig_ticks", "timesig_numerator", "timesig_denominator")
    names += ("key_ticks", "key_fifths", "key_mode")
    return all(np.array_equal(getattr(a, n), getattr(b, n)) for n in names) and np.allclose(
        a.tempo_qpm, b.tempo_qpm
    )


# ----------------------------------------------------------- package surface
def test_importing_tuplet_io_loads_no_heavy_library():
    code = (
        "import sys, tuplet.io; "
        "print(sorted(m for m in ('symusic', 'music21', 'matplotlib') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_lazy_names_resolve_to_the_implementations():
    import tuplet.io
    import tuplet.io.audio
    import tuplet.io.pianoroll

    assert tuplet.io.read_midi is read_midi
    assert tuplet.io.read_score_all is read_score_all
    assert tuplet.io.render_wav is tuplet.io.audio.render_wav
    assert tuplet.io.draw_pianoroll is tuplet.io.pianoroll.draw_pianoroll
    with pytest.raises(AttributeError):
        _ = tuplet.io.no_such_name
    assert set(SUPPORTED_EXTENSIONS) == set(MIDI_EXTENSIONS) | set(SCORE_EXTENSIONS)


def test_read_notes_dispatches_by_extension_in_any_case(data_dir, tmp_path):
    shouting = tmp_path / "CHORALE.MID"
    shutil.copyfile(data_dir / "bwv66.6.mid", shouting)
    assert read_notes(shouting).ticks_per_beat == 10080  # the file's own resolution
    assert read_notes(data_dir / "bwv66.6.mxl").ticks_per_beat == 480
    unknown = tmp_path / "song.txt"
    unknown.write_text("not music")
    err = assert_bad_file(unknown, "unknown file type '.txt'")
    assert err.problem == (
        "unknown file type '.txt' (tuplet reads .mid, .midi, .musicxml, .xml, .mxl, .krn, .abc)"
    )


# ------------------------------------------------------------------ MIDI
@pytest.mark.parametrize("name", MIDI_FIXTURES)
def test_read_midi_agrees_with_mido(data_dir, name):
    notes = read_midi(data_dir / name)
    assert rows_of(notes) == mido_notes(data_dir / name)
    assert (notes.duration_ticks >= 0).all() and (notes.onset_ticks >= 0).all()


def test_read_midi_maps_and_tracks(data_dir):
    chorale = read_midi(data_dir / "bwv66.6.mid")
    assert sorted(set(chorale.track.tolist())) == [0, 1, 2, 3]  # SATB
    assert chorale.tempo_qpm.tolist() == [96.0]
    assert (chorale.key_fifths[0], chorale.key_mode[0]) == (3, 1)  # F-sharp minor
    multi = read_midi(data_dir / "multitrack_drums.mid")  # made in make_fixtures.py
    assert multi.ticks_per_beat == 480
    assert multi.timesig_ticks.tolist() == [0, 16 * 480, 18 * 480]
    assert multi.timesig_numerator.tolist() == [4, 2, 4]
    assert multi.tempo_ticks.tolist() == [0, 16 * 480, 24 * 480]
    assert np.allclose(multi.tempo_qpm, [96.0, 72.0, 110.0], atol=1e-3)
    drums = multi.select(multi.is_drum)
    assert set(drums.pitch.tolist()) == {36, 38, 42} and (drums.program == 0).all()
    programs = {(int(p), int(t)) for p, t in zip(multi.program, multi.track, strict=True)}
    assert {p for p, _ in programs} == {73, 71, 42, 32, 0}
    assert len(programs) == len({t for _, t in programs})  # one instrument per track


@pytest.mark.parametrize("name", MIDI_FIXTURES)
def test_write_midi_round_trip(data_dir, tmp_path, name):
    notes = read_midi(data_dir / name)
    out = write_midi(notes, tmp_path / "again.mid")
    back = read_midi(out)
    assert back.ticks_per_beat == notes.ticks_per_beat
    assert rows_of(back) == rows_of(notes)
    assert same_maps(back, notes)
    # the program and track of every note survive, and the tracks their names and channels
    assert back.sorted().equals(notes.sorted()) and back.tracks == notes.tracks
    assert list(tmp_path.iterdir()) == [out]  # no temporary file left behind
    # a table without tracks (a generated piece): one track per (program, drum)
    back = read_midi(write_midi(replace(notes, tracks=()), tmp_path / "bare.mid"))
    cols = ("onset_ticks", "pitch", "duration_ticks", "is_drum", "program")
    assert np.array_equal(
        np.stack([getattr(back.sorted(), c) for c in cols]),
        np.stack([getattr(notes.sorted(), c) for c in cols]),
    )
    pairs = set(zip(back.program.tolist(), back.is_drum.tolist(), back.track.tolist(), strict=True))
    assert len(pairs) == len({t for *_, t in pairs}) == len({(p, d) for p, d, _ in pairs})
    named = {(t.program, t.is_drum): t.name for t in back.tracks}
    assert named == {(p, d): program_name(p, d) for p, d, _ in pairs}


def test_write_midi_keeps_tracks_of_distinct_instruments(data_dir, tmp_path):
    notes = read_midi(data_dir / "multitrack_drums.mid")
    back = read_midi(write_midi(notes, tmp_path / "m.mid"))
    assert back.sorted().equals(notes.sorted())


def test_write_midi_puts_drums_on_channel_10(data_dir, tmp_path):
    mido = pytest.importorskip("mido")
    out = write_midi(read_midi(data_dir / "multitrack_drums.mid"), tmp_path / "d.mid")
    channels = {
        (msg.channel, msg.note in (36, 38, 42))
        for track in mido.MidiFile(out).tracks
        for msg in track
        if msg.type == "note_on" and track.name == "Drums"
    }
    assert channels == {(9, True)}


def test_zero_length_note_is_read_and_written(tmp_path):
    path = tmp_path / "zero.mid"
    path.write_bytes(midi_bytes([[(0, b"\x90\x3c\x40"), (0, b"\x80\x3c\x00"), *ONE_NOTE]]))
    notes = read_midi(path)
    assert sorted(notes.duration_ticks.tolist()) == [0, 96]
    back = read_midi(write_midi(notes, tmp_path / "again.mid"))
    assert sorted(back.duration_ticks.tolist()) == [0, 96]


def test_non_ascii_paths(data_dir, tmp_path):
    odd = tmp_path / "Bach – Choral ü é 中文.mid"
    shutil.copyfile(data_dir / "bwv66.6.mid", odd)
    notes = read_notes(odd)
    assert notes.equals(read_midi(data_dir / "bwv66.6.mid"))
    written = write_midi(notes, tmp_path / "Sortie – ü 中文.mid")
    assert read_midi(written).ticks_per_beat == 10080
    odd_score = tmp_path / "Choral – ü 中文.mxl"
    shutil.copyfile(data_dir / "bwv66.6.mxl", odd_score)
    assert read_notes(odd_score).equals(read_score(data_dir / "bwv66.6.mxl"))


def test_write_midi_refuses_bad_tables_and_leaves_the_old_file(tmp_path):
    out = tmp_path / "keep.mid"
    out.write_bytes(b"previous")
    with pytest.raises(UsageError, match="pitch"):
        write_midi(from_rows([(0, 10, 200, 64, 0, 0, 0)], 96), out)
    with pytest.raises(UsageError, match="negative"):
        write_midi(from_rows([(-5, 10, 60, 64, 0, 0, 0)], 96), out)
    with pytest.raises(UsageError, match="folder"):
        write_midi(from_rows([(0, 10, 60, 64, 0, 0, 0)], 96), tmp_path / "nope" / "x.mid")
    assert out.read_bytes() == b"previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.mid"]


# -------------------------------------------------------------- bad MIDI
def test_empty_file(tmp_path):
    path = tmp_path / "empty.mid"
    path.touch()
    assert_bad_file(path, "empty file")


def test_missing_file_and_directory(tmp_path):
    assert_bad_file(tmp_path / "ghost.mid", "no such file")
    folder = tmp_path / "folder.mid"
    folder.mkdir()
    assert_bad_file(folder, "is a directory")


def test_path_that_cannot_be_opened(tmp_path):
    # a file used as a folder cannot be opened, whoever runs the test (root included)
    plain = tmp_path / "plain.mid"
    plain.write_bytes(midi_bytes([ONE_NOTE]))
    assert_bad_file(plain / "inner.mid", "cannot read")


def test_unreadable_file(tmp_path):
    path = tmp_path / "locked.mid"
    path.write_bytes(midi_bytes([ONE_NOTE]))
    path.chmod(0)
    try:
        if os.geteuid() == 0:
            # root reads any file whatever its mode: nothing to assert here (CI runs as root);
            # test_path_that_cannot_be_opened covers a path that cannot be opened
            assert len(read_midi(path)) == 1
        else:
            assert_bad_file(path, "cannot read: permission denied")
    finally:
        path.chmod(0o644)


@pytest.mark.parametrize("keep", [14, 30, 200])
def test_truncated_midi(data_dir, tmp_path, keep):
    path = tmp_path / f"cut{keep}.mid"
    path.write_bytes((data_dir / "bwv66.6.mid").read_bytes()[:keep])
    assert_bad_file(path, "truncated")


def test_corrupted_midi(data_dir, tmp_path):
    good = (data_dir / "bwv66.6.mid").read_bytes()
    path = tmp_path / "noise.mid"
    path.write_bytes(good[:14] + np.random.default_rng(7).bytes(400))
    assert_bad_file(path, "corrupted")


def test_text_file_named_mid(tmp_path):
    path = tmp_path / "notes.mid"
    path.write_text("C D E F G\n")
    assert_bad_file(path, "not a MIDI file")


def test_midi_type_2(tmp_path):
    path = tmp_path / "songs.mid"
    path.write_bytes(midi_bytes([ONE_NOTE, ONE_NOTE], fmt=2))
    assert_bad_file(path, "MIDI type 2 (sequential songs) is not supported")


@pytest.mark.parametrize(
    ("division", "problem"), [(0, "ticks per quarter note is 0"), (0xE728, "SMPTE")]
)
def test_bad_division(tmp_path, division, problem):
    path = tmp_path / "division.mid"
    path.write_bytes(midi_bytes([ONE_NOTE], division=division))
    assert_bad_file(path, problem)


def test_no_notes(tmp_path):
    path = tmp_path / "silence.mid"
    path.write_bytes(midi_bytes([[(0, b"\xff\x51\x03\x07\xa1\x20")]]))
    assert_bad_file(path, "no notes")


def test_absurd_tick_values(tmp_path):
    huge = 0x0FFFFFFF  # the largest delta time MIDI can store
    far = tmp_path / "far.mid"  # a note 2.8 million beats in
    far.write_bytes(midi_bytes([[(huge, b"\x90\x3c\x40"), (10, b"\x80\x3c\x00")]]))
    assert_bad_file(far, "absurd tick values")
    past_int32 = tmp_path / "overflow.mid"  # a note that ends after tick 2**31
    text = b"\xff\x01\x01a"
    events = [(huge, text)] * 7 + [(0, b"\x90\x3c\x40"), (huge, text), (huge, b"\x80\x3c\x00")]
    past_int32.write_bytes(midi_bytes([ONE_NOTE + events]))
    assert_bad_file(past_int32, "absurd tick values")


# ---------------------------------------------------------------- scores
def test_score_agrees_with_music21s_own_midi_export(data_dir):
    # bwv66.6.mid was written by music21's MIDI exporter from the same score (see README.md)
    score = read_score(data_dir / "bwv66.6.mxl")
    midi = to_resolution(read_midi(data_dir / "bwv66.6.mid"), 480)
    cols = ("onset_ticks", "duration_ticks", "pitch", "track", "is_drum")
    assert np.array_equal(
        np.stack([getattr(score.sorted(), c) for c in cols]),
        np.stack([getattr(midi.sorted(), c) for c in cols]),
    )
    # the score names no instrument but its parts are Soprano, Alto, Tenor, Bass: they sing
    # (music21's MIDI export plays them on a piano)
    assert set(score.program.tolist()) == {52} and set(midi.program.tolist()) == {0}
    assert same_maps(score, midi)


def test_a_score_names_its_tracks_by_part_and_a_midi_write_keeps_them(data_dir, tmp_path):
    score = read_score(data_dir / "bwv66.6.mxl")
    voices = ["Soprano", "Alto", "Tenor", "Bass"]
    assert [(t.name, t.channel, t.program) for t in score.tracks] == [
        (name, channel, 52)
        for channel, name in enumerate(voices)  # they sing
    ]
    back = read_midi(write_midi(score, tmp_path / "chorale.mid"))
    assert back.tracks == score.tracks  # the MIDI file's tracks are named by part, not "Piano"


def test_humdrum_score(data_dir):
    # music21's own MIDI export fails on this file (it expands repeats and finds them badly
    # formed); tuplet reads the notes as written
    from music21 import converter

    notes = read_score(data_dir / "bwv277.krn")
    parsed = converter.parse(data_dir / "bwv277.krn", forceSource=True)
    assert sorted(set(notes.track.tolist())) == [0, 1, 2, 3]
    assert notes.length_beats == pytest.approx(float(parsed.highestTime))
    soprano, bass = (notes.pitch[notes.track == t].mean() for t in (0, 3))
    assert soprano > bass + 12


def test_abc_collection_song_by_song(data_dir):
    path = data_dir / "reelsa-c.abc"  # two tunes, X: 80 in D major and X: 81 in A minor
    songs = read_score_all(path)
    assert [name for name, _ in songs] == ["reelsa-c.abc#80", "reelsa-c.abc#81"]
    assert songs[0][1].equals(read_score(path))
    for (_, notes), key in zip(songs, [(2, 0), (0, 1)], strict=True):
        assert (int(notes.key_fifths[0]), int(notes.key_mode[0])) == key
        assert notes.timesig_numerator.tolist() == [4]
        # a tune is one melody: the chord symbols above it are not read as notes
        assert set(notes.track.tolist()) == {0}
        assert (np.diff(notes.onset_ticks) > 0).all()
        assert (notes.onset_ticks[1:] >= (notes.onset_ticks + notes.duration_ticks)[:-1]).all()


def test_abc_song_without_notes_is_skipped_or_raised(data_dir, tmp_path):
    path = tmp_path / "two.abc"
    good = (data_dir / "reelsa-c.abc").read_text().split("X: 81")[0]
    path.write_text(good + "\nX: 7\nT:Empty\nM:4/4\nK:C\n")
    skipped: list[BadFileError] = []
    songs = read_score_all(path, skipped=skipped)
    assert [name for name, _ in songs] == ["two.abc#80"]
    assert len(skipped) == 1 and "two.abc#7" in str(skipped[0]) and "no notes" in str(skipped[0])
    with pytest.raises(BadFileError, match="no notes"):
        read_score_all(path)


HANDMADE_MUSICXML = """<?xml version="1.0" encoding="UTF-8"?>
<score-partwise version="3.1">
  <part-list>
    <score-part id="P1"><part-name>Clarinet in B-flat</part-name>
      <score-instrument id="P1-I1"><instrument-name>Clarinet</instrument-name></score-instrument>
      <midi-instrument id="P1-I1"><midi-channel>1</midi-channel><midi-program>72</midi-program>
      </midi-instrument>
    </score-part>
  </part-list>
  <part id="P1">
    <measure number="1">
      <attributes><divisions>2</divisions><key><fifths>0</fifths><mode>major</mode></key>
        <time><beats>3</beats><beat-type>4</beat-type></time>
        <clef><sign>G</sign><line>2</line></clef>
        <transpose><diatonic>-1</diatonic><chromatic>-2</chromatic></transpose>
      </attributes>
      <direction placement="above"><direction-type><metronome><beat-unit>quarter</beat-unit>
        <per-minute>72</per-minute></metronome></direction-type></direction>
      <harmony><root><root-step>C</root-step></root><kind>major</kind></harmony>
      <note><grace/><pitch><step>C</step><octave>5</octave></pitch><type>eighth</type></note>
      <note><pitch><step>D</step><octave>5</octave></pitch><duration>2</duration>
        <type>quarter</type></note>
      <note><pitch><step>E</step><octave>5</octave></pitch><duration>2</duration>
        <tie type="start"/><type>quarter</type><notations><tied type="start"/></notations></note>
      <note><pitch><step>E</step><octave>5</octave></pitch><duration>2</duration>
        <tie type="stop"/><type>quarter</type><notations><tied type="stop"/></notations></note>
    </measure>
  </part>
</score-partwise>
"""


def test_score_conventions_on_a_handmade_score(tmp_path):
    # a B-flat clarinet sounds a major second below what is written: written D5 E5 sound
    # C5 (72) and D5 (74); the grace note and the chord symbol are not notes; the tied E5
    # is one note of two beats; MusicXML numbers programs from 1 (72 is the clarinet, 71)
    path = tmp_path / "clarinet.musicxml"
    path.write_text(HANDMADE_MUSICXML)
    notes = read_score(path)
    assert notes.ticks_per_beat == 480
    assert notes.pitch.tolist() == [72, 74]
    assert notes.onset_ticks.tolist() == [0, 480]
    assert notes.duration_ticks.tolist() == [480, 960]
    assert notes.program.tolist() == [71, 71] and not notes.is_drum.any()
    assert notes.tempo_qpm.tolist() == [72.0]
    assert notes.timesig_numerator.tolist() == [3] and notes.timesig_denominator.tolist() == [4]
    assert notes.key_fifths.tolist() == [-2]  # C major written: B-flat major sounding


def test_abc_with_repeated_tune_numbers_is_read_as_one_collection(data_dir, tmp_path):
    text = (data_dir / "reelsa-c.abc").read_text().replace("X: 81", "X: 80")
    path = tmp_path / "same-numbers.abc"
    path.write_text(text)
    songs = read_score_all(path)
    assert [name for name, _ in songs] == ["same-numbers.abc#1", "same-numbers.abc#2"]
    originals = read_score_all(data_dir / "reelsa-c.abc")
    assert all(a.equals(b) for (_, a), (_, b) in zip(songs, originals, strict=True))


def test_bad_scores(tmp_path):
    empty = tmp_path / "empty.musicxml"
    empty.touch()
    assert_bad_file(empty, "empty file")
    garbage = tmp_path / "garbage.musicxml"
    garbage.write_text("this is <not music")
    assert_bad_file(garbage, "cannot parse as musicxml")
    broken_zip = tmp_path / "broken.mxl"
    broken_zip.write_bytes(b"PK\x03\x04" + bytes(50))
    assert_bad_file(broken_zip, "cannot parse as musicxml")
    assert_bad_file(tmp_path / "x.mid", "not a score file type", read=read_score)


def test_pickle_input_is_never_unpickled(tmp_path):
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (Path.touch, (marker,))

    bait = tmp_path / "score.p"
    bait.write_bytes(pickle.dumps(Payload()))
    assert_bad_file(bait, "unknown file type '.p'")
    assert_bad_file(bait, "not a score file type", read=read_score)
    assert not marker.exists()


def test_reading_scores_writes_no_music21_pickles(data_dir, tmp_path):
    # music21 caches pickles of parsed files in the temp folder; tuplet must not. The second
    # half proves the check can fail: music21's default parse does write one there.
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    code = (
        "import sys, os\n"
        "from tuplet.io.score import read_score, read_score_all\n"
        "read_score(sys.argv[1]); read_score_all(sys.argv[2])\n"
        "print(sum(len(f) for _, _, f in os.walk(sys.argv[3])))\n"
        "from music21 import converter\n"
        "converter.parse(sys.argv[1])\n"
        "print(sum(len(f) for _, _, f in os.walk(sys.argv[3])))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, data_dir / "bwv66.6.mxl", data_dir / "reelsa-c.abc", scratch],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "TMPDIR": str(scratch)},
    )
    ours, music21_default = map(int, out.stdout.split())
    assert ours == 0
    assert music21_default > 0


def test_music21_corpus_paths():
    from tuplet.io.score import music21_corpus_names

    names = music21_corpus_names()
    for name in ("bach", "palestrina", "monteverdi", "beethoven", "mozart", "haydn", "trecento"):
        assert name in names
    for name in ("essenFolksong", "oneills1850", "ryansMammoth", "airdsAirs", "joplin"):
        assert name in names
    bach = music21_corpus_paths("bach")
    assert len(bach) > 400 and all(p.is_file() for p in bach)
    assert {p.suffix for p in bach} <= set(SCORE_EXTENSIONS)  # no .rntxt analyses
    stems = [p.stem for p in bach]
    assert len(stems) == len(set(stems))  # bwv277 is there as .mxl and .krn: listed once
    assert any(p.name == "bwv277.mxl" for p in bach)
    both = music21_corpus_paths("schumann_robert") + music21_corpus_paths("schumann_clara")
    assert sorted(music21_corpus_paths("schumann")) == sorted(both)
    everything = set(music21_corpus_paths("all"))
    assert set(bach) <= everything and set(music21_corpus_paths("essenFolksong")) <= everything
    assert not everything & set(music21_corpus_paths("demos"))
    with pytest.raises(UsageError, match=r"valid names: .*bach"):
        music21_corpus_paths("nonesuch")


# ----------------------------------------------------------------- audio
def test_render_wav_from_a_midi_file(data_dir, tmp_path):
    from tuplet.io.audio import render_wav

    path = data_dir / "multitrack_drums.mid"  # its tempo changes decide how long it lasts
    notes = read_midi(path)
    out = render_wav(path, tmp_path / "multi.wav", sample_rate=22050)
    with wave.open(str(out)) as w:
        assert w.getframerate() == 22050 and w.getsampwidth() == 2
        seconds = w.getnframes() / w.getframerate()
        audio = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    # FluidSynth adds a release tail of a second or two after the last note
    assert notes.length_seconds <= seconds <= notes.length_seconds + 4
    rms = np.sqrt(np.mean(audio.astype(np.float64) ** 2))
    assert rms > 100 and np.abs(audio).max() > 1000
    assert list(tmp_path.iterdir()) == [out]


def test_render_wav_from_notes_is_silent_where_there_are_no_notes(tmp_path):
    from tuplet.io.audio import render_wav

    # one second of sound, two seconds of rest, one second of sound (120 qpm)
    notes = from_rows([(0, 96, 60, 100, 0, 0, 0), (288, 96, 67, 100, 0, 0, 0)], 48)
    out = render_wav(notes, tmp_path / "gap.wav", sample_rate=16000)
    with wave.open(str(out)) as w:
        channels = w.getnchannels()
        audio = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").reshape(-1, channels)
    level = [np.abs(audio[int(a * 16000) : int(b * 16000)]).mean() for a, b in ((0, 1), (2.5, 3))]
    assert level[0] > 20 * max(level[1], 1)


def test_a_loop_renders_to_exactly_its_length_with_its_tail_at_the_start(tmp_path):
    from tuplet.io.audio import render_wav

    # 120 qpm, a 4-beat (2 s) loop whose only note (an organ's) sounds from 1 s to its end
    notes = from_rows([(48, 48, 60, 127, 19, 0, 0)], 48)
    plain = render_wav(notes, tmp_path / "plain.wav", sample_rate=16000)
    looped = render_wav(notes, tmp_path / "loop.wav", sample_rate=16000, loop_seconds=2.0)
    level = {}
    for name, path in (("plain", plain), ("loop", looped)):
        with wave.open(str(path)) as w:
            frames, channels = w.getnframes(), w.getnchannels()
            audio = np.frombuffer(w.readframes(frames), dtype="<i2").reshape(-1, channels)
        level[name] = (frames, np.abs(audio[: int(0.2 * 16000)]).mean())
    assert level["plain"][0] > 2 * 16000  # FluidSynth's release tail runs past the loop
    assert level["loop"][0] == 2 * 16000  # exactly the loop
    # the note's release, past the end, sounds again at the start when the loop repeats
    assert level["plain"][1] < 1 and level["loop"][1] > 10


def test_render_wav_explains_what_is_missing(tmp_path, monkeypatch):
    from tuplet.io.audio import render_wav

    notes = from_rows([(0, 48, 60, 100, 0, 0, 0)], 48)
    with pytest.raises(TupletError, match="no such SoundFont"):
        render_wav(notes, tmp_path / "a.wav", soundfont=tmp_path / "missing.sf2")
    (tmp_path / "notes.txt").write_text("not a SoundFont")  # FluidSynth would use another
    with pytest.raises(TupletError, match=r"notes.txt: not a SoundFont 2 \(.sf2\) file"):
        render_wav(notes, tmp_path / "a.wav", soundfont=tmp_path / "notes.txt")
    monkeypatch.setenv("TUPLET_SOUNDFONT", str(tmp_path / "gone.sf2"))
    with pytest.raises(TupletError, match="TUPLET_SOUNDFONT"):
        render_wav(notes, tmp_path / "a.wav")
    monkeypatch.delenv("TUPLET_SOUNDFONT")
    monkeypatch.setenv("PATH", str(tmp_path))  # a machine without the fluidsynth program
    with pytest.raises(TupletError, match="apt-get install fluidsynth fluid-soundfont-gm"):
        render_wav(notes, tmp_path / "a.wav")
    assert not (tmp_path / "a.wav").exists()


# ------------------------------------------------------------ piano roll
def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def _coloured_pixels(path: Path) -> np.ndarray:
    from matplotlib.image import imread

    rgb = imread(path)[..., :3]
    return (rgb.max(axis=2) - rgb.min(axis=2)) > 0.25  # saturated: not white, grey or black


def test_pianoroll_png(data_dir, tmp_path):
    from tuplet.io.pianoroll import draw_pianoroll

    out = draw_pianoroll(read_midi(data_dir / "multitrack_drums.mid"), tmp_path / "r.png", "M")
    width, height = _png_size(out)
    assert 600 <= width <= 4000 and 300 <= height <= 1000
    assert list(tmp_path.iterdir()) == [out]


def test_pianoroll_draws_notes_where_they_are(tmp_path):
    from tuplet.io.pianoroll import draw_pianoroll

    # the same pitch range and length; only where the notes sit differs
    low_then_high = from_rows([(0, 48, 40, 90, 0, 0, 0), (336, 48, 80, 90, 0, 0, 0)], 48)
    high_then_low = from_rows([(0, 48, 80, 90, 0, 0, 0), (336, 48, 40, 90, 0, 0, 0)], 48)
    a = _coloured_pixels(draw_pianoroll(low_then_high, tmp_path / "a.png"))
    b = _coloured_pixels(draw_pianoroll(high_then_low, tmp_path / "b.png"))
    only_a, only_b = a & ~b, b & ~a  # the legend and the axes are the same in both
    assert only_a.sum() > 50 and only_b.sum() > 50
    ys, xs = np.nonzero(only_a | only_b)
    cy, cx = (ys.min() + ys.max()) / 2, (xs.min() + xs.max()) / 2
    ya, xa = np.nonzero(only_a)  # image rows grow downwards: low pitch = large row
    assert ((xa < cx) == (ya > cy)).all()  # bottom left and top right
    yb, xb = np.nonzero(only_b)
    assert ((xb < cx) == (yb < cy)).all()  # top left and bottom right


def test_pianoroll_colours_each_instrument(tmp_path):
    from matplotlib.image import imread

    from tuplet.io.pianoroll import draw_pianoroll

    rows = [(0, 96, 60, 90, 0, 0, 0), (0, 96, 64, 90, 40, 0, 1), (0, 96, 67, 90, 73, 0, 2)]
    out = draw_pianoroll(from_rows(rows, 48), tmp_path / "c.png", beats=4)
    rgb = (imread(out)[..., :3] * 255).round().astype(int)
    saturated = rgb[(rgb.max(axis=2) - rgb.min(axis=2)) > 60]
    _, counts = np.unique(saturated, axis=0, return_counts=True)
    assert (counts > 100).sum() >= 3  # three instruments, three colours


def test_bar_lines_follow_the_time_signature_map():
    from tuplet.io.pianoroll import bar_lines_beats

    notes = from_rows(
        [(0, 1, 60, 90, 0, 0, 0)],
        12,
        timesig_ticks=[0, 8 * 12],
        timesig_numerator=[4, 6],
        timesig_denominator=[4, 8],
    )
    assert bar_lines_beats(notes, 16).tolist() == [0, 4, 8, 11, 14]
    assert bar_lines_beats(from_rows([(0, 1, 60, 90, 0, 0, 0)], 12), 9).tolist() == [0, 4, 8]


def test_write_midi_cuts_a_note_where_its_pitch_starts_again(tmp_path):
    from tuplet.notes import from_rows

    notes = from_rows(
        [
            (0, 48, 60, 80, 0, False, 0),  # outlasts the next 60 (24..36): cut at 24
            (24, 12, 60, 90, 0, False, 0),
            (30, 6, 64, 70, 0, False, 0),  # another pitch: untouched
            (36, 24, 60, 100, 0, False, 0),  # 24..36 ended before: untouched
            (72, 12, 62, 60, 0, False, 0),  # overlaps the next 62 but ends first: kept
            (78, 12, 62, 61, 0, False, 0),
            (0, 96, 60, 80, 40, False, 1),  # another track: untouched
        ],
        ticks_per_beat=12,
    )
    back = read_midi(write_midi(notes, tmp_path / "overlap.mid"))
    got = sorted(
        zip(back.program.tolist(), back.onset_ticks.tolist(), back.pitch.tolist(),
            back.duration_ticks.tolist(), back.velocity.tolist(), strict=True)
    )  # fmt: skip
    assert got == [
        (0, 0, 60, 24, 80),
        (0, 24, 60, 12, 90),
        (0, 30, 64, 6, 70),
        (0, 36, 60, 24, 100),
        (0, 72, 62, 12, 60),
        (0, 78, 62, 12, 61),
        (40, 0, 60, 96, 80),
    ]
