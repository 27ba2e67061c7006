"""What a music file says about itself: title, composer, copyright notice and style fields.

:func:`sniff_metadata` reads the start of a file (MusicXML and compressed MusicXML, Humdrum
kern, ABC, MIDI meta events) without parsing the music; :mod:`tuplet.responsibility.provenance`
turns what it
finds into a provenance record (a notice can name a licence or flags such as non-commercial).
"""

from __future__ import annotations

import html
import re
import zipfile
from pathlib import Path

_SNIFF_BYTES = 262_144


# ------------------------------------------------------------------ metadata sniffing
def sniff_metadata(path: str | Path, song: str | None = None) -> dict[str, str]:
    """Title, composer, region, form and rights notice as stated inside a file, where it does.

    Reads at most the first 256 KB (of the score inside an ``.mxl``) with plain text matching:
    nothing is executed or expanded, and a file it cannot make sense of gives ``{}``.

    Args:
        path: The file.
        song: For a multi-song ABC file, the song's name ``"file.abc#N"`` (N = its ``X:``).

    Returns:
        Some of ``title``, ``composer``, ``region``, ``form``, ``notice`` (one line each).
    """
    p = Path(path)
    suffix = p.suffix.lower()
    try:
        if suffix in (".mid", ".midi"):
            with open(p, "rb") as f:
                return _sniff_midi(f.read(_SNIFF_BYTES))
        if suffix == ".mxl":
            return _sniff_musicxml(_mxl_text(p))
        with open(p, "rb") as f:
            text = f.read(_SNIFF_BYTES).decode("utf-8", errors="replace")
    except (OSError, zipfile.BadZipFile, KeyError, ValueError):
        return {}
    if suffix == ".abc":
        number = song.rsplit("#", 1)[1] if song and "#" in song else None
        return _sniff_abc(text, number)
    if suffix == ".krn":
        return _sniff_humdrum(text)
    return _sniff_musicxml(text)


def _clean(values: list[str]) -> str | None:
    text = " ".join(" ".join(v.split()) for v in values if v and v.strip())
    return text[:500] or None


def _meaningful_notice(text: str | None) -> str | None:
    if not text:
        return None
    rest = re.sub(r"copyright|\(c\)|©", "", text, flags=re.I)
    return text if re.search(r"[A-Za-z0-9]{2}", rest) else None


def _pack(**values: str | None) -> dict[str, str]:
    values["notice"] = _meaningful_notice(values.get("notice"))
    return {k: v for k, v in values.items() if v}


def _mxl_text(path: Path) -> str:
    with zipfile.ZipFile(path) as zf:
        names = [n for n in zf.namelist() if n.lower().endswith((".xml", ".musicxml"))]
        names = [n for n in names if not n.upper().startswith("META-INF/")] or names
        with zf.open(names[0]) as f:
            return f.read(_SNIFF_BYTES).decode("utf-8", errors="replace")


def _xml_values(text: str, pattern: str) -> list[str]:
    return [html.unescape(re.sub(r"<[^>]*>", " ", m)) for m in re.findall(pattern, text, re.S)]


def _sniff_musicxml(text: str) -> dict[str, str]:
    credits = [
        c
        for c in _xml_values(text, r"<credit-words[^>]*>(.*?)</credit-words>")
        if re.search(r"copyright|licen[cs]e|public domain|©|\bCC[- ]", c, re.I)
    ]
    return _pack(
        title=_clean(_xml_values(text, r"<work-title[^>]*>(.*?)</work-title>")[:1])
        or _clean(_xml_values(text, r"<movement-title[^>]*>(.*?)</movement-title>")[:1]),
        composer=_clean(_xml_values(text, r"<creator[^>]*type=\"composer\"[^>]*>(.*?)</creator>")),
        notice=_clean(
            list(dict.fromkeys(_xml_values(text, r"<rights[^>]*>(.*?)</rights>") + credits))
        ),
    )


def _sniff_humdrum(text: str) -> dict[str, str]:
    def records(key: str) -> list[str]:
        return re.findall(rf"^!!!{key}[^:]*:[ \t]*(.*)$", text, re.M)

    return _pack(
        title=_clean(records("OTL")[:1]),
        composer=_clean(records("COM")[:1]),
        region=_clean(records("OCY")[:1]),
        form=_clean(records("AGN")[:1]),
        notice=_clean(records("YEC") + records("YEM")),
    )


def _sniff_abc(text: str, number: str | None) -> dict[str, str]:
    first = re.search(r"^X:", text, re.M)
    header = text[: first.start()] if first else text
    notice_lines = [ln.lstrip("%").strip() for ln in header.splitlines() if ln.startswith("%")]
    notice = None
    if re.search(r"copyright|licen[cs]e|public domain|\bCC[- ]", " ".join(notice_lines), re.I):
        notice = _clean(notice_lines)
    tune = ""
    for m in re.finditer(r"^X:[ \t]*(\d+).*?(?=^X:|\Z)", text, re.M | re.S):
        if number is None or m.group(1) == number:
            tune = m.group(0)
            break

    def field_(key: str) -> str | None:
        return _clean(re.findall(rf"^{key}:[ \t]*(.*)$", tune, re.M)[:1])

    return _pack(
        title=field_("T"), composer=field_("C"), region=field_("O"), form=field_("R"), notice=notice
    )


def _sniff_midi(data: bytes) -> dict[str, str]:
    pos = data.find(b"MTrk")
    if pos < 0:
        return {}
    length = int.from_bytes(data[pos + 4 : pos + 8], "big")
    track = data[pos + 8 : pos + 8 + length]

    def meta_text(kind: int) -> str | None:
        at = track.find(bytes([0xFF, kind]))
        if at < 0:
            return None
        size, i = 0, at + 2
        for _ in range(4):  # a variable-length quantity of at most 4 bytes
            if i >= len(track):
                return None
            size = (size << 7) | (track[i] & 0x7F)
            i += 1
            if not track[i - 1] & 0x80:
                break
        return _clean([track[i : i + min(size, 500)].decode("latin-1")])

    return _pack(title=meta_text(0x03), notice=meta_text(0x02))


__all__ = ["sniff_metadata"]
