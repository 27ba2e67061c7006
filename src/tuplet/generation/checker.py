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
    t = config.type_codes
    names = config.event_types
    sizes = np.asarray(config.vocab_sizes)
    defined = config.defined_fields
    beat_col, pos_col = config.field_index("beat"), config.field_index("position")
    instr_col = config.field_index("instrument")
    timed = {t[x] for x in (*META, "note") if x in t}
    meta = {t[x] for x in META if x in t}
    markers = {t[x] for x in ("fill-start", "fill-end") if x in t}
    expected = {  # phase -> the types that may come next
        "start": {t["start-of-song"]},
        "header": {t["instrument"], t["start-of-notes"]},
        "body": timed | {t["end-of-song"], t.get("fill-start", -1)},
        "marker": {t.get("fill-end", -1)},
        "fill": {t["note"], t["end-of-song"]},
        "end": set(),
    }
    after = {t["start-of-song"]: "header", t["start-of-notes"]: "body", t["end-of-song"]: "end"}
    after.update({t[x]: p for x, p in (("fill-start", "marker"), ("fill-end", "fill")) if x in t})
    found: list[Violation] = []

    def bad(row: int, rule: str, message: str) -> None:
        found.append(Violation(row, rule, message))

    if codes.ndim != 2 or codes.shape[1] != len(config.fields) or len(codes) == 0:
        return [Violation(0, "order", f"not a non-empty (events, fields) array: {codes.shape}")]
    if max_events is not None and len(codes) > max_events:
        bad(max_events, "limits", f"{len(codes)} rows, more than {max_events}")
    declared: set[int] = set()
    phase, last_instr = "start", 0
    onset, onset_type = (0, 0), -1
    span_start, span = 0, (0, 0, 0)
    pitch_col = config.field_index("pitch")
    sounding: set[tuple[int, int, int]] = set()  # (pitch, duration, instrument) sampled here
    lead_checked = False  # rule lead: the fill's first new note is checked once
    dur_col = config.field_index("duration")
    for i, r in enumerate(codes):
        kind, new = int(r[0]), i >= prompt_length
        if not 0 <= kind < len(names):
            bad(i, "fields", f"type code {kind} out of range")
            continue
        name = names[kind]
        wrong = [
            config.fields[f]
            for f in range(1, len(r))
            if (
                r[f] != 0
                if not defined[kind, f]
                else not (0 < r[f] < sizes[f] or (kind in markers and f == instr_col and r[f] == 0))
            )
        ]
        if wrong:
            bad(i, "fields", f"{name} with invalid {', '.join(wrong)}")
        if kind not in expected[phase]:
            where = "after end-of-song" if phase == "end" else f"in the {phase} part"
            bad(i, "order", f"{name} {where}")
        if new and (name in forbid_types or kind in markers):
            bad(i, "order", f"{name} sampled")
        phase = after.get(kind, phase)
        if kind == t["instrument"]:
            code = int(r[instr_col])
            if code <= last_instr:
                bad(i, "order", f"instrument {code} does not rise (after {last_instr})")
            if new and instruments is not None and code not in instruments:
                bad(i, "instruments", f"instrument {code} was not requested")
            last_instr = max(last_instr, code)
            declared.add(code)
        elif kind in markers:
            if name == "fill-start":
                span_start = int(r[beat_col])
            else:
                span = (span_start, int(r[beat_col]), int(r[instr_col]))
                onset, onset_type = (span_start, 1), -1
        if kind not in timed:
            continue
        here = (int(r[beat_col]), int(r[pos_col]))
        if here < onset:
            bad(i, "onset", f"onset (beat, position) codes {here} before {onset}")
        elif (
            here == onset
            and onset_type >= 0
            and (kind < onset_type or (kind == onset_type and kind in meta))
        ):
            bad(i, "order", f"{name} after {names[onset_type]} at the same onset")
        if here != onset:
            sounding.clear()
        onset, onset_type = max(onset, here), kind
        if new and max_beats is not None and here[0] - 1 >= max_beats:
            bad(i, "limits", f"beat {here[0] - 1} at or past max_beats {max_beats}")
        if kind != t["note"]:
            continue
        code = int(r[instr_col])
        if new:
            note = (int(r[pitch_col]), int(r[dur_col]), code)
            if note in sounding:
                bad(i, "unison", f"pitch {note[0]}, duration {note[1]}, instrument {code} again")
            sounding.add(note)
        if code not in declared:
            bad(i, "instruments", f"instrument {code} is not declared in the header")
        elif new and instruments is not None and code not in instruments:
            bad(i, "instruments", f"instrument {code} was not requested")
        if phase == "fill":
            if new and fill_lead_beats is not None and not lead_checked:
                lead_checked = True
                if here[0] > span[0] + fill_lead_beats - 1:
                    late = f"{fill_lead_beats} beats after the span's start {span[0] - 1}"
                    bad(i, "lead", f"first new note at beat {here[0] - 1}, more than {late}")
            if not span[0] <= here[0] <= span[1]:
                bad(i, "span", f"beat {here[0] - 1} outside {span[0] - 1}..{span[1] - 1}")
            if span[2] and code != span[2]:
                bad(i, "span", f"instrument {code}, not the span's {span[2]}")
    if complete and phase != "end":
        bad(len(codes) - 1, "order", "no end-of-song")
    found += _check_playable(codes, config, prompt_length, max_gap_beats)
    return sorted(found, key=lambda v: v.row)


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
    dur = KNOWN_DURATIONS_TICKS[np.clip(codes[:, col["duration"]], 1, None) - 1]
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
