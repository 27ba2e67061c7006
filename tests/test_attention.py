"""Musical self-attention: synthetic maps with known answers, a slow reference, model and CLI."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from tuplet.analysis.attention import (
    analyze_attention,
    default_fields,
    default_window,
    describe_offset,
    gamma_from_maps,
    interval_name,
)
from tuplet.analysis.attention_plots import (
    draw_attention,
    load_attention,
    save_attention,
    strongest_gains,
    summary_lines,
)
from tuplet.cli import main
from tuplet.encoding import get_encoding
from tuplet.errors import BadFileError, UsageError
from tuplet.model.transformer import MusicTransformer, preset

DATA = Path(__file__).parent / "data"
MMT = get_encoding("mmt", max_beat=64)
TUPLET = get_encoding("tuplet", max_beat=64)
NOTE = MMT.type_codes["note"]
NOTE_T = TUPLET.type_codes["note"]
PNG = b"\x89PNG\r\n\x1a\n"


def one_note_per_beat(n_notes: int, pitch: int = 60) -> np.ndarray:
    """SOS, then one note on each beat 0..n-1 (mmt codes)."""
    codes = np.zeros((n_notes + 1, 6), dtype=np.int64)
    for i in range(n_notes):
        codes[i + 1] = (NOTE, i + 1, 1, pitch + 1, 5, 1)
    return codes


def as_tuplet(codes: np.ndarray) -> np.ndarray:
    """The same rows in the tuplet encoding's columns (velocity, tempo, meter, key all 0)."""
    out = np.zeros((len(codes), len(TUPLET.fields)), dtype=np.int64)
    out[:, :6] = codes
    out[codes[:, 0] == NOTE, 0] = TUPLET.type_codes["note"]
    return out


def at(f, k: int) -> int:
    return int(np.flatnonzero(f.offsets == k)[0])


def random_causal_maps(rng, n_layers, batch, heads, length) -> list[np.ndarray]:
    scores = rng.normal(size=(n_layers, batch, heads, length, length)) * 2
    scores = np.where(np.tril(np.ones((length, length), dtype=bool)), scores, -np.inf)
    weights = np.exp(scores - scores.max(axis=-1, keepdims=True))
    return list(weights / weights.sum(axis=-1, keepdims=True))


# ------------------------------------------------------------------ the slow reference
def naive(maps, codes, real, encoding, fields, notes_only=False):
    """The formula written out with loops over every query and key (for comparison only)."""
    maps = np.stack([np.asarray(m, dtype=np.float64) for m in maps])  # (L, B, H, T, T)
    L, B, H, T, _ = maps.shape
    result = {}
    for name in fields:
        col = encoding.field_index(name)
        V = encoding.vocab_sizes[col]
        K, shift = 2 * V - 3, V - 2
        weight, pairs, all_pairs = np.zeros((L, H, K)), np.zeros(K, int), np.zeros(K, int)
        uniform = np.zeros(K)
        for b in range(B):

            def ok(i, b=b, col=col, V=V):
                note = codes[b, i, 0] == encoding.type_codes["note"]
                return real[b, i] and 0 < codes[b, i, col] < V and (note or not notes_only)

            for s in range(T):
                earlier = sum(
                    1
                    for t in range(s)
                    if real[b, t] and (codes[b, t, 0] == NOTE_T or not notes_only)
                )
                for t in range(T):
                    if not (ok(s) and ok(t)):
                        continue
                    k = codes[b, t, col] - codes[b, s, col] + shift
                    all_pairs[k] += 1
                    if t < s:
                        pairs[k] += 1
                        weight[:, :, k] += maps[:, b, :, s, t]
                        uniform[k] += 1 / earlier
        result[name] = (weight, pairs, all_pairs, uniform)
    return result


