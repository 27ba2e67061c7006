"""Training examples from a prepared dataset: MMT's augmentation, batching and padding.

:class:`SequenceDataset` reads one split of a dataset folder (:mod:`tuplet.corpus.store`) and turns
each stored song into a training sequence with :func:`make_example`; :func:`make_loader`
wraps it in a PyTorch ``DataLoader`` whose batches are ``codes (B, T, F) long`` and
``mask (B, T) bool`` (True = a real event to learn; padding rows are all 0, and so is the
mask of a fill example's context after its hole, :func:`collate`).

Importing this module does not import torch: only :func:`make_loader` and :func:`collate` do,
and :class:`SequenceDataset` works without it (items are numpy arrays).

Augmentation (MMT's, for the train split; see ``docs/data.md``):

* pitch shift: one shift per song, uniform over -5..+6 semitones, applied to every pitched
  note row (drum rows are left alone). Where a shift would move a note out of 0..127 it is not
  drawn: the draw is uniform over the shifts in -5..+6 that keep every note in range (MMT
  clips such notes to 0 or 127 instead, which changes the music). In the tuplet encoding the
  key rows move with the notes (the key of the shifted tonic, written with -6..+5 sharps);
* window: a song longer than ``max_beat`` beats gets a random ``max_beat``-beat window (up to
  10 tries to find one with more than 10 notes, else the last try), re-based to start at beat
  0; the song's instrument rows are kept, and in the tuplet encoding the time signature, key
  and tempo in force at the window start are put at beat 0;
* range-keeping shift and instrument swaps (``range_shift``, ``swap_rate``; off by default,
  on for new tuplet-encoding runs of ``tuplet train``), and a choir's voices on instruments
  (``choir_rate``, off by default): :mod:`tuplet.training.augment`;
* slices (``slice_rate``, off by default; ``tuplet personalize`` turns it on): a share of
  examples are a slice of their song instead, an N-bar loop (all tracks or one) or one
  track alone (:mod:`tuplet.training.slices`), then shifted as above;
* onset order (``onset_order``): the notes of each onset put in the model's order
  (:func:`tuplet.encoding.order_onsets`), after every other step, in every split;
* length: sequences longer than ``max_seq_len`` events keep their first ``max_seq_len - 1``
  rows plus end-of-song.

Without augmentation (valid/test) a song gets no shift and its first window. Randomness comes
from a numpy Generator seeded with ``(seed, epoch, index)``, so runs repeat exactly.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np

from tuplet.corpus.store import CodesReader, load_info
from tuplet.errors import UsageError
from tuplet.notes import Notes
from tuplet.training.slices import SliceSpec, cut, slice_specs

if TYPE_CHECKING:
    from tuplet.encoding import EncodingConfig

PITCH_SHIFT_RANGE: tuple[int, int] = (-5, 6)
"""MMT's pitch-shift range in semitones (both ends included)."""
WINDOW_TRIES = 10
WINDOW_MIN_NOTES = 10
"""A random window is accepted when it holds more than this many notes."""
_META_TYPES = ("time-signature", "key", "tempo")


