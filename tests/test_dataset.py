"""Training examples: augmentation on codes, the dataset over a prepared folder, the loader."""

from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from tuplet.corpus import prepare
from tuplet.encoding import DRUMS_CODE, encode, get_encoding
from tuplet.encoding.vocab import key_of_code
from tuplet.errors import UsageError
from tuplet.notes import Notes, from_rows, shift_ticks
from tuplet.training.dataset import SequenceDataset, load_dataset_info, make_example, make_loader

DATA = Path(__file__).parent / "data"
TUPLET = get_encoding("tuplet")
MMT = get_encoding("mmt")


def long_song(n_beats: int = 600, top_pitch: int = 96) -> Notes:
    """A piano note and a drum hit on every beat; tempo, meter and key changes on the way."""
    rows = []
    for beat in range(n_beats):
        pitch = top_pitch - (beat * 5) % 37
        rows.append((beat * 12, 12 + beat % 3, pitch, 64 + beat % 50, 0, False, 0))
        rows.append((beat * 12 + 6, 3, 36, 100, 0, True, 1))
    return from_rows(
        rows,
        12,
        tempo_ticks=[0, 300 * 12],
        tempo_qpm=[120.0, 90.0],
        timesig_ticks=[0, 200 * 12],
        timesig_numerator=[4, 3],
        timesig_denominator=[4, 4],
        key_ticks=[0, 400 * 12],
        key_fifths=[0, 2],
        key_mode=[0, 0],
    )


def window_oracle(notes: Notes, start: int, max_beat: int) -> np.ndarray:
    """What a window should be, made by the encoder itself from the notes of that window."""
    onset_beats = notes.onset_ticks // notes.ticks_per_beat
    inside = notes.select((onset_beats >= start) & (onset_beats < start + max_beat))
    return encode(
        shift_ticks(inside, -start * notes.ticks_per_beat), TUPLET.with_max_beat(max_beat)
    )


def note_rows(codes: np.ndarray, config=TUPLET) -> np.ndarray:
    return codes[codes[:, 0] == config.type_codes["note"]]


# ------------------------------------------------------------------ make_example
def test_first_window_without_augmentation() -> None:
    notes = long_song()
    codes = encode(notes, TUPLET)
    out = make_example(codes, TUPLET, max_beat=256, max_seq_len=100_000)
    np.testing.assert_array_equal(out, window_oracle(notes, 0, 256))
    assert out[-1, 0] == TUPLET.type_codes["end-of-song"]
    assert out[:, TUPLET.field_index("beat")].max() <= 256


def test_random_window_is_a_rebased_window_with_the_meta_in_force() -> None:
    notes = long_song()
    codes = encode(notes, TUPLET)
    starts = []
    for seed in range(8):
        out = make_example(
            codes, TUPLET, max_beat=128, max_seq_len=100_000,
            rng=np.random.default_rng(seed), pitch_shift=(0, 0),
        )  # fmt: skip
        first_pitch = note_rows(out)[0, TUPLET.field_index("pitch")] - 1
        candidates = [s for s in range(600 - 128) if 96 - (s * 5) % 37 == first_pitch]
        matching = [s for s in candidates if np.array_equal(out, window_oracle(notes, s, 128))]
        assert matching, f"seed {seed}: not a window of the song"
        starts.append(matching[0])
    # windows after the meter (beat 200), tempo (300) and key (400) changes carry them to beat 0
    assert len(set(starts)) > 1 and max(starts) > 400


