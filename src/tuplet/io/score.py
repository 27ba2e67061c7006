"""Scores (MusicXML, Humdrum, ABC) -> note tables, through music21; and music21's own corpus.

Reading is done the safe way for untrusted files: an extension allow-list (music21 would
otherwise unpickle a file whose extension is its pickle format), a parse that neither reads nor
writes music21's pickle cache, warnings silenced, and every failure turned into a one-line
:class:`~tuplet.errors.BadFileError`. Scores are converted to notes directly (no MIDI detour)
at :data:`SCORE_TICKS_PER_BEAT`.

Conventions of the conversion:

* pitches are sounding pitches (parts of transposing instruments are transposed);
* each part is a track (``track`` = part index) and plays the instrument its name names
  ("Violin I", "Basso", "Cantus": :mod:`tuplet.io.part_names`), else the program of its first
  instrument (``midiProgram``), else voices in music21's vocal collections
  (:data:`SUNG_COLLECTIONS`: chorales, madrigals, masses...) and piano elsewhere; a part whose
  instrument is unpitched percussion, or on MIDI channel 10, is a drum part; the track takes
  the part's name, and a channel in part order (drums on channel 10);
* tied notes are merged; chord symbols and grace notes are not notes (they have no notated
  time) and are left out; velocity is the note's own when the score gives one, else
  :data:`DEFAULT_VELOCITY`;
* **repeats are not expanded**: the notes are read as written, once;
* tempo comes from metronome marks that state a number (none when the score has none), time
  and key signatures from the score; where parts disagree at a tick, the upper part wins.

Long files hold many songs (the Essen and O'Neill ABC collections): :func:`read_score` gives the
first one, :func:`read_score_all` every one.
"""

from __future__ import annotations

import os
import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from tuplet.errors import BadFileError, UsageError
from tuplet.io import SCORE_EXTENSIONS, check_readable_file
from tuplet.io.midi import normalise_map
from tuplet.io.part_names import VOICES, names_voice, program_from_part_name
from tuplet.notes import DRUM_CHANNEL, Notes, Track

SCORE_TICKS_PER_BEAT = 480
"""Resolution of notes read from scores: exact for tuplets of 3 and 5 and for 128th notes."""
DEFAULT_VELOCITY = 64
"""Velocity of a note whose score states no dynamics (MIDI's "mezzo")."""

_FORMATS = {".musicxml": "musicxml", ".xml": "musicxml", ".mxl": "musicxml"}
_FORMATS |= {".krn": "humdrum", ".abc": "abc"}
_ABC_TUNE = re.compile(r"^X:[ \t]*(\d*)", re.MULTILINE)

# music21's test and demonstration files: addressable by name, but not music for "all"
_NOT_IN_ALL = ("demos", "theoryExercises")
_ALIASES = {"schumann": ("schumann_robert", "schumann_clara")}
# music21 corpus folders of vocal music: their parts sing, named or not
SUNG_COLLECTIONS = frozenset(
    ("bach", "monteverdi", "palestrina", "trecento", "josquin", "ciconia", "luca", "lusitano")
)
# when one piece is in a folder in several formats, keep the first of these
_FORMAT_PREFERENCE = (".mxl", ".musicxml", ".xml", ".krn", ".abc")


