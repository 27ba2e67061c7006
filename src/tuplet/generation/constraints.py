"""The sampler's masks: what the next field of each sequence of a batch may be, given the rules.

The rules and limits (:mod:`tuplet.generation.rules`: :data:`RULES`, :class:`Constraints`,
:class:`Limits`) say what sampled sequences may be; :func:`check_sequence` checks a finished
one against them. :class:`MaskState` holds what the masks depend on (previous type and onset,
the declared instruments, notes so far) for a batch of sequences, as tensors, so that a
decoding step costs a few tensor operations per field whatever the batch size.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from tuplet.encoding import EncodingConfig
from tuplet.encoding.vocab import KNOWN_DURATIONS_TICKS
from tuplet.errors import UsageError
from tuplet.generation.checker import Violation, check_sequence
from tuplet.generation.grammar import Grammar, PromptInfo, read_prompt
from tuplet.generation.rules import RULES, Constraints, Limits
from tuplet.ranges import POLYPHONY_SLOTS

if TYPE_CHECKING:
    import torch


class MaskState:
    """The per-sequence state of a batch and the masks it implies.

    Args:
        enc: The encoding.
        info: Where the prompt leaves off (:func:`read_prompt`).
        n: Sequences in the batch.
        constraints: Requested instruments, forbidden types, rules switched off.
        limits: Length limits.
        device: Where the tensors live (the model's device).
        order: The order in which the sampler draws an event's fields (the model's cascade
            order; None = column order). With the instrument before the pitch, the pitch and
            duration masks are those of the chosen instrument.

    Raises:
        UsageError: Instrument codes out of range, forbidden types the grammar needs, or a
            prompt whose declared instruments leave no note possible.
    """

    def __init__(
        self,
        enc: EncodingConfig,
        info: PromptInfo,
        n: int,
        constraints: Constraints,
        limits: Limits,
        device: Any,
        order: Sequence[int] | None = None,
    ) -> None:
        import torch

        self.g = Grammar(enc, constraints.forbid_types, device)
        self.on = {rule: rule not in constraints.disabled for rule in RULES}
        self.sizes = enc.vocab_sizes
        self.beat, self.pos = enc.field_index("beat"), enc.field_index("position")
        self.instr = enc.field_index("instrument")
        self.pitch, self.dur = enc.field_index("pitch"), enc.field_index("duration")
        self.instrument_first = self._instrument_first(enc, order)
        self.in_fill = info.fill is not None
        self.span = info.fill if info.fill is not None and self.on["span"] else None
        self.beat_hi = self.span[1] if self.span else self.sizes[self.beat] - 1

        # the limits are tensors, inputs of a compiled step rather than constants baked into
        # it: one compiled step serves every length (which limits exist is baked in)
        def limit(value: int | None) -> torch.Tensor | None:
            return None if value is None else torch.tensor([value], device=device)

        self.min_notes = torch.tensor([limits.min_notes], device=device)
        no_cap = limits.max_notes is None
        self.max_notes = torch.tensor([2**62 if no_cap else limits.max_notes], device=device)
        self.max_beats = limit(limits.max_beats)
        # the last beat code a sequence may reach before min_notes new notes
        self.last_beat = None if self.max_beats is None else self.max_beats.clamp(max=self.beat_hi)
        self.header_only = limits.header_only
        self.ranges = [torch.arange(v, device=device) for v in self.sizes]
        self.zero_only = [r[None] == 0 for r in self.ranges]  # (1, V) each
        self.nonzero = [r[None] > 0 if self.on["fields"] else r[None] >= 0 for r in self.ranges]

        def full(value: int) -> torch.Tensor:
            return torch.full((n,), value, dtype=torch.long, device=device)

        self.prev_type = full(info.last_type)
        self.prev_beat, self.prev_pos = full(info.beat), full(info.position)
        self.prev_timed = full(info.timed_type)
        self.last_instr = full(max(info.instruments, default=0))
        self.n_notes = full(0)
        # (B, pitch, instrument) -> bit d set: a note of duration code d was sampled at the
        # current onset (rule "unison"; duration codes fit in an int64)
        self.unison = self.on["unison"] and self.sizes[self.dur] <= 63
        self.any_instr = torch.arange(self.sizes[self.instr], device=device)[None] > 0
        self.dur_bits = torch.arange(self.sizes[self.dur], device=device)
        self.all_durs = (1 << self.sizes[self.dur]) - 2  # codes 1.. (0 is no duration)
        self.sounding = torch.zeros(
            (n, self.sizes[self.pitch], self.sizes[self.instr]) if self.unison else (n, 0, 0),
            dtype=torch.long,
            device=device,
        )
        self._same: torch.Tensor | None = None
        requested = self._init_instruments(constraints, info, n, device)
        allowed = requested.nonzero()
        self.max_header = int(allowed.max()) if len(allowed) else 0
        self.max_gap = limit(limits.max_gap_beats if self.on["gap"] else None)
        lead = limits.fill_lead_beats if self.on["lead"] and self.span else None
        # rule lead: the last beat code the first new note of a fill may take
        self.lead_top = None
        if lead is not None and self.span is not None:
            self.lead_top = limit(self.span[0] + lead - 1)
        self.res = enc.resolution
        self._init_playable(enc, info, n, device)

    def _init_instruments(
        self, constraints: Constraints, info: PromptInfo, n: int, device: Any
    ) -> torch.Tensor:
        """Rule ``instruments``: what new header rows and new notes may use.

        Sets ``header_ok``, ``grow`` and ``notes_ok`` (B, V_instr); returns the requested codes.
        """
        import torch

        v_instr = self.sizes[self.instr]
        requested = torch.ones(v_instr, dtype=torch.bool, device=device)
        if constraints.instruments is not None:
            if not all(0 < code < v_instr for code in constraints.instruments):
                raise UsageError(
                    f"instrument codes must be 1..{v_instr - 1}, got {constraints.instruments}"
                )
            requested = torch.zeros_like(requested)
            requested[list(constraints.instruments)] = True
        requested[0] = False
        self.header_ok = requested  # instrument rows the header may still add
        self.grow = not constraints.any_instrument
        notes_ok = torch.zeros(v_instr, dtype=torch.bool, device=device)
        notes_ok[list(info.instruments)] = True
        if constraints.any_instrument:
            notes_ok[1:] = True
        if self.span and self.span[2]:
            notes_ok = torch.zeros_like(notes_ok)
            notes_ok[self.span[2]] = True
        notes_ok &= requested
        body = info.last_type not in (self.g.sos, self.g.instrument)
        if body and not bool(notes_ok.any()) and self.on["instruments"]:
            raise UsageError(
                "no instrument is both declared in the prompt and allowed: notes are impossible"
            )
        self.notes_ok = notes_ok[None].repeat(n, 1)  # (B, V_instr)
        return requested

    def _instrument_first(self, enc: EncodingConfig, order: Sequence[int] | None) -> bool:
        """Whether ``order`` draws the instrument before the pitch (else after the duration).

        Raises:
            UsageError: An order the masks do not follow: the onset after the note's fields,
                the duration before the pitch, or the instrument between them.
        """
        if order is None:
            return False
        at = {j: k for k, j in enumerate(order)}
        onset = max(at[self.beat], at[self.pos])
        first = at[self.instr] < at[self.pitch]
        if (
            sorted(at) != list(range(len(enc.fields)))
            or min(at[self.pitch], at[self.dur], at[self.instr]) < onset
            or at[self.dur] < at[self.pitch]
            or (not first and at[self.instr] < at[self.dur])
        ):
            names = [enc.fields[j] for j in order]
            raise UsageError(
                f"the sampler cannot draw fields in the order {', '.join(names)}: the onset "
                "comes first, the pitch before the duration, the instrument before both or "
                "after both"
            )
        return first

    # ------------------------------------------------------------------ range, polyphony, drums
    def _init_playable(self, enc: EncodingConfig, info: PromptInfo, n: int, device: Any) -> None:
        """Tables of rules ``range``, ``drums`` and ``polyphony``, and the sounding notes."""
        import torch

        from tuplet.ranges import DRUM_MAX_DURATION_TICKS, instrument_table, pitch_codes_in_range

        table = instrument_table(enc)
        v_instr, v_pitch, v_dur = (self.sizes[j] for j in (self.instr, self.pitch, self.dur))
        inside = pitch_codes_in_range(enc)  # [instrument code, pitch code]
        pitch_ok = np.ones((v_instr, v_pitch), dtype=bool)  # [instrument, pitch code]
        dur_ok = np.ones((v_instr, v_dur), dtype=bool)  # [instrument, duration code]
        drums = table.is_drums
        if self.on["range"]:
            pitch_ok[~drums] = inside[~drums]
        if self.on["drums"]:
            pitch_ok[drums] = inside[drums]
            hit = np.concatenate([[True], KNOWN_DURATIONS_TICKS <= DRUM_MAX_DURATION_TICKS])
            dur_ok[drums] = hit[None]
        self.playable = bool((~pitch_ok).any() or (~dur_ok).any()) or self.on["polyphony"]
        self.pitch_ok = torch.tensor(pitch_ok, device=device)
        self.dur_ok = torch.tensor(dur_ok, device=device)
        self.dur_ticks = torch.tensor(
            np.concatenate([[0], KNOWN_DURATIONS_TICKS]), dtype=torch.long, device=device
        )
        poly = np.minimum(table.polyphony, POLYPHONY_SLOTS + 1)
        if not self.on["polyphony"]:
            poly[:] = POLYPHONY_SLOTS + 1
        self.poly = torch.tensor(poly, dtype=torch.long, device=device)
        # the notes that may still sound: (B, V_instr, slots) start and end, in onset units
        # (beat code * resolution + position code); an empty slot is (0, 0)
        starts = np.zeros((v_instr, POLYPHONY_SLOTS), dtype=np.int64)
        ends = np.zeros_like(starts)
        if info.notes is not None and self.on["polyphony"]:
            for code in np.unique(info.notes[:, 2]):
                mine = info.notes[info.notes[:, 2] == code]
                latest = mine[np.argsort(mine[:, 1], kind="stable")[-POLYPHONY_SLOTS:]]
                starts[code, : len(latest)], ends[code, : len(latest)] = latest[:, 0], latest[:, 1]
        self.starts = torch.tensor(starts, device=device)[None].repeat(n, 1, 1)
        self.ends = torch.tensor(ends, device=device)[None].repeat(n, 1, 1)
        self._avail: torch.Tensor | None = None
        self._floor: torch.Tensor | None = None

    def _sounding_at(self, onset: torch.Tensor) -> torch.Tensor:
        """(B, V_instr) how many tracked notes of each instrument sound at ``onset`` (B,)."""
        t = onset[:, None, None]
        return ((self.starts <= t) & (self.ends > t)).sum(dim=-1)

    def _players(self, chosen: torch.Tensor, can: torch.Tensor) -> torch.Tensor:
        """(B, V_instr) ``can``, narrowed to the chosen instrument where it is drawn first."""
        if not self.instrument_first:
            return can
        return can & (self.ranges[self.instr][None] == chosen[:, self.instr, None])

    def _notes_allowed(self) -> torch.Tensor:
        return self.notes_ok if self.on["instruments"] else self.any_instr.expand_as(self.notes_ok)

    def note_floor(self) -> torch.Tensor:
        """(B,) the earliest onset (in onset units) at which an allowed instrument has room.

        The current onset where one has room now; else the end of the note whose end frees
        the first instrument (the sounding notes all started by now, so none gets fuller).
        """
        import torch

        if self._floor is None:
            now = self.prev_beat * self.res + self.prev_pos
            t = now[:, None, None]
            sounding = (self.starts <= t) & (self.ends > t)  # (B, V_instr, slots)
            count = sounding.sum(dim=-1)  # (B, V_instr)
            big = torch.iinfo(torch.long).max
            ends = torch.where(sounding, self.ends, big).sort(dim=-1).values
            need = (count - self.poly[None]).clamp(0, POLYPHONY_SLOTS - 1)
            free = torch.where(
                count >= self.poly[None], ends.gather(-1, need[..., None])[..., 0], now[:, None]
            )
            allowed = self._notes_allowed()
            floor = torch.where(allowed, free, big).min(dim=-1).values
            self._floor = torch.where(allowed.any(dim=-1), floor, now)
        return self._floor

    def _floor_beat_pos(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The beat and position codes of :meth:`note_floor`."""
        floor = self.note_floor() - 1  # onset units run beat * res + position, position >= 1
        return floor // self.res, floor % self.res + 1

    def available(self, chosen: torch.Tensor) -> torch.Tensor:
        """(B, V_instr) bool: instruments with room at the chosen onset (once per event)."""
        if self._avail is None:
            onset = chosen[:, self.beat] * self.res + chosen[:, self.pos]
            allowed = self._notes_allowed()
            avail = allowed & (self._sounding_at(onset) < self.poly[None])
            # only a fill's later prompt notes can leave none: the rule gives way there
            none = ~avail.any(dim=-1, keepdim=True)
            self._avail = avail | (none & allowed)
        return self._avail

    def select(self, index: torch.Tensor) -> None:
        """Keep rows ``index`` of the batch state."""
        for name in ("prev_type", "prev_beat", "prev_pos", "prev_timed", "last_instr", "n_notes"):
            setattr(self, name, getattr(self, name)[index])
        self.notes_ok = self.notes_ok[index]
        self.sounding = self.sounding[index]
        self.starts, self.ends = self.starts[index], self.ends[index]
        self._avail = self._floor = None

    def early(self) -> torch.Tensor:
        """(B,) bool: the sequences that may not end yet.

        Those with fewer than ``min_notes`` new notes that are not yet at the last beat they
        may reach, and those without a new note.
        """
        last: int | torch.Tensor | None = self.span[1] if self.span else None
        if self.last_beat is not None:
            last = self.last_beat
        short = self.n_notes < self.min_notes
        if last is None:
            return short
        return short & ((self.prev_beat < last) | (self.n_notes == 0))

    def cap(self) -> torch.Tensor:
        """(B,) the highest beat code each sequence may take now."""
        import torch

        if self.last_beat is None:
            return torch.full_like(self.prev_beat, self.beat_hi)
        # codes up to max_beats are beats before it; later ones only end the piece
        return torch.where(self.early(), self.last_beat, self.beat_hi)

    def type_mask(self, force_end: bool) -> torch.Tensor:
        """(B, n_types) bool: the types the next event may have."""
        import torch

        g = self.g
        B = len(self.prev_type)
        if self.on["order"]:
            table = g.follow_fill if self.in_fill else g.follow
            m = table[self.prev_type]
            m = m & ~(g.is_instr & (self.last_instr >= self.max_header)[:, None])
        else:
            m = torch.ones(B, g.n_types, dtype=torch.bool, device=self.prev_type.device)
        if self.on["onset"]:
            # a type that needs a later onset is impossible when no later onset is left
            stuck = (self.prev_pos >= self.sizes[self.pos] - 1) & (self.prev_beat >= self.cap())
            m = m & ~(g.strict[self.prev_timed] & stuck[:, None])
        if self.on["polyphony"]:  # no note while every instrument stays full until time is up
            top = self.cap()
            if self.max_gap is not None:
                top = torch.minimum(top, self.prev_beat + self.max_gap)
            m[:, g.note] &= self._floor_beat_pos()[0] <= top

        m = m & ~(g.is_eos & self.early()[:, None])
        force = self.n_notes >= self.max_notes
        if force_end:
            force = torch.ones_like(force)
        # rules that leave a sequence nothing (every instrument full to the end): it ends
        force = force | ~m.any(dim=-1)
        return torch.where(force[:, None], g.is_eos, m)

    def field_mask(
        self, j: int, types: torch.Tensor, defined: torch.Tensor | None, chosen: torch.Tensor
    ) -> torch.Tensor:
        """(B or 1, V_j) bool: the codes field ``j`` may take, given the type and earlier fields.

        ``defined`` (B,) says which rows' types define the field; None when all do.
        """
        import torch

        r = self.ranges[j][None]  # (1, V)
        ok = self.nonzero[j]  # (1, V) or, below, (B, V)
        if j == self.beat:
            ok = self._beat_mask(r, ok, types, chosen)
        elif j == self.pos and self.on["onset"]:
            ok = self._position_mask(r, ok, types, chosen)
        elif j == self.pitch and (self.playable or self.unison):
            ok = self._pitch_mask(r, ok, types, chosen)
        elif j == self.dur and (self.playable or self.unison):
            ok = self._duration_mask(r, ok, types, chosen)
        elif j == self.instr:
            ok = self._instrument_mask(r, ok, types, chosen)
        if self.on["fields"] and defined is not None:
            ok = torch.where(defined[:, None], ok, self.zero_only[j])
        if not all(self.on.values()):
            # with rules switched off, the rest may leave nothing: then anything goes
            ok = ok | ~ok.any(dim=-1, keepdim=True)
        return ok

    def _beat_mask(
        self, r: torch.Tensor, ok: torch.Tensor, types: torch.Tensor, chosen: torch.Tensor
    ) -> torch.Tensor:
        """``ok`` narrowed for the beat (rules onset, polyphony, gap, lead, span; the limits)."""
        import torch

        if self.on["onset"]:
            strict = self.g.strict[self.prev_timed, types]
            bump = strict & (self.prev_pos >= self.sizes[self.pos] - 1)
            ok = ok & (r >= (self.prev_beat + bump.long())[:, None])
        if self.on["polyphony"]:
            floor = torch.where(types == self.g.note, self._floor_beat_pos()[0], 0)
            ok = ok & (r >= floor[:, None])
        if self.max_gap is not None:
            ok = ok & (r <= (self.prev_beat + self.max_gap)[:, None])
        if self.lead_top is not None:
            top = self.lead_top.expand_as(self.prev_beat)
            if self.on["polyphony"]:  # no room that early: the rule gives way
                top = torch.maximum(top, self._floor_beat_pos()[0])
            first = (self.n_notes == 0) & (types == self.g.note)
            ok = ok & ((r <= top[:, None]) | ~first[:, None])
        if self.span:
            # past the span's last beat means "the fill is complete" (see update),
            # allowed once min_notes new notes are in
            early = self.early()[:, None]
            ok = ok & (r >= self.span[0]) & ((r <= self.span[1]) | ~early)
        if self.max_beats is not None:
            ok = ok & (r <= self.cap()[:, None])
        return ok

    def _position_mask(
        self, r: torch.Tensor, ok: torch.Tensor, types: torch.Tensor, chosen: torch.Tensor
    ) -> torch.Tensor:
        """``ok`` narrowed for the position: never back in time, room for a note."""
        import torch

        strict = self.g.strict[self.prev_timed, types]
        same = chosen[:, self.beat] == self.prev_beat
        low = torch.where(same, self.prev_pos + strict.long(), torch.ones_like(self.prev_pos))
        if self.on["polyphony"]:
            beat, pos = self._floor_beat_pos()
            at = (types == self.g.note) & (chosen[:, self.beat] == beat)
            low = torch.where(at, torch.maximum(low, pos), low)
        ok = ok & (r >= low[:, None])
        return ok

    def _pitch_mask(
        self, r: torch.Tensor, ok: torch.Tensor, types: torch.Tensor, chosen: torch.Tensor
    ) -> torch.Tensor:
        """``ok`` narrowed for the pitch: one some allowed instrument may still play."""
        # a pitch some instrument may still play: one with room, in its range, and (rule
        # unison) not sounding it at this onset in every duration already
        can = self._players(chosen, self._notes_allowed())[:, :, None]  # (B, V_instr, 1)
        if self.playable:
            can = self._players(chosen, self.available(chosen))[:, :, None]
            can = can & self.pitch_ok[None]
        if self.unison:
            full = (self.sounding == self.all_durs).transpose(1, 2)  # (B, V_instr, V_pitch)
            can = can & ~(self._same_onset(chosen, types)[:, None, None] & full)
        ok = ok & can.any(dim=1)
        return ok

    def _duration_mask(
        self, r: torch.Tensor, ok: torch.Tensor, types: torch.Tensor, chosen: torch.Tensor
    ) -> torch.Tensor:
        """``ok`` narrowed for the duration: one an instrument that may play the pitch holds."""
        import torch

        # a duration some instrument that may play the pitch can hold, and (rule unison)
        # has not played in this pitch at this onset
        can = self._players(chosen, self._notes_allowed())
        if self.playable:
            can = self._players(chosen, self.available(chosen))
            can = can & self.pitch_ok.T[chosen[:, self.pitch]]
        can = can[:, :, None] & self.dur_ok[None]  # (B, V_instr, V_dur)
        if self.unison:
            rows = torch.arange(len(types), device=types.device)
            bits = self.sounding[rows, chosen[:, self.pitch]]  # (B, V_instr)
            played = (bits[:, :, None] >> self.dur_bits).bitwise_and(1).bool()
            can = can & ~(self._same_onset(chosen, types)[:, None, None] & played)
        ok = ok & can.any(dim=1)
        return ok

    def _instrument_mask(
        self, r: torch.Tensor, ok: torch.Tensor, types: torch.Tensor, chosen: torch.Tensor
    ) -> torch.Tensor:
        """``ok`` narrowed for the instrument: a new header row, or one that may play the note."""
        import torch

        header = self.header_ok[None] if self.on["instruments"] else ok
        if self.on["order"]:
            header = header & (r > self.last_instr[:, None])
        notes = self.notes_ok if self.on["instruments"] else ok
        if self.playable:
            notes = notes & self.available(chosen)
        if self.playable and not self.instrument_first:
            notes = notes & self.pitch_ok.T[chosen[:, self.pitch]]
            notes = notes & self.dur_ok.T[chosen[:, self.dur]]
        if self.unison and not self.instrument_first:
            rows = torch.arange(len(types), device=types.device)
            bits = self.sounding[rows, chosen[:, self.pitch]]  # (B, V_instr)
            taken = (bits >> chosen[:, self.dur, None]).bitwise_and(1).bool()
            notes = notes & ~(self._same_onset(chosen, types)[:, None] & taken)
        ok = ok & torch.where((types == self.g.instrument)[:, None], header, notes)
        return ok

    def _track(self, row: torch.Tensor, is_note: torch.Tensor) -> None:
        """Put each new note in its instrument's slot that ends first (an ended one, if any)."""
        import torch

        rows = torch.arange(len(row), device=row.device)
        instr = row[:, self.instr].clamp(0, self.sizes[self.instr] - 1)
        slot = self.ends[rows, instr].argmin(dim=-1)
        start = row[:, self.beat] * self.res + row[:, self.pos]
        end = start + self.dur_ticks[row[:, self.dur].clamp(0, len(self.dur_ticks) - 1)]
        self.starts[rows, instr, slot] = torch.where(is_note, start, self.starts[rows, instr, slot])
        self.ends[rows, instr, slot] = torch.where(is_note, end, self.ends[rows, instr, slot])

    def _same_onset(self, chosen: torch.Tensor, types: torch.Tensor) -> torch.Tensor:
        """(B,) bool: notes whose chosen onset is that of the notes in ``sounding``.

        Computed once per event (its onset is chosen before its pitch) and kept until
        :meth:`update`.
        """
        if self._same is None:
            self._same = (
                (types == self.g.note)
                & (chosen[:, self.beat] == self.prev_beat)
                & (chosen[:, self.pos] == self.prev_pos)
            )
        return self._same

    def update(self, row: torch.Tensor) -> torch.Tensor:
        """Take in the sampled rows (B, F); returns which rows ended (B,) bool.

        A timed event at or past ``max_beats``, or a note past a fill's span, is replaced by
        end-of-song (in place).
        """
        import torch

        self._same = self._avail = self._floor = None  # the next event starts afresh
        g = self.g
        types = row[:, 0]
        if self.span:
            past = (types == g.note) & (row[:, self.beat] > self.span[1])
            row[past] = 0
            row[past, 0] = g.eos
            types = row[:, 0]
        timed = g.timed[types]
        if self.max_beats is not None:
            late = timed & (row[:, self.beat] - 1 >= self.max_beats)
            row[late] = 0
            row[late, 0] = g.eos
            types = row[:, 0]
            timed = g.timed[types]
        if self.unison:
            moved = timed & (
                (row[:, self.beat] != self.prev_beat) | (row[:, self.pos] != self.prev_pos)
            )
            B, v_pitch, v_instr = self.sounding.shape
            pitch = row[:, self.pitch].clamp(0, v_pitch - 1)
            cell = pitch * v_instr + row[:, self.instr].clamp(0, v_instr - 1)
            bit = (types == g.note).long() << row[:, self.dur].clamp(0, 62)  # 0: not a note
            flat = self.sounding.masked_fill(moved[:, None, None], 0).view(B, -1)
            cell = cell[:, None]
            flat.scatter_(1, cell, flat.gather(1, cell) | bit[:, None])
            self.sounding = flat.view(B, v_pitch, v_instr)
        if self.on["polyphony"]:
            self._track(row, types == g.note)
        self.prev_beat = torch.where(timed, row[:, self.beat], self.prev_beat)
        self.prev_pos = torch.where(timed, row[:, self.pos], self.prev_pos)
        self.prev_timed = torch.where(timed, types, self.prev_timed)
        is_instr = types == g.instrument
        instr = row[:, self.instr].clamp(0, self.sizes[self.instr] - 1)
        self.last_instr = torch.where(is_instr, instr, self.last_instr)
        if self.grow:
            grown = torch.nn.functional.one_hot(instr, self.sizes[self.instr]).bool()
            self.notes_ok = self.notes_ok | (grown & is_instr[:, None] & self.header_ok[None])
        self.n_notes = self.n_notes + (types == g.note).long()
        self.prev_type = types
        ended = types == g.eos
        return ended | (types == g.son) if self.header_only else ended


__all__ = [
    "MaskState",
    "PromptInfo",
    "Violation",
    "check_sequence",
    "read_prompt",
]
