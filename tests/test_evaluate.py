"""Set-level comparison on synthetic sets, and ``tuplet evaluate`` on small real data."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from tuplet.analysis import metrics
from tuplet.analysis.compare import (
    compare_feature,
    inter_distances,
    intra_distances,
    kl_divergence,
    overlap_area,
    scott_bandwidth,
)
from tuplet.analysis.evaluate import evaluate_nll, read_sample_folder
from tuplet.cli import main
from tuplet.corpus import prepare
from tuplet.encoding import EncodingConfig, get_encoding
from tuplet.errors import UsageError
from tuplet.io.midi import read_midi
from tuplet.io.score import music21_corpus_paths
from tuplet.model.checkpoint import save_checkpoint
from tuplet.model.transformer import MusicTransformer, preset
from tuplet.training.dataset import SequenceDataset, load_dataset_info, make_loader

DATA = Path(__file__).parent / "data"
MIDI = ["bwv66.6.mid", "bwv84.5.mid", "lascia_chio_pianga.mid", "multitrack_drums.mid"]


def normal_cdf(x: float) -> float:
    return 0.5 * (1 + math.erf(x / math.sqrt(2)))


# ------------------------------------------------------------------ set comparison
def test_distances() -> None:
    v = np.array([0.0, 1.0, 3.0, np.nan])
    np.testing.assert_array_equal(np.sort(intra_distances(v)), [1.0, 2.0, 3.0])
    np.testing.assert_array_equal(np.sort(inter_distances([0.0, 10.0], [1.0])), [1.0, 9.0])
    # too many pairs: a random subset of distinct pairs (values all distinct: no zeros)
    many = np.arange(1000.0)
    sub = intra_distances(many, max_pairs=5000)
    assert len(sub) == 5000 and sub.min() >= 1 and sub.max() <= 999
    assert len(inter_distances(many, many, max_pairs=3000)) == 3000


def test_scott_bandwidth() -> None:
    v = np.array([0.0, 1.0, 2.0, 3.0, 4.0])
    assert scott_bandwidth(v) == pytest.approx(math.sqrt(2.5) * 5**-0.2)
    assert math.isnan(scott_bandwidth(np.array([1.0])))


def test_overlap_and_kl_of_known_distributions() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.normal(0, 1, 4000), rng.normal(1, 1, 4000)
    assert overlap_area(a, a) == pytest.approx(1.0, abs=1e-9)
    assert kl_divergence(a, a) == pytest.approx(0.0, abs=1e-9)
    # two unit normals one apart: OA = 2 Phi(-1/2), KL = 1/2 (KDE smoothing widens both)
    assert overlap_area(a, b) == pytest.approx(2 * normal_cdf(-0.5), abs=0.04)
    assert kl_divergence(a, b) == pytest.approx(0.5, abs=0.08)
    far = rng.normal(100, 1, 500)
    assert overlap_area(a, far) < 1e-6
    assert kl_divergence(a, far) > 100
    # constant samples: equal point masses overlap fully, different ones not at all
    assert overlap_area(np.zeros(5), np.zeros(3)) == 1.0
    assert overlap_area(np.zeros(5), np.ones(3)) < 1e-6
    assert math.isnan(overlap_area(np.array([np.nan]), a))


def test_compare_feature_identical_and_far_apart_sets() -> None:
    rng = np.random.default_rng(1)
    ref = rng.normal(3.0, 0.2, 200)
    same = compare_feature("x", ref, ref)
    assert same.abs_mean_diff == 0.0
    assert same.overlap_area > 0.95 and same.kl_divergence < 0.05
    fresh = compare_feature("x", rng.normal(3.0, 0.2, 200), ref)  # same distribution
    assert fresh.overlap_area > 0.85
    far = compare_feature("x", rng.normal(9.0, 0.2, 100), ref)
    assert far.overlap_area < 0.01 and far.kl_divergence > 10
    assert far.abs_mean_diff == pytest.approx(6.0, abs=0.1)
    assert far.reference_std == pytest.approx(ref.std())
    # undefined values are left out; too few values give NaN OA
    partial = compare_feature("x", np.array([np.nan, 3.0]), np.array([3.0, np.nan]))
    assert (partial.n_samples, partial.n_reference) == (1, 1)
    assert math.isnan(partial.overlap_area) and partial.abs_mean_diff == 0.0


# ---------------------------------------------------------------- real data
@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny tuplet dataset, every song in the test split: 4 MIDI fixtures, 4 chorales."""
    src = tmp_path_factory.mktemp("src")
    for name in MIDI:
        shutil.copy(DATA / name, src / name)
    for path in music21_corpus_paths("bach")[:4]:
        shutil.copy(path, src / path.name)
    out = tmp_path_factory.mktemp("data") / "ds"
    prepare([str(src)], out, jobs=1, progress=False, filters=None, split=(0.0, 0.0, 1.0))
    return out


