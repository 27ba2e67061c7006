r"""Fuzz every reader of tuplet with mutated real files, driven by Hypothesis.

Targets (each case is one file or folder, mutated from a real one, then read):

* ``midi``: the fixtures of tests/data (bytes flipped, chunks truncated, repeated or deleted,
  chunk lengths, track counts and resolutions made absurd), read by both MIDI readers
  (symusic, MusPy's rules) and encoded with both encodings, as ``tuplet data prepare`` does;
* ``midi-synth``: MIDI files written byte by byte: up to thousands of tracks, huge delta times,
  tempos of 0 and 2**24-1 microseconds, time signatures with absurd denominators, keys out of
  range, notes and velocities outside 0-127 (data bytes with the top bit set), sysex;
* ``musicxml`` (the chorale as plain MusicXML, and as .mxl: its XML mutated and zipped
  again), ``kern``, ``abc``: text mutations (numbers replaced by 0, -1, 99999999, 1e308...,
  lines deleted or repeated a thousand times) and byte mutations; read as prepare reads them;
* ``dataset``: a prepared dataset folder with one of its files mutated; inspected, every
  sequence read, training examples built, and ``prepare`` run again on it;
* ``checkpoint``: a tiny model's checkpoint folder (config, weights, trainer state) with one
  file mutated; loaded as ``train --resume`` and ``generate`` load it;
* ``codes``: a codes file (.csv or .npy) for ``tuplet decode``, mutated; decoded by the CLI;
* ``audio``: a two-second melody of sine tones as WAV and as FLAC, bytes mutated; transcribed
  and put on the grid as ``tuplet transcribe`` does.

Every case runs in a separate worker process with a deadline and an address-space limit. A
case passes when the reader either succeeds or refuses with a :class:`tuplet.errors.TupletError`
whose message is one line naming the file (or folder). Anything else is recorded: an uncaught
exception (with its traceback's last line), a crash (the signal), a hang past the deadline, or
memory past the limit.

    nice -n 10 .venv/bin/python scripts/fuzz_readers.py --cases 10000 --seed 20 \
        --report fuzz-report.json

``tests/test_fuzz_readers.py`` runs a small fixed-seed share of the same strategies in CI.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import multiprocessing
import os
import re
import shutil
import sys
import tempfile
import time
import traceback
import zipfile
from collections import Counter
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"

# how the 10,000 cases of a full campaign are shared out (cheap readers get more)
WEIGHTS = {
    "midi": 25,
    "midi-synth": 20,
    "musicxml": 9,
    "kern": 9,
    "abc": 9,
    "dataset": 10,
    "checkpoint": 10,
    "codes": 8,
    "audio": 5,
}
TARGETS = tuple(WEIGHTS)
MAX_BYTES = 4 << 20  # a mutated file is cut to this (a repeat can grow it)


# ------------------------------------------------------------------------ mutations
ABSURD_LENGTHS = (0, 1, 0x7F, 0xFFFF, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF)
ABSURD_NUMBERS = ("0", "-1", "99999999", "4294967296", "-2147483649", "1e308", "nan", "3.5", "")

byte_op = st.one_of(
    st.tuples(st.just("flip"), st.floats(0, 1), st.integers(0, 7)),
    st.tuples(st.just("truncate"), st.floats(0, 1)),
    st.tuples(st.just("repeat"), st.floats(0, 1), st.integers(1, 4096), st.integers(2, 64)),
    st.tuples(st.just("delete"), st.floats(0, 1), st.integers(1, 4096)),
    st.tuples(st.just("insert"), st.floats(0, 1), st.binary(min_size=1, max_size=64)),
    st.tuples(st.just("length"), st.floats(0, 1), st.sampled_from(ABSURD_LENGTHS)),
)
midi_op = st.one_of(
    byte_op,
    byte_op,
    st.tuples(st.just("header_flip"), st.integers(0, 13), st.integers(0, 7)),
    st.tuples(st.just("chunk_length"), st.floats(0, 1), st.sampled_from(ABSURD_LENGTHS)),
    st.tuples(st.just("ntracks"), st.sampled_from((0, 1, 2, 1000, 0xFFFF))),
    st.tuples(st.just("division"), st.sampled_from((1, 2, 0x7FFF, 0x8000, 0xE728, 0xFFFF))),
)


def text_ops(max_repeat: int = 300) -> Any:
    """Mutations of a text file: bytes, numbers made absurd, lines deleted or repeated."""
    return st.one_of(
        byte_op,
        st.tuples(st.just("number"), st.floats(0, 1), st.sampled_from(ABSURD_NUMBERS)),
        st.tuples(st.just("number"), st.floats(0, 1), st.sampled_from(ABSURD_NUMBERS)),
        st.tuples(st.just("line_repeat"), st.floats(0, 1), st.integers(2, max_repeat)),
        st.tuples(st.just("line_delete"), st.floats(0, 1), st.integers(1, 50)),
    )


def _at(data: bytes | str, where: float) -> int:
    return min(len(data), int(where * len(data)))


def apply_byte_op(data: bytes, op: tuple[Any, ...]) -> bytes:
    """One byte-level mutation of ``data`` (positions are fractions of its length)."""
    kind = op[0]
    if not data:
        return data
    i = min(len(data) - 1, _at(data, op[1]))
    if kind == "flip":
        return data[:i] + bytes([data[i] ^ (1 << op[2])]) + data[i + 1 :]
    if kind == "truncate":
        return data[:i]
    if kind == "repeat":
        chunk = data[i : i + op[2]]
        return data[:i] + chunk * op[3] + data[i:]
    if kind == "delete":
        return data[:i] + data[i + op[2] :]
    if kind == "insert":
        return data[:i] + op[2] + data[i:]
    if kind == "length":
        return data[:i] + op[2].to_bytes(4, "big") + data[i + 4 :]
    raise ValueError(kind)


def _chunk_offsets(data: bytes) -> list[int]:
    """Offsets of the length fields of a MIDI file's chunks (as far as they can be walked)."""
    offsets, pos = [], 0
    while pos + 8 <= len(data) and len(offsets) < 10_000:
        offsets.append(pos + 4)
        pos += 8 + int.from_bytes(data[pos + 4 : pos + 8], "big")
    return offsets