def load_dataset_info(out_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """The ``dataset.json`` of a prepared dataset (encoding, counts, filters, sources...).

    Raises:
        UsageError: The folder is not a prepared dataset.
    """
    return load_info(out_dir)


def _transpose_keys(key_codes: np.ndarray, semitones: int) -> np.ndarray:
    """Key codes (1..30) of keys moved by ``semitones``; the tonic's new key, -6..+5 fifths."""
    c = key_codes - 1
    fifths, mode = c // 2 - 7, c % 2
    moved = (fifths + 7 * semitones + 6) % 12 - 6
    return 1 + (moved + 7) * 2 + mode


def make_example(
    codes: np.ndarray,
    config: EncodingConfig,
    *,
    max_beat: int,
    max_seq_len: int,
    rng: np.random.Generator | None = None,
    pitch_shift: tuple[int, int] = PITCH_SHIFT_RANGE,
    range_shift: bool = False,
) -> np.ndarray:
    """One training sequence from a stored song (see the module docstring for the rules).

    Args:
        codes: The song as :func:`tuplet.encoding.encode` wrote it, ``(n, n_fields)``.
        config: Its encoding.
        max_beat: Beats per window; output beat codes are ``1..max_beat``.
        max_seq_len: Most rows in the output, end-of-song included (at least 2).
        rng: Randomness for augmentation; None gives the unaugmented first window.
        pitch_shift: Lowest and highest shift in semitones.
        range_shift: Draw only shifts that keep every in-range note of a ranged instrument
            in its range (:func:`tuplet.training.augment.shift_bounds`).

    Returns:
        int64 ``(T, n_fields)``: start-of-song, instrument rows, start-of-notes, the window's
        events, end-of-song (cut to ``max_seq_len``).
    """
    if max_seq_len < 2:
        raise UsageError(f"max_seq_len must be at least 2, got {max_seq_len}")
    types = config.type_codes
    kind = codes[:, 0]
    head_types = [types["start-of-song"], types["instrument"], types["start-of-notes"]]
    head = codes[np.isin(kind, head_types)]
    events = np.array(codes[~np.isin(kind, [*head_types, types["end-of-song"]])], dtype=np.int64)
    is_note = events[:, 0] == types["note"]

    if rng is not None:
        _shift_pitches(events, is_note, config, rng, pitch_shift, range_shift)
    window = _window(events, is_note, config, max_beat, rng)

    end = np.zeros((1, codes.shape[1]), dtype=np.int64)
    end[0, 0] = types["end-of-song"]
    body = np.concatenate([head.astype(np.int64), window])
    if len(body) > max_seq_len - 1:
        body = body[: max_seq_len - 1]
    return np.concatenate([body, end])


def _shift_pitches(
    events: np.ndarray,
    is_note: np.ndarray,
    config: EncodingConfig,
    rng: np.random.Generator,
    pitch_shift: tuple[int, int],
    range_shift: bool,
) -> None:
    """Transpose the pitched notes (and the key rows) by one drawn shift, in place.

    The draw is uniform over the shifts of ``pitch_shift`` that keep every note in 0..127
    (and, with ``range_shift``, every in-range note of a ranged instrument in its range).
    """
    types = config.type_codes
    pitch_col = config.field_index("pitch")
    pitched = is_note.copy()
    if config.name == "tuplet":
        from tuplet.encoding import DRUMS_CODE

        pitched &= events[:, config.field_index("instrument")] != DRUMS_CODE
    low, high = pitch_shift
    if pitched.any():
        pitch = events[pitched, pitch_col] - 1
        low, high = max(low, -int(pitch.min())), min(high, 127 - int(pitch.max()))
        if range_shift:
            from tuplet.training.augment import shift_bounds

            instrument = events[pitched, config.field_index("instrument")]
            low, high = shift_bounds(pitch, instrument, config, low, high)
    shift = int(rng.integers(low, high + 1)) if low <= high else 0
    events[pitched, pitch_col] += shift
    if "key" in types:
        is_key = events[:, 0] == types["key"]
        key_col = config.field_index("key")
        events[is_key, key_col] = _transpose_keys(events[is_key, key_col], shift)


def _window(
    events: np.ndarray,
    is_note: np.ndarray,
    config: EncodingConfig,
    max_beat: int,
    rng: np.random.Generator | None,
) -> np.ndarray:
    """The events of a ``max_beat``-beat window, re-based to beat 0.

    Without ``rng`` the first window. In the tuplet encoding the meter, key and tempo in force
    at the window's start are put at its start.
    """
    types = config.type_codes
    beat_col = config.field_index("beat")
    beat = events[:, beat_col] - 1
    n_beats = int(beat[is_note].max()) + 1 if is_note.any() else 0
    start = 0
    if n_beats > max_beat and rng is not None:
        for _ in range(WINDOW_TRIES):
            start = int(rng.integers(n_beats - max_beat))
            in_window = is_note & (beat >= start) & (beat < start + max_beat)
            if in_window.sum() > WINDOW_MIN_NOTES:
                break
    window = events[(beat >= start) & (beat < start + max_beat)]
    if start > 0 and config.name == "tuplet":
        pos_col = config.field_index("position")
        carried = []
        for name in _META_TYPES:
            rows = events[:, 0] == types[name]
            at_start = rows & (beat == start) & (events[:, pos_col] == 1)
            before = np.flatnonzero(rows & (beat < start))
            if len(before) and not at_start.any():
                row = events[before[-1]].copy()
                row[beat_col], row[pos_col] = 1 + start, 1
                carried.append(row)
        if carried:
            window = np.concatenate([np.stack(carried), window])
            order = np.lexsort((window[:, 0], window[:, pos_col], window[:, beat_col]))
            window = window[order]
    window[:, beat_col] -= start
    return window


class SequenceDataset:
    """One split of a prepared dataset as training sequences (a map-style dataset).

    ``dataset[i]`` uses the epoch set by :meth:`set_epoch`; ``dataset[(epoch, i)]`` names it
    (that is what :func:`make_loader`'s sampler passes, so DataLoader workers need no state).

    Args:
        out_dir: A folder made by :func:`tuplet.corpus.prepare`.
        split: ``"train"``, ``"valid"`` or ``"test"``.
        max_seq_len: Most events per sequence (SOS ... EOS included).
        max_beat: Beats per window (the model's beat vocabulary is ``max_beat + 1``).
        augment: Pitch shift and random windows (for training).
        seed: Seed of the augmentation (with the epoch and the index).
        fim_rate: Fraction of examples rearranged for fill-in-the-middle training
            (:func:`tuplet.encoding.fim.random_fill_sequence`); needs an encoding with fill events.
        slice_rate: Fraction of examples that are a slice of their piece instead of a window
            of it: a loop of ``loop_bars`` bars (all tracks or one) or one track over the whole
            piece (:mod:`tuplet.training.slices`), drawn at random among the piece's slices.
        loop_bars: Bars per loop slice.
        range_shift: Pitch shifts keep ranged instruments' notes in their ranges.
        swap_rate: Fraction of examples whose line instruments may move to others that can
            play their notes (:func:`tuplet.training.augment.swap_instruments`; train only).
        choir_rate: Fraction of examples whose choir, if they have one, is sung by line
            instruments, one per voice (:func:`tuplet.training.augment.split_choir`; train
            only; off by default: see docs/default-model.md for what it did to a model).
        ensemble_shift: A choir an ensemble cannot play where it is written may be moved
            by a shift of ``PITCH_SHIFT_RANGE`` into the ensemble's ranges.
        onset_order: The order of an onset's notes the model learns
            (:data:`tuplet.encoding.ONSET_ORDERS`; ``pitch``, the stored one, by default).

    Raises:
        UsageError: Not a dataset folder, an unknown split, or a bad option.
    """

    def __init__(
        self,
        out_dir: str | os.PathLike[str],
        split: str,
        *,
        max_seq_len: int = 1024,
        max_beat: int = 256,
        augment: bool = True,
        seed: int = 0,
        fim_rate: float = 0.0,
        slice_rate: float = 0.0,
        loop_bars: int = 4,
        range_shift: bool = False,
        swap_rate: float = 0.0,
        choir_rate: float = 0.0,
        ensemble_shift: bool = False,
        onset_order: str = "pitch",
    ) -> None:
        from tuplet.encoding import ONSET_ORDERS, EncodingConfig

        if split not in ("train", "valid", "test"):
            raise UsageError(f"split must be train, valid or test, not {split!r}")
        from tuplet.encoding.fim import supports_fill

        rates = {"fim_rate": fim_rate, "slice_rate": slice_rate, "swap_rate": swap_rate,
                 "choir_rate": choir_rate}  # fmt: skip
        for name, rate in rates.items():
            if not 0.0 <= rate <= 1.0:
                raise UsageError(f"{name} must be between 0 and 1, got {rate}")
        self.reader = CodesReader(out_dir)
        self.config = EncodingConfig.from_dict(self.reader.info["encoding"])
        if fim_rate and not supports_fill(self.config):
            raise UsageError(
                f"{out_dir}: the {self.config.name} encoding has no fill events; use "
                "fim_rate 0 or prepare the data with --encoding tuplet"
            )
        self.fim_rate = float(fim_rate)
        self.model_config = self.config.with_max_beat(max_beat)
        if max_seq_len < 2:
            raise UsageError(f"max_seq_len must be at least 2, got {max_seq_len}")
        self.split = split
        self.max_seq_len = max_seq_len
        self.max_beat = max_beat
        self.augment = augment
        self.seed = int(seed)
        self.epoch = 0
        entries = self.reader.entries(split)
        self.items = [e["item"] for e in entries]
        self.offsets = np.array([e["offset"] for e in entries], dtype=np.int64)
        self.lengths = np.array([e["length"] for e in entries], dtype=np.int64)
        if loop_bars < 1:
            raise UsageError(f"loop_bars must be at least 1, got {loop_bars}")
        self.slice_rate = float(slice_rate)
        self.range_shift = bool(range_shift)
        self.swap_rate = float(swap_rate)
        self.choir_rate = float(choir_rate)
        self.ensemble_shifts = PITCH_SHIFT_RANGE if ensemble_shift else (0, 0)
        if onset_order not in ONSET_ORDERS:
            raise UsageError(
                f"unknown onset order {onset_order!r} (choose from {', '.join(ONSET_ORDERS)})"
            )
        self.onset_order = onset_order
        self.pieces: list[Notes] = []
        self.slices: list[list[SliceSpec]] = []
        if self.slice_rate:
            from tuplet.encoding import decode

            for offset, length in zip(self.offsets, self.lengths, strict=True):
                piece = decode(self.reader.codes(int(offset), int(length)), self.config)
                self.pieces.append(piece)
                self.slices.append(slice_specs(piece, loop_bars))

    def __len__(self) -> int:
        return len(self.items)

    def set_epoch(self, epoch: int) -> None:
        """Set the epoch used by ``dataset[i]`` (it changes the augmentation draws)."""
        self.epoch = int(epoch)

    def rng(self, epoch: int, index: int) -> np.random.Generator:
        """The augmentation generator of one item in one epoch."""
        return np.random.default_rng([self.seed % 2**63, int(epoch), int(index)])

    def __getitem__(self, key: int | tuple[int, int]) -> np.ndarray:
        epoch, index = key if isinstance(key, tuple) else (self.epoch, key)
        index = int(index)
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} sequences")
        index %= len(self)
        codes = self.reader.codes(int(self.offsets[index]), int(self.lengths[index]))
        if self.slice_rate and self.slices[index]:
            slice_rng = np.random.default_rng([self.seed % 2**63, int(epoch), index, 2])
            if slice_rng.random() < self.slice_rate:
                from tuplet.encoding import encode

                specs = self.slices[index]
                spec = specs[int(slice_rng.integers(len(specs)))]
                codes = encode(cut(self.pieces[index], spec), self.config)
        if self.choir_rate and self.augment:
            choir_rng = np.random.default_rng([self.seed % 2**63, int(epoch), index, 4])
            if choir_rng.random() < self.choir_rate:
                from tuplet.training.augment import split_choir

                codes = split_choir(codes, self.config, choir_rng, self.ensemble_shifts)
        if self.swap_rate and self.augment:
            swap_rng = np.random.default_rng([self.seed % 2**63, int(epoch), index, 3])
            if swap_rng.random() < self.swap_rate:
                from tuplet.training.augment import swap_instruments

                codes = swap_instruments(codes, self.config, swap_rng)
        example = make_example(
            codes,
            self.config,
            max_beat=self.max_beat,
            max_seq_len=self.max_seq_len,
            rng=self.rng(epoch, index) if self.augment else None,
            range_shift=self.range_shift,
        )
        if self.onset_order != "pitch":
            from tuplet.encoding import order_onsets

            example = order_onsets(example, self.config, self.onset_order)
        if self.fim_rate:
            from tuplet.encoding.fim import random_fill_sequence

            fim_rng = np.random.default_rng([self.seed % 2**63, int(epoch), index, 1])
            if fim_rng.random() < self.fim_rate:
                example = random_fill_sequence(
                    example, self.model_config, fim_rng, self.max_seq_len
                )
        return example