@pytest.mark.parametrize("notes_only", [False, True])
def test_vectorised_path_equals_the_loops_on_a_random_padded_batch(notes_only: bool) -> None:
    rng = np.random.default_rng(7)
    B, T, L, H = 3, 17, 2, 3
    codes = np.stack([rng.integers(0, v, size=(B, T)) for v in TUPLET.vocab_sizes], axis=-1)
    codes[:, :, 0] = rng.choice([TUPLET.type_codes["note"], 1, 3, 5], size=(B, T))
    codes[:, :, 1] = np.sort(codes[:, :, 1], axis=1)  # beats mostly rising, some zeros
    codes[rng.random((B, T)) < 0.15] = 0  # whole undefined rows too
    real = np.ones((B, T), dtype=bool)
    real[1, 11:] = False
    real[2, 4:] = False
    maps = random_causal_maps(rng, L, B, H, T)
    fields = TUPLET.fields[1:]  # every field but type, tempo/meter/key included
    stats = gamma_from_maps(maps, codes, TUPLET, fields=fields, mask=real, notes_only=notes_only)
    expected = naive(maps, codes, real, TUPLET, fields, notes_only)
    assert stats.n_layers == L and stats.n_heads == H and stats.n_sequences == B
    for name in fields:
        weight, pairs, all_pairs, uniform = expected[name]
        np.testing.assert_allclose(stats[name].weight, weight, rtol=1e-6, atol=1e-7)
        np.testing.assert_array_equal(stats[name].pairs, pairs)
        np.testing.assert_array_equal(stats[name].all_pairs, all_pairs)
        np.testing.assert_allclose(stats[name].uniform, uniform, rtol=1e-12)
    assert sum(stats[n].pairs.sum() for n in fields) > 100  # the case is not empty


# ------------------------------------------------------------------ known answers
def test_attending_exactly_four_beats_back() -> None:
    n = 20
    codes = one_note_per_beat(n)
    a = np.zeros((1, n + 1, n + 1))
    for s in range(n + 1):
        a[0, s, s - 4 if s >= 5 else 0] = 1.0  # notes before beat 4 look at start-of-song
    stats = gamma_from_maps([a], codes, MMT, fields=["beat"])
    f = stats["beat"]
    share = (n - 4) / (n * (n - 1) / 2)  # pairs 4 beats apart / all pairs t < s
    assert f.gamma[0, 0, at(f, -4)] == pytest.approx(1.0)
    assert f.baseline[at(f, -4)] == pytest.approx(share)
    assert f.gain[0, 0, at(f, -4)] == pytest.approx(1.0 - share)
    assert f.gain[0, 0, at(f, -1)] == pytest.approx(-(n - 1) / (n * (n - 1) / 2))
    assert np.nansum(f.gamma) == pytest.approx(1.0)
    assert f.weight.sum() == pytest.approx(n - 4)  # the weight on start-of-song is skipped
    assert str(strongest_gains(stats, "beat", top=1)[0]) == (
        f"layer 1 head 1: +{1 - share:.3f} at beat -4"
    )


def test_undefined_codes_are_skipped() -> None:
    n = 12
    codes = one_note_per_beat(n)
    # instrument rows (beat code 0) between start-of-song and the notes
    head = np.zeros((2, 6), dtype=np.int64)
    head[:, 0], head[:, 5] = MMT.type_codes["instrument"], [1, 20]
    codes = np.concatenate([codes[:1], head, codes[1:]])
    T = len(codes)
    a = np.zeros((1, T, T))
    for s in range(T):
        if s >= 7:  # half on an instrument row, half on the note 4 beats back
            a[0, s, 1], a[0, s, s - 4] = 0.5, 0.5
        else:
            a[0, s, 0] = 1.0
    stats = gamma_from_maps([a], codes, MMT, fields=["beat", "instrument"])
    beat = stats["beat"]
    assert beat.gamma[0, 0, at(beat, -4)] == pytest.approx(1.0)
    assert beat.pairs.sum() == n * (n - 1) // 2  # instrument rows are not beat pairs
    assert beat.weight.sum() == pytest.approx(0.5 * (T - 7))
    # the instrument field is defined on instrument rows: (note, instrument-1 row) pairs count
    inst = stats["instrument"]
    assert inst.weight[0, 0, at(inst, 0)] == pytest.approx(0.5 * (T - 7) * 2)


def test_constant_weight_on_every_pair_gives_zero_gain() -> None:
    rng = np.random.default_rng(3)
    T = 40
    codes = np.stack([rng.integers(0, v, size=T) for v in MMT.vocab_sizes], axis=-1)
    a = np.tril(np.full((2, T, T), 0.37), k=-1)
    stats = gamma_from_maps([a, a], codes, MMT)
    for name in stats:
        gain = stats[name].gain
        assert np.isfinite(gain).all()
        np.testing.assert_allclose(gain, 0.0, atol=1e-7)  # float32 sums


