import numpy as np
import pytest

from tuplet.encoding import decode, encode, get_encoding, instrument_code
from tuplet.encoding.fim import fill_prompt, given_rows, random_fill_sequence, to_fill_sequence
from tuplet.errors import UsageError
from tuplet.notes import from_rows

CONFIG = get_encoding("tuplet")


def _piece():
    rows = []
    for beat in range(16):
        rows.append((beat * 12, 12, 60 + beat % 5, 80, 0, 0, 0))  # piano
        rows.append((beat * 12, 24, 40 + beat % 3, 80, 42, 0, 1))  # cello
    return from_rows(rows, 12, tempo_ticks=[0], tempo_qpm=[90.0])


def test_fill_sequence_moves_exactly_the_span_to_the_end():
    codes = encode(_piece(), CONFIG)
    cello = instrument_code("cello", CONFIG)
    fim = to_fill_sequence(codes, CONFIG, 4, 7, cello)
    types = CONFIG.type_codes
    assert len(fim) == len(codes) + 2
    marks = np.flatnonzero(np.isin(fim[:, 0], [types["fill-start"], types["fill-end"]]))
    assert len(marks) == 2 and marks[1] == marks[0] + 1
    filled = fim[marks[1] + 1 : -1]
    beat, instr = CONFIG.field_index("beat"), CONFIG.field_index("instrument")
    assert len(filled) == 4  # one cello note on each of beats 4..7
    assert set((filled[:, beat] - 1).tolist()) == {4, 5, 6, 7}
    assert set(filled[:, instr].tolist()) == {cello}
    assert fim[-1, 0] == types["end-of-song"]
    # nothing lost: decoding gives the same piece as the normal sequence
    assert decode(fim, CONFIG).sorted().equals(decode(codes, CONFIG).sorted())


def test_fill_prompt_adds_a_missing_part_and_ends_with_markers():
    piano_only = _piece().select(_piece().program == 0)
    codes = encode(piano_only, CONFIG)
    violin = instrument_code("violin", CONFIG)
    prompt = fill_prompt(codes, CONFIG, 0, 15, violin)
    instr_rows = prompt[prompt[:, 0] == CONFIG.type_codes["instrument"]]
    assert violin in instr_rows[:, CONFIG.field_index("instrument")].tolist()
    assert prompt[-1, 0] == CONFIG.type_codes["fill-end"]
    assert prompt[-2, 0] == CONFIG.type_codes["fill-start"]


def test_random_examples_fit_and_keep_every_row():
    codes = encode(_piece(), CONFIG)
    rng = np.random.default_rng(0)
    for _ in range(50):
        fim = random_fill_sequence(codes, CONFIG, rng, max_len=40)
        assert len(fim) <= 40
        assert fim[-1, 0] == CONFIG.type_codes["end-of-song"]
    fim = random_fill_sequence(codes, CONFIG, rng, max_len=len(codes) + 2)
    assert len(fim) == len(codes) + 2


def test_the_context_after_a_hole_is_given_not_taught():
    codes = encode(_piece(), CONFIG)
    types, beat = CONFIG.type_codes, CONFIG.field_index("beat")
    assert not given_rows(codes, CONFIG).any()  # a plain sequence: every row taught
    fim = to_fill_sequence(codes, CONFIG, 4, 7)  # every instrument, beats 4..7: a hole
    given = given_rows(fim, CONFIG)
    start = int(np.flatnonzero(fim[:, 0] == types["fill-start"])[0])
    son = int(np.flatnonzero(fim[:, 0] == types["start-of-notes"])[0])
    context = np.arange(len(fim))[son + 1 : start]
    # the context jumps from beat 3 to beat 8: that row and every later context row are given
    after = context[fim[context, beat] - 1 >= 4]
    assert len(after) and (fim[after, beat] - 1 >= 8).all()
    assert given[after].all() and given.sum() == len(after)
    # the header, the context before the span, the markers and the filled notes are taught
    assert not given[: after[0]].any() and not given[start:].any()

    from tuplet.training.dataset import collate

    _, mask = collate([fim, codes], CONFIG)
    assert mask[0, : len(fim)].numpy().tolist() == (~given).tolist()
    assert mask[1, : len(codes)].all() and not mask[1, len(codes) :].any()
    _, plain = collate([fim, codes])  # without an encoding: padding only
    assert plain[0, : len(fim)].all()


def test_mmt_has_no_fill():
    mmt = get_encoding("mmt")
    with pytest.raises(UsageError, match="tuplet encoding"):
        to_fill_sequence(encode(_piece(), mmt), mmt, 0, 3)
