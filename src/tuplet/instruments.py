"""Instrument names musicians use, resolved to the names of an encoding's instruments.

The encodings name their instruments as MMT does (:data:`tuplet.encoding.vocab.INSTRUMENT_NAMES`
plus ``drums`` in the tuplet encoding): ``steel-string-guitar``, ``voices``, ``brasses``...
People ask for ``guitar``, ``choir``, ``strings``. This module is the one table between the two:

* **families** name several instruments: ``strings`` is violin, viola and cello (the string
  section of an orchestra, each instrument its own part), ``brass`` is trumpet, horn, trombone
  and tuba, ``woodwinds`` flute, oboe, clarinet and bassoon, ``saxophones`` the four saxophones.
  MMT's table also has an instrument *named* ``strings``: General MIDI's string ensemble
  (programs 44, 45, 48, 49), one part for the whole section, and likewise ``brasses`` (program
  61). Asked for by people, ``strings`` means the family; the ensemble is ``string-ensemble``
  (and the brass section, ``brasses`` or ``brass-section``).
* **aliases** name one instrument: ``guitar`` is the ``steel-string-guitar`` (General MIDI's
  "Acoustic Guitar (steel)", program 25: the guitar of folk and pop songs; the classical
  guitar is ``classical-guitar``, the electric one ``electric-guitar``), ``fiddle`` is the
  violin, ``choir`` and ``voice`` are ``voices``, ``sax`` is the ``alto-saxophone``, ``keys``
  the piano...
* ``bass`` is the encoding's own name for General MIDI's "Acoustic Bass" (program 32); the
  orchestra's double bass is ``contrabass``, the bass guitar ``electric-bass``.
* ``drums`` exist only in the tuplet encoding; the mmt encoding leaves out every percussion
  note, and asking it for drums says so.

Names match in any letter case, with spaces, underscores or hyphens alike (``Steel String
Guitar`` is ``steel-string-guitar``), and a plural finds its singular (``violins``). An unknown
name gets one line with the closest known name ("did you mean guitar?").
:func:`tuplet.encoding.instrument_code` is the strict lookup of an encoding's own names; this
module is for names that people type.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from tuplet.errors import UsageError

if TYPE_CHECKING:
    from tuplet.encoding import EncodingConfig

DRUMS = "drums"

FAMILIES: dict[str, tuple[str, ...]] = {
    "strings": ("violin", "viola", "cello"),
    "string-section": ("violin", "viola", "cello"),
    "brass": ("trumpet", "horn", "trombone", "tuba"),
    "woodwinds": ("flute", "oboe", "clarinet", "bassoon"),
    "winds": ("flute", "oboe", "clarinet", "bassoon"),
    "saxophones": (
        "soprano-saxophone",
        "alto-saxophone",
        "tenor-saxophone",
        "baritone-saxophone",
    ),
}
"""Names of several instruments (encoding names), in score order."""

LINE_INSTRUMENTS: tuple[str, ...] = (
    "violin", "viola", "cello", "contrabass",
    "flute", "piccolo", "recorder", "oboe", "english-horn", "clarinet", "bassoon",
    "soprano-saxophone", "alto-saxophone", "tenor-saxophone", "baritone-saxophone",
    "horn", "trumpet", "trombone", "tuba", "voices",
)  # fmt: skip
"""Instruments that play one line (or a section's chords): what a training swap may exchange
(:mod:`tuplet.training.augment`) and what a transcription keeps one line for
(:mod:`tuplet.io.transcribe`). Encoding names."""

ALIASES: dict[str, str] = {
    # keyboards
    "keys": "piano",
    "keyboard": "piano",
    "grand-piano": "piano",
    "acoustic-piano": "piano",
    "upright-piano": "piano",
    "pianoforte": "piano",
    "e-piano": "electric-piano",
    "rhodes": "electric-piano",
    "wurlitzer": "electric-piano",
    "hammond": "organ",
    "hammond-organ": "organ",
    "electric-organ": "organ",
    "pipe-organ": "church-organ",
    "concertina": "accordion",
    "synth": "lead",
    "synthesizer": "lead",
    "synth-lead": "lead",
    "synth-pad": "pad",
    # mallets and bells
    "glock": "glockenspiel",
    "vibes": "vibraphone",
    "bells": "tubular-bells",
    "chimes": "tubular-bells",
    "kettledrums": "timpani",
    # guitars and basses
    "guitar": "steel-string-guitar",
    "acoustic-guitar": "steel-string-guitar",
    "steel-guitar": "steel-string-guitar",
    "folk-guitar": "steel-string-guitar",
    "classical-guitar": "nylon-string-guitar",
    "nylon-guitar": "nylon-string-guitar",
    "spanish-guitar": "nylon-string-guitar",
    "e-guitar": "electric-guitar",
    "jazz-guitar": "electric-guitar",
    "distortion-guitar": "electric-guitar",
    "overdriven-guitar": "electric-guitar",
    "acoustic-bass": "bass",
    "upright-bass": "bass",
    "jazz-bass": "bass",
    "bass-guitar": "electric-bass",
    "e-bass": "electric-bass",
    "fretless-bass": "electric-bass",
    "double-bass": "contrabass",
    "string-bass": "contrabass",
    # strings
    "fiddle": "violin",
    "violoncello": "cello",
    "string-ensemble": "strings",
    "strings-ensemble": "strings",
    "string-orchestra": "strings",
    "pizzicato-strings": "strings",
    "tremolo-strings": "strings",
    # voices
    "voice": "voices",
    "vocals": "voices",
    "vocal": "voices",
    "singer": "voices",
    "singing": "voices",
    "choir": "voices",
    "chorus": "voices",
    # brass and winds
    "cornet": "trumpet",
    "french-horn": "horn",
    "brass-section": "brasses",
    "brass-ensemble": "brasses",
    "sax": "alto-saxophone",
    "saxophone": "alto-saxophone",
    "soprano-sax": "soprano-saxophone",
    "alto-sax": "alto-saxophone",
    "tenor-sax": "tenor-saxophone",
    "baritone-sax": "baritone-saxophone",
    "bari-sax": "baritone-saxophone",
    "cor-anglais": "english-horn",
    "bagpipe": "bag-pipe",
    "bagpipes": "bag-pipe",
    "panpipes": "pan-flute",
    "pan-pipes": "pan-flute",
    # drums (the tuplet encoding only)
    "drum": DRUMS,
    "drum-kit": DRUMS,
    "drumkit": DRUMS,
    "drum-set": DRUMS,
    "drumset": DRUMS,
    "kit": DRUMS,
    "percussion": DRUMS,
}
"""Other names of one instrument -> its encoding name."""


class UnknownInstrument(UsageError):
    """A name that is no instrument of the encoding, nor a family or alias of one."""


def normalise(name: str) -> str:
    """A name as the tables spell it: lower case, words joined by single hyphens."""
    return re.sub(r"[\s_\-]+", "-", name.strip().lower()).strip("-")


def _known(encoding: EncodingConfig) -> set[str]:
    """Every name that resolves in ``encoding``: its instruments, the families, the aliases."""
    names = set(encoding.instrument_names) | set(FAMILIES)
    names |= {alias for alias, target in ALIASES.items() if target in encoding.instrument_names}
    return names


def suggestion(name: str, candidates: Iterable[str]) -> str:
    """``" (did you mean guitar?)"`` for the closest candidate, or ``""`` if none is close."""
    close = difflib.get_close_matches(normalise(name), sorted(candidates), n=1, cutoff=0.75)
    return f" (did you mean {close[0]}?)" if close else ""


def _lookup(key: str, encoding: EncodingConfig) -> tuple[str, ...] | None:
    """The encoding names ``key`` (normalised) stands for; None if it stands for none."""
    if key in FAMILIES:  # before the encoding's own names: "strings" is the family
        return FAMILIES[key]
    if key in ALIASES:
        return (ALIASES[key],)
    if key in encoding.instrument_names or key == DRUMS:
        return (key,)
    return None


def resolve(name: str, encoding: EncodingConfig) -> tuple[str, ...]:
    """The encoding's instrument names that ``name`` stands for (several for a family).

    Args:
        name: An instrument name, family or alias, in any case, with spaces, underscores or
            hyphens; a plural finds its singular.
        encoding: The encoding of the model the names are for.

    Returns:
        Encoding names, one for an instrument or alias, several for a family.

    Raises:
        UnknownInstrument: Not a known name; the message suggests the closest one.
        UsageError: ``drums`` (or an alias of it) asked of the mmt encoding, which has none.
    """
    key = normalise(name)
    found = _lookup(key, encoding)
    for ending in ("s", "es"):  # violins, basses
        if found is None and key.endswith(ending):
            found = _lookup(key[: -len(ending)], encoding)
    if found is None:
        raise UnknownInstrument(
            f"unknown instrument {name.strip()!r}{suggestion(key, _known(encoding))}"
        )
    missing = [n for n in found if n not in encoding.instrument_names]
    if missing:  # only drums are in one encoding and not the other
        raise UsageError(
            f"{name.strip()!r}: the {encoding.name} encoding has no drums (it leaves out every "
            "percussion note); a model trained on the tuplet encoding has them"
        )
    return found


def resolve_instruments(names: Sequence[str], encoding: EncodingConfig) -> list[str]:
    """The encoding names of a list of names, families expanded, each name once, in order.

    Raises:
        UnknownInstrument: A name that is not known (see :func:`resolve`).
        UsageError: An empty list or name, or drums asked of the mmt encoding.
    """
    if not [n for n in names if n.strip()]:
        raise UsageError("no instrument named (give names such as piano,violin)")
    resolved: dict[str, None] = {}
    for name in names:
        if not name.strip():
            raise UsageError(f"an empty instrument name in {','.join(names)!r}")
        resolved.update(dict.fromkeys(resolve(name, encoding)))
    return list(resolved)


def resolve_instrument(name: str, encoding: EncodingConfig) -> str:
    """The one encoding name that ``name`` stands for (a family is refused).

    Raises:
        UnknownInstrument: A name that is not known (see :func:`resolve`).
        UsageError: A family (several instruments), or drums asked of the mmt encoding.
    """
    found = resolve(name, encoding)
    if len(found) > 1:
        raise UsageError(
            f"{name.strip()!r} is {len(found)} instruments ({', '.join(found)}): name one"
        )
    return found[0]


def list_names(encoding: EncodingConfig) -> str:
    """Every name the encoding takes: its instruments, the families and the aliases.

    Returns:
        Several lines of text, no trailing newline.
    """
    lines = [f"instruments of the {encoding.name} encoding:"]
    lines += _wrapped(encoding.instrument_names)
    lines.append("families (several instruments):")
    lines += [f"  {family} = {', '.join(members)}" for family, members in FAMILIES.items()]
    lines.append("other names:")
    by_target: dict[str, list[str]] = {}
    for alias, target in ALIASES.items():
        if target in encoding.instrument_names:
            by_target.setdefault(target, []).append(alias)
    lines += _wrapped(f"{', '.join(a)} = {t}" for t, a in by_target.items())
    if DRUMS not in encoding.instrument_names:
        lines.append("(no drums: the mmt encoding leaves out every percussion note)")
    return "\n".join(lines)


def _wrapped(items: Iterable[str], width: int = 96) -> list[str]:
    """Items joined by ``"; "`` or ``", "`` into indented lines of at most ``width``."""
    items = list(items)
    sep = "; " if any(", " in item for item in items) else ", "
    lines, line = [], ""
    for item in items:
        if line and len(line) + len(sep) + len(item) > width:
            lines.append(f"  {line}{sep.rstrip()}")
            line = ""
        line = f"{line}{sep}{item}" if line else item
    return [*lines, f"  {line}"] if line else lines