class EpochSampler:
    """Yields ``(epoch, index)`` for one epoch: a permutation seeded by ``(seed, epoch)``."""

    def __init__(self, n: int, shuffle: bool, seed: int, epoch: int) -> None:
        self.n, self.shuffle, self.seed, self.epoch = n, shuffle, int(seed), int(epoch)

    def __len__(self) -> int:
        return self.n

    def __iter__(self) -> Iterator[tuple[int, int]]:
        if self.shuffle:
            order = np.random.default_rng([self.seed % 2**63, self.epoch]).permutation(self.n)
        else:
            order = np.arange(self.n)
        return ((self.epoch, int(i)) for i in order)


def collate(batch: list[np.ndarray], config: EncodingConfig | None = None) -> tuple[Any, Any]:
    """Pad sequences to the longest one: ``(codes (B, T, F) long, mask (B, T) bool)``.

    With ``config``, the rows of a fill-in-the-middle example's context that come after the
    hole (:func:`tuplet.encoding.fim.given_rows`) are False in ``mask`` too: the loss takes
    every row as input and teaches only targets whose row and the row before are True, so the
    model never learns the hole's silence as music.
    """
    import torch

    from tuplet.encoding.fim import given_rows

    longest = max(len(seq) for seq in batch)
    n_fields = batch[0].shape[1]
    codes = np.zeros((len(batch), longest, n_fields), dtype=np.int64)
    mask = np.zeros((len(batch), longest), dtype=bool)
    for i, seq in enumerate(batch):
        codes[i, : len(seq)] = seq
        mask[i, : len(seq)] = True if config is None else ~given_rows(seq, config)
    return torch.from_numpy(codes), torch.from_numpy(mask)


