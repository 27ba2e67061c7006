"""Provenance: who holds the rights to each training item, on what basis, and what is known.

Every source item (a file, or one song of a multi-song file) gets one record in the dataset's
``provenance.jsonl``. A record keeps two kinds of fields:

* **facts**, gathered when the file is read: ``item``, ``file``, ``path``, ``source``,
  ``format``, ``file_sha256``, ``content_hash`` (of the encoded codes), ``status``, ``split``,
  and ``meta``: what the file itself states (title, composer, region, form, rights notice);
* **derived** fields, made from the facts and the declarations (again on every run, so a
  changed manifest takes effect without re-reading any file): ``title``, ``composer``,
  ``basis``, ``spdx``, ``holder``,
  separate ``composition`` and ``encoding`` layers (each ``basis``, ``spdx``, ``holder``,
  ``note``), ``style`` (``genre``, ``region``, ``period``), ``flags`` and ``evidence``.

Bases follow the "Fairly Trained" licensed-model categories: ``owned``, ``contract``,
``open_license``, ``public_domain``, and ``unknown``. The top-level ``basis`` is the weaker of
the two layers (order: public_domain, owned, open_license, contract, unknown); a training gate
should look at both layers and at the flags.

Where rights come from, later sources overriding earlier ones:

1. built in: ``unknown`` for a user's folder; for music21's bundled corpus, the terms of its
   licence files (see :data:`MUSIC21_CORPUS_TERMS`) and, for the composition, public domain only
   where the composer died more than 70 years ago or the music was published before 1876;
2. a licence notice embedded in the file (MusicXML ``<rights>``, Humdrum ``!!!YEC``/``!!!YEM``,
   ABC ``%`` header comments, MIDI copyright events) upgrades an ``unknown`` encoding layer only
   when it names a licence exactly (CC0, CC BY(-SA) with a version, GPL-2.0-or-later, a public
   domain dedication), and sets flags (share_alike, non_commercial, ...) in any case;
3. ``rights=``/``holder=`` given to :func:`tuplet.corpus.prepare` (folders only);
4. rights manifests: ``tuplet-rights.json`` or ``tuplet-rights.toml`` in any folder of a
   source (outer folders first), then the ``manifest=`` file. The format is in ``docs/data.md``.
"""

from __future__ import annotations

import datetime
import fnmatch
import functools
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tuplet.errors import UsageError

BASES: tuple[str, ...] = ("owned", "contract", "open_license", "public_domain", "unknown")
_WEAKNESS = {"public_domain": 0, "owned": 1, "open_license": 2, "contract": 3, "unknown": 4}
SIDECAR_NAMES: tuple[str, ...] = ("tuplet-rights.json", "tuplet-rights.toml")
LAYER_KEYS: tuple[str, ...] = ("basis", "spdx", "holder", "note")

MUSIC21_CORPUS_TERMS = (
    "music21 corpus/license.txt: the corpus is 'distributed with the permission of the encoders "
    "(and, where needed, the composers or arrangers) and where permitted under United States "
    "copyright law'; 'some encodings included in the corpus may not be used for commercial uses "
    "or have other restrictions'; the works 'may or may not be free in your jurisdiction'"
)
ESSEN_TERMS = (
    "music21 corpus/essenFolksong/license.txt: 'The legal status of the Essen folksong database "
    "is unclear'; permission was given 'for non-commercial distribution and use of these files "
    "in music21'; ABC encodings by Seymour Schlien, distributed with music21 by his permission"
)
MUSIC21_TERMS_KEY = "music21 corpus/license.txt"
ESSEN_TERMS_KEY = "music21 corpus/essenFolksong/license.txt"
TERMS: dict[str, str] = {MUSIC21_TERMS_KEY: MUSIC21_CORPUS_TERMS, ESSEN_TERMS_KEY: ESSEN_TERMS}
"""The licence texts records cite by key in ``evidence`` (quoted in full in ``dataset.json``)."""
MUSIC21_SPDX = "LicenseRef-music21-corpus"
ESSEN_SPDX = "LicenseRef-music21-essen-noncommercial"
PUBLISHED_BEFORE_PD = 1876
"""Music published 150 years ago or more: its authors died more than 70 years ago."""