def test_pitch_shift_draws_and_limits() -> None:
    codes = encode(long_song(n_beats=30), TUPLET)
    pitch_col = TUPLET.field_index("pitch")
    instrument_col = TUPLET.field_index("instrument")
    notes_in = note_rows(codes)
    drums = notes_in[:, instrument_col] == DRUMS_CODE
    shifts = set()
    for seed in range(300):
        out = note_rows(make_example(codes, TUPLET, max_beat=256, max_seq_len=10_000,
                                     rng=np.random.default_rng(seed)))  # fmt: skip
        moved = out[:, pitch_col] - notes_in[:, pitch_col]
        assert np.all(moved[drums] == 0)
        assert len(set(moved[~drums].tolist())) == 1
        shifts.add(int(moved[~drums][0]))
    assert shifts == set(range(-5, 7))
    # a song whose top note is 125 can only go 2 semitones up
    high = encode(long_song(n_beats=30, top_pitch=125), TUPLET)
    high_shifts = {
        int(
            note_rows(make_example(high, TUPLET, max_beat=256, max_seq_len=10_000,
                                   rng=np.random.default_rng(seed)))[0, pitch_col]
            - note_rows(high)[0, pitch_col]
        )
        for seed in range(300)
    }  # fmt: skip
    assert high_shifts == set(range(-5, 3))


def test_key_rows_move_with_the_notes() -> None:
    codes = encode(long_song(n_beats=450), TUPLET)  # C major, then D major at beat 400
    pitch_col, key_col = TUPLET.field_index("pitch"), TUPLET.field_index("key")
    is_key = codes[:, 0] == TUPLET.type_codes["key"]
    for seed in range(40):
        out = make_example(codes, TUPLET, max_beat=1024, max_seq_len=100_000,
                           rng=np.random.default_rng(seed))  # fmt: skip
        shift = int(note_rows(out)[0, pitch_col] - note_rows(codes)[0, pitch_col])
        fifths_in, mode_in = key_of_code(codes[is_key, key_col])
        fifths_out, mode_out = key_of_code(out[out[:, 0] == TUPLET.type_codes["key"], key_col])
        np.testing.assert_array_equal(mode_in, mode_out)
        # the tonic (7 semitones per fifth above C) moves by the shift
        np.testing.assert_array_equal((7 * fifths_out) % 12, (7 * fifths_in + shift) % 12)
        assert np.all(np.abs(fifths_out) <= 6)


def test_sequence_cut_keeps_end_of_song() -> None:
    codes = encode(long_song(), TUPLET)
    full = make_example(codes, TUPLET, max_beat=256, max_seq_len=100_000)
    cut = make_example(codes, TUPLET, max_beat=256, max_seq_len=50)
    assert len(cut) == 50
    np.testing.assert_array_equal(cut[:49], full[:49])
    assert cut[-1, 0] == TUPLET.type_codes["end-of-song"] and not cut[-1, 1:].any()


def test_mmt_example_and_short_song() -> None:
    notes = long_song(n_beats=40)
    codes = encode(notes, MMT)
    out = make_example(codes, MMT, max_beat=256, max_seq_len=10_000)
    np.testing.assert_array_equal(out, codes)  # shorter than a window: unchanged
    shifted = make_example(codes, MMT, max_beat=256, max_seq_len=10_000,
                           rng=np.random.default_rng(3))  # fmt: skip
    moved = note_rows(shifted, MMT)[:, 3] - note_rows(codes, MMT)[:, 3]
    assert len(set(moved.tolist())) == 1


# ------------------------------------------------------------- dataset and loader
@pytest.fixture(scope="module")
def dataset_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tuplet.io import read_notes
    from tuplet.io.midi import write_midi

    src = tmp_path_factory.mktemp("src")
    notes = read_notes(DATA / "bwv84.5.mid")
    for k in range(6):
        write_midi(replace(notes, pitch=notes.pitch + k - 3), src / f"piece{k}.mid")
    shutil.copy(DATA / "multitrack_drums.mid", src)
    out = tmp_path_factory.mktemp("ds") / "ds"
    prepare([str(src)], out, jobs=1, split=(1.0, 0.0, 0.0), progress=False)
    return out


