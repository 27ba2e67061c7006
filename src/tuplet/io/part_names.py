"""The instrument a score part is written for, from the name its score gives it.

Score files often name a part better than they encode its instrument: in music21's corpus a
Beethoven quartet's "Violin I" is encoded as a cello, Bach's "Trumpet 1" as a guitar, whole
collections of chorales and madrigals name no instrument at all (so a reader would play every
"Soprano" on a piano), and Mozart's quartets encode every part as a string ensemble. So a part
whose name names an instrument plays that instrument, whatever the file encodes; the file's
instrument is used only for parts whose name says nothing.

Names are matched word by word, case-insensitively, in English, Italian, German, French and
the Latin of early vocal music, with common abbreviations (``Vln``, ``Vc``, SATB letters, the
trecento's ``Ct``, ``Tripl``...); the first word that names something wins ("Soprano Oboe 1
Violin1", a chorale's soprano doubled by an oboe and a violin, sings), but the sizes of
instruments are instruments ("Alto Sax", "Tenor Trombone", "Bass Clarinet", "Bass Guitar",
"Double Bass"). ``Bass``/``Basso`` alone is
ambiguous (a singer, a double bass, a bass guitar): it is a voice when the score has other
voice parts, or the file encodes the part as a voice, and otherwise left to the file.
"""

from __future__ import annotations

import re

VOICES = 52
"""General MIDI "Choir Aahs": the program every voice part plays (the encodings' ``voices``)."""

# word -> General MIDI program (0-based)
_WORDS: dict[str, int] = {
    **dict.fromkeys(
        ("violin", "violins", "violino", "violini", "vln", "vl", "vn", "violon", "geige", "fiddle"),
        40,
    ),
    **dict.fromkeys(("viola", "viole", "violas", "vla", "va", "bratsche", "alto-viola"), 41),
    **dict.fromkeys(("cello", "cellos", "violoncello", "violoncelli", "vc", "vlc"), 42),
    **dict.fromkeys(("contrabass", "kontrabass", "violone", "contrabasso", "db", "cb"), 43),
    **dict.fromkeys(("piano", "pianoforte", "klavier", "fortepiano", "pno", "pf"), 0),
    **dict.fromkeys(("harpsichord", "cembalo", "clavecin", "clavicembalo", "continuo"), 6),
    **dict.fromkeys(("organ", "organo", "orgel", "orgue"), 19),
    **dict.fromkeys(("harp", "arpa", "harfe", "harpe"), 46),
    **dict.fromkeys(("timpani", "timp", "pauken", "timbales"), 47),
    **dict.fromkeys(
        ("guitar", "chitarra", "gitarre", "guitare", "lute", "liuto", "laute", "theorbo", "tiorba"),
        24,
    ),
    **dict.fromkeys(("flute", "flutes", "flauto", "flauti", "flöte", "flote", "fl"), 73),
    **dict.fromkeys(("piccolo", "ottavino"), 72),
    **dict.fromkeys(("recorder", "recorders", "blockflöte", "flauto-dolce"), 74),
    **dict.fromkeys(("oboe", "oboes", "oboi", "hautbois", "ob"), 68),
    **dict.fromkeys(("cor-anglais", "english-horn", "englischhorn"), 69),
    **dict.fromkeys(("clarinet", "clarinets", "clarinetto", "clarinetti", "klarinette", "cl"), 71),
    **dict.fromkeys(("bassoon", "bassoons", "fagotto", "fagotti", "fagott", "basson", "bsn"), 70),
    **dict.fromkeys(("horn", "horns", "corno", "corni", "cor", "hn"), 60),
    **dict.fromkeys(
        (
            "trumpet",
            "trumpets",
            "tromba",
            "trombe",
            "trompete",
            "trompette",
            "tpt",
            "cornet",
            "cornets",
            "cornetto",
            "clarino",
        ),
        56,
    ),
    **dict.fromkeys(("trombone", "trombones", "posaune", "tbn"), 57),
    **dict.fromkeys(("tuba",), 58),
    # voices: SATB and their relatives in Italian, German, French and Latin, and the names of
    # the parts of medieval and Renaissance polyphony
    **dict.fromkeys(
        (
            "soprano",
            "sopran",
            "sopr",
            "s",
            "treble",
            "canto",
            "cantus",
            "c",
            "superius",
            "discantus",
            "dessus",
            "mezzo",
            "mezzo-soprano",
            "alto",
            "alt",
            "a",
            "altus",
            "contralto",
            "countertenor",
            "contratenor",
            "ct",
            "tenor",
            "tenore",
            "t",
            "ténor",
            "quinto",
            "quintus",
            "sextus",
            "sesto",
            "baritone",
            "baritono",
            "bariton",
            "triplum",
            "tripl",
            "duplum",
            "dupl",
            "motetus",
            "cantus-firmus",
            "cfirm",
            "cp",
            "voice",
            "voices",
            "vocal",
            "vox",
            "voce",
            "stimme",
            "singstimme",
            "choir",
            "chorus",
            "coro",
            "chor",
            "solo-voice",
        ),
        VOICES,
    ),
}
# two-word names whose first word would name a voice by itself ("Alto Sax", "Bass Clarinet")
_PAIRS: dict[str, int] = {
    **{f"{r}-{w}": p for w in ("sax", "saxophone")
       for r, p in (("soprano", 64), ("alto", 65), ("tenor", 66), ("baritone", 67))},
    "bass-clarinet": 71, "alto-flute": 73, "bass-flute": 73, "soprano-recorder": 74,
    "alto-recorder": 74, "tenor-recorder": 74, "bass-recorder": 74, "tenor-trombone": 57,
    "bass-trombone": 57, "alto-trombone": 57, "bass-guitar": 33, "electric-bass": 33,
    "double-bass": 43, "string-bass": 43, "upright-bass": 43, "acoustic-bass": 32,
    "electric-guitar": 27, "acoustic-guitar": 25, "electric-piano": 4, "tenor-horn": 60,
    "alto-horn": 60, "tenor-tuba": 58, "bass-tuba": 58, "contrabass-clarinet": 71,
    "alto-clarinet": 71, "bass-oboe": 68,
}  # fmt: skip
_SAX = frozenset(("sax", "saxophone", "saxophones", "saxofono"))
# words that are a voice only in a choir (else the file decides)
_BASS_WORDS = frozenset(("bass", "basso", "bassus", "basse", "b", "bajo"))
# 1st, 2nd, I, II, 1, 2... and joiners, which name nothing
_SPLIT = re.compile(r"[^\w\-]+|(?<=[a-z])(?=\d)", re.IGNORECASE)