@dataclass(frozen=True)
class Collection:
    """What is known about one folder of music21's corpus (composer, style, dates)."""

    composer: str | None
    died: int | None = None
    published_before: int | None = None
    genre: str | None = None
    region: str | None = None
    period: str | None = None


# music21's core corpus folders; death years and publication dates are public facts
MUSIC21_COLLECTIONS: dict[str, Collection] = {
    "airdsAirs": Collection("traditional", None, 1803, "folk tune (fife and violin airs)",
                            "Scotland and the British Isles", "18th century"),
    "bach": Collection("Johann Sebastian Bach", 1750, None, "four-part chorale", "Germany",
                       "Baroque"),
    "beach": Collection("Amy Beach", 1944, None, "piano piece", "United States",
                        "early 20th century"),
    "beethoven": Collection("Ludwig van Beethoven", 1827, None, "string quartet", "Austria",
                            "Classical and Romantic"),
    "chopin": Collection("Frédéric Chopin", 1849, None, "mazurka (piano)", "Poland", "Romantic"),
    "ciconia": Collection("Johannes Ciconia", 1412, None, "sacred vocal", "Italy",
                          "late medieval"),
    "corelli": Collection("Arcangelo Corelli", 1713, None, "trio sonata", "Italy", "Baroque"),
    "cpebach": Collection("Carl Philipp Emanuel Bach", 1788, None, None, "Germany",
                          "Classical"),
    "essenFolksong": Collection("traditional", None, None, "folk song", None, None),
    "handel": Collection("George Frideric Handel", 1759, None, "opera aria", "England",
                         "Baroque"),
    "haydn": Collection("Joseph Haydn", 1809, None, "string quartet", "Austria", "Classical"),
    "johnson_j_r": Collection("J. Rosamond Johnson", 1954, None, "hymn", "United States",
                              "early 20th century"),
    "joplin": Collection("Scott Joplin", 1917, None, "ragtime (piano)", "United States",
                         "early 20th century"),
    "josquin": Collection("Josquin des Prez", 1521, None, "sacred vocal", "Franco-Flemish",
                          "Renaissance"),
    "leadSheet": Collection(None, None, None, "popular song (lead sheet)", "United States",
                            None),
    "liliuokalani": Collection("Liliʻuokalani", 1917, None, "song", "Hawaii", "19th century"),
    "luca": Collection(None, None, 1500, "sacred vocal", "Italy", "late medieval"),
    "lusitano": Collection("Vicente Lusitano", None, 1600, "vocal", "Portugal and Italy",
                           "Renaissance"),
    "miscFolk": Collection("traditional", None, None, "folk tune", None, None),
    "monteverdi": Collection("Claudio Monteverdi", 1643, None, "madrigal", "Italy",
                             "late Renaissance and early Baroque"),
    "mozart": Collection("Wolfgang Amadeus Mozart", 1791, None, "chamber and keyboard",
                         "Austria", "Classical"),
    "nottingham-dataset": Collection("traditional", None, None, "folk dance tune",
                                     "British Isles and North America", None),
    "oneills1850": Collection("traditional", None, None, "Irish traditional tune", "Ireland",
                              "published 1903"),
    "palestrina": Collection("Giovanni Pierluigi da Palestrina", 1594, None, "sacred vocal (mass)",
                             "Italy", "Renaissance"),
    "ryansMammoth": Collection("traditional", None, None, "fiddle tune (dance)",
                               "British Isles and North America", "published 1883"),
    "schoenberg": Collection("Arnold Schoenberg", 1951, None, "piano piece", "Austria",
                             "20th century"),
    "schubert": Collection("Franz Schubert", 1828, None, "Lied", "Austria", "Romantic"),
    "schumann_clara": Collection("Clara Schumann", 1896, None, "piano", "Germany", "Romantic"),
    "schumann_robert": Collection("Robert Schumann", 1856, None, "piano and Lieder", "Germany",
                                  "Romantic"),
    "trecento": Collection(None, None, 1420, "secular and sacred vocal", "Italy",
                           "14th century (Trecento)"),
    "verdi": Collection("Giuseppe Verdi", 1901, None, "opera aria", "Italy", "Romantic"),
    "weber": Collection("Carl Maria von Weber", 1826, None, "concertino (clarinet)", "Germany",
                        "Romantic"),
    "webern": Collection("Anton Webern", 1945, None, "sacred song", "Austria", "20th century"),
}  # fmt: skip
# files of mixed folders, by path under the corpus root
MUSIC21_FILES: dict[str, Collection] = {
    "leadSheet/berlinAlexandersRagtime.mxl": Collection("Irving Berlin", 1989, None,
                                                        "ragtime song", "United States", "1911"),
    "leadSheet/fosterBrownHair.mxl": Collection("Stephen Foster", 1864, None, "parlour song",
                                                "United States", "19th century"),
    "miscFolk/americanfifeopus.abc": Collection("traditional", None, 1866, "fife tune",
                                                "United States", "18th and 19th century"),
    "miscFolk/northumbrianminstrelsyopus.abc": Collection("traditional", None, None, "folk song",
                                                          "Northumberland (England)",
                                                          "published 1882"),
}  # fmt: skip

