"""Instrument names musicians use (``tuplet.instruments``)."""

from __future__ import annotations

import pytest

from tuplet.encoding import INSTRUMENT_NAMES, get_encoding, instrument_code
from tuplet.errors import UsageError
from tuplet.generate import instrument_codes
from tuplet.instruments import (
    ALIASES,
    FAMILIES,
    UnknownInstrument,
    list_names,
    normalise,
    resolve_instrument,
    resolve_instruments,
)

TUPLET = get_encoding("tuplet")
MMT = get_encoding("mmt")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("guitar", "steel-string-guitar"),
        ("Acoustic Guitar", "steel-string-guitar"),
        ("classical_guitar", "nylon-string-guitar"),
        ("STEEL STRING GUITAR", "steel-string-guitar"),
        ("bass", "bass"),
        ("double bass", "contrabass"),
        ("string-ensemble", "strings"),
        ("voice", "voices"),
        ("Choir", "voices"),
        ("fiddle", "violin"),
        ("sax", "alto-saxophone"),
        ("keys", "piano"),
        ("keyboard", "piano"),
        ("violins", "violin"),
        ("basses", "bass"),
        ("drums", "drums"),
        ("Drum Kit", "drums"),
    ],
)
def test_names_musicians_use_resolve_to_one_encoding_name(name, expected) -> None:
    assert resolve_instrument(name, TUPLET) == expected
    assert instrument_code(expected, TUPLET) == TUPLET.instrument_names.index(expected) + 1


def test_bass_keeps_its_code_and_strings_is_the_family() -> None:
    assert instrument_codes(["bass"], TUPLET) == [21]
    assert resolve_instruments(["strings"], TUPLET) == ["violin", "viola", "cello"]
    assert instrument_codes(["strings"], MMT) == [25, 26, 27]
    assert instrument_codes(["string ensemble"], MMT) == [31]  # GM's ensemble, one part
    assert instrument_code("strings", MMT) == 31  # the strict lookup keeps the encoding's name


def test_families_expand_in_order_and_each_instrument_comes_once() -> None:
    names = resolve_instruments(["piano", "strings", "fiddle", "Guitar"], TUPLET)
    assert names == ["piano", "violin", "viola", "cello", "steel-string-guitar"]
    with pytest.raises(UsageError, match=r"'strings' is 3 instruments .* name one"):
        resolve_instrument("strings", TUPLET)
    with pytest.raises(UsageError, match="no instrument named"):
        resolve_instruments([" "], TUPLET)


def test_the_mmt_encoding_says_it_has_no_drums() -> None:
    for name in ("drums", "percussion", "drum-kit"):
        with pytest.raises(UsageError, match="the mmt encoding has no drums"):
            resolve_instruments(["piano", name], MMT)
    listed = {n.strip() for n in list_names(MMT).replace("\n", ",").replace(";", ",").split(",")}
    assert "synth-drums" in listed and "drums" not in listed
    assert "no drums" in list_names(MMT)


def test_a_typo_gets_one_suggestion_not_a_list() -> None:
    with pytest.raises(UnknownInstrument) as caught:
        resolve_instruments(["piano", "guitr"], TUPLET)
    message = str(caught.value)
    assert message == "unknown instrument 'guitr' (did you mean guitar?)"
    with pytest.raises(UnknownInstrument, match=r"did you mean violin\?"):
        resolve_instrument("violn", MMT)
    with pytest.raises(UsageError, match=r"in the mmt encoding \(did you mean electric-piano\?\)"):
        instrument_code("electric-pian", MMT)
    with pytest.raises(UnknownInstrument) as caught:
        resolve_instrument("kazoo", TUPLET)
    assert "," not in str(caught.value)  # no list of names


def test_the_tables_name_only_real_instruments_and_shadow_nothing_by_accident() -> None:
    everything = set(TUPLET.instrument_names)
    for alias, target in ALIASES.items():
        assert target in everything, alias
        assert alias == normalise(alias) and alias not in everything, alias
    for family, members in FAMILIES.items():
        assert set(members) <= set(INSTRUMENT_NAMES), family  # in both encodings
        assert family == normalise(family) and family not in ALIASES, family
    # the one family that is also an instrument of MMT's table, on purpose (see the module)
    assert set(FAMILIES) & everything == {"strings"}
