"""The sampler on tiny random-weight models: every rule holds, each rule is needed, limits,
settings, seeds, the KV cache, and the checker against real encoded pieces."""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch

from tuplet.encoding import encode, get_encoding, instrument_code
from tuplet.encoding.fim import fill_prompt
from tuplet.errors import TupletError, UsageError
from tuplet.generation.constraints import check_sequence
from tuplet.generation.rules import RULES, Constraints, Limits
from tuplet.generation.sample import (
    FieldRule,
    SamplingSettings,
    _draw,
    default_model_path,
    sample_codes,
)
from tuplet.io import read_notes
from tuplet.model.transformer import MusicTransformer, field_order, preset

FREE = SamplingSettings(top_k_frac=1.0)  # sample from the whole (masked) distribution


def make_model(name: str, max_beat: int = 32, **overrides: object) -> tuple:
    enc = get_encoding(name, max_beat=max_beat)
    torch.manual_seed(0)
    config = preset(
        "tiny",
        enc.fields,
        enc.vocab_sizes,
        max_seq_len=128,
        defined_fields=tuple(map(tuple, enc.defined_fields.tolist())),
        **overrides,
    )
    return MusicTransformer(config).eval(), enc


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models decode fastest on one


@pytest.fixture(scope="module", params=["mmt", "tuplet"])
def model(request: pytest.FixtureRequest) -> tuple:
    return make_model(request.param)


def start(enc) -> np.ndarray:
    return np.zeros((1, len(enc.fields)), dtype=np.int64)


def header(enc, *instruments: int) -> np.ndarray:
    """Instrument rows and start-of-notes (no start-of-song)."""
    rows = np.zeros((len(instruments) + 1, len(enc.fields)), dtype=np.int64)
    rows[:-1, 0] = enc.type_codes["instrument"]
    rows[:-1, enc.field_index("instrument")] = sorted(instruments)
    rows[-1, 0] = enc.type_codes["start-of-notes"]
    return rows


def draw(model, enc, prompt, n=16, seed=0, **kwargs) -> list[np.ndarray]:
    kwargs.setdefault("settings", FREE)
    kwargs.setdefault("limits", Limits(max_events=64, min_notes=8))
    g = torch.Generator().manual_seed(seed)
    return sample_codes(model, enc, prompt, n=n, generator=g, **kwargs)


def violations(outs, enc, **kwargs) -> Counter:
    return Counter(v.rule for out in outs for v in check_sequence(out, enc, **kwargs))


def bach_fill_prompt(enc, start_beat=4, last_beat=7, instrument=0) -> np.ndarray:
    notes = read_notes(Path(__file__).parent / "data" / "bwv66.6.mid")
    codes = encode(notes, enc)[:60]  # a short context: the tiny model holds 128 events
    return fill_prompt(codes, enc, start_beat, last_beat, instrument)


# ------------------------------------------------------------------------------ the rules
@pytest.mark.parametrize("cascade", [False, True])
@pytest.mark.parametrize("position", ["absolute", "onset-rotary"])
@pytest.mark.parametrize("name", ["mmt", "tuplet"])
def test_every_rule_holds_on_many_random_samples(name, cascade, position) -> None:
    model, enc = make_model(name, cascade=cascade, position=position)
    outs = draw(model, enc, start(enc), n=24)
    assert violations(outs, enc, complete=True, max_events=64) == Counter()
    assert max(len(o) for o in outs) <= 64
    # min_notes, unless out of room (a random model's 32-beat notes fill a one-note instrument
    # to the end of its 32 beats, and the polyphony rule then ends the piece: measured without)
    free = Constraints(disabled=frozenset({"polyphony"}))
    outs = draw(model, enc, start(enc), n=24, constraints=free)
    notes = [int((o[:, 0] == enc.type_codes["note"]).sum()) for o in outs]
    assert min(notes) >= 8 or max(len(o) for o in outs) == 64