_LICENCES: tuple[tuple[re.Pattern[str], str, str | None], ...] = (
    (re.compile(r"\bCC0\b|\bCC[- ]?zero\b", re.I), "public_domain", "CC0-1.0"),
    (re.compile(r"\bCC[- ]BY[- ]SA[- ]?v?(\d\.\d)", re.I), "open_license", "CC-BY-SA-{}"),
    (re.compile(r"\bCC[- ]BY[- ]?v?(\d\.\d)", re.I), "open_license", "CC-BY-{}"),
    (
        re.compile(r"GNU General Public License.{0,200}version 2.{0,80}later version", re.I | re.S),
        "open_license",
        "GPL-2.0-or-later",
    ),
    (
        re.compile(r"\b(released|assigned|dedicated)\s+(to|into)\s+(the\s+)?public\s+domain", re.I),
        "public_domain",
        None,
    ),
)
_NOTICE_FLAGS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\bSA\b|share[- ]?alike|General Public License", re.I), "share_alike"),
    (re.compile(r"\bNC\b|non[- ]?commercial", re.I), "non_commercial"),
    (re.compile(r"\bND\b|no[- ]?deriv", re.I), "no_derivatives"),
    (re.compile(r"\bCC[- ]\w*-?BY\b|\battribution\b", re.I), "attribution"),
    (re.compile(r"rights\b.{0,60}\breserved", re.I), "rights_reserved"),
)


def notice_flags(text: str) -> list[str]:
    """The flags a licence notice or an SPDX id sets (``CC-BY-NC-4.0``: non_commercial...)."""
    return [flag for pattern, flag in _NOTICE_FLAGS if pattern.search(text)]


# ------------------------------------------------------------------------ manifests


@functools.lru_cache(maxsize=1024)
def _resolved(path: Path) -> Path:
    """``path.resolve()``, remembered: a corpus run asks for the same folders per file."""
    return path.resolve()


@dataclass(frozen=True)
class Manifest:
    """A rights manifest: defaults and per-path-glob entries (see ``docs/data.md``).

    Attributes:
        path: The manifest file.
        root: The folder its globs are relative to (the manifest's own folder).
        defaults: Fields for every file under ``root``.
        entries: ``(globs, fields)`` in file order; later matches override earlier ones.
    """

    path: Path
    root: Path
    defaults: dict[str, Any]
    entries: tuple[tuple[tuple[str, ...], dict[str, Any]], ...]

    def fields_for(self, file: Path) -> list[dict[str, Any]]:
        """The field sets that apply to ``file`` (defaults first), or [] if not under root."""
        try:
            rel = _resolved(file).relative_to(self.root).as_posix()
        except ValueError:
            return []
        out = [self.defaults] if self.defaults else []
        out += [f for globs, f in self.entries if any(_glob_match(rel, g) for g in globs)]
        return out


