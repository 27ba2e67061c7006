"""Originality: copied excerpts are found wherever they moved, original pieces are not flagged,
copying samples are drawn again and then withheld, thresholds come from the corpus."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from tuplet.cli import main
from tuplet.encoding import get_encoding
from tuplet.errors import BadFileError
from tuplet.io import read_notes
from tuplet.model.checkpoint import save_checkpoint
from tuplet.model.transformer import MusicTransformer, preset
from tuplet.notes import Notes, concat, from_rows
from tuplet.responsibility.originality import (
    INDEX_FILE,
    OriginalityIndex,
    Thresholds,
    index_for_dataset,
    new_notes,
)

DATA = Path(__file__).parent / "data"
CORPUS = ["bwv84.5.mid", "lascia_chio_pianga.mid", "multitrack_drums.mid", "bwv66.6.mid"]


def beats(notes: Notes, lo: float, hi: float) -> Notes:
    """The notes starting in [lo, hi) beats."""
    t = notes.ticks_per_beat
    return notes.select((notes.onset_ticks >= lo * t) & (notes.onset_ticks < hi * t))


def moved(notes: Notes, beats_later: float, semitones: int) -> Notes:
    shift = round(beats_later * notes.ticks_per_beat)
    return replace(notes, onset_ticks=notes.onset_ticks + shift, pitch=notes.pitch + semitones)


@pytest.fixture(scope="module")
def pieces() -> dict[str, Notes]:
    return {name: read_notes(DATA / name) for name in CORPUS}


@pytest.fixture(scope="module")
def index(pieces: dict[str, Notes]) -> OriginalityIndex:
    names = CORPUS[:3]  # bwv66.6 stays out: the "original" piece
    return OriginalityIndex.from_pieces(names, [pieces[n] for n in names])


def test_a_copied_excerpt_is_found_moved_in_time_and_pitch(index, pieces) -> None:
    source = pieces["bwv84.5.mid"]
    excerpt = moved(beats(source, 8, 24), 5, -3)  # 16 beats of it, 5 beats later, a third down
    report = index.score(excerpt)
    assert report.max_cs == pytest.approx(1.0)
    assert report.closest == "bwv84.5.mid" and report.closest_transpose == 3
    assert report.closest_at_beat == pytest.approx(float(source.onset_ticks[
        source.onset_ticks >= 8 * source.ticks_per_beat].min()) / source.ticks_per_beat)
    assert report.verdict == "block" and "bwv84.5.mid" in report.reason
    # its whole top line (one note per onset) is a verbatim run
    assert report.verbatim_notes == len(np.unique(excerpt.onset_ticks))
    assert report.verbatim_piece == "bwv84.5.mid"


def test_an_original_piece_is_not_flagged(index, pieces) -> None:
    report = index.score(pieces["bwv66.6.mid"])
    assert report.verdict != "block"
    assert report.max_cs is not None and report.max_cs < 0.9
    assert 0.0 < report.originality <= 1.0
    # random notes are further from the corpus still
    rng = np.random.default_rng(0)
    n = 200
    random = replace(
        pieces["bwv66.6.mid"].select(np.arange(n) % len(pieces["bwv66.6.mid"])),
        onset_ticks=np.sort(rng.integers(0, 64 * 480, n)),
        pitch=rng.integers(40, 90, n),
    )
    assert index.score(random).max_cs < report.max_cs


def test_a_copy_inside_other_music_is_blocked_by_its_window(index, pieces) -> None:
    own = pieces["bwv66.6.mid"]
    tpb = own.ticks_per_beat
    copy = moved(beats(pieces["lascia_chio_pianga.mid"], 0, 16), 40, 2)
    mixed = concat([beats(own, 0, 40), replace(copy, ticks_per_beat=tpb)]) \
        if copy.ticks_per_beat == tpb else None
    if mixed is None:  # bring the copy to the piece's resolution first
        from tuplet.notes import to_resolution

        mixed = concat([beats(own, 0, 40), to_resolution(copy, tpb)])
    report = index.score(mixed)
    assert report.verdict == "block" and report.closest == "lascia_chio_pianga.mid"
    worst = max(report.windows, key=lambda w: w.cs)
    assert worst.start_beat == 40 and worst.cs >= 0.9
    assert all(w.cs < 0.9 for w in report.windows if w.start_beat + 16 <= 40)


def test_a_sparse_window_has_no_shapes_and_scores_zero(index) -> None:
    sparse = from_rows([(i * 5 * 480, 480, 60 + i, 64, 0, False, 0) for i in range(5)], 480)
    report = index.score(sparse)  # five notes, five beats apart: no three-note shape
    assert report.max_cs == 0.0 and report.verdict == "ok"


def test_copying_the_musicians_own_piece_only_warns(pieces) -> None:
    names = CORPUS[:3]
    owned = OriginalityIndex.from_pieces(names, [pieces[n] for n in names], [True, False, False])
    report = owned.score(moved(beats(pieces["bwv84.5.mid"], 0, 16), 3, 1))
    assert report.verdict == "warn" and "own piece" in report.reason
    assert owned.score(beats(pieces["lascia_chio_pianga.mid"], 0, 16)).verdict == "block"


def test_new_notes_leave_the_prompt_out(pieces) -> None:
    prompt = beats(pieces["bwv84.5.mid"], 0, 16)
    piece = concat([prompt, moved(beats(pieces["bwv66.6.mid"], 0, 8), 16, 0)])
    assert len(new_notes(piece, prompt)) == len(piece) - len(prompt)
    assert len(new_notes(piece, None)) == len(piece)


def test_save_load_and_calibrate(index, pieces, tmp_path) -> None:
    thresholds = index.calibrate(n_pieces=3)
    assert thresholds.calibrated_on.startswith("3 corpus pieces")
    assert 0.0 <= thresholds.warn_cs <= 1.0 and thresholds.block_cs >= 0.9
    path = index.save(tmp_path / INDEX_FILE)
    back = OriginalityIndex.load(path)
    assert back.names == index.names and back.thresholds == thresholds
    assert back.score(pieces["bwv66.6.mid"]) == index.score(pieces["bwv66.6.mid"])
    (tmp_path / "bad.npz").write_bytes(b"not an index")
    with pytest.raises(BadFileError, match="not an originality index"):
        OriginalityIndex.load(tmp_path / "bad.npz")


def test_dataset_index_is_built_once_and_used_by_the_cli(tmp_path, capsys) -> None:
    from tuplet.corpus import prepare

    src = tmp_path / "mine"
    src.mkdir()
    for name in CORPUS[:2]:
        (src / name).write_bytes((DATA / name).read_bytes())
    prepare([src], tmp_path / "ds", jobs=1, progress=False, rights="owned", holder="Me",
            split=(1.0, 0.0, 0.0))  # fmt: skip
    index = index_for_dataset(tmp_path / "ds")
    assert (tmp_path / "ds" / INDEX_FILE).is_file() and len(index.names) == 2
    assert index.owned.all()  # the musician's own catalog
    copy = tmp_path / "copy.mid"
    from tuplet.io.midi import write_midi

    write_midi(moved(beats(read_notes(src / "bwv84.5.mid"), 0, 16), 2, 5), copy)
    out = tmp_path / "report.json"
    assert main(["originality", str(copy), str(DATA / "bwv66.6.mid"), "--data",
                 str(tmp_path / "ds"), "--json", str(out)]) == 0  # fmt: skip
    printed = capsys.readouterr().out
    assert "WARN: copies" in printed and "own piece" in printed
    reports = json.loads(out.read_text())
    assert reports[str(copy)]["max_cs"] == pytest.approx(1.0)
    assert reports[str(DATA / "bwv66.6.mid")]["verdict"] != "block"


def _tiny_model(folder: Path, index: OriginalityIndex) -> Path:
    enc = get_encoding("tuplet", max_beat=64)
    torch.manual_seed(0)
    config = preset("tiny", enc.fields, enc.vocab_sizes, max_seq_len=128,
                    defined_fields=tuple(map(tuple, enc.defined_fields.tolist())))  # fmt: skip
    save_checkpoint(folder, MusicTransformer(config), encoding=enc.to_dict())
    index.save(folder / INDEX_FILE)
    return folder


def test_generate_scores_every_sample_and_withholds_a_copier(index, tmp_path, capsys) -> None:
    # a corpus that everything copies (a block threshold of 0): every draw is redrawn, then
    # withheld, with the reason in its report and no music written
    strict = OriginalityIndex(index.names, index.onset, index.pitch, index.piece,
                              thresholds=Thresholds(block_cs=0.0))  # fmt: skip
    model = _tiny_model(tmp_path / "strict", strict)
    out = tmp_path / "out"
    rest = ["--n", "2", "--seed", "0", "--quiet", "--top-k-frac", "1", "--max-events", "120",
            "--redraws", "2"]  # fmt: skip
    args = ["generate", "--model", str(model), "--out", str(out), *rest]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert printed.count("drawing again") == 2 and printed.count("withheld") == 2
    assert not list(out.glob("*.mid"))
    report = json.loads((out / "sample-01.json").read_text())
    assert report["withheld"].startswith("copies") and report["originality"]["redraws"] == 2
    # the same model with the corpus's own thresholds: samples are written, each scored
    lenient = _tiny_model(tmp_path / "lenient", index)
    assert main(["generate", "--model", str(lenient), "--out", str(tmp_path / "ok"), *rest]) == 0
    report = json.loads((tmp_path / "ok" / "sample-01.json").read_text())
    assert report["originality"]["verdict"] in ("ok", "warn")
    assert report["originality"]["redraws"] == 0 and (tmp_path / "ok" / "sample-01.mid").exists()
    assert "originality" in capsys.readouterr().out
    assert report["originality"]["thresholds"]["block_cs"] == index.thresholds.block_cs
    # the musician sets a stricter block: the reports say which thresholds were used
    strict_args = ["generate", "--model", str(lenient), "--out", str(tmp_path / "strict-cli"),
                   *rest, "--block-cs", "0.5", "--block-verbatim", "8"]  # fmt: skip
    assert main(strict_args) == 0
    used = json.loads((tmp_path / "strict-cli" / "sample-01.json").read_text())["originality"]
    assert used["thresholds"]["block_cs"] == 0.5 and used["thresholds"]["block_verbatim"] == 8
    assert used["thresholds"]["warn_cs"] <= 0.5
    assert "set on the command line" in used["thresholds"]["calibrated_on"]
    assert main([*strict_args[:-3], "2"]) != 0  # --block-cs 2: out of range
    # --originality off: nothing is scored
    assert main([*args, "--originality", "off", "--force"]) == 0
    assert "originality" not in json.loads((out / "sample-01.json").read_text())


def test_summary_of_a_piece_that_shares_no_shape_with_the_corpus():
    from tuplet.responsibility.originality import OriginalityReport

    report = OriginalityReport(
        originality=1.0, max_cs=0.0, closest=None, closest_window_beat=16.0,
        closest_at_beat=None, closest_transpose=None, verbatim_notes=0, verbatim_piece=None,
    )  # fmt: skip
    assert report.summary().startswith("originality 1.00 (no corpus window shares")
