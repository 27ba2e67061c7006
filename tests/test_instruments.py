"""Instrument names musicians use (``tuplet.instruments``), and ``tuplet generate`` answering a
wrong name, a wrong file or a wrong length in a fraction of a second, before torch loads."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tuplet.encoding import INSTRUMENT_NAMES, get_encoding, instrument_code
from tuplet.errors import UsageError
from tuplet.generation.generate import instrument_codes
from tuplet.generation.sample import default_model_path
from tuplet.instruments import (
    ALIASES,
    FAMILIES,
    UnknownInstrument,
    list_names,
    normalise,
    resolve_instrument,
    resolve_instruments,
)

DATA = Path(__file__).parent / "data"
BACH = DATA / "bwv66.6.mid"  # 36 beats
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


# ------------------------------------------------------------------------------ the CLI
def run_cli(*args: str, cwd: Path) -> tuple[subprocess.CompletedProcess[str], float]:
    """``python -m tuplet ARGS`` as a user runs it, with its wall-clock seconds."""
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "tuplet", *args], capture_output=True, text=True, cwd=cwd, env=env
    )
    return done, time.perf_counter() - start


def test_a_wrong_instrument_is_answered_in_one_line_before_anything_heavy_loads(tmp_path):
    default_model_path()  # the shipped model's config.json is what the name is checked against
    args = ("generate", "--instruments", "piano,guitr", "--out", str(tmp_path / "out"))
    done, seconds = run_cli(*args, cwd=tmp_path)
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith("tuplet: error: --instruments: unknown instrument 'guitr' ")
    assert "did you mean guitar?" in done.stderr and "--list-instruments" in done.stderr
    assert seconds < 1.5, seconds  # torch alone takes longer to import on most machines
    assert not (tmp_path / "out").exists()


def no_torch_on_the_way(*args: str) -> tuple[int, bool]:
    """(exit status, whether torch was imported) of ``tuplet ARGS`` in a fresh interpreter."""
    script = (
        "import sys; from tuplet.cli import main; "
        f"code = main({list(args)!r}); print(code, 'torch' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    code, torch = done.stdout.split()
    return int(code), torch == "True"


def mmt_config(folder: Path) -> Path:
    """A checkpoint folder whose config.json says mmt (no weights: they are never read here)."""
    info = json.loads((default_model_path() / "config.json").read_text())
    info["encoding"] = get_encoding("mmt", max_beat=256).to_dict()
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(info))
    return folder


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--instruments", "guitr"), "did you mean guitar?"),
        (("--instruments", "piano,drums", "--model", "{mmt}"), "mmt encoding has no drums"),
        (("--add-part", "strings", "--prompt", str(BACH)), "name one"),
        (("--prompt", str(DATA)), "is a folder, not a MIDI or score file"),
        (("--prompt", str(DATA / "README.md")), "unknown file type '.md': --prompt takes"),
        (("--prompt", str(BACH), "--prompt-beats", "64"), "36 beats long"),
        (("--prompt", str(BACH), "--infill", "40:48"), "outside the piece"),
        (("--prompt", str(BACH), "--add-part", "viola", "--model", "{mmt}"), "no fill events"),
        (("--device", "nonsense"), "unknown device 'nonsense'"),
        (("--max-events", "100000"), "max_seq_len 512"),
        (("--temperature", "pich=1.2"), "no field named pich"),
        (("--loop", "2", "--prompt", str(BACH), "--meter", "3/4"), "keeps its"),
    ],
)
def test_argument_errors_come_before_torch(tmp_path, capsys, args, message) -> None:
    folder = str(mmt_config(tmp_path / "mmt"))
    args = tuple(a.format(mmt=folder) for a in args)
    code, torch = no_torch_on_the_way("generate", "--out", str(tmp_path / "out"), *args)
    assert code == 1 and not torch
    from tuplet.cli import main

    assert main(["generate", "--out", str(tmp_path / "out"), *args]) == 1
    err = capsys.readouterr().err
    assert err.startswith("tuplet: error: ") and err.count("\n") == 1, err
    assert message in err


def test_list_instruments_follows_the_models_encoding(tmp_path, capsys) -> None:
    from tuplet.cli import main

    assert main(["generate", "--list-instruments"]) == 0
    out = capsys.readouterr().out
    assert "instruments of the tuplet encoding" in out and "drums" in out
    assert "strings = violin, viola, cello" in out and "fiddle = violin" in out
    assert main(["generate", "--list-instruments", "--model", str(mmt_config(tmp_path / "m"))]) == 0
    assert "no drums" in capsys.readouterr().out
