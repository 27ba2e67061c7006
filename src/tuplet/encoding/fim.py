"""Fill-in-the-middle sequences: one model that also infills a span of time or of tracks.

A normal sequence is ``[SOS, instrument rows, SON, timed events..., EOS]``. Its fill-in-the-middle
form moves the notes to fill to the end, after two marker rows:

    [SOS, instrument rows, SON, context events...,
     fill-start(beat = first beat, instrument = i or 0), fill-end(beat = last beat, same),
     filled notes..., EOS]

The context keeps every timed event but the filled notes (time signatures, keys and tempi stay
in the context). ``instrument = 0`` fills every instrument in the span; an instrument code fills
only that instrument's notes (with the span covering the whole piece, that is "add a part").
The instrument rows at the top list the instruments of the whole piece, so the model knows
which parts exist, including the one it is asked to write.

Both marker beats are inclusive: the span is beats ``start..last``. Only encodings with the
``fill-start`` and ``fill-end`` event types (the ``tuplet`` encoding) can be rearranged.
Everything here is pure numpy on code arrays.
"""

from __future__ import annotations

import numpy as np

from tuplet.encoding import EncodingConfig
from tuplet.errors import UsageError


def supports_fill(config: EncodingConfig) -> bool:
    """Whether the encoding has the fill marker event types."""
    return "fill-start" in config.type_codes


def _check(config: EncodingConfig) -> None:
    if not supports_fill(config):
        raise UsageError(
            f"the {config.name} encoding has no fill events: infilling needs a model trained "
            "on the tuplet encoding"
        )


def fill_rows(
    config: EncodingConfig, start_beat: int, last_beat: int, instrument: int = 0
) -> np.ndarray:
    """The two marker rows of a span (beats ``start_beat..last_beat``, inclusive)."""
    _check(config)
    if not 0 <= start_beat <= last_beat < config.max_beat:
        raise UsageError(
            f"fill span {start_beat}..{last_beat} is outside beats 0..{config.max_beat - 1}"
        )
    rows = np.zeros((2, len(config.fields)), dtype=np.int64)
    types, beat, instr = 0, config.field_index("beat"), config.field_index("instrument")
    rows[0, types], rows[1, types] = config.type_codes["fill-start"], config.type_codes["fill-end"]
    rows[:, beat] = (start_beat + 1, last_beat + 1)
    rows[:, instr] = instrument
    return rows


def _parts(codes: np.ndarray, config: EncodingConfig) -> tuple[np.ndarray, np.ndarray]:
    """(header rows up to and including start-of-notes, timed rows without end-of-song)."""
    types = codes[:, 0]
    son = np.flatnonzero(types == config.type_codes["start-of-notes"])
    if len(son) == 0:
        raise UsageError("codes have no start-of-notes row")
    head = codes[: son[0] + 1]
    body = codes[son[0] + 1 :]
    body = body[body[:, 0] != config.type_codes["end-of-song"]]
    return head, body


def fill_mask(
    codes: np.ndarray,
    config: EncodingConfig,
    start_beat: int,
    last_beat: int,
    instrument: int = 0,
) -> np.ndarray:
    """Boolean mask of the note rows that a span covers."""
    beat = codes[:, config.field_index("beat")] - 1
    instr = codes[:, config.field_index("instrument")]
    mask = (codes[:, 0] == config.type_codes["note"]) & (beat >= start_beat) & (beat <= last_beat)
    if instrument:
        mask &= instr == instrument
    return mask


def to_fill_sequence(
    codes: np.ndarray,
    config: EncodingConfig,
    start_beat: int,
    last_beat: int,
    instrument: int = 0,
) -> np.ndarray:
    """Rearrange a normal sequence into its fill-in-the-middle form (see the module docstring).

    Args:
        codes: A normal sequence (SOS ... EOS), shape (n, F).
        config: Its encoding.
        start_beat: First beat of the span (0-based).
        last_beat: Last beat of the span (inclusive).
        instrument: Instrument code to fill, or 0 for all.

    Returns:
        The rearranged sequence, two rows longer.
    """
    head, body = _parts(codes, config)
    target = fill_mask(body, config, start_beat, last_beat, instrument)
    eos = np.zeros((1, codes.shape[1]), dtype=np.int64)
    eos[0, 0] = config.type_codes["end-of-song"]
    markers = fill_rows(config, start_beat, last_beat, instrument)
    return np.concatenate([head, body[~target], markers, body[target], eos]).astype(np.int64)