def test_uniform_attention_over_random_pitches_gives_gain_near_zero() -> None:
    rng = np.random.default_rng(0)
    T = 400
    codes = np.zeros((T, 6), dtype=np.int64)
    codes[:, 0], codes[:, 1], codes[:, 3] = NOTE, 1, 1 + rng.integers(48, 72, size=T)
    a = np.tril(np.ones((T, T)))
    a /= a.sum(axis=1, keepdims=True)  # every query spreads its attention evenly (self too)
    f = gamma_from_maps([a[None]], codes, MMT, fields=["pitch"])["pitch"]
    assert np.abs(f.gain).max() < 0.01
    assert f.gamma[0, 0, at(f, 0)] > 0.02  # there is attention to measure


def test_position_offset_is_key_minus_query_position() -> None:
    codes = np.array([(0, 0, 0, 0, 0, 0), (NOTE, 3, 3, 61, 5, 1), (NOTE, 3, 8, 65, 5, 1)])
    a = np.zeros((1, 3, 3))
    a[0, 1, 1] = a[0, 0, 0] = 1.0
    a[0, 2, 1] = 1.0  # the note at tick 7 looks at the one at tick 2 of the same beat
    stats = gamma_from_maps([a], codes, MMT, fields=["position", "beat", "pitch"])
    for name, k in (("position", -5), ("beat", 0), ("pitch", -4)):
        f = stats[name]
        assert f.gamma[0, 0, at(f, k)] == 1.0 and f.pairs[at(f, k)] == 1


def test_padding_is_ignored() -> None:
    rng = np.random.default_rng(1)
    lengths, T, H = (9, 14), 14, 2
    seqs = [np.stack([rng.integers(1, v, size=n) for v in MMT.vocab_sizes], -1) for n in lengths]
    maps = [random_causal_maps(rng, 1, 1, H, n)[0][0] for n in lengths]
    batch_codes = rng.integers(1, 5, size=(2, T, 6))  # padding holds junk codes...
    batch_maps = rng.random((2, H, T, T))  # ...and junk weights, even before the diagonal
    real = np.zeros((2, T), dtype=bool)
    for i, n in enumerate(lengths):
        batch_codes[i, :n], batch_maps[i, :, :n, :n], real[i, :n] = seqs[i], maps[i], True
        batch_maps[i, :, :n, n:] = 0.0  # what a causal model gives a real query
    together = gamma_from_maps([batch_maps], batch_codes, MMT, mask=real)
    apart = [gamma_from_maps([m], c, MMT) for m, c in zip(maps, seqs, strict=True)]
    assert together.n_events == sum(lengths)
    for name in together:
        np.testing.assert_allclose(
            together[name].weight, apart[0][name].weight + apart[1][name].weight, rtol=1e-6
        )
        np.testing.assert_array_equal(
            together[name].pairs, apart[0][name].pairs + apart[1][name].pairs
        )


def test_all_pairs_baseline_counts_future_keys_and_self() -> None:
    n = 10
    codes = one_note_per_beat(n)
    a = np.tril(np.ones((1, n + 1, n + 1)), k=-1)
    causal = gamma_from_maps([a], codes, MMT, fields=["beat"])
    official = gamma_from_maps([a], codes, MMT, fields=["beat"], baseline="all-pairs")
    f, g = causal["beat"], official["beat"]
    for k in range(-(n - 1), n):
        assert g.all_pairs[at(g, k)] == n - abs(k)  # every ordered pair, self included
        assert f.pairs[at(f, k)] == (n - abs(k) if k < 0 else 0)  # keys strictly before
        assert g.baseline[at(g, k)] == pytest.approx((n - abs(k)) / n**2)
    np.testing.assert_array_equal(f.gamma, g.gamma)  # only the baseline changes
    assert g.gain[0, 0, at(g, 2)] < 0 == f.gain[0, 0, at(f, 2)]
    back = official.with_baseline("causal")["beat"]
    np.testing.assert_array_equal(back.gain, f.gain)