def _words(name: str) -> list[str]:
    words = [w.strip("-").lower() for w in _SPLIT.split(name)]
    return [w for w in words if w]


def _join_pairs(words: list[str]) -> list[str]:
    """The words, with two-word names joined first ("english horn", "cantus firmus"...)."""
    out: list[str] = []
    i = 0
    while i < len(words):
        pair = f"{words[i]}-{words[i + 1]}" if i + 1 < len(words) else ""
        if pair in _WORDS or pair in _PAIRS:
            out.append(pair)
            i += 2
        else:
            out.append(words[i])
            i += 1
    return out


def names_voice(name: str | None) -> bool:
    """True when a part name names a voice part (``Soprano``, ``Tenore``, ``Ct``...)."""
    return program_from_part_name(name, choir=False) == VOICES


def program_from_part_name(name: str | None, *, choir: bool) -> int | None:
    """The General MIDI program a part's name names, or None when it names none.

    Args:
        name: The part's name as the score gives it (``"Violin I."``, ``"Basso"``, ``"T"``).
        choir: The part sings in a choir (the score has other voice parts, or encodes this
            one as a voice): then ``Bass``/``Basso`` is a voice too.

    Returns:
        The program, or None.
    """
    if not name:
        return None
    for word in _join_pairs(_words(name)):
        if word in _PAIRS:
            return _PAIRS[word]
        if word in _SAX:
            return 65  # a saxophone of no stated size: the alto
        if word in _WORDS:
            return _WORDS[word]
        if word in _BASS_WORDS and choir:
            return VOICES
        if word in _BASS_WORDS:
            return None  # a bass guitar's part, a double bass's or a singer's: the file says
    return None


__all__ = ["VOICES", "names_voice", "program_from_part_name"]