def _glob_match(rel: str, pattern: str) -> bool:
    pattern = pattern.strip("/")
    if not any(c in pattern for c in "*?["):
        return rel == pattern or rel.startswith(pattern + "/")
    regex = re.escape(pattern).replace(r"\*\*/", "(?:.*/)?").replace(r"\*\*", ".*")
    regex = regex.replace(r"\*", "[^/]*").replace(r"\?", "[^/]")
    if "[" in pattern:  # character classes: let fnmatch handle them, segment-blind
        return fnmatch.fnmatchcase(rel, pattern)
    return re.fullmatch(regex, rel) is not None


_FIELD_KEYS = {"basis", "spdx", "holder", "note", "composition", "encoding", "style", "flags",
               "title", "composer"}  # fmt: skip


def _check_fields(fields: Any, where: str) -> dict[str, Any]:
    if not isinstance(fields, dict):
        raise UsageError(f"{where}: expected a table of fields")
    unknown = set(fields) - _FIELD_KEYS - {"paths", "entries", "version"}
    if unknown:
        raise UsageError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
    for layer in (fields, fields.get("composition") or {}, fields.get("encoding") or {}):
        if not isinstance(layer, dict):
            raise UsageError(f"{where}: 'composition' and 'encoding' must be tables")
        basis = layer.get("basis")
        if basis is not None and basis not in BASES:
            raise UsageError(f"{where}: basis {basis!r} is not one of {', '.join(BASES)}")
    if "flags" in fields and not (
        isinstance(fields["flags"], list) and all(isinstance(f, str) for f in fields["flags"])
    ):
        raise UsageError(f"{where}: 'flags' must be a list of strings")
    return {k: v for k, v in fields.items() if k not in ("paths", "entries", "version")}


def load_manifest(path: str | Path) -> Manifest:
    """Read a ``.json`` or ``.toml`` rights manifest.

    Raises:
        UsageError: The file is missing, unreadable, or not a valid manifest (the message
            says where).
    """
    p = Path(path)
    try:
        text = p.read_text("utf-8")
        if p.suffix.lower() == ".toml":
            try:
                import tomllib
            except ImportError:  # Python 3.10
                raise UsageError(f"{p}: TOML manifests need Python 3.11; use JSON") from None
            data: Any = tomllib.loads(text)
        else:
            data = json.loads(text)
    except FileNotFoundError:
        raise UsageError(f"{p}: no such manifest") from None
    except (OSError, ValueError) as exc:  # JSONDecodeError and TOMLDecodeError are ValueErrors
        raise UsageError(
            f"{p}: not a valid rights manifest ({' '.join(str(exc).split())})"
        ) from None
    defaults = _check_fields(data, str(p))
    entries = []
    raw_entries = data.get("entries", [])
    if not isinstance(raw_entries, list):
        raise UsageError(f"{p}: 'entries' must be a list")
    for i, entry in enumerate(raw_entries):
        where = f"{p}: entry {i + 1}"
        fields = _check_fields(entry, where)
        globs = entry.get("paths")
        if isinstance(globs, str):
            globs = [globs]
        if not globs or not all(isinstance(g, str) for g in globs):
            raise UsageError(f"{where}: 'paths' must be a glob or a list of globs")
        entries.append((tuple(globs), fields))
    return Manifest(p, p.resolve().parent, defaults, tuple(entries))


