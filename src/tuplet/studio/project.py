"""A studio project: the piece, the history of kept changes, the candidates and the reports.

The project is a folder, the only place the studio writes::

    studio.json             the history (one entry per kept state, its label and report) and
                            the position in it (undo moves back, redo forward)
    states/0001.mid ...     each kept state of the piece (an empty piece has no file: its
                            entry holds its tempo and meter)
    candidates/<id>.mid     candidates waiting to be kept or discarded (with <id>.json)
    renders/<key>.wav       audio rendered for playback (a cache)
    tmp/                    uploads while they are read

Every file is written under a temporary name and renamed (:func:`tuplet.io.atomic_output`), so
a crash leaves the previous state. Opening the folder again restores the piece and its
history; candidates and renders are not kept across launches.
"""

from __future__ import annotations

import json
import secrets
import shutil
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tuplet.errors import TupletError
from tuplet.notes import Notes

INDEX_NAME = "studio.json"
MAX_CANDIDATES = 64
"""Candidates waiting at most; adding one more discards the oldest (memory stays bounded)."""
FORMAT_VERSION = 1


def empty_piece(qpm: float = 120.0, meter: tuple[int, int] = (4, 4)) -> Notes:
    """A piece without notes: 480 ticks per beat, one tempo, one meter."""
    return Notes(
        ticks_per_beat=480,
        tempo_ticks=np.zeros(1, dtype=np.int64),
        tempo_qpm=np.array([float(qpm)]),
        timesig_ticks=np.zeros(1, dtype=np.int64),
        timesig_numerator=np.array([meter[0]]),
        timesig_denominator=np.array([meter[1]]),
    )


def _meter(notes: Notes) -> tuple[int, int]:
    if len(notes.timesig_ticks):
        return int(notes.timesig_numerator[0]), int(notes.timesig_denominator[0])
    return 4, 4


@dataclass
class Candidate:
    """A generated piece waiting to be kept or discarded.

    Attributes:
        id: Random hex id.
        job_id: The job that made it (its siblings share it).
        label: What made it, for the history ("rewrite beats 4:8").
        notes: The whole piece as it would be kept.
        report: Its report (:func:`tuplet.generation.generate.report` plus originality).
        loop_seconds: For a loop, its exact length (the render wraps its tail).
        withheld: Why it cannot be kept (it copies the training data), or None.
    """

    id: str
    job_id: str
    label: str
    notes: Notes
    report: dict[str, Any]
    loop_seconds: float | None = None
    withheld: str | None = None