def test_uniform_baseline_is_the_gamma_of_a_head_looking_equally_back() -> None:
    n = 16
    codes = one_note_per_beat(n)
    a = np.tril(np.ones((1, n + 1, n + 1)), k=-1)
    a /= np.maximum(a.sum(axis=-1, keepdims=True), 1)  # each query: equal shares of the past
    causal = gamma_from_maps([a], codes, MMT, fields=["beat"])["beat"]
    uniform = gamma_from_maps([a], codes, MMT, fields=["beat"], baseline="uniform")["beat"]
    assert causal.gain[0, 0, at(causal, -1)] > 0.05  # the formula's baseline sees a gain...
    np.testing.assert_allclose(uniform.gain, 0.0, atol=1e-7)  # ...this one does not
    np.testing.assert_array_equal(causal.gamma, uniform.gamma)


def test_head_mean_and_an_empty_field() -> None:
    codes = one_note_per_beat(6)
    a = np.zeros((2, 7, 7))
    a[0, 5, 1] = a[1, 5, 4] = 1.0  # head 1: 4 beats back; head 2: 1 beat back
    stats = gamma_from_maps([a], as_tuplet(codes), TUPLET, fields=["beat", "velocity"])
    f = stats["beat"]
    assert f.gamma_mean[0, at(f, -4)] == pytest.approx(0.5)
    assert f.gamma_mean[0, at(f, -1)] == pytest.approx(0.5)
    # velocity is 0 (undefined) everywhere: no pairs, gamma undefined, no warning
    v = stats["velocity"]
    assert v.pairs.sum() == 0 and np.isnan(v.gamma).all() and np.isnan(v.gamma_mean).all()
    assert "no positive gain" in "\n".join(summary_lines(stats))


def test_bad_requests_are_refused() -> None:
    codes = one_note_per_beat(4)
    a = np.tril(np.ones((1, 5, 5)))
    with pytest.raises(UsageError, match="no field 'loudness'"):
        gamma_from_maps([a], codes, MMT, fields=["loudness"])
    with pytest.raises(UsageError, match="type field"):
        gamma_from_maps([a], codes, MMT, fields=["type"])
    with pytest.raises(UsageError, match="unknown baseline"):
        gamma_from_maps([a], codes, MMT, baseline="official")
    with pytest.raises(UsageError, match="attention maps must be"):
        gamma_from_maps([a[:, :4, :4]], codes, MMT)


def test_labels() -> None:
    assert [interval_name(k) for k in (0, 1, 2, 5, 6, 7, 11, 12)] == [
        "unison", "m2", "M2", "P4", "TT", "P5", "M7", "octave",
    ]  # fmt: skip
    assert interval_name(-7) == "-P5" and interval_name(-12) == "-octave"
    assert interval_name(19) == "P5+octave" and interval_name(24) == "2 octaves"
    assert interval_name(-31) == "-P5+2 octaves"
    assert describe_offset("pitch", 7) == "pitch +7 (P5)"
    assert describe_offset("beat", -4) == "beat -4"
    assert describe_offset("instrument", 0) == "instrument 0 (same instrument)"
    assert default_fields(MMT) == ("beat", "position", "pitch", "duration", "instrument")
    assert default_fields(TUPLET)[-1] == "velocity"
    assert default_window("beat", MMT) == (-32, 0)
    assert default_window("pitch", MMT) == (-24, 24)
    assert default_window("duration", MMT) == (-31, 31)


# ------------------------------------------------------------------ model
def tiny_model(encoding, max_seq_len: int = 64, seed: int = 0) -> MusicTransformer:
    torch.manual_seed(seed)
    return MusicTransformer(
        preset("tiny", encoding.fields, encoding.vocab_sizes, max_seq_len=max_seq_len)
    )


def model_sequences(rng, count: int) -> list[np.ndarray]:
    seqs = []
    for _ in range(count):
        n = int(rng.integers(8, 40))
        notes = np.stack([rng.integers(1, v, size=n) for v in MMT.vocab_sizes], -1)
        notes[:, 0] = NOTE
        notes[:, 1] = np.sort(rng.integers(1, 30, size=n))
        start = np.zeros((1, 6), dtype=np.int64)
        seqs.append(np.concatenate([start, notes]))
    return seqs