@dataclass
class RightsPolicy:
    """The declarations of one preparation run: rights/holder for folders and manifests.

    Args:
        rights: Basis declared for every file of the folder sources (None: unknown).
        holder: Rights holder of those files.
        manifest: A manifest file applied last (overrides everything).
    """

    rights: str | None = None
    holder: str | None = None
    manifest: str | Path | None = None
    _extra: Manifest | None = field(default=None, init=False, repr=False)
    _sidecars: dict[Path, list[Manifest]] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.rights is not None and self.rights not in BASES:
            raise UsageError(f"rights {self.rights!r} is not one of {', '.join(BASES)}")
        if self.manifest is not None:
            self._extra = load_manifest(self.manifest)

    def describe(self) -> dict[str, Any]:
        """The declarations, for ``dataset.json``."""
        return {
            "rights": self.rights,
            "holder": self.holder,
            "manifest": str(self.manifest) if self.manifest is not None else None,
        }

    def _sidecars_in(self, folder: Path) -> list[Manifest]:
        if folder not in self._sidecars:
            found = [folder / n for n in SIDECAR_NAMES if (folder / n).is_file()]
            self._sidecars[folder] = [load_manifest(m) for m in found]
        return self._sidecars[folder]

    def manifest_fields(self, file: Path, source_root: Path | None) -> list[dict[str, Any]]:
        """Field sets from sidecar manifests (outer folders first) and the manifest file."""
        out: list[dict[str, Any]] = []
        if source_root is not None:
            root = _resolved(source_root)
            folders = [root]
            try:
                parts = _resolved(file).parent.relative_to(root).parts
            except ValueError:
                parts = ()
            for part in parts:
                folders.append(folders[-1] / part)
            for folder in folders:
                for m in self._sidecars_in(folder):
                    out += m.fields_for(file)
        if self._extra is not None:
            out += self._extra.fields_for(file)
        return out


# ------------------------------------------------------------------------ resolution
def _layer(basis: str, spdx: str | None = None, holder: str | None = None,
           note: str | None = None) -> dict[str, Any]:  # fmt: skip
    return {"basis": basis, "spdx": spdx, "holder": holder, "note": note}


def _apply(layer: dict[str, Any], values: dict[str, Any]) -> None:
    for key in LAYER_KEYS:
        if key in values:
            layer[key] = values[key]


def _composition_from(info: Collection | None, year: int) -> dict[str, Any]:
    if info is None:
        return _layer("unknown", note="composer and date not known to tuplet")
    if info.died is not None:
        age = year - info.died
        if age > 70:
            note = f"{info.composer} died in {info.died}, more than 70 years ago"
            if age <= 100:
                note += (
                    " (public domain where copyright lasts the author's life + 70 years; "
                    "terms differ elsewhere, e.g. the US counts from publication)"
                )
            return _layer("public_domain", note=note)
        return _layer("unknown", note=f"{info.composer} died in {info.died}, within 70 years")
    if info.published_before is not None and info.published_before <= PUBLISHED_BEFORE_PD:
        return _layer("public_domain", note=f"written or published before {info.published_before}")
    return _layer("unknown", note="authors and their dates not established")


def provenance_record(
    facts: dict[str, Any], policy: RightsPolicy, *, year: int | None = None
) -> dict[str, Any]:
    """The full provenance record of one item: its facts plus rights derived from them.

    Args:
        facts: Facts of the item: ``item``, ``path``, ``source``, ``relpath`` (under the
            music21 corpus root, or under ``source_root`` for folder items), and ``meta``, what
            the file itself states (:func:`tuplet.responsibility.sniff.sniff_metadata`). Derived
            fields in it
            (a previous record) are ignored and made again.
        policy: The run's declarations.
        year: The current year (for "died more than 70 years ago"); default today's.

    Returns:
        A new record (see the module docstring).
    """
    year = year or datetime.date.today().year
    record = {k: v for k, v in facts.items() if k not in _DERIVED}
    meta = facts.get("meta") or {}
    draft = _Draft(
        names={"title": meta.get("title"), "composer": meta.get("composer")},
        style={"genre": meta.get("form"), "region": meta.get("region"), "period": None},
    )
    is_music21 = str(facts.get("source", "")).startswith("music21:")
    if is_music21:
        draft.from_music21(str(facts.get("relpath", "")), meta, year)
    draft.from_notice(meta.get("notice"))
    if not is_music21:
        draft.from_declarations(facts, policy)
    composition, encoding = draft.composition, draft.encoding
    weaker = max((composition, encoding), key=lambda layer: _WEAKNESS[layer["basis"]])
    spdx_ids = [s for s in (encoding["spdx"], composition["spdx"]) if s]
    record.update(
        title=draft.names["title"],
        composer=draft.names["composer"],
        basis=weaker["basis"],
        spdx=" AND ".join(dict.fromkeys(spdx_ids)) or None,
        holder=encoding["holder"] or composition["holder"],
        composition=composition,
        encoding=encoding,
        style=draft.style,
        flags=sorted(set(draft.flags)),
        evidence=draft.evidence,
    )
    return record