@pytest.mark.parametrize(
    ("name", "rule"),
    [
        (name, rule)
        for name in ("mmt", "tuplet")
        for rule in RULES
        # span and lead: fills only (tested below); MMT: no drums
        if rule not in ("span", "unison", "lead") and (name, rule) != ("mmt", "drums")
    ],
)
def test_each_rule_is_needed_unconstrained_sampling_breaks_it(name, rule) -> None:
    net, enc = make_model(name)
    limits = Limits(max_events=64, min_notes=8, max_gap_beats=2)
    off = Constraints(disabled=frozenset({rule}))
    outs = draw(net, enc, start(enc), n=24, constraints=off, limits=limits)
    assert violations(outs, enc, max_gap_beats=2)[rule] > 0
    on = draw(net, enc, start(enc), n=24, limits=limits)
    assert violations(on, enc, max_gap_beats=2)[rule] == 0
    assert violations(draw(net, enc, start(enc), n=24), enc) == Counter()


def test_fill_span_and_instrument_hold_and_the_span_rule_is_needed() -> None:
    model, enc = make_model("tuplet")
    violin = instrument_code("violin", enc)
    for instrument in (0, violin):
        prompt = bach_fill_prompt(enc, 4, 7, instrument)
        outs = draw(model, enc, prompt, n=24, limits=Limits(max_events=100, min_notes=8))
        assert violations(outs, enc, prompt_length=len(prompt), complete=True) == Counter()
        for out in outs:  # min_notes, unless the fill reached the span's last beat first
            fill = out[len(prompt) : -1]
            assert len(fill) >= 8 or fill[-1, enc.field_index("beat")] - 1 == 7
        new = np.concatenate([o[len(prompt) :] for o in outs])
        notes = new[new[:, 0] == enc.type_codes["note"]]
        beats = notes[:, enc.field_index("beat")] - 1
        assert beats.min() >= 4 and beats.max() <= 7
        if instrument:
            assert set(notes[:, enc.field_index("instrument")].tolist()) == {violin}
        assert set(new[:, 0].tolist()) <= {enc.type_codes["note"], enc.type_codes["end-of-song"]}
    free = draw(
        model,
        enc,
        prompt,
        n=24,
        limits=Limits(max_events=100, min_notes=8),
        constraints=Constraints(disabled=frozenset({"span"})),
    )
    assert violations(free, enc, prompt_length=len(prompt))["span"] > 0


def test_a_fill_starts_within_its_lead_and_the_lead_rule_is_needed() -> None:
    model, enc = make_model("tuplet")
    prompt = bach_fill_prompt(enc, 4, 24)
    limits = Limits(max_events=100, min_notes=4, fill_lead_beats=2)

    def first_beats(outs):
        beat = enc.field_index("beat")
        return [int(o[len(prompt), beat]) - 1 for o in outs]

    outs = draw(model, enc, prompt, n=24, limits=limits)
    assert max(first_beats(outs)) <= 5  # beats 4 and 5: the span's first two
    checked = violations(outs, enc, prompt_length=len(prompt), complete=True, fill_lead_beats=2)
    assert checked == Counter()
    off = Constraints(disabled=frozenset({"lead"}))
    free = draw(model, enc, prompt, n=24, limits=limits, constraints=off)
    assert max(first_beats(free)) > 5
    assert violations(free, enc, prompt_length=len(prompt), fill_lead_beats=2)["lead"] > 0


@pytest.mark.parametrize("least", [1, 3])
def test_a_note_past_the_span_closes_the_fill(least: int) -> None:
    # a model that always wants a beat after the span: once min_notes notes are in, the fill
    # ends there, instead of piling every later note onto the span's last beat
    model, enc = make_model("tuplet")
    beat = enc.field_index("beat")
    with torch.no_grad():
        model.heads[beat].bias[10] = 50.0  # beat 9 (code 10), past the span 4..7
    prompt = bach_fill_prompt(enc, 4, 7)
    outs = draw(model, enc, prompt, n=8, limits=Limits(max_events=100, min_notes=least))
    assert violations(outs, enc, prompt_length=len(prompt), complete=True) == Counter()
    for out in outs:
        new = out[len(prompt) :]
        k = len(new) - 1
        # min_notes notes, or fewer once one is on the span's last beat (no time is left)
        assert 1 <= k <= least and (k == least or new[k - 1, beat] - 1 == 7)
        assert new[:, 0].tolist() == [enc.type_codes["note"]] * k + [enc.type_codes["end-of-song"]]
        assert (new[:-1, beat] - 1 <= 7).all() and (new[:-1, beat] - 1 >= 4).all()