def apply_midi_op(data: bytes, op: tuple[Any, ...]) -> bytes:
    """A byte mutation, or one aimed at a MIDI file's header and chunk lengths."""
    kind = op[0]
    if kind == "chunk_length":
        offsets = _chunk_offsets(data)
        if not offsets:
            return data
        at = offsets[min(len(offsets) - 1, int(op[1] * len(offsets)))]
        return data[:at] + op[2].to_bytes(4, "big") + data[at + 4 :]
    if kind == "ntracks":
        return data[:10] + op[1].to_bytes(2, "big") + data[12:] if len(data) >= 12 else data
    if kind == "division":
        return data[:12] + op[1].to_bytes(2, "big") + data[14:] if len(data) >= 14 else data
    if kind == "header_flip":
        return apply_byte_op(data, ("flip", op[1] / max(1, len(data)), op[2]))
    if len(data) > 14:  # other byte mutations hit the tracks (the header has its own)
        return data[:14] + apply_byte_op(data[14:], op)
    return apply_byte_op(data, op)


_NUMBER = re.compile(rb"-?\d+(?:\.\d+)?")


def apply_text_op(data: bytes, op: tuple[Any, ...]) -> bytes:
    """A byte mutation, or one on a text file's numbers and lines."""
    kind = op[0]
    if kind == "number":
        numbers = list(_NUMBER.finditer(data))
        if not numbers:
            return data
        m = numbers[min(len(numbers) - 1, int(op[1] * len(numbers)))]
        return data[: m.start()] + op[2].encode() + data[m.end() :]
    if kind in ("line_repeat", "line_delete"):
        lines = data.splitlines(keepends=True)
        if not lines:
            return data
        i = min(len(lines) - 1, int(op[1] * len(lines)))
        if kind == "line_repeat":
            lines[i:i] = [lines[i]] * (op[2] - 1)
        else:
            del lines[i : i + op[2]]
        return b"".join(lines)
    return apply_byte_op(data, op)