@dataclass
class _Draft:
    """A record's derived fields as the evidence builds them up, weakest source first.

    What music21's corpus says of its files comes first, then a licence notice in the file,
    then the run's declarations and the rights manifest (which override).
    """

    names: dict[str, Any]
    style: dict[str, Any]
    composition: dict[str, Any] = field(default_factory=lambda: _layer("unknown"))
    encoding: dict[str, Any] = field(default_factory=lambda: _layer("unknown"))
    flags: list[str] = field(default_factory=list)
    evidence: list[str] = field(default_factory=list)

    def from_music21(self, rel: str, meta: dict[str, Any], year: int) -> None:
        """A file of music21's corpus: its collection's terms and what is known of it."""
        collection = rel.split("/", 1)[0]
        info = MUSIC21_FILES.get(rel.split("#", 1)[0]) or MUSIC21_COLLECTIONS.get(collection)
        self.composition = _composition_from(info, year)
        if collection == "essenFolksong":
            self.encoding = _layer(
                "unknown",
                ESSEN_SPDX,
                "Seymour Schlien (ABC encodings); EsAC (Helmut Schaffrath, Ewa Dahlig-Turek)",
                "non-commercial distribution and use in music21 permitted; legal status unclear",
            )
            self.flags += ["non_commercial", "legal_status_unclear"]
            self.evidence.append(ESSEN_TERMS_KEY)
        else:
            self.encoding = _layer(
                "unknown",
                MUSIC21_SPDX,
                "the encoders (distributed with music21 with their permission)",
                "some encodings in the music21 corpus may not be used commercially",
            )
            self.flags.append("commercial_use_may_be_restricted")
        self.evidence.append(MUSIC21_TERMS_KEY)
        if info is not None:
            self.style = {
                "genre": info.genre or meta.get("form"),
                "region": meta.get("region") or info.region,
                "period": info.period,
            }
            self.names["composer"] = self.names["composer"] or info.composer

    def from_notice(self, notice: str | None) -> None:
        """A notice in the file: its flags, and a licence it names for an unknown encoding."""
        if not notice:
            return
        self.flags += notice_flags(notice)
        self.evidence.append(f"notice in the file: {notice}")
        if self.encoding["basis"] != "unknown":
            return
        for pattern, basis, spdx in _LICENCES:
            m = pattern.search(notice)
            if m:
                spdx_id = spdx.format(*m.groups()[:1]) if spdx and "{}" in spdx else spdx
                self.encoding = _layer(basis, spdx_id, None, "licence stated in the file")
                break

    def from_declarations(self, facts: dict[str, Any], policy: RightsPolicy) -> None:
        """A user's file: the run's declared basis and holder, then the rights manifest."""
        composition, encoding = self.composition, self.encoding
        if policy.rights or policy.holder:
            declared = {"basis": policy.rights or "unknown", "holder": policy.holder}
            _apply(composition, declared)
            _apply(encoding, declared)
            self.evidence.append(f"declared for the source: basis {declared['basis']}, "
                                 f"holder {policy.holder}")  # fmt: skip
        path, root = facts.get("path"), facts.get("source_root")
        if not path:
            return
        manifest_fields = policy.manifest_fields(Path(path), Path(root) if root else None)
        for values in manifest_fields:
            _apply(composition, values)
            _apply(encoding, values)
            _apply(composition, values.get("composition") or {})
            _apply(encoding, values.get("encoding") or {})
            style = values.get("style") or {}
            self.style.update({k: v for k, v in style.items() if k in self.style})
            self.flags += values.get("flags") or []
            for key in ("title", "composer"):
                if key in values:
                    self.names[key] = values[key]
        if manifest_fields:
            self.evidence.append("rights manifest")


_DERIVED = ("title", "composer", "basis", "spdx", "holder", "composition", "encoding", "style",
            "flags", "evidence")  # fmt: skip
