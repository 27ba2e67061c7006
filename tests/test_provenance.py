"""Provenance records: sniffed metadata, music21 corpus terms, declarations and manifests."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tuplet.errors import UsageError
from tuplet.responsibility.provenance import (
    ESSEN_SPDX,
    MUSIC21_SPDX,
    RightsPolicy,
    load_manifest,
    provenance_record,
)
from tuplet.responsibility.sniff import sniff_metadata

DATA = Path(__file__).parent / "data"


def midi_with_meta(path: Path, title: bytes, notice: bytes) -> Path:
    """A one-track MIDI file holding a track name, a copyright event and one note."""
    events = (
        b"\x00\xff\x03" + bytes([len(title)]) + title
        + b"\x00\xff\x02" + bytes([len(notice)]) + notice
        + b"\x00\x90\x3c\x40\x60\x80\x3c\x00\x00\xff\x2f\x00"
    )  # fmt: skip
    header = b"MThd" + (6).to_bytes(4, "big") + b"\x00\x00\x00\x01\x00\x60"
    path.write_bytes(header + b"MTrk" + len(events).to_bytes(4, "big") + events)
    return path


def music21_facts(relpath: str, **facts: object) -> dict:
    collection = relpath.split("/")[0]
    return {"item": f"music21:{relpath}", "source": f"music21:{collection}", "relpath": relpath,
            **facts}  # fmt: skip


# ---------------------------------------------------------------------- sniffing
def test_sniff_humdrum_and_musicxml() -> None:
    krn = sniff_metadata(DATA / "bwv277.krn")
    text = (DATA / "bwv277.krn").read_text()
    assert f"!!!OTL: {krn['title']}" in text
    assert krn["composer"] == "Bach, Johann Sebastian"
    assert krn["region"] == "Deutschland"
    assert "Copyright 1994" in krn["notice"] and "Copyright 1994" in text
    assert sniff_metadata(DATA / "bwv66.6.mxl") == {}  # a score that states nothing
    from tuplet.io.score import music21_corpus_paths

    (gloria,) = music21_corpus_paths("luca")
    xml = gloria.read_text()
    meta = sniff_metadata(gloria)
    assert meta["composer"] == "D. Luca" and '<creator type="composer">D. Luca<' in xml
    assert "CC-BY-SA 3.0" in meta["notice"] and meta["notice"] in xml


def test_sniff_abc_picks_the_song() -> None:
    first = sniff_metadata(DATA / "reelsa-c.abc", "reelsa-c.abc#80")
    second = sniff_metadata(DATA / "reelsa-c.abc", "reelsa-c.abc#81")
    assert first["title"] == "Cuckoo's Nest"
    assert second["title"] == "Little Czech Number"


def test_sniff_midi_and_notice_licence(tmp_path: Path) -> None:
    path = midi_with_meta(tmp_path / "song.mid", b"My Song", b"(c) 2020 Jane Roe, CC BY 4.0")
    meta = sniff_metadata(path)
    assert meta == {"title": "My Song", "notice": "(c) 2020 Jane Roe, CC BY 4.0"}
    record = provenance_record({"item": str(path), "path": str(path), "meta": meta}, RightsPolicy())
    assert record["title"] == "My Song"
    assert record["encoding"]["basis"] == "open_license"
    assert record["encoding"]["spdx"] == "CC-BY-4.0"
    assert "attribution" in record["flags"]
    # the composition is not covered by a notice in the file: the item stays unknown overall
    assert record["composition"]["basis"] == "unknown" and record["basis"] == "unknown"


def test_sniff_never_raises_on_junk(tmp_path: Path) -> None:
    for name, data in [
        ("a.mid", b"MTrk\xff\x03\xff"),
        ("b.mxl", b"PK\x03\x04junk"),
        ("c.krn", b""),
    ]:
        (tmp_path / name).write_bytes(data)
        assert isinstance(sniff_metadata(tmp_path / name), dict)
    assert sniff_metadata(tmp_path / "missing.abc") == {}


# --------------------------------------------------------------- music21 corpus
def test_music21_bach_record() -> None:
    record = provenance_record(music21_facts("bach/bwv66.6.mxl"), RightsPolicy(), year=2026)
    assert record["composition"]["basis"] == "public_domain"
    assert "died in 1750" in record["composition"]["note"]
    assert record["encoding"] == {
        "basis": "unknown",
        "spdx": MUSIC21_SPDX,
        "holder": "the encoders (distributed with music21 with their permission)",
        "note": "some encodings in the music21 corpus may not be used commercially",
    }
    assert record["basis"] == "unknown" and record["spdx"] == MUSIC21_SPDX
    assert record["composer"] == "Johann Sebastian Bach"
    assert record["style"]["region"] == "Germany"
    assert record["flags"] == ["commercial_use_may_be_restricted"]


def test_music21_essen_is_non_commercial_with_unclear_status() -> None:
    facts = music21_facts("essenFolksong/han1.abc#1", meta={"region": "China, Shaanxi, Zizhou"})
    record = provenance_record(facts, RightsPolicy(), year=2026)
    assert {"non_commercial", "legal_status_unclear"} <= set(record["flags"])
    assert record["encoding"]["spdx"] == ESSEN_SPDX
    assert record["composition"]["basis"] == "unknown"  # folk songs: authors not established
    assert record["style"]["region"] == "China, Shaanxi, Zizhou"
    assert "music21 corpus/essenFolksong/license.txt" in record["evidence"]


def test_composition_public_domain_only_seventy_years_after_death() -> None:
    webern = music21_facts("webern/webern_dormi_jesu_op_16_no_2.mxl")
    assert provenance_record(webern, RightsPolicy(), year=2026)["composition"]["basis"] == (
        "public_domain"
    )
    assert (
        "terms differ"
        in provenance_record(webern, RightsPolicy(), year=2026)["composition"]["note"]
    )
    # Webern died in 1945: not yet 70 years in 2010
    assert provenance_record(webern, RightsPolicy(), year=2010)["composition"]["basis"] == "unknown"
    berlin = music21_facts("leadSheet/berlinAlexandersRagtime.mxl")
    assert provenance_record(berlin, RightsPolicy(), year=2026)["composition"]["basis"] == "unknown"
    oneill = music21_facts("oneills1850/0001-0050.abc#1")  # published 1903, authors unknown
    assert provenance_record(oneill, RightsPolicy(), year=2026)["composition"]["basis"] == "unknown"


def test_declarations_do_not_apply_to_music21() -> None:
    policy = RightsPolicy(rights="owned", holder="Jane Roe")
    record = provenance_record(music21_facts("bach/bwv66.6.mxl"), policy, year=2026)
    assert record["encoding"]["basis"] == "unknown" and record["holder"] != "Jane Roe"


# --------------------------------------------------------------- declarations
def test_declared_rights_for_a_folder(tmp_path: Path) -> None:
    path = tmp_path / "a.mid"
    facts = {"item": str(path), "path": str(path), "source_root": str(tmp_path)}
    assert provenance_record(facts, RightsPolicy())["basis"] == "unknown"
    record = provenance_record(facts, RightsPolicy(rights="owned", holder="Jane Roe"))
    assert record["basis"] == "owned" and record["holder"] == "Jane Roe"
    assert record["composition"]["basis"] == record["encoding"]["basis"] == "owned"
    with pytest.raises(UsageError, match="not one of"):
        RightsPolicy(rights="mine")


def test_manifests_sidecars_and_precedence(tmp_path: Path) -> None:
    root = tmp_path / "music"
    (root / "covers" / "live").mkdir(parents=True)
    (root / "tuplet-rights.json").write_text(
        json.dumps(
            {
                "basis": "owned",
                "holder": "The Band",
                "style": {"genre": "rock"},
                "entries": [
                    {
                        "paths": "covers/**",
                        "composition": {"basis": "unknown", "note": "other people's songs"},
                    },
                    {"paths": ["**/*.abc"], "basis": "public_domain", "flags": ["traditional"]},
                ],
            }
        )
    )
    (root / "covers" / "live" / "tuplet-rights.toml").write_text(
        '[[entries]]\npaths = "*.mid"\nencoding = { basis = "contract", holder = "Label" }\n'
    )
    policy = RightsPolicy()

    def record(rel: str, p: RightsPolicy = policy) -> dict:
        path = root / rel
        return provenance_record(
            {"item": str(path), "path": str(path), "source_root": str(root)}, p
        )

    own = record("song.mid")
    assert own["basis"] == "owned" and own["holder"] == "The Band"
    assert own["style"]["genre"] == "rock" and "rights manifest" in own["evidence"]
    cover = record("covers/hit.mid")
    assert cover["composition"]["basis"] == "unknown" and cover["encoding"]["basis"] == "owned"
    assert cover["basis"] == "unknown"
    live = record("covers/live/gig.mid")  # the inner sidecar overrides the outer one
    assert live["encoding"] == {"basis": "contract", "spdx": None, "holder": "Label", "note": None}
    folk = record("covers/reel.abc")  # later entries override earlier ones
    assert folk["basis"] == "public_domain" and folk["flags"] == ["traditional"]
    # a manifest given to the run comes last
    extra = tmp_path / "extra.json"
    extra.write_text(json.dumps({"entries": [{"paths": "music/song.mid", "basis": "contract"}]}))
    assert record("song.mid", RightsPolicy(manifest=extra))["basis"] == "contract"
    assert record("other.mid", RightsPolicy(manifest=extra))["basis"] == "owned"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"basis": "mine"}', "basis 'mine' is not one of"),
        ('{"entries": [{"basis": "owned"}]}', "entry 1: 'paths'"),
        ('{"licence": "MIT"}', "unknown field"),
        ("{not json", "not a valid rights manifest"),
    ],
)
def test_bad_manifests_name_the_file(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "rights.json"
    path.write_text(content)
    with pytest.raises(UsageError, match=message) as info:
        load_manifest(path)
    assert str(path) in str(info.value)