def mutate(data: bytes, ops: list[tuple[Any, ...]], apply: Any) -> bytes:
    """``data`` after every op in turn, cut to :data:`MAX_BYTES`."""
    for op in ops:
        data = apply(data, op)[:MAX_BYTES]
    return data


# ------------------------------------------------------------- MIDI written by hand
def _vlq(value: int) -> bytes:
    out = [value & 0x7F]
    value >>= 7
    while value:
        out.append(0x80 | (value & 0x7F))
        value >>= 7
    return bytes(reversed(out))


byte_value = st.one_of(st.integers(0, 127), st.integers(0, 127), st.integers(128, 255))
delta = st.one_of(st.sampled_from((0, 0, 1, 10, 480)), st.sampled_from((0x0FFFFFFF, 0x1FFFFF)),
                  st.integers(0, 0x0FFFFFFF))  # fmt: skip
event = st.one_of(
    st.tuples(st.just("note"), delta, st.integers(0, 15), byte_value, byte_value, delta),
    st.tuples(st.just("tempo"), delta, st.sampled_from((0, 1, 500_000, 0xFFFFFF))),
    st.tuples(st.just("timesig"), delta, st.integers(0, 255), st.integers(0, 255)),
    st.tuples(st.just("key"), delta, st.integers(-128, 127), st.integers(0, 255)),
    st.tuples(st.just("program"), delta, st.integers(0, 15), byte_value),
    st.tuples(st.just("sysex"), delta, st.binary(max_size=16)),
    st.tuples(st.just("running"), delta, byte_value, byte_value),
)


@st.composite
def synth_midi(draw: Any) -> bytes:
    """A MIDI file written byte by byte from drawn events (see the module docstring)."""
    fmt = draw(st.sampled_from((0, 1, 1, 1)))
    division = draw(st.one_of(st.sampled_from((1, 24, 96, 480, 0x7FFF)), st.integers(1, 0x7FFF)))
    n_tracks = draw(st.one_of(st.sampled_from((1, 2, 3, 16)), st.integers(1, 5000)))
    n_kinds = min(n_tracks, 3)
    bodies = []
    for _ in range(n_kinds):
        body = b""
        for ev in draw(st.lists(event, min_size=1, max_size=40)):
            kind, d = ev[0], _vlq(ev[1])
            if kind == "note":
                _, _, ch, pitch, vel, length = ev
                body += d + bytes([0x90 | ch, pitch, vel]) + _vlq(length)
                body += bytes([0x80 | ch, pitch, 0])
            elif kind == "tempo":
                body += d + b"\xff\x51\x03" + ev[2].to_bytes(3, "big")
            elif kind == "timesig":
                body += d + b"\xff\x58\x04" + bytes([ev[2], ev[3], 24, 8])
            elif kind == "key":
                body += d + b"\xff\x59\x02" + bytes([ev[2] & 0xFF, ev[3]])
            elif kind == "program":
                body += d + bytes([0xC0 | ev[2], ev[3]])
            elif kind == "sysex":
                body += d + b"\xf0" + _vlq(len(ev[2]) + 1) + ev[2] + b"\xf7"
            else:  # running status: data bytes with no status before them
                body += d + bytes([ev[2], ev[3]])
        if draw(st.booleans()):
            body += b"\x00\xff\x2f\x00"
        bodies.append(b"MTrk" + len(body).to_bytes(4, "big") + body)
    header = b"MThd" + (6).to_bytes(4, "big") + fmt.to_bytes(2, "big")
    header += min(n_tracks, 0xFFFF).to_bytes(2, "big") + division.to_bytes(2, "big")
    tracks = [bodies[i % n_kinds] for i in range(n_tracks)]
    return (header + b"".join(tracks))[:MAX_BYTES]