def test_dataset_items(dataset_dir: Path) -> None:
    info = load_dataset_info(dataset_dir)
    ds = SequenceDataset(dataset_dir, "train", max_seq_len=64, max_beat=16, seed=5)
    assert len(ds) == info["counts"]["train"] == 7
    assert len(SequenceDataset(dataset_dir, "valid")) == 0
    np.testing.assert_array_equal(ds[(2, 3)], ds[(2, 3)])
    ds.set_epoch(2)
    np.testing.assert_array_equal(ds[3], ds[(2, 3)])
    assert any(not np.array_equal(ds[(0, i)], ds[(1, i)]) for i in range(len(ds)))
    beat_col = ds.config.field_index("beat")
    for i in range(len(ds)):
        x = ds[i]
        assert x.dtype == np.int64 and len(x) <= 64
        assert x[:, beat_col].max() <= 16
    plain = SequenceDataset(dataset_dir, "train", max_seq_len=64, max_beat=16, augment=False)
    np.testing.assert_array_equal(plain[(0, 1)], plain[(7, 1)])
    with pytest.raises(UsageError, match="split"):
        SequenceDataset(dataset_dir, "training")
    with pytest.raises(IndexError):
        ds[7]


def test_the_onset_order_sorts_chords_by_instrument_in_every_split(dataset_dir: Path) -> None:
    kw = {"max_seq_len": 256, "max_beat": 16, "seed": 3}
    for augment in (True, False):
        pitch = SequenceDataset(dataset_dir, "train", augment=augment, **kw)
        by_instrument = SequenceDataset(
            dataset_dir, "train", augment=augment, onset_order="instrument", **kw
        )
        cfg = pitch.config
        beat, pos = cfg.field_index("beat"), cfg.field_index("position")
        instr, pit = cfg.field_index("instrument"), cfg.field_index("pitch")
        moved = 0
        for i in range(len(pitch)):
            a, b = pitch[(1, i)], by_instrument[(1, i)]
            # the same rows, only the notes within an onset reordered
            assert sorted(map(tuple, a.tolist())) == sorted(map(tuple, b.tolist()))
            np.testing.assert_array_equal(a[:, [0, beat, pos]], b[:, [0, beat, pos]])
            moved += int((a != b).any(axis=1).sum())
            note = b[:, 0] == cfg.type_codes["note"]
            for x in np.flatnonzero(note[:-1] & note[1:]):
                if (b[x, [beat, pos]] == b[x + 1, [beat, pos]]).all():
                    assert (b[x, instr], b[x, pit]) <= (b[x + 1, instr], b[x + 1, pit])
        assert moved > 0  # the chorales' four voices are not in instrument order by pitch
    moved = SequenceDataset(dataset_dir, "train", ensemble_shift=True, choir_rate=1.0)
    assert moved.ensemble_shifts == (-5, 6) and pitch.ensemble_shifts == (0, 0)
    with pytest.raises(UsageError, match="onset order"):
        SequenceDataset(dataset_dir, "train", onset_order="loudness")


def test_loader_pads_masks_and_repeats(dataset_dir: Path) -> None:
    ds = SequenceDataset(dataset_dir, "train", max_seq_len=48, max_beat=8, seed=1)
    batches = list(make_loader(ds, batch_size=3, shuffle=True, seed=4, epoch=1))
    assert [len(codes) for codes, _ in batches] == [3, 3, 1]
    eos = ds.config.type_codes["end-of-song"]
    for codes, mask in batches:
        assert str(codes.dtype) == "torch.int64" and str(mask.dtype) == "torch.bool"
        assert codes.shape[:2] == mask.shape and codes.shape[2] == len(ds.config.fields)
        lengths = mask.sum(1)
        for row, row_mask, n in zip(codes, mask, lengths.tolist(), strict=True):
            assert row_mask[:n].all() and not row_mask[n:].any()
            assert int(row[n - 1, 0]) == eos and not row[n:].any()
        assert int(lengths.max()) == codes.shape[1]
    again = list(make_loader(ds, batch_size=3, shuffle=True, seed=4, epoch=1))
    assert all((a[0] == b[0]).all() for a, b in zip(batches, again, strict=True))
    in_workers = list(make_loader(ds, batch_size=3, shuffle=True, seed=4, epoch=1, num_workers=2))
    assert all((a[0] == b[0]).all() for a, b in zip(batches, in_workers, strict=True))
    dropped = list(make_loader(ds, batch_size=3, shuffle=True, seed=4, epoch=2, drop_last=True))
    assert len(dropped) == 2


def test_importing_the_dataset_does_not_import_torch() -> None:
    code = "import sys, tuplet.training.dataset, tuplet.corpus; print('torch' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"