def fill_prompt(
    codes: np.ndarray,
    config: EncodingConfig,
    start_beat: int,
    last_beat: int,
    instrument: int = 0,
    add_instrument: bool = True,
) -> np.ndarray:
    """The prompt for infilling: the context and the two markers, ready for the sampler.

    With ``add_instrument`` an instrument row for ``instrument`` is added to the header when the
    piece lacks it (adding a part).
    """
    head, body = _parts(codes, config)
    if instrument and add_instrument:
        instr_col = config.field_index("instrument")
        is_instr = head[:, 0] == config.type_codes["instrument"]
        if instrument not in set(head[is_instr, instr_col].tolist()):
            row = np.zeros((1, codes.shape[1]), dtype=np.int64)
            row[0, 0], row[0, instr_col] = config.type_codes["instrument"], instrument
            rows = np.concatenate([head[is_instr], row])
            rows = rows[np.argsort(rows[:, instr_col], kind="stable")]
            head = np.concatenate([head[:1], rows, head[~is_instr][1:]])
    target = fill_mask(body, config, start_beat, last_beat, instrument)
    markers = fill_rows(config, start_beat, last_beat, instrument)
    return np.concatenate([head, body[~target], markers]).astype(np.int64)


def given_rows(codes: np.ndarray, config: EncodingConfig) -> np.ndarray:
    """Rows of a fill-in-the-middle sequence that training gives but does not teach.

    The context of a fill example has a hole where the filled notes were: in a span for every
    instrument, the music stops at the span's first beat and goes on after its last (in a
    piece of one instrument, adding a part leaves no notes at all). Taught as music, that
    context shows the model silences that never happen (docs/data.md); so the context's rows
    from the span's first beat on are inputs only. The context before the span, the markers
    and the filled notes are taught.

    Args:
        codes: A sequence, shape (n, F); a plain one (no fill-start row) gives no rows.
        config: Its encoding.

    Returns:
        Boolean mask of shape (n,).
    """
    given = np.zeros(len(codes), dtype=bool)
    if not supports_fill(config):
        return given
    starts = np.flatnonzero(codes[:, 0] == config.type_codes["fill-start"])
    son = np.flatnonzero(codes[:, 0] == config.type_codes["start-of-notes"])
    if not len(starts) or not len(son):
        return given
    first = int(codes[starts[0], config.field_index("beat")])  # a beat code: beat + 1
    rows = np.arange(len(codes))
    context = (rows > son[0]) & (rows < starts[0])
    given[context & (codes[:, config.field_index("beat")] >= first)] = True
    return given


def random_fill_sequence(
    codes: np.ndarray,
    config: EncodingConfig,
    rng: np.random.Generator,
    max_len: int,
) -> np.ndarray:
    """A random fill-in-the-middle training example made from a normal sequence.

    Half the examples fill a span of time for all instruments, a quarter one instrument over a
    span, a quarter one instrument over the whole piece (adding a part). The sequence is first
    cut so that the result fits in ``max_len`` rows.

    Args:
        codes: A normal sequence (SOS ... EOS).
        config: Its encoding (must support fill events).
        rng: Randomness.
        max_len: Most rows the result may have.

    Returns:
        The rearranged sequence, or ``codes`` unchanged when it has no notes to fill.
    """
    _check(config)
    head, body = _parts(codes, config)
    room = max_len - len(head) - 3
    if room <= 1:
        return codes
    body = body[:room]
    notes = body[body[:, 0] == config.type_codes["note"]]
    if len(notes) == 0:
        return codes
    beats = notes[:, config.field_index("beat")] - 1
    first, last = int(beats.min()), int(beats.max())
    mode = rng.random()
    instrument = 0
    if mode >= 0.5:
        instrument = int(rng.choice(np.unique(notes[:, config.field_index("instrument")])))
    if mode >= 0.75:
        start, stop = first, last
    else:
        length = int(rng.integers(1, max(2, (last - first + 1) // 2) + 1))
        start = int(rng.integers(first, last + 1))
        stop = min(last, start + length - 1)
    eos = np.zeros((1, codes.shape[1]), dtype=np.int64)
    eos[0, 0] = config.type_codes["end-of-song"]
    return to_fill_sequence(np.concatenate([head, body, eos]), config, start, stop, instrument)