# ----------------------------------------------------------------------- the seeds
def make_seeds(folder: Path) -> dict[str, list[Path]]:
    """Real files and folders to mutate, made once per campaign (a few seconds)."""
    import torch

    from tuplet.corpus import prepare
    from tuplet.encoding import codes_to_csv, encode, get_encoding, shift_to_first_beat
    from tuplet.io import read_notes
    from tuplet.model.checkpoint import optimizer_state_to_tensors, save_checkpoint
    from tuplet.model.transformer import MusicTransformer, preset

    folder.mkdir(parents=True, exist_ok=True)
    seeds: dict[str, list[Path]] = {t: [] for t in TARGETS}
    seeds["midi"] = sorted(DATA.glob("*.mid"))
    mxl = folder / "bwv66.6.mxl"
    shutil.copy(DATA / "bwv66.6.mxl", mxl)
    with zipfile.ZipFile(mxl) as z:
        inner = [n for n in z.namelist() if n.endswith((".xml", ".musicxml"))
                 and not n.startswith("META-INF")]  # fmt: skip
        (folder / "bwv66.6.musicxml").write_bytes(z.read(inner[0]))
    seeds["musicxml"] = [mxl, folder / "bwv66.6.musicxml"]
    seeds["kern"] = [DATA / "bwv277.krn"]
    seeds["abc"] = [DATA / "reelsa-c.abc"]

    src = folder / "dataset-src"
    src.mkdir(exist_ok=True)
    for name in ("bwv84.5.mid", "multitrack_drums.mid", "bwv66.6.mid", "lascia_chio_pianga.mid"):
        shutil.copy(DATA / name, src / name)
    prepare([str(src)], folder / "dataset", jobs=1, progress=False, filters=None,
            split=(0.5, 0.25, 0.25), rights="owned", holder="fuzz")  # fmt: skip
    seeds["dataset"] = [folder / "dataset"]

    config = get_encoding("tuplet")
    torch.manual_seed(0)
    model = MusicTransformer(
        preset("tiny", config.fields, config.vocab_sizes, max_seq_len=64, d_model=32, n_layer=1)
    )
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    model.loss(torch.ones(1, 8, len(config.fields), dtype=torch.long),
               torch.ones(1, 8, dtype=torch.bool)).loss.backward()  # fmt: skip
    opt.step()
    tensors, meta = optimizer_state_to_tensors(opt.state_dict())
    trainer = (tensors, {"optimizer": meta, "state": {"step": 1}})
    save_checkpoint(folder / "checkpoint", model, encoding=config.to_dict(),
                    states={"trainer": trainer})  # fmt: skip
    seeds["checkpoint"] = [folder / "checkpoint"]

    notes = read_notes(DATA / "bwv84.5.mid")
    codes = encode(shift_to_first_beat(notes, config), config)
    codes_to_csv(codes, config, folder / "codes.csv")
    import numpy as np

    np.save(folder / "codes.npy", codes)
    seeds["codes"] = [folder / "codes.csv", folder / "codes.npy"]

    import soundfile as sf

    rate = 16000
    t = np.arange(rate // 2) / rate
    tune = np.concatenate([0.3 * np.sin(2 * np.pi * 440 * 2 ** (k / 12) * t) * np.exp(-4 * t)
                           for k in (0, 2, 4, 7)])  # fmt: skip
    sf.write(folder / "tune.wav", tune, rate, subtype="PCM_16")
    sf.write(folder / "tune.flac", tune, rate)
    seeds["audio"] = [folder / "tune.wav", folder / "tune.flac"]
    return seeds


# ------------------------------------------------------------------------- cases
def case_strategy(target: str, seeds: dict[str, list[Path]], max_repeat: int = 300) -> Any:
    """Hypothesis strategy of one target's cases: ``(seed index, what to do)``.

    ``max_repeat`` bounds how often a line is repeated (music21's ABC reader takes minutes
    on a tune repeated a few hundred times; the CI share keeps it small).
    """
    text_op = text_ops(max_repeat)
    n = max(1, len(seeds[target]))
    pick = st.integers(0, n - 1)
    if target == "midi":
        return st.tuples(pick, st.lists(midi_op, min_size=1, max_size=4))
    if target == "midi-synth":
        return st.tuples(st.just(0), synth_midi())
    if target in ("musicxml", "kern", "abc", "codes"):
        return st.tuples(pick, st.lists(text_op, min_size=1, max_size=4))
    if target == "audio":
        return st.tuples(pick, st.lists(byte_op, min_size=1, max_size=4))
    if target == "dataset":
        names = ("codes.bin", "index.jsonl", "files.jsonl", "skipped.csv", "provenance.jsonl",
                 "dataset.json")  # fmt: skip
        return st.tuples(st.sampled_from(names), st.lists(text_op, min_size=1, max_size=3))
    if target == "checkpoint":
        names = ("config.json", "model.safetensors", "trainer.safetensors")
        return st.tuples(st.sampled_from(names), st.lists(text_op, min_size=1, max_size=3))
    raise ValueError(target)


def write_case(target: str, case: Any, seeds: dict[str, list[Path]], work: Path) -> Path:
    """Write one case's file or folder under ``work`` (emptied first) and return its path."""
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    which, ops = case
    if target == "midi-synth":
        path = work / "synth.mid"
        path.write_bytes(ops)
        return path
    if target in ("dataset", "checkpoint"):
        folder = work / seeds[target][0].name
        shutil.copytree(seeds[target][0], folder)
        file = folder / which
        file.write_bytes(mutate(file.read_bytes(), ops, apply_text_op))
        return folder
    seed = seeds[target][which]
    path = work / seed.name
    apply = {"midi": apply_midi_op, "audio": apply_byte_op}.get(target, apply_text_op)
    if seed.suffix == ".mxl":
        with zipfile.ZipFile(seed) as z:  # mutate the score inside, zip it again
            members = {name: z.read(name) for name in z.namelist()}
        inner = next(n for n in members if n.endswith(".xml") and not n.startswith("META-INF"))
        members[inner] = mutate(members[inner], ops, apply)
        with zipfile.ZipFile(path, "w") as z:
            for name, data in members.items():
                z.writestr(name, data)
        return path
    path.write_bytes(mutate(seed.read_bytes(), ops, apply))
    return path


# ------------------------------------------------------------ reading (in a worker)
def _encode_all(notes: Any, encoding: str) -> None:
    from tuplet.encoding import encode, get_encoding, shift_to_first_beat

    config = get_encoding(encoding)
    encode(shift_to_first_beat(notes, config), config)


def read_case(target: str, path: Path, dataset_source: Path | None = None) -> None:
    """Read one case as tuplet's commands do; raises whatever the readers raise."""
    if target in ("midi", "midi-synth"):
        from tuplet.io.midi import read_midi

        _encode_all(read_midi(path), "tuplet")
        _encode_all(read_midi(path, reader="muspy"), "mmt")
    elif target in ("musicxml", "kern", "abc"):
        from tuplet.io.score import read_score_all

        for _song, notes in read_score_all(path):
            _encode_all(notes, "tuplet")
    elif target == "dataset":
        _read_dataset(path, dataset_source)
    elif target == "checkpoint":
        from tuplet.model.checkpoint import (
            load_checkpoint,
            load_state,
            optimizer_state_from_tensors,
        )

        load_checkpoint(path)
        tensors, meta = load_state(path, "trainer")
        optimizer_state_from_tensors(tensors, meta["optimizer"])
    elif target == "codes":
        _decode(path)
    elif target == "audio":
        from tuplet.io.transcribe import to_grid, transcribe_audio

        to_grid(transcribe_audio(path), instrument="voice")
    else:
        raise ValueError(target)


def _read_dataset(folder: Path, source: Path | None) -> None:
    from tuplet.corpus import inspect, prepare
    from tuplet.corpus.store import iter_sequences
    from tuplet.training.dataset import SequenceDataset

    inspect(folder)
    for _entry, _codes in iter_sequences(folder):
        pass
    for split in ("train", "valid"):
        data = SequenceDataset(folder, split, max_seq_len=64, max_beat=32, augment=True, seed=0)
        for i in range(min(2, len(data))):
            data[i]
    if source is not None:  # prepare again on the damaged folder: recover, or refuse
        prepare([str(source)], folder, jobs=1, progress=False, filters=None,
                split=(0.5, 0.25, 0.25), rights="owned", holder="fuzz")  # fmt: skip
        for _entry, _codes in iter_sequences(folder):
            pass


class Refused(Exception):
    """The CLI refused (exit status 1) with this message."""


def _decode(path: Path) -> None:
    from tuplet.cli import main

    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        status = main(["decode", str(path), "--out", str(path.with_name("out.mid")), "--force"])
    if status != 0:
        raise Refused(err.getvalue().removeprefix("tuplet: error: ").rstrip("\n"))


def judge(target: str, path: Path, exc: BaseException | None) -> tuple[str, str]:
    """``("ok" | "refused" | "bad-message" | "uncaught", detail)`` of one read."""
    from tuplet.errors import TupletError

    if exc is None:
        return "ok", ""
    if isinstance(exc, (TupletError, Refused)):
        message = str(exc)
        named = path.name in message or str(path.parent.name) in message
        if "\n" in message or not named:
            return "bad-message", message[:300]
        return "refused", message[:300]
    last = traceback.format_exception(type(exc), exc, exc.__traceback__)
    where = "".join(last[-3:]).strip().replace("\n", " | ")
    return "uncaught", f"{type(exc).__name__}: {exc}"[:200] + " @ " + where[-400:]


def _worker(conn: Any, memory_limit_mb: int) -> None:
    import resource

    limit = memory_limit_mb << 20
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    for module in ("tuplet.io.midi", "tuplet.io.score", "music21.converter", "tuplet.encoding",
                   "tuplet.io.transcribe",
                   "tuplet.corpus", "tuplet.model.checkpoint", "tuplet.training.dataset",
                   "tuplet.cli", "tuplet.cli.files"):  # fmt: skip
        __import__(module)
    conn.send("ready")
    while True:
        try:
            task = conn.recv()
        except EOFError:
            return
        if task is None:
            return
        target, path, source = task
        t0 = time.perf_counter()
        error: BaseException | None = None
        try:
            read_case(target, Path(path), Path(source) if source else None)
        except MemoryError as exc:
            error = exc
        except Exception as exc:
            error = exc
        outcome, detail = judge(target, Path(path), error)
        if isinstance(error, MemoryError):
            outcome, detail = "memory", "MemoryError"
        rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        conn.send((outcome, detail, time.perf_counter() - t0, rss_mb))


class Runner:
    """A worker process that reads cases with a deadline; replaced after a crash or hang."""

    def __init__(self, deadline_s: float, memory_limit_mb: int) -> None:
        self.deadline_s = deadline_s
        self.memory_limit_mb = memory_limit_mb
        self.ctx = multiprocessing.get_context("spawn")
        self._start()

    def _start(self) -> None:
        self.conn, child = self.ctx.Pipe()
        self.process = self.ctx.Process(target=_worker, args=(child, self.memory_limit_mb),
                                        daemon=True)  # fmt: skip
        self.process.start()
        child.close()
        if not self.conn.poll(300) or self.conn.recv() != "ready":
            raise RuntimeError("the fuzz worker did not start")

    def _restart(self) -> None:
        self.process.kill()
        self.process.join()
        self.conn.close()
        self._start()

    def run(self, target: str, path: Path, source: Path | None) -> tuple[str, str, float]:
        """Read one case in the worker: (outcome, detail, seconds)."""
        t0 = time.perf_counter()
        self.conn.send((target, str(path), str(source) if source else None))
        if self.conn.poll(self.deadline_s):
            try:
                outcome, detail, seconds, _rss = self.conn.recv()
                return outcome, detail, seconds
            except EOFError:
                pass
        seconds = time.perf_counter() - t0
        if self.process.is_alive():
            self._restart()
            return "hang", f"no answer in {self.deadline_s:g} s", seconds
        self.process.join()
        code = self.process.exitcode
        self._restart()
        return "crash", f"the worker died (exit code {code})", seconds

    def close(self) -> None:
        """Stop the worker."""
        try:
            self.conn.send(None)
        except OSError:
            pass
        self.process.join(timeout=10)
        if self.process.is_alive():
            self.process.kill()


# --------------------------------------------------------------------- the campaign
def run_campaign(cases: int, seed: int, deadline_s: float, memory_limit_mb: int,
                 targets: tuple[str, ...], report_path: Path | None) -> dict[str, Any]:  # fmt: skip
    """Run ``cases`` cases shared over ``targets`` by :data:`WEIGHTS`; return the report."""
    tmp = Path(tempfile.mkdtemp(prefix="tuplet-fuzz-"))
    seeds = make_seeds(tmp / "seeds")
    runner = Runner(deadline_s, memory_limit_mb)
    total_weight = sum(WEIGHTS[t] for t in targets)
    report: dict[str, Any] = {"cases": 0, "seed": seed, "deadline_s": deadline_s,
                              "memory_limit_mb": memory_limit_mb, "targets": {}}  # fmt: skip
    t_start = time.perf_counter()
    try:
        for target in targets:
            n = max(1, round(cases * WEIGHTS[target] / total_weight))
            stats: dict[str, Any] = {"cases": 0, "outcomes": Counter(), "failures": [],
                                     "slowest_s": 0.0, "seconds": 0.0, "samples": []}  # fmt: skip
            report["targets"][target] = stats
            source = tmp / "seeds" / "dataset-src" if target == "dataset" else None

            one = _campaign_test(target, seeds, n, seed, runner, tmp, stats, source)
            one()
            report["cases"] += stats["cases"]
            print(f"{target}: {stats['cases']} cases, {dict(stats['outcomes'])}, "
                  f"slowest {stats['slowest_s']:.1f} s", flush=True)  # fmt: skip
            if report_path is not None:
                _save(report, report_path, t_start)
    finally:
        runner.close()
    _save(report, report_path, t_start)
    report["work"] = str(tmp)
    return report


def _campaign_test(target: str, seeds: dict[str, list[Path]], n: int, seed: int,
                   runner: Runner, tmp: Path, stats: dict[str, Any],
                   source: Path | None) -> Any:  # fmt: skip
    """The Hypothesis test that draws ``n`` cases of ``target`` and records each outcome."""
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as hypothesis_seed

    @hypothesis_seed(seed)
    @settings(max_examples=n, database=None, deadline=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))  # fmt: skip
    @given(case=case_strategy(target, seeds))
    def one(case: Any) -> None:
        path = write_case(target, case, seeds, tmp / "case")
        outcome, detail, seconds = runner.run(target, path, source)
        stats["cases"] += 1
        stats["outcomes"][outcome] += 1
        stats["seconds"] += seconds
        stats["slowest_s"] = max(stats["slowest_s"], seconds)
        if outcome == "refused" and len(stats["samples"]) < 12:
            stats["samples"].append(detail[:200])
        if outcome not in ("ok", "refused"):
            keep = tmp / "failures" / f"{target}-{stats['cases']}"
            shutil.copytree(path.parent, keep, dirs_exist_ok=True)
            stats["failures"].append({"outcome": outcome, "detail": detail,
                                      "case": repr(case)[:300], "kept": str(keep)})  # fmt: skip

    return one


