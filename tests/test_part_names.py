"""A score part plays what its name names: quartets, choirs, trecento voices, Bach's brass."""

from __future__ import annotations

from pathlib import Path

import pytest

from tuplet.io.part_names import VOICES, names_voice, program_from_part_name
from tuplet.io.score import read_score


@pytest.mark.parametrize(
    ("name", "choir", "program"),
    [
        ("Violin I.", False, 40),
        ("2nd Violin", False, 40),
        ("Violino II.", False, 40),
        ("Viola", False, 41),
        ("Violoncello.", False, 42),
        ("Violone e Organo", False, 43),
        ("Bb Clarinet", False, 71),
        ("English Horn", False, 69),
        ("Horn in F", False, 60),
        ("Trumpet 1,2", False, 56),
        ("Continuo", False, 6),
        ("Soprano Oboe 1 Violin1", False, VOICES),  # a chorale's soprano, doubled: it sings
        ("Tenor Viola", True, VOICES),
        ("Alto Sax", True, 65),
        ("Tenor Saxophone", False, 66),
        ("Bass Clarinet in Bb", True, 71),
        ("Tenor Trombone", True, 57),
        ("Bass Guitar", True, 33),
        ("Double Bass", False, 43),
        ("Alto Flute", False, 73),
        ("Sax", False, 65),
        ("Soprano 1", False, VOICES),
        ("Alto II", False, VOICES),
        ("Tenore", False, VOICES),
        ("Ct", False, VOICES),
        ("Cantus firmus", False, VOICES),
        ("Basso", True, VOICES),
        ("Bass Continuo", True, VOICES),
        ("Basso", False, None),  # a bass guitar, a double bass or a singer: the file decides
        ("MusicXML Part", False, None),
        ("P1", False, None),
        ("", False, None),
        (None, False, None),
    ],
)
def test_program_from_part_name(name: str | None, choir: bool, program: int | None) -> None:
    assert program_from_part_name(name, choir=choir) == program


def test_names_voice() -> None:
    assert names_voice("Alto I") and names_voice("Triplum")
    assert not names_voice("Bass") and not names_voice("Violin") and not names_voice(None)


def _write_score(path: Path, parts: list[tuple[str, object | None]]) -> Path:
    """A real MusicXML file with one part per (name, music21 instrument or None)."""
    from music21 import note, stream

    score = stream.Score()
    for i, (name, inst) in enumerate(parts):
        part = stream.Part()
        part.partName = name
        if inst is not None:
            part.insert(0, inst)
        for k in range(8):
            part.append(note.Note(60 + i + k % 3, quarterLength=1.0))
        score.insert(0, part)
    score.write("musicxml", fp=str(path))
    return path


def test_read_score_trusts_a_parts_name_over_its_encoded_instrument(tmp_path: Path) -> None:
    from music21 import instrument

    path = _write_score(
        tmp_path / "quartet.musicxml",
        [("Violin I", instrument.Violoncello()), ("Viola", None), ("Cello", instrument.Piano())],
    )
    notes = read_score(path)
    assert [t.program for t in notes.tracks] == [40, 41, 42]
    assert [t.name for t in notes.tracks] == ["Violin I", "Viola", "Cello"]
    assert sorted(set(notes.program.tolist())) == [40, 41, 42]


def test_read_score_choir_and_band_bass(tmp_path: Path) -> None:
    from music21 import instrument

    choir = read_score(
        _write_score(
            tmp_path / "satb.musicxml", [("Soprano", None), ("Alto", None), ("Bass", None)]
        )
    )
    assert [t.program for t in choir.tracks] == [VOICES] * 3
    band = read_score(
        _write_score(
            tmp_path / "band.musicxml", [("Guitar", None), ("Bass", instrument.ElectricBass())]
        )
    )
    assert [t.program for t in band.tracks] == [24, 33]  # no choir: "Bass" is the file's
    unnamed = read_score(_write_score(tmp_path / "unnamed.musicxml", [("", None)]))
    assert [t.program for t in unnamed.tracks] == [0]  # nothing named, nothing encoded: piano


def test_music21s_vocal_collections_sing() -> None:
    from tuplet.io.score import music21_corpus_paths

    madrigal = read_score(music21_corpus_paths("monteverdi")[0])  # Canto, Quinto... Basso
    assert {t.program for t in madrigal.tracks} == {VOICES}
    quartet = read_score(music21_corpus_paths("haydn")[0])
    assert [t.program for t in quartet.tracks] == [40, 40, 41, 42]