def make_loader(
    dataset: SequenceDataset,
    batch_size: int,
    shuffle: bool = True,
    seed: int = 0,
    epoch: int = 0,
    *,
    drop_last: bool = False,
    num_workers: int = 0,
) -> Any:
    """A PyTorch DataLoader over one epoch of ``dataset``.

    The order is a permutation drawn from ``(seed, epoch)`` (or the dataset order without
    ``shuffle``), and each item's augmentation from ``(dataset.seed, epoch, index)``: the
    same arguments give the same batches, with any ``num_workers``.

    Args:
        dataset: The dataset.
        batch_size: Sequences per batch.
        shuffle: Shuffle the order.
        seed: Seed of the order.
        epoch: The epoch (changes the order and the augmentation).
        drop_last: Drop a last, smaller batch.
        num_workers: DataLoader worker processes.

    Returns:
        A ``torch.utils.data.DataLoader`` yielding ``(codes, mask)``.
    """
    from torch.utils.data import DataLoader

    if batch_size < 1:
        raise UsageError(f"batch_size must be at least 1, got {batch_size}")
    sampler = EpochSampler(len(dataset), shuffle, seed, epoch)
    return DataLoader(
        dataset,  # type: ignore[arg-type]
        batch_size=batch_size,
        sampler=sampler,
        collate_fn=partial(collate, config=dataset.config),
        drop_last=drop_last,
        num_workers=num_workers,
    )