def _short_reason(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return (f"{type(exc).__name__}: {text}" if text else type(exc).__name__)[:160]


MAX_METER_TERMS = 128
"""Largest numerator or denominator of a time signature music21 is let build (see below)."""


def _bound_meters() -> None:
    """Make music21 refuse time signatures with more than :data:`MAX_METER_TERMS` beats.

    music21 builds one object per beat of a time signature. A file that states 99999999/4, or
    whose ABC notes add up to a bar that long (music21 then guesses such a meter to re-bar it),
    would take minutes and gigabytes before failing; found by fuzzing. Such a meter now raises
    music21's own ``MeterException`` at once: a stated one makes the file unreadable, a
    guessed one is skipped by music21's ABC reader (it catches that exception). Real meters
    stay far below the bound. Installed once, the first time a score is parsed.
    """
    from music21 import meter
    from music21.meter import base

    load = base.TimeSignature.load
    if getattr(load, "_tuplet_bounded", False):
        return

    def bounded_load(self: Any, value: str, divisions: Any = None) -> None:
        for term in re.findall(r"\d+", str(value)):
            if int(term) > MAX_METER_TERMS:
                raise meter.MeterException(f"time signature {value} is too large")
        load(self, value, divisions)

    bounded_load._tuplet_bounded = True  # type: ignore[attr-defined]
    base.TimeSignature.load = bounded_load  # type: ignore[method-assign]


def _parse(path: Path, shown: str | os.PathLike[str], abc_text: str | None = None) -> Any:
    """Parse a score file with music21 (no pickle cache), or ABC text taken from it."""
    from music21 import converter

    _bound_meters()
    fmt = _FORMATS[path.suffix.lower()]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            conv = converter.Converter()
            if abc_text is not None:
                conv.parseData(abc_text, format="abc", forceSource=True)
            else:
                # music21's parse that never reads or writes its pickle cache (the same as
                # parse(..., forceSource=True) without touching the scratch folder)
                conv.parseFileNoPickle(path, format=fmt, forceSource=True)
            return conv.stream
    except Exception as exc:  # music21 raises many types; every one means "cannot read"
        raise BadFileError(shown, f"cannot parse as {fmt}: {_short_reason(exc)}") from None


def _abc_tunes(path: Path) -> list[tuple[str, str]]:
    """The tunes of an ABC file, in order: (reference number, or "" if none, ABC text).

    The file header (whatever precedes the first ``X:``) is put in front of every tune, as
    the ABC standard says it applies to all of them. A file without ``X:`` is one tune.
    """
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:  # older collections are Latin-1
        text = data.decode("latin-1")
    starts = list(_ABC_TUNE.finditer(text))
    if not starts:
        return [("", text)]
    header = text[: starts[0].start()]
    ends = [m.start() for m in starts[1:]] + [len(text)]
    return [
        (m.group(1), header + text[m.start() : end]) for m, end in zip(starts, ends, strict=True)
    ]


def _drum_key(element: Any) -> int:
    stored = getattr(element, "storedInstrument", None)
    key = getattr(stored, "percMapPitch", None)
    return int(key) if key is not None else int(element.displayPitch().midi)


def _keys_and_ties(element: Any, note: Any) -> list[tuple[int, str | None]]:
    """(MIDI key, tie type or None) of each sounding pitch of a note, chord or drum hit."""
    own_tie = element.tie.type if element.tie is not None else None
    if isinstance(element, note.Unpitched):
        return [(_drum_key(element), own_tie)]
    if isinstance(element, note.Note):
        return [(int(element.pitch.midi), own_tie)]
    keys = []  # chords: each member may carry its own tie
    for member in element.notes:
        tie = member.tie.type if member.tie is not None else own_tie
        if isinstance(member, note.Unpitched):
            keys.append((_drum_key(member), tie))
        else:
            keys.append((int(member.pitch.midi), tie))
    return keys


def _part_name(part: Any) -> str:
    return " ".join(str(getattr(part, "partName", None) or "").split())


def _part_programs(parts: list[Any], *, sung: bool = False) -> list[tuple[int, bool]]:
    """(program, is_drum) of each part: see :mod:`tuplet.io.part_names` for the order.

    A part's name decides its instrument when it names one; else the file's instrument (its
    ``midiProgram``); else voices when ``sung`` (a collection of vocal music) and piano
    otherwise. Unpitched percussion, or MIDI channel 10, is a drum part.
    """
    from music21 import instrument

    insts = [part.getInstrument(returnDefault=False) for part in parts]
    names = [_part_name(part) for part in parts]
    in_choir = sung or any(names_voice(n) for n in names)
    out: list[tuple[int, bool]] = []
    for inst, name in zip(insts, names, strict=True):
        if inst is not None and (
            isinstance(inst, instrument.UnpitchedPercussion) or inst.midiChannel == 9
        ):
            out.append((0, True))
            continue
        choir = in_choir or isinstance(inst, instrument.Vocalist)
        named = program_from_part_name(name, choir=choir)
        if named is not None:
            out.append((named, False))
            continue
        program = getattr(inst, "midiProgram", None)
        if sung:  # a part of a vocal collection whose name names no instrument sings
            out.append((VOICES, False))
        elif program is not None and 0 <= program <= 127:
            out.append((int(program), False))
        else:
            out.append((0, False))
    return out


def _part_tracks(parts: list[Any], programs: list[tuple[int, bool]]) -> tuple[Track, ...]:
    """The track of each part: its name, program, and a channel in part order (drums: 10)."""
    tracks: list[Track] = []
    pitched = [c for c in range(16) if c != DRUM_CHANNEL]
    for part, (program, is_drum) in zip(parts, programs, strict=True):
        name = _part_name(part)
        channel = DRUM_CHANNEL if is_drum else pitched[sum(not t.is_drum for t in tracks) % 15]
        tracks.append(Track(name=name, channel=channel, program=program, is_drum=is_drum))
    return tuple(tracks)


def _score_to_notes(
    score: Any, ticks_per_beat: int = SCORE_TICKS_PER_BEAT, *, sung: bool = False
) -> Notes:
    """Convert a music21 Score (or Part) to a note table; see the module docstring."""
    parts = list(score.parts) if score.hasPartLikeStreams() else [score]
    part_programs = _part_programs(parts, sung=sung)
    rows = _Rows()
    maps: dict[str, list[tuple[float, Any]]] = {"tempo": [], "timesig": [], "key": []}
    # upper parts last, so that normalise_map (which keeps the last entry at a tick) favours them
    for index in reversed(range(len(parts))):
        part = parts[index]
        # in place: the stream is ours, freshly parsed, and a copy would cost most of the time
        if part.atSoundingPitch is not True:  # transposing instruments are written transposed
            part.toSoundingPitch(inPlace=True)
        flat = part.flatten()
        rows.add_part(flat, index, *part_programs[index])
        _add_maps(flat, maps)

    def ticks(beats: list[float]) -> np.ndarray:
        return np.round(np.asarray(beats, dtype=np.float64) * ticks_per_beat).astype(np.int64)

    pitch = np.asarray(rows.pitches, dtype=np.int64)
    ok = (pitch >= 0) & (pitch <= 127)

    def map_columns(entries: list[tuple[float, Any]], dtypes: tuple[Any, ...]) -> list[np.ndarray]:
        columns = [np.asarray([v[i] for _, v in entries], dtype=d) for i, d in enumerate(dtypes)]
        return normalise_map(ticks([t for t, _ in entries]), *columns)

    tempo_ticks, tempo_qpm = map_columns(maps["tempo"], (np.float64,))
    sig_ticks, sig_num, sig_den = map_columns(maps["timesig"], (np.int16, np.int16))
    key_ticks, key_fifths, key_mode = map_columns(maps["key"], (np.int16, np.int16))
    return Notes(
        ticks_per_beat=ticks_per_beat,
        onset_ticks=ticks(rows.onsets)[ok],
        duration_ticks=ticks(rows.durations)[ok],
        pitch=pitch[ok],
        velocity=np.clip(np.asarray(rows.velocities, dtype=np.int64), 1, 127)[ok],
        program=np.asarray(rows.programs, dtype=np.int64)[ok],
        is_drum=np.asarray(rows.drums, dtype=bool)[ok],
        track=np.asarray(rows.tracks, dtype=np.int64)[ok],
        tempo_ticks=tempo_ticks,
        tempo_qpm=tempo_qpm,
        timesig_ticks=sig_ticks,
        timesig_numerator=sig_num,
        timesig_denominator=sig_den,
        key_ticks=key_ticks,
        key_fifths=key_fifths,
        key_mode=key_mode,
        tracks=_part_tracks(parts, part_programs),
    ).sorted()


class _Rows:
    """The notes of a score's parts as columns (onsets and durations in beats), ties merged."""

    def __init__(self) -> None:
        self.onsets: list[float] = []
        self.durations: list[float] = []
        self.pitches: list[int] = []
        self.velocities: list[int] = []
        self.programs: list[int] = []
        self.drums: list[bool] = []
        self.tracks: list[int] = []

    def add_part(self, flat: Any, index: int, program: int, is_drum: bool) -> None:
        """The notes of one flattened part, track ``index``.

        Ties are merged here, in one pass: music21's stripTies is quadratic in the number of
        ties (over a minute for a string quartet movement).
        """
        from music21 import harmony, note

        open_ties: dict[int, int] = {}  # pitch -> row of the note its tie continues
        for element in flat.notes:
            if isinstance(element, harmony.Harmony) or element.duration.isGrace:
                continue
            onset = float(element.offset)
            duration = float(element.quarterLength)
            velocity = DEFAULT_VELOCITY
            if element.hasVolumeInformation() and element.volume.velocity is not None:
                velocity = int(element.volume.velocity)
            for midi_key, tie in _keys_and_ties(element, note):
                row = open_ties.get(midi_key)
                if (
                    tie in ("continue", "stop")
                    and row is not None
                    and abs(self.onsets[row] + self.durations[row] - onset) < 1e-6
                ):
                    self.durations[row] = onset + duration - self.onsets[row]
                    if tie == "stop":
                        del open_ties[midi_key]
                    continue
                if tie in ("start", "continue"):
                    open_ties[midi_key] = len(self.onsets)
                else:
                    open_ties.pop(midi_key, None)
                self.onsets.append(onset)
                self.durations.append(duration)
                self.pitches.append(midi_key)
                self.velocities.append(velocity)
                self.programs.append(program)
                self.drums.append(is_drum)
                self.tracks.append(index)


def _add_maps(flat: Any, maps: dict[str, list[tuple[float, Any]]]) -> None:
    """A flattened part's tempo marks, time signatures and key signatures, in beats."""
    from music21 import key, meter, tempo

    for mark in flat.getElementsByClass(tempo.MetronomeMark):
        qpm = mark.getQuarterBPM()
        if qpm and not mark.numberImplicit:
            maps["tempo"].append((float(mark.offset), (float(qpm),)))
    for sig in flat.getElementsByClass(meter.TimeSignature):
        maps["timesig"].append((float(sig.offset), (sig.numerator, sig.denominator)))
    for ks in flat.getElementsByClass(key.KeySignature):
        mode = 1 if getattr(ks, "mode", None) == "minor" else 0
        maps["key"].append((float(ks.offset), (ks.sharps, mode)))


def _checked_path(path: str | os.PathLike[str]) -> Path:
    suffix = Path(path).suffix.lower()
    if suffix not in SCORE_EXTENSIONS:
        raise BadFileError(
            path,
            f"not a score file type tuplet reads: '{suffix or '(none)'}' "
            f"(scores: {', '.join(SCORE_EXTENSIONS)})",
        )
    return check_readable_file(path)


def _convert(stream: Any, shown: str | os.PathLike[str], *, sung: bool = False) -> Notes:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            notes = _score_to_notes(stream, sung=sung)
    except Exception as exc:  # a score music21 parsed but cannot walk is still the file's fault
        raise BadFileError(shown, f"cannot convert the score: {_short_reason(exc)}") from None
    if len(notes) == 0:
        raise BadFileError(shown, "no notes")
    return notes


def _is_opus(stream: Any) -> bool:
    from music21 import stream as m21_stream

    return isinstance(stream, m21_stream.Opus)


def _first_song(stream: Any, shown: str | os.PathLike[str]) -> Any:
    """The stream itself, or the first score of an Opus (a collection of songs)."""
    if not _is_opus(stream):
        return stream
    scores = list(stream.scores)
    if not scores:
        raise BadFileError(shown, "no notes")
    return scores[0]


def read_score(path: str | os.PathLike[str]) -> Notes:
    """Read a score file (the first song, if it holds several) into a note table.

    Times are at :data:`SCORE_TICKS_PER_BEAT` ticks per quarter note. Repeats are not
    expanded. See the module docstring for how parts, instruments and maps are read.

    Args:
        path: A ``.musicxml``, ``.xml``, ``.mxl``, ``.krn`` or ``.abc`` file.

    Returns:
        The notes of the score (of its first song for a multi-song file).

    Raises:
        BadFileError: The extension is not a score's, or the file is missing, unreadable,
            empty, cannot be parsed, or holds no notes.
    """
    p = _checked_path(path)
    sung = _in_sung_collection(p)
    if p.suffix.lower() == ".abc":
        # parse the first tune only: milliseconds, where a 300-tune collection takes seconds
        return _convert(_first_song(_parse(p, path, _abc_tunes(p)[0][1]), path), path, sung=sung)
    return _convert(_first_song(_parse(p, path), path), path, sung=sung)


def read_score_all(
    path: str | os.PathLike[str], *, skipped: list[BadFileError] | None = None
) -> list[tuple[str, Notes]]:
    """Read every song of a score file (ABC and some Humdrum files hold many).

    Songs are named ``"<file name>#<n>"``, with ``n`` the ABC reference number (``X:``) when
    the file gives unique ones, else the song's position from 1; a file with one song gives
    one entry named by the file name alone. ABC files are split into tunes at their ``X:``
    lines and each tune is parsed on its own, so one broken tune does not lose the rest.

    Args:
        path: A score file (see :func:`read_score`).
        skipped: If given, a song that cannot be read is appended here (as a
            :class:`BadFileError` naming ``"<path>#<n>"``) and skipped; if None, it raises.

    Returns:
        ``(name, notes)`` for each song read, in file order.

    Raises:
        BadFileError: The file cannot be read at all, or (``skipped`` None) one of its songs
            cannot be read.
    """
    p = _checked_path(path)
    sung = _in_sung_collection(p)
    songs: list[tuple[str, Notes]] = []

    def keep(name: str, read: Any) -> None:
        try:
            songs.append((name, read()))
        except BadFileError as err:
            if skipped is None:
                raise
            skipped.append(err)

    if p.suffix.lower() == ".abc":
        tunes = _abc_tunes(p)
        numbers = [number for number, _ in tunes]
        by_number = all(numbers) and len(set(numbers)) == len(numbers)
        if len(tunes) == 1:
            song = _first_song(_parse(p, path, tunes[0][1]), path)
            return [(p.name, _convert(song, path, sung=sung))]
        for i, (number, text) in enumerate(tunes, start=1):
            tag = number if by_number else str(i)
            shown = f"{os.fspath(path)}#{tag}"
            keep(
                f"{p.name}#{tag}",
                lambda t=text, s=shown: _convert(_first_song(_parse(p, s, t), s), s, sung=sung),
            )
        return songs
    stream = _parse(p, path)
    if not _is_opus(stream):
        return [(p.name, _convert(stream, path, sung=sung))]
    for i, score in enumerate(stream.scores, start=1):
        shown = f"{os.fspath(path)}#{i}"
        keep(f"{p.name}#{i}", lambda sc=score, s=shown: _convert(sc, s, sung=sung))
    if not songs and skipped is None:
        raise BadFileError(path, "no songs")
    return songs


def _in_sung_collection(path: Path) -> bool:
    """True for a file of one of music21's vocal collections (:data:`SUNG_COLLECTIONS`)."""
    if not any(part in SUNG_COLLECTIONS for part in path.parts):
        return False  # the cheap test first: most files are no corpus's
    from music21 import common

    try:
        inside = path.resolve().relative_to(Path(common.getCorpusFilePath()).resolve())
    except ValueError:
        return False
    return inside.parts[0] in SUNG_COLLECTIONS


def _corpus_index() -> dict[str, list[Path]]:
    """Readable files of music21's core corpus by top-level folder, one format per piece."""
    from music21 import common, corpus

    root = Path(common.getCorpusFilePath())
    by_piece: dict[tuple[Path, str], Path] = {}
    for raw in corpus.corpora.CoreCorpus().getPaths():
        p = Path(raw)
        if p.suffix.lower() not in SCORE_EXTENSIONS:
            continue
        piece = (p.parent, p.stem)
        rank = _FORMAT_PREFERENCE.index(p.suffix.lower())
        if piece not in by_piece or rank < _FORMAT_PREFERENCE.index(by_piece[piece].suffix.lower()):
            by_piece[piece] = p
    index: dict[str, list[Path]] = {}
    for p in sorted(by_piece.values()):
        index.setdefault(p.relative_to(root).parts[0], []).append(p)
    return index


def music21_corpus_names() -> list[str]:
    """The names :func:`music21_corpus_paths` accepts (folders of the installed corpus)."""
    index = _corpus_index()
    names = set(index) | {"all"}
    names |= {alias for alias, folders in _ALIASES.items() if any(f in index for f in folders)}
    return sorted(names, key=str.lower)


def music21_corpus_paths(name: str) -> list[Path]:
    """The readable files of a collection in the corpus bundled with music21.

    A name is a top-level folder of music21's core corpus (``bach`` - the chorales -,
    ``palestrina``, ``monteverdi``, ``beethoven``, ``mozart``, ``haydn``, ``trecento``,
    ``essenFolksong``, ``oneills1850``, ``ryansMammoth``, ``airdsAirs``, ``joplin``,
    ``josquin``, ``schumann_robert``, ...), ``schumann`` (Robert and Clara), or ``all`` (every
    folder but music21's demonstration and theory-exercise files). Only files with a score
    extension tuplet reads are listed, and where a folder holds one piece in several formats
    only one is kept (MusicXML first), so no piece is counted twice. The ABC collections
    (``essenFolksong``, ``oneills1850``, ``airdsAirs``...) hold many songs per file: read them
    with :func:`read_score_all`.

    Args:
        name: The collection (case-sensitive, as music21 names its folders).

    Returns:
        The files, sorted.

    Raises:
        UsageError: The name is unknown (the message lists the valid names).
    """
    index = _corpus_index()
    if name == "all":
        return sorted(p for folder, ps in index.items() if folder not in _NOT_IN_ALL for p in ps)
    folders = _ALIASES.get(name, (name,))
    paths = sorted(p for folder in folders for p in index.get(folder, []))
    if not paths:
        raise UsageError(
            f"unknown music21 corpus {name!r}; valid names: {', '.join(music21_corpus_names())}"
        )
    return paths