@pytest.mark.parametrize("name", ["mmt", "tuplet"])
def test_a_note_is_never_repeated_at_one_onset_and_the_unison_rule_is_needed(name) -> None:
    # a model that wants one note only (pitch 60, one duration, one instrument, the same onset)
    model, enc = make_model(name)
    f = enc.field_index
    with torch.no_grad():
        model.heads[0].bias[enc.type_codes["note"]] = 50.0
        model.heads[f("position")].bias[1] = 50.0
        model.heads[f("pitch")].bias[61] = 50.0
        model.heads[f("duration")].bias[5] = 50.0
    prompt = np.concatenate([start(enc), header(enc, 1)])
    limits = Limits(max_events=40, min_notes=1)
    outs = draw(model, enc, prompt, n=4, limits=limits)
    assert violations(outs, enc, prompt_length=len(prompt)) == Counter()
    notes = np.concatenate([o[o[:, 0] == enc.type_codes["note"]] for o in outs])
    assert (notes[:, f("pitch")] == 61).mean() > 0.2  # the model's note, but once per onset
    free = draw(
        model,
        enc,
        prompt,
        n=4,
        limits=limits,
        constraints=Constraints(disabled=frozenset({"unison"})),
    )
    assert violations(free, enc, prompt_length=len(prompt))["unison"] > 0


def test_min_notes_gives_way_at_the_last_beat_instead_of_piling_notes(model) -> None:
    net, enc = model
    prompt = np.concatenate([start(enc), header(enc, 1, 25)])
    limits = Limits(max_events=120, max_beats=4, min_notes=1000)
    outs = draw(net, enc, prompt, n=16, limits=limits)
    assert violations(outs, enc, prompt_length=len(prompt), max_beats=4, complete=True) == Counter()
    beat = enc.field_index("beat")
    for out in outs:  # each ended by itself, on the last beat, far before the event limit
        assert len(out) < 120 and out[-2, beat] - 1 == 3


def test_requested_instruments_and_forbidden_types_are_obeyed() -> None:
    model, enc = make_model("tuplet")
    piano, cello, drums = (instrument_code(n, enc) for n in ("piano", "cello", "drums"))
    prompt = np.concatenate([start(enc), header(enc, piano, cello, drums)])
    forbid = ("time-signature", "tempo")
    constraints = Constraints(instruments=(piano, drums), forbid_types=forbid)
    outs = draw(model, enc, prompt, constraints=constraints)
    kw = {"prompt_length": len(prompt), "instruments": (piano, drums), "forbid_types": forbid}
    assert violations(outs, enc, **kw) == Counter()
    used = {int(r[5]) for o in outs for r in o if r[0] == enc.type_codes["note"]}
    assert used == {piano, drums}  # both used, cello never
    # from start-of-song the header itself keeps to the request
    outs = draw(model, enc, start(enc), constraints=Constraints(instruments=(cello,)))
    assert violations(outs, enc, instruments=(cello,)) == Counter()
    # unless told otherwise: any instrument
    free = draw(model, enc, prompt, constraints=Constraints(any_instrument=True))
    assert any(v.rule == "instruments" for o in free for v in check_sequence(o, enc))


def test_limits_on_beats_notes_and_events(model) -> None:
    net, enc = model
    prompt = np.concatenate([start(enc), header(enc, 1, 25)])
    outs = draw(net, enc, prompt, limits=Limits(max_events=100, max_beats=6, min_notes=0))
    beat = enc.field_index("beat")
    assert all(o[-1, 0] == enc.type_codes["end-of-song"] for o in outs)
    assert max(int(o[1:, beat].max()) for o in outs) <= 6  # beat codes: beat + 1
    assert violations(outs, enc, max_beats=6, complete=True) == Counter()
    outs = draw(net, enc, prompt, limits=Limits(max_events=100, max_notes=5, min_notes=5))
    assert [int((o[:, 0] == enc.type_codes["note"]).sum()) for o in outs] == [5] * 16
    head = draw(net, enc, start(enc), limits=Limits(header_only=True))
    assert all(o[-1, 0] == enc.type_codes["start-of-notes"] for o in head)
    assert violations(head, enc) == Counter()