@pytest.fixture(scope="module")
def samples(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("samples")
    for name in MIDI:
        shutil.copy(DATA / name, folder / name)
    (folder / "nested").mkdir()
    shutil.copy(DATA / "bwv84.5.mid", folder / "nested" / "again.mid")
    (folder / "broken.mid").write_bytes(b"MThd but not really")
    (folder / "notes.txt").write_text("not music")
    return folder


@pytest.fixture(scope="module")
def checkpoint(dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    enc = EncodingConfig.from_dict(load_dataset_info(dataset)["encoding"]).with_max_beat(256)
    torch.manual_seed(0)
    config = preset(
        "tiny",
        enc.fields,
        enc.vocab_sizes,
        max_seq_len=256,
        defined_fields=tuple(map(tuple, enc.defined_fields.tolist())),
    )
    folder = tmp_path_factory.mktemp("model") / "tiny"
    return save_checkpoint(folder, MusicTransformer(config), encoding=enc.to_dict())


def test_sample_folder_reading(samples: Path, tmp_path: Path) -> None:
    pieces = read_sample_folder(samples)
    assert sorted(Path(n).name for n in pieces.names) == sorted([*MIDI, "again.mid"])
    assert [Path(n).name for n, _ in pieces.skipped] == ["broken.mid"]
    (tmp_path / "score.txt").write_text("no MIDI here")
    with pytest.raises(UsageError, match="no MIDI"):
        read_sample_folder(tmp_path)
    with pytest.raises(UsageError, match="no such folder"):
        read_sample_folder(tmp_path / "missing")


def test_cli_compares_samples_with_the_reference(
    samples: Path, dataset: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "eval"
    assert main(["evaluate", str(samples), "--reference", str(dataset), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "samples mean±std" in printed and "pitch_class_entropy" in printed
    report = json.loads((out / "evaluation.json").read_text())
    assert report["trim_beats"] == 64
    assert report["samples"]["n_pieces"] == 5 and report["reference"]["n_pieces"] == 8
    assert [Path(s["name"]).name for s in report["samples"]["skipped"]] == ["broken.mid"]
    assert set(report["metrics"]) == set(metrics.METRICS)
    pce = report["metrics"]["pitch_class_entropy"]
    for key in ("samples_mean", "samples_std", "reference_mean", "reference_std",
                "abs_mean_diff", "overlap_area", "kl_divergence"):  # fmt: skip
        assert math.isfinite(pce[key]), key
    assert 0.0 <= pce["overlap_area"] <= 1.0 and pce["kl_divergence"] >= 0.0
    # per-piece values are the metrics of the first 64 beats of each file
    values = report["values"]["samples"]
    for name, value in zip(values["names"], values["pitch_class_entropy"], strict=True):
        expected = metrics.pitch_class_entropy(metrics.trim(read_midi(name), 64))
        assert value == pytest.approx(expected)
    assert pce["samples_mean"] == pytest.approx(np.mean(values["pitch_class_entropy"]))
    for png in ("metrics.png", "distances.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # again without pictures: none of the first run's stays beside the new numbers
    again = ["evaluate", str(samples), "--reference", str(dataset), "--out", str(out)]
    assert main([*again, "--no-plots"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["evaluation.json"]


def test_cli_dataset_against_itself(dataset: Path, tmp_path: Path) -> None:
    out = tmp_path / "self"
    args = ["evaluate", str(dataset), "--samples-split", "test", "--reference", str(dataset)]
    assert main([*args, "--trim", "0", "--no-plots", "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["evaluation.json"]
    report = json.loads((out / "evaluation.json").read_text())
    assert report["trim_beats"] is None
    for name, row in report["metrics"].items():
        assert row["abs_mean_diff"] in (0.0, None), name
    assert report["metrics"]["pitch_class_entropy"]["overlap_area"] > 0.8


def test_cli_usage_errors(
    samples: Path, dataset: Path, checkpoint: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["evaluate"]) == 1
    assert main(["evaluate", str(samples)]) == 1
    assert main(["evaluate", str(samples), "--reference", str(samples)]) == 1
    assert "not a prepared dataset" in capsys.readouterr().err
    assert main(["evaluate", str(samples), "--model", str(checkpoint)]) == 1
    assert main(["evaluate", "--model", str(checkpoint)]) == 1
    assert "--data" in capsys.readouterr().err


# ---------------------------------------------------------------------- NLL
def expected_random_nll(dataset: Path, enc: EncodingConfig) -> float:
    """Mean over target events of the sum of log(vocab) over the fields they supervise."""
    log_vocab = np.log(np.array(enc.vocab_sizes, dtype=np.float64))
    defined = enc.defined_fields.copy()
    defined[:, 0] = True
    total, count = 0.0, 0
    for seq in SequenceDataset(dataset, "test", max_seq_len=256, max_beat=256, augment=False):
        targets = seq[1:]
        total += float((defined[targets[:, 0]] * log_vocab).sum())
        count += len(targets)
    return total / count


def test_random_model_nll_is_log_vocab_scale(dataset: Path, checkpoint: Path) -> None:
    enc = EncodingConfig.from_dict(load_dataset_info(dataset)["encoding"]).with_max_beat(256)
    report = evaluate_nll(checkpoint, dataset, "test", batch_size=3)
    assert report.n_sequences == 8 and report.max_seq_len == 256 and report.max_beat == 256
    assert report.nll_per_event == pytest.approx(expected_random_nll(dataset, enc), rel=0.03)
    for name, size in zip(enc.fields, enc.vocab_sizes, strict=True):
        assert report.field_losses[name] == pytest.approx(math.log(size), rel=0.06), name
    notes = enc.defined_fields[enc.type_codes["note"]].copy()
    notes[0] = True
    note_scale = float(np.log(np.array(enc.vocab_sizes))[notes].sum())
    assert report.nll_per_note_event == pytest.approx(note_scale, rel=0.03)


def test_nll_weights_events_not_batches(dataset: Path, checkpoint: Path) -> None:
    one = evaluate_nll(checkpoint, dataset, "test", batch_size=1)
    whole = evaluate_nll(checkpoint, dataset, "test", batch_size=8)
    assert (one.n_batches, whole.n_batches) == (8, 1)
    assert one.n_events == whole.n_events
    assert one.nll_per_event == pytest.approx(whole.nll_per_event, rel=1e-5)
    for name, loss in whole.field_losses.items():
        assert one.field_losses[name] == pytest.approx(loss, rel=1e-5)
    # one batch of everything is exactly what the model's own loss reports
    from tuplet.model.checkpoint import load_checkpoint

    model, _ = load_checkpoint(checkpoint)
    ds = SequenceDataset(dataset, "test", max_seq_len=256, max_beat=256, augment=False)
    codes, mask = next(iter(make_loader(ds, 8, shuffle=False)))
    with torch.no_grad():
        out = model.loss(codes, mask)
    assert whole.nll_per_event == pytest.approx(float(out.nll_per_note), rel=1e-5)
    # the plain mean of batch means would differ, as sequences differ in length
    lengths = np.array([len(s) for s in ds])
    assert lengths.min() != lengths.max()
    first = evaluate_nll(checkpoint, dataset, "test", batch_size=2, max_batches=1)
    assert first.n_batches == 1 and first.n_sequences == 2


def test_cli_scores_a_model(
    dataset: Path, checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "nll.json"
    args = ["evaluate", "--model", str(checkpoint), "--data", str(dataset), "--split", "test"]
    assert main([*args, "--batch-size", "4", "--max-batches", "1", "--out", str(out)]) == 0
    assert "NLL per event" in capsys.readouterr().out
    report = json.loads(out.read_text())
    for key in ("nll_per_event", "nll_per_note_event", "field_losses", "field_counts",
                "n_events", "n_sequences", "split"):  # fmt: skip
        assert key in report
    assert report["n_sequences"] == 4 and set(report["field_losses"]) == set(
        get_encoding("tuplet").fields
    )


def test_without_out_the_report_goes_to_the_working_folder_not_the_model(
    dataset: Path, checkpoint: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = sorted(p.name for p in checkpoint.iterdir())
    monkeypatch.chdir(tmp_path)
    args = ["evaluate", "--model", str(checkpoint), "--data", str(dataset), "--split", "test"]
    assert main([*args, "--batch-size", "4", "--max-batches", "1"]) == 0
    assert sorted(p.name for p in checkpoint.iterdir()) == before  # the model was only read
    assert json.loads((tmp_path / "nll-test.json").read_text())["split"] == "test"


def test_model_of_another_encoding_is_refused(dataset: Path, tmp_path: Path) -> None:
    enc = get_encoding("mmt", max_beat=256)
    model = MusicTransformer(preset("tiny", enc.fields, enc.vocab_sizes))
    folder = save_checkpoint(tmp_path / "mmt", model, encoding=enc.to_dict())
    with pytest.raises(UsageError, match="encoding differs"):
        evaluate_nll(folder, dataset, "test")


# ---------------------------------------------------------------- continuations
def test_span_moves_and_cuts() -> None:
    from tuplet.analysis.continuations import span
    from tuplet.notes import from_rows

    notes = from_rows(
        [(0, 12, 60, 80, 0, False, 0), (24, 48, 62, 80, 0, False, 0), (60, 6, 64, 80, 0, False, 0)],
        ticks_per_beat=12,
    )
    part = span(notes, 2, 4)  # beats 2..4: the second note, cut at beat 4
    assert part.onset_ticks.tolist() == [0] and part.duration_ticks.tolist() == [24]
    assert part.pitch.tolist() == [62]
    later = span(notes, 2, 10)
    assert later.onset_ticks.tolist() == [0, 36] and later.duration_ticks.tolist() == [48, 6]
    with pytest.raises(ValueError):
        span(notes, 4, 4)


def test_continuation_references_average_every_other_piece_and_the_collection() -> None:
    from tuplet.analysis.continuations import _summarise, collection

    assert collection("music21:bach/bwv1.6.mxl") == "music21:bach"
    assert collection("music21:beethoven/opus18no1/movement2.mxl") == "music21:beethoven"
    assert collection("song.mid") == ""

    def row(name: str, true: float, generated: float, prompt: float) -> dict[str, object]:
        return {"name": name, "true": {"m": true}, "generated": {"m": generated},
                "prompt": {"m": prompt}}  # fmt: skip

    rows = [
        row("a:x/1", 1.0, 0.9, 1.0),
        row("a:x/2", 0.8, 0.8, 0.5),
        row("a:y/1", 0.5, float("nan"), 0.5),  # alone in its collection; model undefined
        row("a:x/3", float("nan"), 0.7, 0.7),  # truth undefined: in no pair
    ]
    means, counts = _summarise(rows, ("m",))
    # model: |0.9-1| and |0.8-0.8|; the NaNs are left out and counted
    assert means["model"]["m"] == pytest.approx(0.05) and counts["model"]["m"] == 2
    # another piece: piece 1 -> mean(0.2, 0.5), piece 2 -> mean(0.2, 0.3), piece 3 -> mean(0.5, 0.3)
    assert means["another piece"]["m"] == pytest.approx((0.35 + 0.25 + 0.4) / 3)
    assert counts["another piece"]["m"] == 3
    # same collection: only the two defined x pieces pair; y/1 is alone
    assert means["same collection"]["m"] == pytest.approx(0.2)
    assert counts["same collection"]["m"] == 2
    assert means["the prompt"]["m"] == pytest.approx((0.0 + 0.3 + 0.0) / 3)


def test_continuations_of_held_out_pieces(
    dataset: Path, checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tuplet.analysis.continuations import evaluate_continuations, format_continuations, span
    from tuplet.analysis.evaluate import read_dataset_pieces

    report = evaluate_continuations(checkpoint, dataset, prompt_beats=4, beats=8, seed=5)
    pieces = read_dataset_pieces(dataset, "test")
    long_enough = [
        name
        for name, n in zip(pieces.names, pieces.pieces, strict=True)
        if n.end_ticks >= 12 * n.ticks_per_beat
    ]
    used = [r["name"] for r in report.pieces]
    assert len(used) >= 3 and set(used) <= set(long_enough)
    assert len(used) + len(report.skipped) == len(pieces.names)
    assert report.new_notes == sum(r["new_notes"] for r in report.pieces) > 0
    # the true continuation is measured on beats 4..12 of the real piece
    first = dict(zip(pieces.names, pieces.pieces, strict=True))[used[0]]
    expected = metrics.compute_metrics(span(first, 4, 12), report.metrics)
    for m, value in expected.items():
        assert report.pieces[0]["true"][m] == pytest.approx(value, nan_ok=True)
    # "another piece" averages each truth's distance to every other piece's truth
    truths = [r["true"]["pitch_range"] for r in report.pieces]
    n = len(truths)
    every = [np.mean([abs(truths[j] - truths[i]) for j in range(n) if j != i]) for i in range(n)]
    assert report.mean_abs_diff["another piece"]["pitch_range"] == pytest.approx(np.mean(every))
    gen = [abs(r["generated"]["pitch_range"] - r["true"]["pitch_range"]) for r in report.pieces]
    assert report.mean_abs_diff["model"]["pitch_range"] == pytest.approx(np.nanmean(gen))
    # the same seed gives the same continuations
    again = evaluate_continuations(checkpoint, dataset, prompt_beats=4, beats=8, seed=5)
    assert again.pieces == report.pieces
    # rounds: round r is the report of seed + r; the figures are the rounds' means
    after = evaluate_continuations(checkpoint, dataset, prompt_beats=4, beats=8, seed=6)
    both = evaluate_continuations(checkpoint, dataset, prompt_beats=4, beats=8, seed=5, rounds=2)
    assert both.pieces == report.pieces + [{**r, "round": 1} for r in after.pieces]
    assert both.model_by_round == [report.mean_abs_diff["model"], after.mean_abs_diff["model"]]
    for m in report.metrics:
        pair = [report.mean_abs_diff["model"][m], after.mean_abs_diff["model"][m]]
        assert both.mean_abs_diff["model"][m] == pytest.approx(np.nanmean(pair), nan_ok=True)
        assert both.mean_abs_diff["another piece"][m] == pytest.approx(
            report.mean_abs_diff["another piece"][m], nan_ok=True
        )
    assert both.new_notes == report.new_notes + after.new_notes
    assert "x 2 rounds (seeds 5..6)" in format_continuations(both)
    # pieces too short for the span are skipped with the reason; none left is an error
    with pytest.raises(UsageError, match="no test piece"):
        evaluate_continuations(checkpoint, dataset, prompt_beats=8, beats=240)
    with pytest.raises(UsageError, match="exceed"):
        evaluate_continuations(checkpoint, dataset, prompt_beats=200, beats=100)
    out = tmp_path / "cont.json"
    assert main(["evaluate", "--continuations", "--model", str(checkpoint), "--data",
                 str(dataset), "--prompt-beats", "4", "--beats", "8", "--max-pieces", "2",
                 "--quiet", "--out", str(out)]) == 0  # fmt: skip
    saved = json.loads(out.read_text())
    assert len(saved["pieces"]) == 2 and saved["prompt_beats"] == 4
    assert set(saved["mean_abs_diff"]) == {"model", "another piece", "same collection",
                                           "the prompt"}
    assert saved["settings"]["temperature"] == 1.0  # the model's own (none: MMT's)
    # sampling options: the model's settings with those knobs replaced, recorded
    greedy = []
    for seed in ("5", "9"):
        path = tmp_path / f"greedy{seed}.json"
        assert main(["evaluate", "--continuations", "--model", str(checkpoint), "--data",
                     str(dataset), "--prompt-beats", "4", "--beats", "8", "--max-pieces", "2",
                     "--quiet", "--temperature", "0,pitch=0", "--seed", seed,
                     "--out", str(path)]) == 0  # fmt: skip
        greedy.append(json.loads(path.read_text()))
    assert greedy[0]["settings"]["temperature"] == 0.0
    assert greedy[0]["settings"]["per_field"] == {"pitch": {"temperature": 0.0}}
    assert greedy[0]["pieces"] == greedy[1]["pieces"]  # greedy: the seed changes nothing
    capsys.readouterr()
    assert main(["evaluate", "--model", str(checkpoint), "--data", str(dataset),
                 "--top-p", "0.9"]) == 1  # fmt: skip
    assert "--top-p sets how continuations are sampled" in capsys.readouterr().err
