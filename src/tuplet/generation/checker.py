"""The checker of sampled sequences: every way a code sequence breaks the sampler's rules.

The rules are those of :mod:`tuplet.generation.constraints` (its module docstring names them; the
sampler's masks there make them impossible to break). :func:`check_sequence` finds each
violation in a finished sequence, by name, so tests and users can check any output, and a
rule switched off in the sampler shows what it prevents.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from tuplet.encoding import EncodingConfig

META: tuple[str, ...] = ("time-signature", "key", "tempo")
"""The meta event types: timed, at most one of each per onset."""


class Violation(NamedTuple):
    """A broken rule: the row, the rule's name (:data:`RULES` or ``limits``) and what is wrong."""

    row: int
    rule: str
    message: str

    def __str__(self) -> str:
        return f"row {self.row}: {self.rule}: {self.message}"


def check_sequence(
    codes: np.ndarray,
    config: EncodingConfig,
    *,
    prompt_length: int = 1,
    instruments: Sequence[int] | None = None,
    forbid_types: Sequence[str] = (),
    max_events: int | None = None,
    max_beats: int | None = None,
    complete: bool = False,
    max_gap_beats: int | None = None,
    fill_lead_beats: int | None = None,
) -> list[Violation]:
    """Every way a sequence breaks the sampler's rules (module docstring); [] if none.

    Args:
        codes: (n, F) codes, from start-of-song on.
        config: The encoding.
        prompt_length: Rows given rather than sampled: fill markers may only be there, and
            ``instruments``, ``forbid_types`` and ``max_beats`` apply to the rows after.
        instruments: Instruments new notes may use (besides being declared); None = any
            declared.
        forbid_types: Event types that new rows must not have.
        max_events: Most rows allowed.
        max_beats: New timed events must start before this beat.
        complete: The sequence must end with end-of-song.
        max_gap_beats: Rule ``gap``: new timed events start at most this many beats after the
            timed event before them (or the start, or a fill's first beat); None = unchecked.
        fill_lead_beats: Rule ``lead``: a fill's first new note starts within this many beats
            of the span's start; None = unchecked.

    Returns:
        The violations, in row order.
    """
    codes = np.asarray(codes, dtype=np.int64)
    if codes.ndim != 2 or codes.shape[1] != len(config.fields) or len(codes) == 0:
        return [Violation(0, "order", f"not a non-empty (events, fields) array: {codes.shape}")]
    check = _RowChecker(config, instruments, forbid_types, max_beats, fill_lead_beats)
    if max_events is not None and len(codes) > max_events:
        check.bad(max_events, "limits", f"{len(codes)} rows, more than {max_events}")
    for i, r in enumerate(codes):
        check.row(i, r, new=i >= prompt_length)
    if complete and check.phase != "end":
        check.bad(len(codes) - 1, "order", "no end-of-song")
    found = check.found + _check_playable(codes, config, prompt_length, max_gap_beats)
    return sorted(found, key=lambda v: v.row)