def test_same_seed_same_output_and_the_cache_changes_nothing(model) -> None:
    net, enc = model
    first = draw(net, enc, start(enc), n=6, seed=7)
    again = draw(net, enc, start(enc), n=6, seed=7)
    other = draw(net, enc, start(enc), n=6, seed=8)
    uncached = draw(net, enc, start(enc), n=6, seed=7, use_cache=False)
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
    assert all(np.array_equal(a, b) for a, b in zip(first, uncached, strict=True))
    assert not all(
        len(a) == len(b) and np.array_equal(a, b) for a, b in zip(first, other, strict=True)
    )


def test_greedy_settings_ignore_the_seed(model) -> None:
    net, enc = model
    greedy = SamplingSettings(temperature=0.0)
    a = draw(net, enc, start(enc), n=2, seed=1, settings=greedy)
    b = draw(net, enc, start(enc), n=2, seed=2, settings=greedy)
    assert np.array_equal(a[0], a[1]) and np.array_equal(a[0], b[0])


def test_top_k_and_top_p_keep_only_the_most_likely_codes() -> None:
    probs = torch.tensor([[0.05, 0.4, 0.1, 0.3, 0.15]])
    logits = probs.log().repeat(4000, 1)
    allowed = torch.ones_like(logits, dtype=torch.bool)
    allowed[:, 3] = False  # masked first: the top-2 of the rest are codes 1 and 4
    g = torch.Generator().manual_seed(0)

    def drawn(rule: FieldRule) -> Counter:
        race = torch.empty(len(logits), rule.k).exponential_(generator=g)
        return Counter(_draw(logits, allowed, rule, race).tolist())

    assert set(drawn(FieldRule(1.0, 5, 1.0))) == {0, 1, 2, 4}
    assert set(drawn(FieldRule(1.0, 2, 1.0))) == {1, 4}
    # renormalised without code 3: 0.4/0.7 = 0.57 reaches p = 0.5 alone
    assert set(drawn(FieldRule(1.0, 5, 0.5))) == {1}
    assert set(drawn(FieldRule(1.0, 5, 0.6))) == {1, 4}
    counts = drawn(FieldRule(1.0, 5, 1.0))
    assert abs(counts[1] / 4000 - 0.4 / 0.7) < 0.03  # plain sampling follows the probabilities
    assert set(drawn(FieldRule(0.0, 5, 1.0))) == {1}  # temperature 0: greedy
    # min-p: renormalised, 0.071, 0.571, 0.143, 0.214; kept if at least min_p x 0.571
    assert set(drawn(FieldRule(1.0, 5, 1.0, 0.2))) == {1, 2, 4}
    assert set(drawn(FieldRule(1.0, 5, 1.0, 0.3))) == {1, 4}
    assert set(drawn(FieldRule(1.0, 5, 1.0, 0.5))) == {1}
    counts = drawn(FieldRule(1.0, 5, 1.0, 0.3))
    assert abs(counts[1] / 4000 - 0.4 / 0.55) < 0.03  # the kept codes keep their proportions


def test_one_code_settings_are_greedy(model) -> None:
    net, enc = model
    greedy = draw(net, enc, start(enc), n=2, settings=SamplingSettings(temperature=0.0))
    for settings in (SamplingSettings(top_k=1), SamplingSettings(top_p=1e-9)):
        again = draw(net, enc, start(enc), n=2, seed=5, settings=settings)
        assert all(np.array_equal(a, b) for a, b in zip(greedy, again, strict=True))