def _save(report: dict[str, Any], path: Path | None, t_start: float) -> None:
    report["seconds"] = round(time.perf_counter() - t_start, 1)
    if path is None:
        return
    out = {**report, "targets": {
        t: {**s, "outcomes": dict(s["outcomes"]), "failures": s["failures"][:50]}
        for t, s in report["targets"].items()
    }}  # fmt: skip
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(out, indent=2) + "\n")
    os.replace(tmp, path)


def main() -> int:
    """Run a campaign from the command line; exit status 1 if any case failed."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=20)
    parser.add_argument("--deadline", type=float, default=60.0,
                        help="seconds per case (tuplet data prepare's default per file)")
    parser.add_argument("--memory-mb", type=int, default=8192,
                        help="address-space limit of the worker (prepare's default)")
    parser.add_argument("--targets", default=",".join(TARGETS))
    parser.add_argument("--report", type=Path, default=None)
    args = parser.parse_args()
    targets = tuple(t for t in args.targets.split(",") if t)
    unknown = set(targets) - set(TARGETS)
    if unknown:
        parser.error(f"unknown target(s) {sorted(unknown)} (choose from {', '.join(TARGETS)})")
    report = run_campaign(args.cases, args.seed, args.deadline, args.memory_mb, targets,
                          args.report)  # fmt: skip
    bad = sum(len(s["failures"]) for s in report["targets"].values())
    print(f"{report['cases']} cases in {report['seconds']:.0f} s: {bad} failed "
          f"(failing cases kept under {report['work']}/failures)")  # fmt: skip
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