class _RowChecker:
    """The rules that one pass over the rows checks, with what the rows so far have set up.

    A row's fields are checked first, then its place in the order of the sequence's parts
    (header, body, fill); an instrument row is checked for rising codes and the request, a fill
    marker sets the span, a timed row its onset, and a note its instrument, unison and span.
    """

    def __init__(
        self,
        config: EncodingConfig,
        instruments: Sequence[int] | None,
        forbid_types: Sequence[str],
        max_beats: int | None,
        fill_lead_beats: int | None,
    ) -> None:
        self.config, self.instruments, self.forbid_types = config, instruments, forbid_types
        self.max_beats, self.fill_lead_beats = max_beats, fill_lead_beats
        t = self.t = config.type_codes
        self.names = config.event_types
        self.sizes = np.asarray(config.vocab_sizes)
        self.col = {f: config.field_index(f) for f in config.fields}
        self.timed = {t[x] for x in (*META, "note") if x in t}
        self.meta = {t[x] for x in META if x in t}
        self.markers = {t[x] for x in ("fill-start", "fill-end") if x in t}
        self.expected = {  # phase -> the types that may come next
            "start": {t["start-of-song"]},
            "header": {t["instrument"], t["start-of-notes"]},
            "body": self.timed | {t["end-of-song"], t.get("fill-start", -1)},
            "marker": {t.get("fill-end", -1)},
            "fill": {t["note"], t["end-of-song"]},
            "end": set(),
        }
        after = {t["start-of-song"]: "header", t["start-of-notes"]: "body", t["end-of-song"]: "end"}
        after.update(
            {t[x]: p for x, p in (("fill-start", "marker"), ("fill-end", "fill")) if x in t}
        )
        self.after = after
        self.found: list[Violation] = []
        self.declared: set[int] = set()
        self.phase, self.last_instr = "start", 0
        self.onset, self.onset_type = (0, 0), -1
        self.span_start, self.span = 0, (0, 0, 0)
        self.sounding: set[tuple[int, int, int]] = set()  # (pitch, duration, instrument) here
        self.lead_checked = False  # rule lead: the fill's first new note is checked once

    def bad(self, row: int, rule: str, message: str) -> None:
        """Record a violation."""
        self.found.append(Violation(row, rule, message))

    def row(self, i: int, r: np.ndarray, new: bool) -> None:
        """Check row ``i`` (``new``: sampled, not given)."""
        kind = int(r[0])
        if not 0 <= kind < len(self.names):
            self.bad(i, "fields", f"type code {kind} out of range")
            return
        self._fields(i, r, kind)
        name = self.names[kind]
        if kind not in self.expected[self.phase]:
            where = "after end-of-song" if self.phase == "end" else f"in the {self.phase} part"
            self.bad(i, "order", f"{name} {where}")
        if new and (name in self.forbid_types or kind in self.markers):
            self.bad(i, "order", f"{name} sampled")
        self.phase = self.after.get(kind, self.phase)
        if kind == self.t["instrument"]:
            self._instrument(i, int(r[self.col["instrument"]]), new)
        elif kind in self.markers:
            beat = int(r[self.col["beat"]])
            if name == "fill-start":
                self.span_start = beat
            else:
                self.span = (self.span_start, beat, int(r[self.col["instrument"]]))
                self.onset, self.onset_type = (self.span_start, 1), -1
        if kind in self.timed:
            self._timed(i, r, kind, new)
        if kind == self.t["note"]:
            self._note(i, r, new)

    def _fields(self, i: int, r: np.ndarray, kind: int) -> None:
        """Fields the type does not have are 0; the others are in their vocabulary.

        A marker's instrument may be 0 (every instrument).
        """
        defined, instr_col = self.config.defined_fields, self.col["instrument"]
        wrong = [
            self.config.fields[f]
            for f in range(1, len(r))
            if (
                r[f] != 0
                if not defined[kind, f]
                else not (
                    0 < r[f] < self.sizes[f]
                    or (kind in self.markers and f == instr_col and r[f] == 0)
                )
            )
        ]
        if wrong:
            self.bad(i, "fields", f"{self.names[kind]} with invalid {', '.join(wrong)}")

    def _instrument(self, i: int, code: int, new: bool) -> None:
        """Header rows name rising instrument codes (new ones: requested ones)."""
        if code <= self.last_instr:
            self.bad(i, "order", f"instrument {code} does not rise (after {self.last_instr})")
        if new and self.instruments is not None and code not in self.instruments:
            self.bad(i, "instruments", f"instrument {code} was not requested")
        self.last_instr = max(self.last_instr, code)
        self.declared.add(code)

    def _timed(self, i: int, r: np.ndarray, kind: int, new: bool) -> None:
        """Onsets never go back; at one onset, types in order and one of each meta type."""
        here = (int(r[self.col["beat"]]), int(r[self.col["position"]]))
        if here < self.onset:
            self.bad(i, "onset", f"onset (beat, position) codes {here} before {self.onset}")
        elif (
            here == self.onset
            and self.onset_type >= 0
            and (kind < self.onset_type or (kind == self.onset_type and kind in self.meta))
        ):
            names = self.names
            self.bad(i, "order", f"{names[kind]} after {names[self.onset_type]} at the same onset")
        if here != self.onset:
            self.sounding.clear()
        self.onset, self.onset_type = max(self.onset, here), kind
        if new and self.max_beats is not None and here[0] - 1 >= self.max_beats:
            self.bad(i, "limits", f"beat {here[0] - 1} at or past max_beats {self.max_beats}")

    def _note(self, i: int, r: np.ndarray, new: bool) -> None:
        """A note: no unison at its onset, a declared (and requested) instrument.

        In a fill, also inside the span, and its first new note soon enough (rule lead).
        """
        code, beat = int(r[self.col["instrument"]]), int(r[self.col["beat"]])
        if new:
            note = (int(r[self.col["pitch"]]), int(r[self.col["duration"]]), code)
            if note in self.sounding:
                self.bad(
                    i, "unison", f"pitch {note[0]}, duration {note[1]}, instrument {code} again"
                )
            self.sounding.add(note)
        if code not in self.declared:
            self.bad(i, "instruments", f"instrument {code} is not declared in the header")
        elif new and self.instruments is not None and code not in self.instruments:
            self.bad(i, "instruments", f"instrument {code} was not requested")
        if self.phase != "fill":
            return
        span, lead = self.span, self.fill_lead_beats
        if new and lead is not None and not self.lead_checked:
            self.lead_checked = True
            if beat > span[0] + lead - 1:
                late = f"{lead} beats after the span's start {span[0] - 1}"
                self.bad(i, "lead", f"first new note at beat {beat - 1}, more than {late}")
        if not span[0] <= beat <= span[1]:
            self.bad(i, "span", f"beat {beat - 1} outside {span[0] - 1}..{span[1] - 1}")
        if span[2] and code != span[2]:
            self.bad(i, "span", f"instrument {code}, not the span's {span[2]}")