def test_settings_resolve_mmt_top_k_per_field() -> None:
    enc = get_encoding("mmt", max_beat=256)
    rules = SamplingSettings().resolve(enc.fields, enc.vocab_sizes)
    # MMT: k = ceil(10% of the vocabulary): 5 -> 1, 257 -> 26, 13 -> 2, 129 -> 13, 33 -> 4
    assert [r.k for r in rules] == [1, 26, 2, 13, 4, 7]
    custom = SamplingSettings(
        temperature=0.9, top_k=50, per_field={"pitch": {"temperature": 1.2, "top_k_frac": 0.5}}
    ).resolve(enc.fields, enc.vocab_sizes)
    assert custom[3] == (1.2, math.ceil(0.5 * 129), 1.0, 0.0)
    assert custom[1] == (0.9, 50, 1.0, 0.0) and custom[0].k == 5  # k never above the vocabulary
    tight = SamplingSettings(min_p=0.05, per_field={"beat": {"min_p": 0.2}})
    assert [r.min_p for r in tight.resolve(enc.fields, enc.vocab_sizes)] == [0.05, 0.2] + [0.05] * 4
    assert SamplingSettings.from_dict(tight.to_dict()) == tight
    with pytest.raises(UsageError, match="no field named tempo"):
        SamplingSettings(per_field={"tempo": {"top_p": 0.9}}).resolve(enc.fields, enc.vocab_sizes)
    bad_knobs = ({"top_p": 0.0}, {"temperature": -1.0}, {"top_k_frac": 1.5}, {"top_k": 2.5},
                 {"min_p": 1.0}, {"min_p": -0.1})  # fmt: skip
    for bad in bad_knobs:
        with pytest.raises(UsageError):
            SamplingSettings(**bad)  # type: ignore[arg-type]


def test_bad_requests_are_refused_with_a_reason() -> None:
    model, enc = make_model("mmt")
    other = get_encoding("tuplet", max_beat=32)
    no_sos = header(enc, 1)
    eos = np.concatenate([start(enc), header(enc, 1), start(enc)])
    eos[-1, 0] = enc.type_codes["end-of-song"]
    cases = [
        (dict(encoding=other, prompt=start(other)), "not the tuplet encoding"),
        (dict(prompt=no_sos), "breaks the encoding's rules"),
        (dict(prompt=eos), "ends with end-of-song"),
        (dict(prompt=start(enc), limits=Limits(max_events=500)), "max_seq_len 128"),
        (dict(prompt=start(enc), limits=Limits(max_beats=33)), r"max_beats 33 must be 1\.\.32"),
        (dict(prompt=start(enc), n=0), "at least 1"),
        (dict(prompt=start(enc), constraints=Constraints(instruments=(70,))), "1..64"),
        (dict(prompt=start(enc), constraints=Constraints(forbid_types=("key",))), "no event"),
        (dict(prompt=header(enc, 1)[1:]), "breaks"),
    ]
    for kwargs, message in cases:
        kwargs = {"encoding": enc, **kwargs}
        with pytest.raises(UsageError, match=message):
            sample_codes(model, **kwargs)
    prompt = np.concatenate([start(enc), header(enc, 1)])
    with pytest.raises(UsageError, match="notes are impossible"):
        sample_codes(model, enc, prompt, constraints=Constraints(instruments=(25,)))


# ------------------------------------------------------------------------------ the checker
@pytest.mark.parametrize("name", ["mmt", "tuplet"])
@pytest.mark.parametrize("file", ["bwv66.6.mid", "multitrack_drums.mid", "lascia_chio_pianga.mid"])
def test_the_encoder_output_of_real_pieces_passes_the_checker(data_dir, name, file) -> None:
    enc = get_encoding(name)
    codes = encode(read_notes(data_dir / file), enc)
    assert check_sequence(codes, enc, complete=True) == []