def test_model_analysis_equals_its_own_maps_in_any_batch_size() -> None:
    rng = np.random.default_rng(5)
    model = tiny_model(MMT).train()
    seqs = model_sequences(rng, 5)
    one = analyze_attention(model, seqs, MMT, batch_size=1)
    three = analyze_attention(model, iter(seqs), MMT, batch_size=3)
    assert model.training  # put back as it was
    model.eval()
    with torch.no_grad():
        parts = [
            gamma_from_maps(
                model.hidden(torch.as_tensor(s)[None], return_attention=True)[1], s[None], MMT
            )
            for s in seqs
        ]
    assert one.n_sequences == three.n_sequences == 5
    assert one.n_events == sum(len(s) for s in seqs)
    for name in default_fields(MMT):
        total = sum(p[name].weight for p in parts)
        np.testing.assert_allclose(one[name].weight, total, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(three[name].weight, total, rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(three[name].pairs, sum(p[name].pairs for p in parts))


def test_model_analysis_refuses_what_it_cannot_read() -> None:
    model = tiny_model(MMT, max_seq_len=16)
    with pytest.raises(UsageError, match="at most 16"):
        analyze_attention(model, [np.zeros((20, 6), dtype=np.int64)], MMT)
    with pytest.raises(UsageError, match="fields"):
        analyze_attention(model, [np.zeros((5, 10), dtype=np.int64)], TUPLET)
    with pytest.raises(UsageError, match="no sequences"):
        analyze_attention(model, [], MMT)


# ------------------------------------------------------------------ files
def test_tables_and_arrays_round_trip(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    codes = np.concatenate(model_sequences(rng, 1))
    T = len(codes)
    maps = random_causal_maps(rng, 2, 1, 3, T)
    stats = gamma_from_maps(maps, codes[None], MMT, fields=["beat", "pitch"])
    windows = {"beat": (-8, 0), "pitch": (-12, 12)}
    save_attention(stats, tmp_path, windows=windows)
    with open(tmp_path / "attention.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 2 * (3 + 1) * (9 + 25)  # layers x (heads + mean) x offsets
    row = next(r for r in rows if r["field"] == "pitch" and r["layer"] == "2"
               and r["head"] == "3" and r["offset"] == "-5")  # fmt: skip
    f = stats["pitch"]
    assert float(row["gamma"]) == pytest.approx(f.gamma[1, 2, at(f, -5)], rel=1e-6)
    assert float(row["gain"]) == pytest.approx(f.gain[1, 2, at(f, -5)], rel=1e-6, abs=1e-9)
    assert int(row["pairs"]) == f.pairs[at(f, -5)]
    doc = json.loads((tmp_path / "attention.json").read_text())
    assert doc["fields"]["beat"]["offsets"] == list(range(-8, 1))
    assert np.array(doc["fields"]["pitch"]["gain_mean"]).shape == (2, 25)
    assert "beat" in (tmp_path / "summary.txt").read_text()
    back = load_attention(tmp_path / "attention.npz")
    for name in stats:
        np.testing.assert_array_equal(back[name].weight, stats[name].weight)
        np.testing.assert_array_equal(back[name].all_pairs, stats[name].all_pairs)
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(BadFileError, match=r"bad\.npz"):
        load_attention(tmp_path / "bad.npz")


def test_undefined_gamma_is_null_in_json(tmp_path: Path) -> None:
    codes = as_tuplet(one_note_per_beat(2))
    stats = gamma_from_maps([np.eye(3)[None]], codes, TUPLET, fields=["velocity"])
    save_attention(stats, tmp_path)
    doc = json.loads((tmp_path / "attention.json").read_text())  # strict JSON: no NaN
    assert doc["fields"]["velocity"]["gamma"][0][0][0] is None


def test_heatmaps_are_drawn(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    codes = np.concatenate(model_sequences(rng, 1))
    stats = gamma_from_maps(random_causal_maps(rng, 2, 1, 2, len(codes)), codes[None], MMT)
    for name in ("beat", "pitch"):
        path = draw_attention(stats, name, tmp_path / f"{name}.png", window=(-24, 0))
        assert path.read_bytes()[:8] == PNG
    with pytest.raises(UsageError, match="does not exist"):
        draw_attention(stats, "beat", tmp_path / "missing" / "x.png")


def test_embedding_similarity_sees_octaves(tmp_path: Path) -> None:
    from tuplet.analysis.embeddings import embedding_similarity, save_embedding_views

    model = tiny_model(MMT)
    table = model.field_embeddings[MMT.field_index("pitch")].weight
    with torch.no_grad():
        classes = torch.randn(12, table.shape[1])
        table[1:] = classes[torch.arange(128) % 12]  # every C alike, every D alike...
    view = embedding_similarity(model, MMT, "pitch")
    assert view.labels[60] == "C4" and view.labels[0] == "C-1" and len(view.codes) == 128
    np.testing.assert_allclose(view.similarity[60, [48, 72, 0]], 1.0, rtol=1e-6)
    assert view.similarity[60, 62] < 0.99
    np.testing.assert_allclose(view.similarity, view.similarity.T)
    paths = save_embedding_views(model, MMT, tmp_path, ["pitch", "beat"])
    assert [p.name for p in paths] == [
        "embedding_pitch.png",
        "embedding_beat.png",
        "embeddings.npz",
    ]
    assert (tmp_path / "embedding_beat.png").read_bytes()[:8] == PNG


# ------------------------------------------------------------------ command line
@pytest.fixture(scope="module")
def checkpoint_and_data(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    from tuplet.corpus import prepare
    from tuplet.model.checkpoint import save_checkpoint

    root = tmp_path_factory.mktemp("analyze")
    src = root / "src"
    src.mkdir()
    for name in ("bwv66.6.mid", "bwv84.5.mid", "lascia_chio_pianga.mid"):
        shutil.copy(DATA / name, src)
    prepare([str(src)], root / "ds", jobs=1, split=(0.0, 0.0, 1.0), filters=None,
            progress=False)  # fmt: skip
    encoding = TUPLET.with_max_beat(32)
    model = tiny_model(encoding, max_seq_len=96)
    save_checkpoint(root / "ck", model, encoding=encoding.to_dict())
    return root / "ck", root / "ds"


def test_cli_writes_tables_heatmaps_and_a_summary(checkpoint_and_data, tmp_path, capsys) -> None:
    ck, ds = checkpoint_and_data
    out = tmp_path / "att"
    rc = main(["analyze", "attention", "--model", str(ck), "--data", str(ds), "--n", "2",
               "--out", str(out), "--quiet", "--window", "beat=-8:0"])  # fmt: skip
    assert rc == 0
    fields = default_fields(TUPLET)
    for name in ("attention.csv", "attention.json", "attention.npz", "summary.txt"):
        assert (out / name).stat().st_size > 0
    for name in fields:
        assert (out / f"attention_{name}.png").read_bytes()[:8] == PNG
    doc = json.loads((out / "attention.json").read_text())
    assert list(doc["fields"]) == list(fields)
    assert doc["n_sequences"] == 2 and doc["split"] == "test" and doc["n_layers"] == 2
    assert doc["fields"]["beat"]["window"] == [-8, 0]
    assert doc["fields"]["pitch"]["window"] == [-24, 24]
    assert doc["fields"]["pitch"]["total_pairs"] > 1000  # real music went through
    printed = capsys.readouterr().out
    assert "baseline causal" in printed and f"to {out}" in printed


def test_cli_embeddings_and_errors(checkpoint_and_data, tmp_path, capsys) -> None:
    ck, ds = checkpoint_and_data
    rc = main(["analyze", "embeddings", "--model", str(ck), "--out", str(tmp_path),
               "--fields", "instrument,position"])  # fmt: skip
    assert rc == 0
    assert (tmp_path / "embedding_instrument.png").read_bytes()[:8] == PNG
    with np.load(tmp_path / "embeddings.npz") as saved:
        assert saved["instrument.similarity"].shape == (65, 65)  # 64 + drums
    rc = main(["analyze", "attention", "--model", str(ck), "--data", str(ds), "--quiet",
               "--window", "beat=0:-4", "--out", str(tmp_path)])  # fmt: skip
    assert rc == 1
    assert "LO must not exceed HI" in capsys.readouterr().err
    rc = main(["analyze", "attention", "--model", str(ck), "--data", str(ds), "--quiet",
               "--split", "train", "--out", str(tmp_path)])  # fmt: skip
    assert rc == 1
    assert "train split holds no sequences" in capsys.readouterr().err