def _check_playable(
    codes: np.ndarray, config: EncodingConfig, prompt_length: int, max_gap_beats: int | None
) -> list[Violation]:
    """Rules ``range``, ``drums``, ``polyphony`` and ``gap`` for the new rows of a sequence."""
    from tuplet.encoding.vocab import KNOWN_DURATIONS_TICKS
    from tuplet.ranges import DRUM_MAX_DURATION_TICKS, POLYPHONY_SLOTS, instrument_table

    t = config.type_codes
    col = {name: i for i, name in enumerate(config.fields)}
    table = instrument_table(config)
    found: list[Violation] = []
    timed = np.isin(codes[:, 0], [t[x] for x in (*META, "note") if x in t])
    notes = codes[:, 0] == t["note"]
    v_instr = len(table.low)
    instr = np.clip(codes[:, col["instrument"]], 0, v_instr - 1)
    start = codes[:, col["beat"]] * config.resolution + codes[:, col["position"]]
    # a duration code outside the vocabulary is the fields rule's to report: clipped here
    dur_codes = np.clip(codes[:, col["duration"]], 1, len(KNOWN_DURATIONS_TICKS))
    dur = KNOWN_DURATIONS_TICKS[dur_codes - 1]
    last_beat = 1
    if "fill-start" in t and (codes[:, 0] == t["fill-start"]).any():
        last_beat = int(codes[codes[:, 0] == t["fill-start"], col["beat"]][0])
    for i in range(len(codes)):
        if timed[i] and i < prompt_length:
            last_beat = int(codes[i, col["beat"]])
        if i < prompt_length or not timed[i]:
            continue
        beat = int(codes[i, col["beat"]])
        if max_gap_beats is not None and beat - last_beat > max_gap_beats:
            found.append(Violation(i, "gap", f"{beat - last_beat} beats after the last event"))
        last_beat = beat
        if not notes[i]:
            continue
        code, pitch = int(instr[i]), int(codes[i, col["pitch"]]) - 1
        if code == 0 or pitch < 0:  # the fields rule reports it
            continue
        if not table.low[code] <= pitch <= table.high[code]:
            rule = "drums" if table.is_drums[code] else "range"
            found.append(Violation(i, rule, f"pitch {pitch} outside {code}'s range"))
        if table.is_drums[code] and dur[i] > DRUM_MAX_DURATION_TICKS:
            found.append(Violation(i, "drums", f"a drum note of {dur[i]} ticks"))
        if table.polyphony[code] < POLYPHONY_SLOTS:
            before = notes[:i] & (instr[:i] == code)
            sounding = before & (start[:i] <= start[i]) & (start[:i] + dur[:i] > start[i])
            if sounding.sum() >= table.polyphony[code]:
                found.append(
                    Violation(i, "polyphony", f"{sounding.sum() + 1} notes of {code} at once")
                )
    return found


__all__ = ["META", "Violation", "check_sequence"]