def test_the_checker_names_what_is_broken(data_dir) -> None:
    enc = get_encoding("tuplet")
    codes = encode(read_notes(data_dir / "multitrack_drums.mid"), enc)
    t = enc.type_codes
    notes = np.flatnonzero(codes[:, 0] == t["note"])
    beat, instr, tempo = (enc.field_index(f) for f in ("beat", "instrument", "tempo"))

    def broken(edit) -> set[str]:
        c = codes.copy()
        edit(c)
        return {v.rule for v in check_sequence(c, enc, complete=True)}

    def backwards(c):
        c[notes[-1], beat] = 1

    def undeclared(c):
        c[notes[0], instr] = instrument_code("pad", enc)  # a pad plays every pitch

    flute = instrument_code("flute", enc)
    flutes = [i for i in notes if codes[i, instr] == flute]
    drums = [i for i in notes if codes[i, instr] == instrument_code("drums", enc)]
    pitch, duration = enc.field_index("pitch"), enc.field_index("duration")

    def below_the_flute(c):
        c[flutes[0], pitch] = 40 + 1  # E2: far below any flute

    def a_held_drum(c):
        c[drums[0], duration] = 13  # 15 ticks: more than a beat

    def two_flutes_at_once(c):
        position = enc.field_index("position")
        c[flutes[1], [beat, position]] = c[flutes[0], [beat, position]]

    def stray_field(c):
        c[notes[0], tempo] = 3

    def zero_pitch(c):
        c[notes[0], enc.field_index("pitch")] = 0

    def duration_past_the_vocabulary(c):  # reported, not a crash of the range rules
        c[notes[0], duration] = enc.vocab_sizes[duration]

    def late_sos(c):
        c[notes[3]] = 0

    def no_end(c):
        c[-1] = c[-2]

    def meta_after_note(c):
        i = notes[0]
        c[[i, i - 1]] = c[[i - 1, i]]  # the note before the event at its onset

    assert broken(backwards) == {"onset"}
    assert broken(undeclared) == {"instruments"}
    assert broken(stray_field) == {"fields"}
    assert broken(zero_pitch) == {"fields"}
    assert "fields" in broken(duration_past_the_vocabulary)
    assert broken(late_sos) == {"order"}
    assert "order" in broken(no_end)
    assert broken(meta_after_note) == {"order"}
    assert broken(below_the_flute) == {"range"}
    assert broken(a_held_drum) == {"drums"}
    assert "polyphony" in broken(two_flutes_at_once)
    gaps = {v.rule for v in check_sequence(codes, enc, max_gap_beats=0)}
    assert gaps == {"gap"} and check_sequence(codes, enc, max_gap_beats=4) == []
    after_end = np.concatenate([codes, codes[notes[-1:]]])  # also the last note again
    assert {v.rule for v in check_sequence(after_end, enc)} == {"order", "unison"}
    limited = check_sequence(codes, enc, prompt_length=len(codes) - 30, max_beats=4)
    assert {v.rule for v in limited} == {"limits"}


def test_default_model_is_found_or_the_error_says_what_to_do() -> None:
    try:
        path = default_model_path()
    except TupletError as exc:
        assert "--model CHECKPOINT" in str(exc) and "tuplet train" in str(exc)
    else:
        assert (path / "config.json").is_file()


# ------------------------------------------------------------- the instrument drawn first
@pytest.mark.parametrize("name", ["mmt", "tuplet"])
def test_instrument_first_models_keep_every_rule_and_range_and_polyphony_are_needed(
    name,
) -> None:
    enc = get_encoding(name, max_beat=32)
    order = field_order("instrument-first", enc.fields)
    net, enc = make_model(name, cascade=True, field_order=order)
    at = net.config.order.index
    assert at(enc.field_index("instrument")) < at(enc.field_index("pitch"))
    outs = draw(net, enc, start(enc), n=24)
    assert violations(outs, enc, complete=True, max_events=64) == Counter()
    # the instrument is drawn before the pitch: the masks of the pitch and the duration
    # are the chosen instrument's (its range, its room), and without the rules they break
    for rule in ("range", "polyphony"):
        off = Constraints(disabled=frozenset({rule}))
        assert violations(draw(net, enc, start(enc), n=24, constraints=off), enc)[rule] > 0


def test_orders_the_sampler_cannot_follow_are_refused() -> None:
    enc = get_encoding("mmt", max_beat=32)
    # the instrument between the pitch and the duration: no mask for that
    order = ("type", "beat", "position", "pitch", "instrument", "duration")
    net, enc = make_model("mmt", cascade=True, field_order=order)
    with pytest.raises(UsageError, match="cannot draw fields in the order"):
        draw(net, enc, start(enc), n=2)
