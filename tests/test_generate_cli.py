"""``tuplet generate`` as a user runs it, with tiny random-weight checkpoints: every mode
writes valid MIDI whose untouched parts equal the input, loops are exactly their length and
keep their best seam, seeds repeat, files are not overwritten, bad input gets one line."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch

from songs import SONG_TRACKS, TPB, shape, write_song
from tuplet.cli import main
from tuplet.encoding import get_encoding, instrument_code, quantise
from tuplet.errors import UsageError
from tuplet.generation import generate as g
from tuplet.generation.generate import GenerationOptions, Session, load_model
from tuplet.generation.loop import LOOP_TICKS_PER_BEAT, loop, wrap_nll
from tuplet.generation.sample import Limits, SamplingSettings
from tuplet.io import read_notes
from tuplet.io.midi import write_midi
from tuplet.model.checkpoint import save_checkpoint
from tuplet.model.transformer import MusicTransformer, preset
from tuplet.notes import Notes, from_rows, maps_before

DATA = Path(__file__).parent / "data"
BACH = DATA / "bwv66.6.mid"
QUARTET = DATA / "multitrack_drums.mid"  # flute, clarinet, cello, bass and drums
FAST = ["--quiet", "--top-k-frac", "1", "--max-events", "200"]


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def save_tiny(folder: Path, name: str, max_beat: int, training: dict | None = None) -> Path:
    enc = get_encoding(name, max_beat=max_beat)
    torch.manual_seed(0)
    config = preset(
        "tiny",
        enc.fields,
        enc.vocab_sizes,
        max_seq_len=256,
        defined_fields=tuple(map(tuple, enc.defined_fields.tolist())),
    )
    return save_checkpoint(
        folder, MusicTransformer(config), encoding=enc.to_dict(), training=training
    )


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("models")
    return {
        "tuplet": save_tiny(root / "tuplet", "tuplet", 64),
        "mmt": save_tiny(root / "mmt", "mmt", 64),
        "no-fim": save_tiny(root / "no-fim", "tuplet", 64, training={"fim_rate": 0.0}),
    }


def generate(models, out: Path, *args: str, model: str = "tuplet") -> int:
    return main(["generate", "--model", str(models[model]), "--out", str(out), *FAST, *args])


def rows(notes: Notes) -> list[tuple[int, ...]]:
    """The notes as sorted (onset, duration, pitch, velocity, program, is_drum) at 12/beat."""
    from tuplet.notes import to_resolution

    n = to_resolution(notes, 12)
    cols = (n.onset_ticks, n.duration_ticks, n.pitch, n.velocity, n.program, n.is_drum)
    return sorted(zip(*(c.tolist() for c in cols), strict=True))


def quantised(path: Path, name: str = "tuplet") -> Notes:
    return quantise(read_notes(path), get_encoding(name, max_beat=1_000_000))


def exact(notes: Notes) -> list[tuple[int, ...]]:
    """The notes as sorted (onset, duration, pitch, velocity, program, is_drum) at their own
    resolution, as the file gives them."""
    cols = (notes.onset_ticks, notes.duration_ticks, notes.pitch, notes.velocity)
    cols += (notes.program, notes.is_drum)
    return sorted(zip(*(c.tolist() for c in cols), strict=True))


def beat(row: tuple[int, ...], ticks_per_beat: int) -> int:
    """The beat the encoding gives a note (its onset rounded to 12 ticks per beat)."""
    return round(row[0] * 12 / ticks_per_beat) // 12


def same_maps(a: Notes, b: Notes) -> bool:
    """Same resolution, tempo, meter and key maps (tempi to MIDI's microsecond)."""
    return (
        a.ticks_per_beat == b.ticks_per_beat
        and np.array_equal(a.tempo_ticks, b.tempo_ticks)
        and np.allclose(a.tempo_qpm, b.tempo_qpm, rtol=1e-5)
        and np.array_equal(a.timesig_ticks, b.timesig_ticks)
        and np.array_equal(a.timesig_numerator, b.timesig_numerator)
        and np.array_equal(a.key_fifths, b.key_fifths)
    )


def report(out: Path, i: int = 1) -> dict:
    path = out / f"sample-{i:02d}.json"
    return json.loads((path if path.exists() else loop_file(out, i, ".json")).read_text())


def loop_file(out: Path, i: int, ext: str = ".mid") -> Path:
    """A loop's file: named by its number, key and tempo (loop-01-D-minor-112bpm.mid)."""
    (path,) = out.glob(f"loop-{i:02d}-*{ext}")
    return path


# ------------------------------------------------------------------------------ outputs
def test_writes_what_it_says_midi_png_and_a_full_report(models, tmp_path, capsys) -> None:
    out = tmp_path / "out"
    assert generate(models, out, "--n", "2", "--seed", "11", "--png") == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == [f"sample-0{i}.{ext}" for i in (1, 2) for ext in ("json", "mid", "png")]
    for i in (1, 2):
        r = report(out, i)
        notes = read_notes(out / f"sample-0{i}.mid")
        assert r["notes"] == len(notes) == r["new_notes"] > 0
        assert r["beats"] == pytest.approx(notes.length_beats, abs=1e-3)
        assert r["seconds"] == pytest.approx(notes.length_seconds, abs=0.01)
        assert r["mode"] == "unconditional" and r["seed"] == 11 and r["prompt"] is None
        assert r["sample"] == i and r["batch_size"] == 2
        assert r["model"]["encoding"] == "tuplet" and r["model"]["path"] == str(models["tuplet"])
        assert r["settings"]["top_k_frac"] == 1.0 and r["limits"]["max_events"] == 200
        assert r["generation_seconds"] > 0 and r["notes_per_second"] > 0
        assert r["files"]["midi"] == str(out / f"sample-0{i}.mid")
    printed = capsys.readouterr().out
    assert "wrote" in printed and "seed 11" in printed


def test_the_default_model_is_named_in_the_report_not_located(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    args = ["generate", "--max-events", "40", "--seed", "1", "--quiet", "--out", "out"]
    assert main(args) == 0
    model = report(tmp_path / "out")["model"]
    assert model["path"] == "default" and model["checkpoint_id"]
    assert str(Path(__file__).parents[1]) not in json.dumps(report(tmp_path / "out"))


def test_existing_files_are_kept_unless_forced(models, tmp_path, capsys) -> None:
    out = tmp_path / "out"
    assert generate(models, out, "--seed", "1") == 0
    before = (out / "sample-01.mid").read_bytes()
    capsys.readouterr()
    assert generate(models, out, "--seed", "2") == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "exists already" in err and "--force" in err
    assert (out / "sample-01.mid").read_bytes() == before
    assert generate(models, out, "--seed", "2", "--force") == 0
    assert (out / "sample-01.mid").read_bytes() != before


def test_a_seed_repeats_the_output_and_a_drawn_seed_is_reported(models, tmp_path) -> None:
    assert generate(models, tmp_path / "a", "--seed", "5", "--n", "2") == 0
    assert generate(models, tmp_path / "b", "--seed", "5", "--n", "2") == 0
    assert generate(models, tmp_path / "c") == 0
    seed = report(tmp_path / "c")["seed"]
    assert generate(models, tmp_path / "d", "--seed", str(seed)) == 0
    for x, y in (("a", "b"), ("c", "d")):
        assert (tmp_path / x / "sample-01.mid").read_bytes() == (
            tmp_path / y / "sample-01.mid"
        ).read_bytes()


def test_audio_is_rendered_on_request_and_not_left_behind(models, tmp_path) -> None:
    assert generate(models, tmp_path, "--wav", "--png", "--seed", "3") == 0
    assert (tmp_path / "sample-01.wav").stat().st_size > 44
    # overwritten without --wav and --png: no audio or picture of the old sample stays
    assert generate(models, tmp_path, "--seed", "4", "--force") == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sample-01.json", "sample-01.mid"]


def test_without_audio_programs_the_rest_is_written_and_one_line_says_why(
    models, tmp_path, capsys, monkeypatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # a machine without the fluidsynth program
    assert generate(models, tmp_path / "out", "--wav", "--png", "--seed", "3") == 0
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert names == ["sample-01.json", "sample-01.mid", "sample-01.png"]
    assert "wav" not in report(tmp_path / "out")["files"]
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no WAV" in err and "apt-get install fluidsynth" in err
    # a SoundFont the user named and that is broken is still an error, before any generation
    bad = tmp_path / "bad.sf2"
    bad.write_text("not a SoundFont")
    monkeypatch.undo()
    assert generate(models, tmp_path / "b", "--wav", "--soundfont", str(bad)) == 1
    assert not (tmp_path / "b").exists()


def test_a_loop_wav_is_exactly_the_loop(models, tmp_path) -> None:
    import wave

    assert generate(models, tmp_path, "--loop", "2", "--instruments", "piano", "--wav") == 0
    notes = read_notes(loop_file(tmp_path, 1))
    name = loop_file(tmp_path, 1).name
    assert re.fullmatch(r"loop-01-([A-G][#b]?-(major|minor)-)?\d+bpm\.mid", name)
    assert loop_file(tmp_path, 1).with_suffix(".wav") == loop_file(tmp_path, 1, ".wav")
    assert report(tmp_path)["files"]["midi"] == str(loop_file(tmp_path, 1))
    # a second run does not overwrite the loops
    assert generate(models, tmp_path, "--loop", "2", "--instruments", "piano") == 1
    with wave.open(str(loop_file(tmp_path, 1, ".wav"))) as w:
        seconds = w.getnframes() / w.getframerate()
    assert seconds == pytest.approx(float(notes.seconds(8 * notes.ticks_per_beat)), abs=1e-4)


# ------------------------------------------------------------------------------ modes
@pytest.mark.parametrize("name", ["tuplet", "mmt"])
def test_instruments_mode_uses_only_those_instruments(models, tmp_path, name) -> None:
    assert generate(models, tmp_path, "--instruments", "piano,violin", "--n", "3", model=name) == 0
    for i in (1, 2, 3):
        notes = read_notes(tmp_path / f"sample-0{i}.mid")
        assert len(notes) > 0 and set(notes.program.tolist()) <= {0, 40}
        assert report(tmp_path, i)["mode"] == "instruments"


def test_pieces_are_drawn_again_until_every_requested_instrument_plays(models, monkeypatch):
    import tuplet.generation.generate as generate_module
    from tuplet.generation.generate import unconditional
    from tuplet.generation.rules import Limits

    lm = load_model(models["tuplet"])
    names = ["piano", "violin", "cello", "flute"]
    options = GenerationOptions(seed=0, n=8, limits=Limits(max_events=24))  # short: some silent
    silent = {}
    for tries in (1, 4):
        monkeypatch.setattr(generate_module, "ALL_PARTS_TRIES", tries)
        pieces = unconditional(lm, instruments=names, options=options).pieces
        for p in pieces:  # the report names exactly the requested parts that did not play
            played = set(p.notes.program.tolist())
            absent = [
                n
                for n, program in zip(names, (0, 40, 42, 73), strict=True)
                if program not in played
            ]
            assert p.details["silent_instruments"] == absent
        silent[tries] = sum(len(p.details["silent_instruments"]) for p in pieces)
    assert silent[4] < silent[1]


@pytest.mark.parametrize("name", ["tuplet", "mmt"])
def test_continuation_keeps_the_prompt(models, tmp_path, name) -> None:
    args = ("--prompt", str(BACH), "--prompt-beats", "8", "--seed", "4")
    assert generate(models, tmp_path, *args, model=name) == 0
    given = read_notes(BACH)
    tpb = given.ticks_per_beat
    prompt = [r for r in exact(given) if beat(r, tpb) < 8]
    written = read_notes(tmp_path / "sample-01.mid")
    assert same_maps(written, given)  # the file's resolution and maps, not the encoding's
    out = exact(written)
    last = max(r[0] for r in prompt)
    assert [r for r in out if r[0] < last] == [r for r in prompt if r[0] < last]
    assert all(r in out for r in prompt)
    assert len(out) == len(prompt) + report(tmp_path)["new_notes"]
    assert report(tmp_path)["prompt"] == {"file": str(BACH), "beats": 8}


def test_a_prompt_longer_than_the_context_keeps_its_last_window(models, tmp_path) -> None:
    # 56 beats and ~500 events: more than half of the model's 64 beats and 200 events
    assert generate(models, tmp_path, "--prompt", str(QUARTET), "--seed", "2") == 0
    r = report(tmp_path)
    start, end = r["context_beats"]
    assert 0 < start < end == 56
    given = read_notes(QUARTET)
    out = exact(read_notes(tmp_path / "sample-01.mid"))
    before = exact(given)
    assert all(x in out for x in before) and len(out) == len(before) + r["new_notes"]
    new = [x for x in out if x not in before]
    assert new and min(x[0] for x in new) >= 55 * given.ticks_per_beat  # after the prompt


def test_bars_follow_the_meter_map() -> None:
    from tuplet.errors import UsageError
    from tuplet.generation.generate import bar_beats

    maps = {"timesig_ticks": [0, 72], "timesig_numerator": [3, 2], "timesig_denominator": [4, 4]}
    notes = from_rows([(0, 12, 60, 80, 0, 0, 0)], 12, **maps)  # 3/4 for two bars, then 2/4
    assert [bar_beats(notes, b, b)[0] for b in range(5)] == [0, 3, 6, 8, 10]
    assert bar_beats(None, 1, 3) == (4, 12)  # no map: 4/4
    odd = from_rows([], 12, timesig_ticks=[0], timesig_numerator=[7], timesig_denominator=[8])
    assert bar_beats(odd, 2, 2) == (7, 7)
    with pytest.raises(UsageError, match="inside a beat"):
        bar_beats(odd, 1, 2)


def test_infill_rewrites_only_the_span(models, tmp_path) -> None:
    assert generate(models, tmp_path, "--prompt", str(BACH), "--infill", "8:16", "--n", "2") == 0
    given = read_notes(BACH)
    tpb = given.ticks_per_beat
    before = exact(given)
    for i in (1, 2):
        written = read_notes(tmp_path / f"sample-0{i}.mid")
        assert same_maps(written, given)
        out = exact(written)
        inside = [r for r in out if 8 <= beat(r, tpb) < 16]
        # every note outside the span exactly as the file has it (ticks, velocity, program)
        assert [r for r in out if not 8 <= beat(r, tpb) < 16] == [
            r for r in before if not 8 <= beat(r, tpb) < 16
        ]
        assert len(inside) == report(tmp_path, i)["new_notes"] > 0
        assert report(tmp_path, i)["request"]["span_beats"] == [8, 16]
        # how much of the span the fill covers, against the piece
        assert report(tmp_path, i)["beats_with_new_notes"] == len({beat(r, tpb) for r in inside})
        held = {beat(r, tpb) for r in before if 8 <= beat(r, tpb) < 16}
        assert report(tmp_path, i)["beats_with_notes_before"] == len(held) == 8


def test_infill_of_named_instruments_in_bars_keeps_the_other_parts(models, tmp_path) -> None:
    args = ("--prompt", str(QUARTET), "--infill", "2:4bars", "--instruments", "cello,flute")
    assert generate(models, tmp_path, *args) == 0
    given = read_notes(QUARTET)
    before = exact(given)
    written = read_notes(tmp_path / "sample-01.mid")
    assert same_maps(written, given)
    out = exact(written)
    rewritten = {42, 73}  # cello and flute programs
    # bars 2..4 of 4/4 are beats 8..16
    span = lambda r: 8 <= beat(r, given.ticks_per_beat) < 16 and r[4] in rewritten  # noqa: E731
    assert [r for r in out if not span(r)] == [r for r in before if not span(r)]
    assert len([r for r in out if span(r)]) == report(tmp_path)["new_notes"]


def test_add_part_keeps_the_piece_and_adds_only_that_instrument(models, tmp_path) -> None:
    assert generate(models, tmp_path, "--prompt", str(QUARTET), "--add-part", "violin") == 0
    given = read_notes(QUARTET)
    written = read_notes(tmp_path / "sample-01.mid")
    assert same_maps(written, given)  # tempo, meter, resolution as given
    out = exact(written)
    assert [r for r in out if r[4] != 40] == exact(given)  # velocities and ticks too
    added = [r for r in out if r[4] == 40]
    assert len(added) == report(tmp_path)["new_notes"] > 0
    assert max(r[0] for r in added) < 56 * given.ticks_per_beat  # inside the piece


# ------------------------------------------------------------------------------ a file's shape
@pytest.fixture(scope="module")
def song(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """10 tracks: two vocal parts of one program, two guitars, three drum tracks... (songs.py)."""
    return write_song(tmp_path_factory.mktemp("song") / "song.mid")


def by_track(notes: Notes) -> dict[str, list[tuple[int, ...]]]:
    """The exact() rows of each track, by the track's name."""
    return {t.name: exact(notes.select(notes.track == i)) for i, t in enumerate(notes.tracks)}


def assert_shape_kept(written: Notes, given: Notes, extra: tuple = ()) -> None:
    """The file's tracks, as they were (``extra``: new tracks after them); drum notes on the
    drum track of their key; maps as the file's up to the piece's end, none past it."""
    assert shape(written) == [*SONG_TRACKS, *extra]
    home = {36: "Kick", 38: "Snare", 42: "Hats"}  # the key each drum track plays
    for i, track in enumerate(written.tracks):
        keys = set(written.pitch[written.track == i].tolist()) if track.is_drum else set()
        assert all(home[k] == track.name for k in keys & set(home)), (track.name, keys)
    end = written.end_ticks
    for ticks in (written.tempo_ticks, written.timesig_ticks, written.key_ticks):
        assert all(t < end or t == 0 for t in ticks.tolist())
    assert same_maps(written, maps_before(given, end))


def test_a_continuation_keeps_every_track_and_its_maps_end_with_it(models, song, tmp_path):
    args = ("--prompt", str(song), "--prompt-beats", "8", "--max-beats", "16", "--seed", "1")
    assert generate(models, tmp_path, *args) == 0
    given, written = read_notes(song), read_notes(tmp_path / "sample-01.mid")
    assert_shape_kept(written, given)
    assert written.length_beats < 24  # the file's maps at beats 24, 40 and 44 lie past it
    after = by_track(written)
    for name, rows in by_track(given).items():  # the prompt's notes on their own track
        prompt = [r for r in rows if beat(r, TPB) < 8]
        assert prompt and not Counter(prompt) - Counter(after[name]), name
    assert report(tmp_path)["new_notes"] > 0


def test_an_infill_keeps_every_track_and_the_notes_around_the_span(models, song, tmp_path):
    assert generate(models, tmp_path, "--prompt", str(song), "--infill", "8:16", "--seed", "1") == 0
    given, written = read_notes(song), read_notes(tmp_path / "sample-01.mid")
    assert_shape_kept(written, given)
    after = by_track(written)
    outside = lambda r: not 8 <= beat(r, TPB) < 16  # noqa: E731
    for name, rows in by_track(given).items():
        assert [r for r in after[name] if outside(r)] == [r for r in rows if outside(r)], name
    assert report(tmp_path)["new_notes"] > 0


def test_an_added_part_gets_a_track_of_its_own_and_the_others_stay(models, song, tmp_path):
    assert generate(models, tmp_path, "--prompt", str(song), "--add-part", "violin") == 0
    given, written = read_notes(song), read_notes(tmp_path / "sample-01.mid")
    # the violin on the first channel no track of the file uses, named by General MIDI
    assert_shape_kept(written, given, extra=(("Violin", 2, 40, False),))
    after = by_track(written)
    assert {name: after[name] for name in by_track(given)} == by_track(given)
    assert len(after["Violin"]) == report(tmp_path)["new_notes"] > 0


def test_a_loop_is_exactly_its_length_and_keeps_its_best_seam(models, tmp_path) -> None:
    mido = pytest.importorskip("mido")
    args = ("--prompt", str(BACH), "--loop", "2", "--tries", "3", "--n", "2")
    assert generate(models, tmp_path, *args) == 0
    loop_ticks = 8 * LOOP_TICKS_PER_BEAT  # two bars of 4/4
    for i in (1, 2):
        path = loop_file(tmp_path, i)
        notes = read_notes(path)
        assert notes.ticks_per_beat == LOOP_TICKS_PER_BEAT
        assert notes.onset_ticks.min() >= 0 and notes.end_ticks <= loop_ticks
        midi = mido.MidiFile(path)
        assert max(sum(m.time for m in track) for track in midi.tracks) == loop_ticks
        assert notes.tempo_ticks.max() < loop_ticks - 1  # the closing tempo mark is a repeat
        r = report(tmp_path, i)
        assert r["seam"] == "fill" and r["loop_beats"] == 8 and len(r["wrap_nll_tries"]) == 3
        scored = [x for x in r["wrap_nll_tries"] if x is not None]  # None: nothing to repeat
        assert r["wrap_nll"] == (min(scored) if scored else None)
        # the first bar is the prompt's, untouched (only the last bar is rewritten)
        prompt = [x for x in rows(quantised(BACH)) if x[0] < 4 * 12]
        assert [x for x in rows(notes) if x[0] < 4 * 12] == prompt


@pytest.mark.parametrize("name", ["tuplet", "mmt"])
def test_new_loops_in_another_meter_are_exact_too(models, tmp_path, name) -> None:
    mido = pytest.importorskip("mido")
    args = ("--loop", "2", "--meter", "3/4", "--n", "2", "--instruments", "piano")
    assert generate(models, tmp_path, *args, model=name) == 0
    for i in (1, 2):
        path = loop_file(tmp_path, i)
        notes = read_notes(path)
        assert list(notes.timesig_numerator) == [3]
        assert notes.end_ticks <= 6 * LOOP_TICKS_PER_BEAT
        midi = mido.MidiFile(path)
        assert max(sum(m.time for m in t) for t in midi.tracks) == 6 * LOOP_TICKS_PER_BEAT
        r = report(tmp_path, i)
        # tuplet: 4 whole loops and 4 rewrites of the best one's seam; mmt: 4 whole loops
        assert len(r["wrap_nll_tries"]) == (8 if name == "tuplet" else 4)
        assert r["seam"] in (("fill", "choice") if name == "tuplet" else ("choice",))
        scored = [x for x in r["wrap_nll_tries"] if x is not None]  # None: nothing to repeat
        assert r["wrap_nll"] == (min(scored) if scored else None)


def test_the_wrap_score_is_the_models_likelihood_of_the_repeat(models) -> None:
    lm = load_model(models["tuplet"])
    options = GenerationOptions(n=1, seed=0, settings=SamplingSettings(top_k_frac=1.0))
    piece = loop(lm, 2, prompt=read_notes(BACH), tries=2, options=options).pieces[0]
    enc = lm.encoding
    # the loop (8 beats), then its first bar (4 beats) again, as the model reads it
    codes = piece.codes[:-1]
    beat = enc.field_index("beat")
    repeat = codes[(codes[:, 0] == enc.type_codes["note"]) & (codes[:, beat] <= 4)].copy()
    repeat[:, beat] += 8
    seq = torch.as_tensor(np.concatenate([codes, repeat]))
    with torch.no_grad():
        logits, _ = lm.model(seq[None, :-1], targets=seq[None, 1:])
    targets = seq[1:]
    defined = torch.as_tensor(enc.defined_fields)[targets[:, 0]]
    nll = sum(
        -lg[0].log_softmax(-1).gather(1, targets[:, f : f + 1])[:, 0] * defined[:, f]
        for f, lg in enumerate(logits)
    )
    expected = float(nll[-len(repeat) :].mean())
    assert piece.details["wrap_nll"] == pytest.approx(expected, rel=1e-4)
    assert min(piece.details["wrap_nll_tries"]) == piece.details["wrap_nll"]
    run = Session(lm, options)
    assert wrap_nll(run, run.body(piece.codes), 8, 4) == pytest.approx(expected, rel=1e-4)


# ------------------------------------------------------------------------------ bad input
def _empty_midi(path: Path) -> Path:
    write_midi(from_rows([], 480), path)
    return path


def _drums_only(path: Path) -> Path:
    notes = read_notes(QUARTET)
    write_midi(notes.select(notes.is_drum), path)
    return path


@pytest.mark.parametrize(
    ("args", "model", "message"),
    [
        (("--prompt", "{empty}"), "tuplet", "empty.mid: empty file"),
        (("--prompt", "{text}"), "tuplet", "text.mid"),
        (("--prompt", "{silent}"), "tuplet", "no notes (--prompt needs"),
        (("--prompt", "{drums}"), "mmt", "none of its notes fits"),
        (("--prompt", "{missing}"), "tuplet", "no such file"),
        (("--instruments", "piano,fidle"), "tuplet", "did you mean fiddle?"),
        (("--prompt", str(BACH), "--infill", "40:48"), "tuplet", "outside the piece"),
        (("--prompt", str(BACH), "--infill", "8:4"), "tuplet", "the span is empty"),
        (("--prompt", str(BACH), "--infill", "8:8"), "tuplet", "the span is empty"),
        (("--prompt", str(BACH), "--infill", "20:30bars"), "tuplet", "30bars (beats 80:120): span"),
        (("--prompt", str(BACH), "--infill", "8-16"), "tuplet", "START:END"),
        (("--prompt", str(BACH), "--infill", "8:16"), "mmt", "no fill events"),
        (("--prompt", str(BACH), "--add-part", "viola"), "mmt", "no fill events"),
        (("--prompt", str(BACH), "--infill", "8:16"), "no-fim", "fim_rate 0"),
        (("--prompt", str(BACH), "--add-part", "piano"), "tuplet", "already has a piano part"),
        (("--infill", "8:16"), "tuplet", "needs --prompt"),
        (("--loop", "2", "--add-part", "viola"), "tuplet", "choose one"),
        (("--loop", "40"), "tuplet", "ask for fewer bars"),
        (("--loop", "2", "--meter", "7/8"), "tuplet", "not a whole number of beats"),
        (("--temperature", "hot"), "tuplet", "--temperature"),
        (("--top-p", "pitch=2"), "tuplet", "top_p for pitch must be in"),
        (("--min-p", "1"), "tuplet", "min_p must be in"),
        (("--max-events", "5000"), "tuplet", "max_seq_len 256"),
        (("--n", "0"), "tuplet", "at least 1"),
        (("--device", "nonsense"), "tuplet", "unknown device 'nonsense'"),
        (("--max-notes", "0"), "tuplet", "--max-notes must be at least 1"),
        (("--max-notes", "4", "--min-notes", "8"), "tuplet", "--min-notes must be 0..--max-notes"),
        (("--wav", "--soundfont", "{text}"), "tuplet", "not a SoundFont 2"),
        (("--wav", "--soundfont", "{missing}"), "tuplet", "no such SoundFont"),
        (("--prompt", str(BACH), "--loop", "2", "--meter", "3/4"), "tuplet", "keeps its meter"),
        (("--prompt", str(BACH), "--loop", "12"), "tuplet", "fewer than the 12 the loop needs"),
    ],
)
def test_bad_input_gets_one_line_and_status_1(models, tmp_path, capsys, args, model, message):
    files = {
        "empty": tmp_path / "empty.mid",
        "text": tmp_path / "text.mid",
        "silent": _empty_midi(tmp_path / "silent.mid"),
        "drums": _drums_only(tmp_path / "drums.mid"),
        "missing": tmp_path / "missing.mid",
    }
    files["empty"].write_bytes(b"")
    files["text"].write_text("not a midi file\n")
    args = tuple(a.format(**files) for a in args)
    assert generate(models, tmp_path / "out", *args, model=model) == 1
    err = capsys.readouterr().err
    assert err.startswith("tuplet: error: ") and err.count("\n") == 1, err
    assert message in err
    assert "Traceback" not in err
    assert not (tmp_path / "out" / "sample-01.mid").exists()


def test_an_output_folder_that_is_a_file_gets_one_line(models, tmp_path, capsys) -> None:
    (tmp_path / "out").write_text("a file, not a folder")
    assert generate(models, tmp_path / "out") == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("tuplet: error: ") and "out" in err


def test_a_training_run_folder_points_to_its_checkpoint(models, tmp_path, capsys) -> None:
    import shutil

    shutil.copytree(models["tuplet"], tmp_path / "run" / "best")
    assert main(["generate", "--model", str(tmp_path / "run"), "--out", str(tmp_path)]) == 1
    assert f"give {tmp_path / 'run' / 'best'}" in capsys.readouterr().err


def test_a_missing_model_says_what_to_do(tmp_path, capsys) -> None:
    code = main(["generate", "--model", str(tmp_path / "nowhere"), "--out", str(tmp_path)])
    assert code == 1 and "no such checkpoint folder" in capsys.readouterr().err
    try:
        from tuplet.generation.sample import default_model_path

        default_model_path()
    except Exception:
        assert main(["generate", "--out", str(tmp_path), "--quiet"]) == 1
        assert "pass --model CHECKPOINT" in capsys.readouterr().err


def test_instrument_codes_follow_the_encoding() -> None:
    enc = get_encoding("tuplet")
    assert instrument_code("violin", enc) == 25 and instrument_code("drums", enc) == 65
    assert instrument_code("Violin", enc) == instrument_code(" VIOLIN", enc) == 25


def test_the_gap_rule_takes_the_models_bound_and_rules_can_be_switched_off(
    models, tmp_path
) -> None:
    import shutil

    from tuplet.generation.checker import check_sequence

    folder = tmp_path / "gap"
    shutil.copytree(models["tuplet"], folder)
    info = json.loads((folder / "config.json").read_text())
    info["sampling"] = {"max_gap_beats": 1}
    (folder / "config.json").write_text(json.dumps(info))
    lm = load_model(folder)
    assert lm.max_gap_beats == 1 and load_model(models["tuplet"]).max_gap_beats == 16

    def gaps(options: GenerationOptions) -> int:
        session = Session(lm, options)
        outs = session.sample(session.header([1]), 4, max_events=80, min_notes=20)
        return sum(v.rule == "gap" for o in outs for v in check_sequence(o, lm.encoding,
                   prompt_length=len(session.header([1])), max_gap_beats=1))  # fmt: skip

    assert gaps(GenerationOptions(seed=3)) == 0
    assert gaps(GenerationOptions(seed=3, rules_off=("gap",))) > 0  # a random model leaps
    out = tmp_path / "out"
    args = ["generate", "--model", str(folder), "--out", str(out), "--quiet", "--max-events", "60"]
    assert main([*args, "--rules-off", "range,gap", "--max-gap", "3"]) == 0
    assert main([*args, "--force", "--rules-off", "rnage"]) == 1


def test_the_model_recommends_its_sampling_settings(models, song, tmp_path) -> None:
    folder = tmp_path / "recommends"
    import shutil

    shutil.copytree(models["tuplet"], folder)
    info = json.loads((folder / "config.json").read_text())
    info["sampling"] = {"top_k_frac": 0.5, "per_field": {"pitch": {"top_k_frac": 0.2}}}
    (folder / "config.json").write_text(json.dumps(info))
    lm = load_model(folder)
    assert lm.settings.top_k_frac == 0.5 and lm.settings.per_field == {"pitch": {"top_k_frac": 0.2}}
    assert load_model(models["tuplet"]).settings == SamplingSettings()  # none: MMT's
    # the model's settings apply unless an option replaces them, knob by knob
    out = tmp_path / "out"
    args = ["generate", "--model", str(folder), "--out", str(out), "--quiet", "--max-events", "60"]
    assert main([*args, "--temperature", "0.9,duration=0.8"]) == 0
    r = json.loads((out / "sample-01.json").read_text())["settings"]
    assert r["top_k_frac"] == 0.5 and r["temperature"] == 0.9
    assert r["per_field"] == {"pitch": {"top_k_frac": 0.2}, "duration": {"temperature": 0.8}}
    assert main([*args, "--force", "--top-k-frac", "1,pitch=1"]) == 0
    r = json.loads((out / "sample-01.json").read_text())["settings"]
    assert r["top_k_frac"] == 1.0 and r["per_field"] == {"pitch": {"top_k_frac": 1.0}}
    # one value sets the knob for every field: MMT's sampler back, whatever the model recommends
    assert main([*args, "--force", "--top-k-frac", "0.1"]) == 0
    r = json.loads((out / "sample-01.json").read_text())["settings"]
    assert r["top_k_frac"] == 0.1 and r["per_field"] == {}
    # the Python API too: options without settings take the model's
    session = Session(lm, GenerationOptions(n=1, seed=0))
    assert session.options.settings == lm.settings
    # a mode may have its own knobs, laid over the rest for that mode only
    own = {"per_field": {"pitch": {"temperature": 0.9}}, "chosen_on": "continuations"}
    info["sampling"]["modes"] = {"continuation": own}
    (folder / "config.json").write_text(json.dumps(info))
    lm = load_model(folder)
    assert lm.settings.per_field == {"pitch": {"top_k_frac": 0.2}}
    cont = {"pitch": {"top_k_frac": 0.2, "temperature": 0.9}}
    assert lm.settings_for("continuation").per_field == cont
    assert lm.settings_for("infill") == lm.settings_for("unconditional") == lm.settings
    short = GenerationOptions(n=1, seed=0, limits=Limits(max_beats=8))
    piece = g.continuation(lm, read_notes(song), prompt_beats=4, options=short)
    assert piece.options.settings == lm.settings_for("continuation")
    assert main([*args, "--force", "--prompt", str(song), "--prompt-beats", "4",
                 "--max-beats", "8"]) == 0  # fmt: skip
    r = json.loads((out / "sample-01.json").read_text())["settings"]
    assert r["per_field"] == cont and r["top_k_frac"] == 0.5
    assert main([*args, "--force", "--temperature", "1.0,pitch=1.1"]) == 0  # not a continuation
    r = json.loads((out / "sample-01.json").read_text())["settings"]
    assert r["per_field"] == {"pitch": {"top_k_frac": 0.2, "temperature": 1.1}}
    info["sampling"]["modes"] = {"continuations": own}
    (folder / "config.json").write_text(json.dumps(info))
    with pytest.raises(UsageError, match="unknown mode continuations"):
        _ = load_model(folder).settings
    bad = {**info, "sampling": {"top_k_frac": 2.0}}
    (folder / "config.json").write_text(json.dumps(bad))
    with pytest.raises(UsageError, match="top_k_frac"):
        _ = load_model(folder).settings


def test_a_loop_from_a_file_keeps_its_tracks(models, song, tmp_path) -> None:
    args = ("--prompt", str(song), "--loop", "2", "--tries", "2", "--seed", "1")
    assert generate(models, tmp_path, *args) == 0
    written = read_notes(loop_file(tmp_path, 1))
    # every note on a track of the file, by name, channel and program (no General MIDI names)
    names = {name for name, _, _, _ in SONG_TRACKS}
    used = {written.tracks[i].name for i in set(written.track.tolist())}
    assert used and used <= names, used
    for i, track in enumerate(written.tracks):
        mine = written.select(written.track == i)
        assert all(mine.program == track.program) and all(mine.is_drum == track.is_drum)
    home = {36: "Kick", 38: "Snare", 42: "Hats"}  # drum notes on their own drum track
    for i, track in enumerate(written.tracks):
        keys = set(written.pitch[written.track == i].tolist()) if track.is_drum else set()
        assert all(home[k] == track.name for k in keys & set(home)), (track.name, keys)


def test_a_model_that_reads_chords_by_instrument_is_given_them_so(models) -> None:
    from dataclasses import replace

    from tuplet.encoding import program_of_instrument
    from tuplet.generation.generate import prompt_body
    from tuplet.generation.sample import sample_codes

    # a flute below a violin at one onset: rising pitch puts the flute first
    rows = [(0, 12, 60, 64, 73, 0, 0), (0, 12, 67, 64, 40, 0, 1), (12, 12, 50, 64, 42, 0, 2)]
    notes = from_rows(rows, ticks_per_beat=12)
    lm = load_model(models["tuplet"])

    def programs(run: Session, codes: np.ndarray) -> list[int]:
        note = codes[:, 0] == run.types["note"]
        return [program_of_instrument(int(c)) for c in codes[note, run.col["instrument"]]]

    by_pitch = Session(lm, GenerationOptions())
    whole = by_pitch.whole(prompt_body(by_pitch, notes, "prompt"))[:-1]
    assert programs(by_pitch, whole) == [73, 40, 42]
    # the same model told it learned chords by instrument: prompts (and what the scope and
    # loop scores read) are built so, and the sampler puts a prompt given otherwise in order
    lm.model.config = replace(lm.model.config, onset_order="instrument")
    by_instrument = Session(lm, GenerationOptions())
    assert programs(by_instrument, by_instrument.whole(by_instrument.body(whole))) == [40, 73, 42]
    g = torch.Generator().manual_seed(0)
    out = sample_codes(lm.model, by_instrument.enc, whole, n=1, generator=g)[0]
    assert programs(by_instrument, out[: len(whole)]) == [40, 73, 42]
