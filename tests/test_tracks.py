"""A file keeps its shape: its tracks (names, channels, programs, drum tracks apart) through a
MIDI write and read and onto the new notes of generation (the modes themselves: in
test_generate_cli.py), and maps end where the piece ends. The file: :mod:`songs`."""

from __future__ import annotations

from pathlib import Path

import pytest

from songs import SONG_TRACKS, TPB, shape, song_notes, write_song
from tuplet.generation.tracks import place_notes
from tuplet.io.midi import read_midi, write_midi
from tuplet.io.midi_channels import MalformedTrack, note_track_keys, set_channels
from tuplet.notes import Notes, Track, concat, free_channel, from_rows, maps_within


@pytest.fixture(scope="module")
def song(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_song(tmp_path_factory.mktemp("song") / "song.mid")


# ------------------------------------------------------------------------------ MIDI
def test_read_midi_gives_each_track_its_name_channel_and_program(song) -> None:
    notes = read_midi(song)
    assert shape(notes) == list(SONG_TRACKS)
    for i in range(len(SONG_TRACKS)):  # every note on the track it was written on
        mine = notes.select(notes.track == i)
        assert sorted(mine.pitch.tolist()) == sorted(p for _, _, p, _ in song_notes(i))
    assert shape(read_midi(song, reader="muspy")) == list(SONG_TRACKS)


def test_a_write_and_read_keeps_tracks_names_and_channels(song, tmp_path) -> None:
    mido = pytest.importorskip("mido")
    notes = read_midi(song)
    out = write_midi(notes, tmp_path / "again.mid")
    back = read_midi(out)
    assert back.sorted().equals(notes.sorted())  # notes, tracks and maps
    assert shape(back) == list(SONG_TRACKS)
    # what another program sees: each track's name, and its notes on its own channel
    seen = []
    for track in mido.MidiFile(out).tracks:
        channels = {m.channel for m in track if m.type in ("note_on", "program_change")}
        seen.append((track.name, channels))
    assert seen == [(name, {channel}) for name, channel, _, _ in SONG_TRACKS]


def test_what_write_midi_writes_of_odd_tracks() -> None:
    from tuplet.io.midi import _written_tracks

    tracks = (
        Track(name="Lead", channel=0, program=4),
        Track(name="Empty", channel=2, program=40),
        Track(name="Same channel", channel=0, program=5),
    )
    rows = [(0, 12, 60, 80, 4, 0, 0), (12, 12, 62, 80, 7, 0, 0), (0, 12, 48, 80, 5, 0, 2)]
    written = _written_tracks(from_rows(rows, 12, tracks=tracks))
    assert [(t, rows.tolist()) for t, rows in written] == [
        (tracks[0], [0]),
        (tracks[1], []),  # a track without notes is written, empty
        # channel 0 plays program 4: program 5 moves to the first channel free
        (Track(name="Same channel", channel=1, program=5), [2]),
        # a note whose program is not its track's gets a track of its own
        (Track(name="Clavinet", channel=3, program=7), [1]),
    ]


def test_channel_scanner_follows_running_status_and_refuses_junk() -> None:
    # one track: program 5 on channel 2, two notes under running status, a sysex between
    body = bytes([0, 0xC2, 5, 0, 0x92, 60, 64, 10, 62, 64, 0, 0xF0, 1, 0xF7])
    body += bytes([10, 0x82, 60, 0, 0, 62, 0, 0, 0xFF, 0x2F, 0])
    data = b"MThd" + (6).to_bytes(4, "big") + bytes([0, 1, 0, 1, 0, 96])
    data += b"MTrk" + len(body).to_bytes(4, "big") + body
    assert note_track_keys(data) == [(2, 5)]
    moved = set_channels(data, [7])
    assert note_track_keys(moved) == [(7, 5)] and len(moved) == len(data)
    with pytest.raises(MalformedTrack):
        note_track_keys(data[:14] + b"MTrk" + (3).to_bytes(4, "big") + bytes([0, 60, 64]))


# ------------------------------------------------------------------------------ the table
def test_tracks_are_checked_and_kept_by_conversions() -> None:
    tracks = (Track(name="A", channel=0), Track(name="B", channel=9, is_drum=True))
    notes = from_rows([(0, 12, 60, 80, 0, 0, 0), (24, 12, 36, 80, 0, 1, 1)], 12, tracks=tracks)
    assert notes.select(notes.is_drum).tracks == tracks
    assert concat([notes, notes]).tracks == tracks
    with pytest.raises(ValueError, match="not one of the 2 tracks"):
        from_rows([(0, 12, 60, 80, 0, 0, 2)], 12, tracks=tracks)
    with pytest.raises(ValueError, match="channel"):
        Track(name="drums on 3", channel=3, is_drum=True)
    assert free_channel(tracks, False) == 1 and free_channel(tracks, True) == 9
    assert not notes.equals(from_rows([(0, 12, 60, 80, 0, 0, 0), (24, 12, 36, 80, 0, 1, 1)], 12))


def test_maps_within_drops_entries_past_the_end_but_tick_0() -> None:
    notes = from_rows(
        [(0, 48, 60, 80, 0, 0, 0)],
        12,
        tempo_ticks=[0, 24, 48, 96],
        tempo_qpm=[90.0, 100.0, 110.0, 120.0],
        key_ticks=[60],
        key_fifths=[1],
        key_mode=[0],
    )
    trimmed = maps_within(notes)
    assert trimmed.tempo_ticks.tolist() == [0, 24] and len(trimmed.key_ticks) == 0
    assert maps_within(Notes(12, tempo_ticks=[0], tempo_qpm=[90.0])).tempo_ticks.tolist() == [0]


def test_new_notes_go_to_the_track_of_their_instrument_that_fits_them(song) -> None:
    from tuplet.encoding.extended import instrument_codes

    piece = read_midi(song)
    high_voice = (4 * TPB, TPB, 74, 80, 52, 0, 0)  # voices as the model writes them: 52
    low_voice = (4 * TPB, TPB, 56, 80, 52, 0, 0)
    snare, hat = (2 * TPB, 60, 38, 90, 0, 1, 0), (2 * TPB, 60, 42, 90, 0, 1, 0)
    violin = (0, TPB, 70, 80, 40, 0, 0)
    added = from_rows([high_voice, low_voice, snare, hat, violin], TPB)
    placed = place_notes(piece, added, instrument_codes)
    assert placed.tracks[: len(SONG_TRACKS)] == piece.tracks
    assert placed.tracks[len(SONG_TRACKS)] == Track(
        name="Violin", channel=2, program=40
    )  # a free channel
    assert placed.track.tolist() == [0, 1, 5, 6, 10]
    assert placed.program.tolist() == [53, 53, 0, 0, 40]  # the track's program, not the code's
    # without tracks (a generated piece), the new notes come after the piece's
    bare = from_rows([(0, 12, 60, 80, 0, 0, 3)], TPB)
    assert place_notes(bare, added, instrument_codes).track.tolist() == [4] * 5
