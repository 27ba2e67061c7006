"""What a request may ask of sampled sequences: the rules, and the limits on their length.

The rules no model output can break (:func:`check_sequence` checks them; each has a name, and
:class:`Constraints` can switch one off to show what it prevents):

* ``order``: start-of-song (never sampled), instrument rows with strictly rising codes,
  start-of-notes, timed events, end-of-song. Timed events are notes and, in the tuplet
  encoding, time-signature, key and tempo events; at one onset they come in type order,
  each meta type at most once (as the encoder writes them). The fill markers come only from
  a prompt; after them only notes and end-of-song follow.
* ``onset``: the onset (beat, position) of timed events never moves backwards.
* ``instruments``: notes use only instruments declared in the header (and, when asked, only
  the ones requested).
* ``fields``: fields the event type does not define are 0, the ones it defines never 0.
* ``span``: after the fill markers, notes lie in the span's beats (first..last, inclusive)
  and, when the span names an instrument, use it. A note the model places past the span's
  last beat ends the fill instead (it becomes end-of-song, as an event past ``max_beats``
  ends a piece): the model says where the fill is complete, rather than having every note it
  would place later forced onto the span's last beat.
* ``unison``: no sampled note repeats the pitch, duration and instrument of another note
  sampled at the same onset (the encoder keeps one such note, so no model ever saw two; a
  model that repeats one is stuck, and the copies would only pile up in the MIDI file).
* ``range``: a note of a pitched instrument lies in that instrument's playable range
  (:mod:`tuplet.ranges`: a violin never goes below G3).
* ``polyphony``: an instrument never sounds more notes at once than it can (one for a flute,
  four for a violin's quadruple stop, ten for a piano: :mod:`tuplet.ranges`), counting the
  prompt's notes that still sound. When every allowed instrument is full at the current onset,
  a new note must start later (as a note after a meta event at one onset must). In a fill,
  notes of the prompt that start later can leave no instrument free at an onset the model
  chose; the rule then gives way for that note.
* ``drums``: drum notes are General MIDI kit pieces (keys 35..81) and hits (at most a beat).
* ``gap``: a timed event starts at most ``max_gap_beats`` beats after the one before (or
  after the start of the piece, or of a fill's span), so no piece has long dead air; a piece
  may still end instead. Off without ``Limits.max_gap_beats``.
* ``lead``: a fill's first new note starts within ``Limits.fill_lead_beats`` beats of the
  span's start (the generation modes give one bar), so an infill or an added part does not
  leave the start of its span empty; it gives way where rule ``polyphony`` leaves no room
  there. Off without ``Limits.fill_lead_beats``.

Limits (:class:`Limits`): beats stay below the model's ``max_beat`` (its vocabulary); at
most ``max_events`` rows (prompt and end-of-song included, at most the model's
``max_seq_len``); an event at or after ``max_beats`` ends the piece instead; ``max_notes``
new notes at most; before ``min_notes`` new notes, neither end-of-song nor a beat at or past
``max_beats`` (or past a fill's span) is allowed, until the piece reaches the last beat it may
have: time is up, and from there (with at least one new note) it may end. So a piece never
ends empty, and ``min_notes`` never piles notes onto the last beat. Every sequence
ends with end-of-song (or, with ``header_only``, start-of-notes).

:class:`tuplet.generation.constraints.MaskState` turns them into the sampler's masks.
"""

from __future__ import annotations

from dataclasses import dataclass

from tuplet.errors import UsageError

RULES: tuple[str, ...] = (
    "order",
    "onset",
    "instruments",
    "fields",
    "span",
    "unison",
    "range",
    "polyphony",
    "drums",
    "gap",
    "lead",
)


@dataclass(frozen=True)
class Limits:
    """How long a sequence may grow (see the module docstring).

    Attributes:
        max_events: Most rows, prompt and end-of-song included; None = the model's
            ``max_seq_len``.
        max_beats: An event at beat ``>= max_beats`` ends the piece (it is not kept); at most
            the encoding's ``max_beat``; None = up to it. Such beats are not sampled at all
            before ``min_notes`` new notes.
        max_notes: Most new notes; None = no limit.
        min_notes: Neither end-of-song nor a beat past ``max_beats`` before this many new
            notes, unless the piece has reached its last beat (see the module docstring).
        header_only: Stop at start-of-notes (to sample the instruments of a piece); such
            sequences end with start-of-notes instead of end-of-song.
        max_gap_beats: Rule ``gap``: the most beats from one timed event to the next; None =
            no bound.
        fill_lead_beats: Rule ``lead``: in a fill, the first new note starts within this
            many beats of the span's start; None = anywhere in the span.
    """

    max_events: int | None = None
    max_beats: int | None = None
    max_notes: int | None = None
    min_notes: int = 1
    header_only: bool = False
    max_gap_beats: int | None = None
    fill_lead_beats: int | None = None


@dataclass(frozen=True)
class Constraints:
    """What the sampled events may be, beyond the encoding's grammar.

    Attributes:
        instruments: Instrument codes new notes (and new instrument rows) may use; None =
            those declared in the header.
        any_instrument: Let notes use any instrument, declared or not.
        forbid_types: Event type names never to sample (e.g. ``("time-signature",)`` to keep
            the meter of the prompt).
        disabled: Names of rules (:data:`RULES`) to switch off; for experiments and tests.
    """

    instruments: tuple[int, ...] | None = None
    any_instrument: bool = False
    forbid_types: tuple[str, ...] = ()
    disabled: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        unknown = sorted(set(self.disabled) - set(RULES))
        if unknown:
            raise UsageError(f"unknown rule {', '.join(unknown)} (rules: {', '.join(RULES)})")