@dataclass
class Entry:
    """One kept state of the piece."""

    label: str
    file: str | None
    report: dict[str, Any] | None = None
    qpm: float = 120.0
    meter: tuple[int, int] = (4, 4)
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The entry as ``studio.json`` holds it."""
        return {"label": self.label, "file": self.file, "report": self.report, "qpm": self.qpm,
                "meter": list(self.meter), **self.extra}  # fmt: skip


class Project:
    """The studio's piece and history, kept in ``folder`` (created if needed).

    Raises:
        TupletError: ``folder`` is a file, a folder with other files but no ``studio.json``
            (the studio writes only in its own folders), or a project with a broken or
            foreign ``studio.json``.
    """

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        if self.folder.exists() and not self.folder.is_dir():
            raise TupletError(f"{self.folder}: not a folder (--project needs a folder)")
        index = self.folder / INDEX_NAME
        if self.folder.is_dir() and not index.is_file() and any(self.folder.iterdir()):
            raise TupletError(
                f"{self.folder}: a folder with other files in it, not a studio project: "
                "give a new or empty folder (or an existing project)"
            )
        for sub in ("states", "candidates", "renders", "tmp"):
            (self.folder / sub).mkdir(parents=True, exist_ok=True)
        self.lock = threading.RLock()
        self.candidates: dict[str, Candidate] = {}
        self._cache: dict[int, Notes] = {}
        if index.is_file():
            self._load(index)
        else:
            self.history = [Entry("empty piece", None)]
            self.position = 0
            self._save_index()

    # ------------------------------------------------------------------ the piece
    @property
    def piece(self) -> Notes:
        """The current state of the piece."""
        with self.lock:
            if self.position not in self._cache:
                self._cache[self.position] = self._read(self.history[self.position])
            return self._cache[self.position]

    @property
    def entry(self) -> Entry:
        """The history entry of the current state."""
        return self.history[self.position]

    def set_piece(self, notes: Notes, label: str, report: dict[str, Any] | None = None) -> None:
        """Make ``notes`` the current piece, after the current state (redo states are dropped)."""
        from tuplet.io import atomic_output, read_notes, write_midi

        with self.lock:
            number = len(list((self.folder / "states").glob("*.mid"))) + 1
            name = None
            if len(notes):
                name = f"states/{number:04d}-{secrets.token_hex(3)}.mid"
                with atomic_output(self.folder / name, suffix=".mid") as tmp:
                    write_midi(notes, tmp)
                # the piece is what its file holds: what is shown, played, downloaded and
                # reopened are one and the same
                notes = read_notes(self.folder / name)
            qpm = float(notes.tempo_qpm[0]) if len(notes.tempo_qpm) else 120.0
            entry = Entry(label, name, report, qpm, _meter(notes))
            del self.history[self.position + 1 :]
            self.history.append(entry)
            self.position = len(self.history) - 1
            self._cache = {k: v for k, v in self._cache.items() if k < self.position}
            self._cache[self.position] = notes
            self._save_index()

    def undo(self) -> bool:
        """Go back one kept change; False when there is none."""
        with self.lock:
            if self.position == 0:
                return False
            self.position -= 1
            self._save_index()
            return True

    def redo(self) -> bool:
        """Go forward one undone change; False when there is none."""
        with self.lock:
            if self.position >= len(self.history) - 1:
                return False
            self.position += 1
            self._save_index()
            return True

    def history_dict(self) -> dict[str, Any]:
        """The history as the page shows it."""
        with self.lock:
            return {
                "position": self.position,
                "can_undo": self.position > 0,
                "can_redo": self.position < len(self.history) - 1,
                "entries": [e.label for e in self.history],
            }

    def reports(self) -> dict[str, Any]:
        """The reports of every kept change up to the current state (the JSON download)."""
        with self.lock:
            return {
                "project": self.folder.name,
                "position": self.position,
                "history": [e.to_dict() for e in self.history[: self.position + 1]],
            }

    # ------------------------------------------------------------------ candidates
    def add_candidate(self, candidate: Candidate) -> None:
        """Keep a candidate until it is kept or discarded (written to ``candidates/``).

        Past :data:`MAX_CANDIDATES` waiting, the oldest is discarded.
        """
        from tuplet.io import atomic_output, write_midi

        with self.lock:
            base = self.folder / "candidates" / candidate.id
            if len(candidate.notes) and candidate.withheld is None:
                with atomic_output(base.with_suffix(".mid"), suffix=".mid") as tmp:
                    write_midi(candidate.notes, tmp)
            with atomic_output(base.with_suffix(".json")) as tmp:
                tmp.write_text(json.dumps(candidate.report, indent=2) + "\n", encoding="utf-8")
            self.candidates[candidate.id] = candidate
            while len(self.candidates) > MAX_CANDIDATES:  # dicts keep insertion order
                self.discard(next(iter(self.candidates)))

    def keep(self, candidate_id: str) -> Candidate:
        """Make a candidate the piece, and discard every other candidate.

        The others were made from the piece as it was before.

        Raises:
            KeyError: No such candidate.
            TupletError: It is withheld (it copies the training data).
        """
        with self.lock:
            cand = self.candidates[candidate_id]
            if cand.withheld is not None:
                raise TupletError(f"this candidate is withheld: {cand.withheld}")
            self.set_piece(cand.notes, cand.label, cand.report)
            for other in list(self.candidates):
                self.discard(other)
            return cand

    def discard(self, candidate_id: str) -> None:
        """Forget a candidate and delete its files.

        Raises:
            KeyError: No such candidate.
        """
        with self.lock:
            self.candidates.pop(candidate_id)
            for ext in (".mid", ".json"):
                (self.folder / "candidates" / f"{candidate_id}{ext}").unlink(missing_ok=True)

    # ------------------------------------------------------------------ files
    def scratch(self, suffix: str) -> Path:
        """A fresh file name in ``tmp/`` (the caller deletes it)."""
        return self.folder / "tmp" / f"{secrets.token_hex(8)}{suffix}"

    def render_path(self, key: str) -> Path:
        """Where the render named ``key`` (hex) is cached."""
        if not key.isalnum():
            raise ValueError("render keys are alphanumeric")
        return self.folder / "renders" / f"{key}.wav"

    def clear_scratch(self) -> None:
        """Empty ``tmp/``, ``candidates/`` and ``renders/`` (left from an earlier launch)."""
        for sub in ("tmp", "candidates", "renders"):
            shutil.rmtree(self.folder / sub, ignore_errors=True)
            (self.folder / sub).mkdir()

    # ------------------------------------------------------------------ index
    def _read(self, entry: Entry) -> Notes:
        from tuplet.io import read_notes

        if entry.file is None:
            return empty_piece(entry.qpm, entry.meter)
        return read_notes(self.folder / entry.file)

    def _save_index(self) -> None:
        from tuplet.io import atomic_output

        data = {
            "format": "tuplet-studio",
            "version": FORMAT_VERSION,
            "position": self.position,
            "history": [e.to_dict() for e in self.history],
        }
        with atomic_output(self.folder / INDEX_NAME) as tmp:
            tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")

    def _load(self, index: Path) -> None:
        try:
            data = json.loads(index.read_text(encoding="utf-8"))
            history = [
                Entry(
                    e["label"],
                    e["file"],
                    e.get("report"),
                    float(e.get("qpm", 120.0)),
                    (int(e.get("meter", (4, 4))[0]), int(e.get("meter", (4, 4))[1])),
                )
                for e in data["history"]
            ]
            position = int(data["position"])
        except (ValueError, KeyError, TypeError) as exc:
            raise TupletError(f"{index}: not a tuplet studio project ({exc})") from None
        for e in history:
            if e.file is not None and not (
                e.file.startswith("states/") and "/" not in e.file[7:] and ".." not in e.file
            ):
                raise TupletError(f"{index}: a state outside the project folder: {e.file}")
        if not history or not 0 <= position < len(history):
            raise TupletError(f"{index}: not a tuplet studio project (no history)")
        self.history, self.position = history, position
        self.clear_scratch()


__all__ = ["MAX_CANDIDATES", "Candidate", "Entry", "Project", "empty_piece"]
