"""The music transformer on tiny models: causality, padding, caching, attention, learning."""

from __future__ import annotations

import json
import math

import pytest
import torch
import torch.nn.functional as F

from tuplet.errors import UsageError
from tuplet.model.transformer import (
    POSITIONS,
    ModelConfig,
    MusicTransformer,
    field_order,
    preset,
)

FIELDS = ("type", "beat", "position", "pitch", "duration", "instrument")
VOCAB = (5, 257, 13, 129, 33, 65)
# MMT event types: start-of-song, instrument, start-of-notes, note, end-of-song
DEFINED = (
    (True, False, False, False, False, False),
    (True, False, False, False, False, True),
    (True, False, False, False, False, False),
    (True, True, True, True, True, True),
    (True, False, False, False, False, False),
)
MODES = [(position, cascade) for position in POSITIONS for cascade in (False, True)]
INSTRUMENT_FIRST = ("type", "beat", "position", "instrument", "pitch", "duration")


def tiny(**overrides: object) -> MusicTransformer:
    torch.manual_seed(0)
    config = preset("tiny", FIELDS, VOCAB, defined_fields=DEFINED, **overrides)
    return MusicTransformer(config).eval()


def song(batch: int, length: int, seed: int = 0) -> torch.Tensor:
    """MMT-shaped codes: SOS, two instrument rows, start-of-notes, notes at rising beats."""
    g = torch.Generator().manual_seed(seed)
    codes = torch.zeros(batch, length, len(FIELDS), dtype=torch.long)
    codes[:, 0, 0] = 0
    codes[:, 1:3, 0] = 1
    codes[:, 1:3, 5] = torch.randint(1, 65, (batch, 2), generator=g)
    codes[:, 3, 0] = 2
    n = length - 4
    codes[:, 4:, 0] = 3
    codes[:, 4:, 1] = torch.randint(0, 3, (batch, n), generator=g).cumsum(dim=1) + 1
    for f in (2, 3, 4, 5):
        codes[:, 4:, f] = torch.randint(1, VOCAB[f], (batch, n), generator=g)
    return codes


# ---------------------------------------------------------------------------- config
def test_mmt_paper_has_exactly_the_papers_parameter_count() -> None:
    model = MusicTransformer(preset("mmt-paper", FIELDS, VOCAB))
    assert model.num_parameters() == 19_944_950


def test_config_round_trips_through_json() -> None:
    config = preset("small", FIELDS, VOCAB, position="hybrid-rotary", defined_fields=DEFINED)
    again = ModelConfig.from_dict(json.loads(json.dumps(config.to_dict())))
    assert again == config
    assert again.defined_fields == DEFINED


@pytest.mark.parametrize(
    "overrides",
    [
        {"position": "sinusoidal"},
        {"d_model": 30},  # not a multiple of n_head
        {"n_head": 4, "d_model": 8},  # head size 2: rotary needs a multiple of 4
        {"beat_field": "bar", "position": "onset-rotary"},
        {"defined_fields": ((True,) * 6,) * 4},  # 4 rows for 5 event types
        {"dropout": 1.0},
        {"no_such_field": 1},
        {"field_order": ("type", "beat", "position", "pitch", "duration")},  # one missing
        {"field_order": ("beat", "type", "position", "pitch", "duration", "instrument")},
        {"field_order": ("type", "beat", "position", "pitch", "instrument", "instrument")},
        {"field_order": INSTRUMENT_FIRST, "cascade": False},  # no cascade, no order
        {"onset_order": "loudness"},
    ],
)
def test_bad_configs_are_refused(overrides: dict[str, object]) -> None:
    with pytest.raises(UsageError):
        kwargs = {"position": "rotary", **overrides}
        preset("tiny", FIELDS, VOCAB, **kwargs)


def test_from_dict_refuses_missing_and_unknown_keys() -> None:
    d = preset("tiny", FIELDS, VOCAB).to_dict()
    with pytest.raises(UsageError, match="missing keys n_layer"):
        ModelConfig.from_dict({k: v for k, v in d.items() if k != "n_layer"})
    with pytest.raises(UsageError, match="unknown keys colour"):
        ModelConfig.from_dict({**d, "colour": "blue"})
    # a key added since the first checkpoints: older configs lack it and keep its default
    older = {k: v for k, v in d.items() if k not in ("field_order", "onset_order")}
    assert ModelConfig.from_dict(older).field_order is None
    assert ModelConfig.from_dict(older).onset_order == "pitch"
    by_instrument = preset("tiny", FIELDS, VOCAB, onset_order="instrument")
    assert ModelConfig.from_dict(by_instrument.to_dict()) == by_instrument


def test_field_orders_by_name_and_their_round_trip() -> None:
    assert field_order("instrument-first", FIELDS) == INSTRUMENT_FIRST
    assert field_order("columns", FIELDS) is None
    # fields a named order does not list keep their place after it (the tuplet encoding's)
    more = (*FIELDS, "velocity", "key")
    assert field_order("instrument-first", more) == (*INSTRUMENT_FIRST, "velocity", "key")
    assert field_order("type,beat,position,instrument", FIELDS) == INSTRUMENT_FIRST
    with pytest.raises(UsageError, match="unknown field order"):
        field_order("backwards", FIELDS)
    with pytest.raises(UsageError, match="names no field colour"):
        field_order("type,colour", FIELDS)
    config = preset("tiny", FIELDS, VOCAB, field_order=INSTRUMENT_FIRST)
    assert config.order == (0, 1, 2, 5, 3, 4)
    again = ModelConfig.from_dict(json.loads(json.dumps(config.to_dict())))
    assert again == config and again.order == config.order


def test_instrument_first_the_pitch_sees_the_instrument_and_not_the_reverse() -> None:
    model = tiny(cascade=True, field_order=INSTRUMENT_FIRST)
    codes = song(1, 10)
    inputs, targets = codes[:, :-1], codes[:, 1:]
    other_pitch, other_instrument = targets.clone(), targets.clone()
    other_pitch[0, 5, 3:5] = torch.tensor([60, 7])  # pitch and duration of row 6
    other_instrument[0, 5, 5] = 9  # its instrument
    with torch.no_grad():
        a, _ = model(inputs, targets=targets)
        b, _ = model(inputs, targets=other_pitch)
        c, _ = model(inputs, targets=other_instrument)
    for j in (0, 1, 2, 5):  # type, beat, position, instrument: drawn before the pitch
        assert torch.equal(a[j], b[j])
    for j in (3, 4):  # the pitch and the duration see the instrument
        assert not torch.equal(a[j][0, 5], c[j][0, 5])
        assert torch.equal(a[j][0, :5], c[j][0, :5])
    # the same weights in column order: the pitch does not see the instrument there
    model.set_field_order(None)
    with torch.no_grad():
        d, _ = model(inputs, targets=targets)
        e, _ = model(inputs, targets=other_instrument)
    assert torch.equal(d[3], e[3]) and not torch.equal(d[3], a[3])


# ------------------------------------------------------------------------- positions
def test_onset_ticks_follow_beat_and_position_and_fill_undefined_rows() -> None:
    model = tiny(position="onset-rotary")
    codes = torch.zeros(1, 6, 6, dtype=torch.long)
    codes[0, :, 1] = torch.tensor([0, 0, 1, 3, 0, 11])  # beat codes (beat + 1)
    codes[0, :, 2] = torch.tensor([0, 0, 5, 1, 0, 13])  # position codes (tick + 1)
    # beat 0 tick 4 = 4; beat 2 tick 0 = 24; beat 10 tick 12 = 132; undefined rows carry on
    expected = torch.tensor([[0.0, 0.0, 4.0, 24.0, 24.0, 132.0]])
    assert torch.equal(model.onset_ticks(codes), expected)
    previous = torch.tensor([7.0])
    assert model.onset_ticks(codes, previous)[0, :2].tolist() == [7.0, 7.0]


def test_absolute_positions_stop_at_max_seq_len() -> None:
    model = tiny(max_seq_len=8)
    with pytest.raises(UsageError, match="max_seq_len"):
        model(song(1, 9))
    model = tiny(max_seq_len=8, position="rotary")  # rotary can go past it
    logits, _ = model(song(1, 9))
    assert logits[0].shape == (1, 9, 5)


# ------------------------------------------------------------------------- causality
@pytest.mark.parametrize(("position", "cascade"), MODES)
def test_output_at_t_has_no_gradient_from_later_inputs(position: str, cascade: bool) -> None:
    model = tiny(position=position, cascade=cascade)
    codes = song(1, 10)
    inputs, targets = codes[:, :-1], codes[:, 1:]
    captured = {}

    def make_leaf(module: torch.nn.Module, args: object, output: torch.Tensor) -> torch.Tensor:
        captured["x"] = leaf = output.detach().requires_grad_()
        return leaf

    handle = model.embedding_drop.register_forward_hook(make_leaf)  # the summed input embeddings
    try:
        logits, _ = model(inputs, targets=targets)
    finally:
        handle.remove()
    t = 4
    out = sum(lg[0, t].sum() for lg in logits)
    (grad,) = torch.autograd.grad(out, captured["x"])
    per_event = grad[0].abs().sum(dim=-1)
    assert torch.all(per_event[t + 1 :] == 0)
    assert torch.all(per_event[: t + 1] > 0)


@pytest.mark.parametrize(("position", "cascade"), MODES)
def test_changing_later_events_leaves_earlier_outputs_unchanged(
    position: str, cascade: bool
) -> None:
    # covers the onset phases too, which come from the codes rather than the embeddings
    model = tiny(position=position, cascade=cascade)
    codes = song(2, 12)
    other = codes.clone()
    other[:, 7:] = song(2, 12, seed=1)[:, 7:]
    with torch.no_grad():
        a, _ = model(codes[:, :-1], targets=codes[:, 1:])
        b, _ = model(other[:, :-1], targets=other[:, 1:])
    for la, lb in zip(a, b, strict=True):
        # position 6 predicts row 7 from rows 0..6 and (cascade) from row 7's earlier fields
        assert torch.equal(la[:, :6], lb[:, :6])
    assert not torch.allclose(a[0][:, 8:], b[0][:, 8:])


def test_cascade_field_j_depends_only_on_earlier_fields_of_the_next_event() -> None:
    model = tiny(cascade=True)
    codes = song(1, 10)
    inputs, targets = codes[:, :-1], codes[:, 1:]
    changed = targets.clone()
    changed[0, 5, 3:] = torch.tensor([60, 7, 9])  # pitch, duration, instrument of row 6
    with torch.no_grad():
        a, _ = model(inputs, targets=targets)
        b, _ = model(inputs, targets=changed)
    for j in range(4):  # type, beat, position, pitch: conditioned on fields before pitch
        assert torch.equal(a[j], b[j])
    assert not torch.equal(a[4][0, 5], b[4][0, 5])  # duration sees the pitch
    assert torch.equal(a[4][0, :5], b[4][0, :5])  # other events do not


# --------------------------------------------------------------------------- the loss
def _manual_nll(logits: list[torch.Tensor], targets: torch.Tensor, real: torch.Tensor) -> float:
    table = torch.tensor(DEFINED)
    total, events = 0.0, 0
    for b in range(targets.shape[0]):
        for t in range(targets.shape[1]):
            if not real[b, t]:
                continue
            events += 1
            for f in range(len(FIELDS)):
                if table[targets[b, t, 0], f]:
                    log_p = logits[f][b, t].log_softmax(dim=-1)
                    total -= float(log_p[targets[b, t, f]])
    return total / events


@pytest.mark.parametrize("cascade", [False, True])
def test_clean_loss_is_the_per_note_nll_of_defined_fields(cascade: bool) -> None:
    model = tiny(cascade=cascade)
    codes = song(2, 12)
    mask = torch.arange(12)[None, :] < torch.tensor([[12], [8]])
    with torch.no_grad():
        out = model.loss(codes, mask)
        logits, _ = model(codes[:, :-1], targets=codes[:, 1:])
    real = mask[:, 1:]
    assert float(out.loss) == pytest.approx(_manual_nll(logits, codes[:, 1:], real), rel=1e-5)
    assert float(out.nll_per_note) == pytest.approx(float(out.loss))
    assert int(out.n_events) == 11 + 7
    assert out.event_nll.shape == (2, 11)
    assert torch.all(out.event_nll[1, 7:] == 0)
    assert set(out.field_losses) == set(FIELDS)
    # lengths give the same answer as the mask
    assert torch.equal(model.loss(codes, torch.tensor([12, 8])).loss, out.loss)


def test_mmt_loss_is_the_sum_of_mean_field_cross_entropies_with_padding() -> None:
    model = tiny(clean_loss=False, cascade=False)
    codes = song(2, 12)
    codes[1, 8:] = 0  # padding, as MMT pads
    mask = torch.arange(12)[None, :] < torch.tensor([[12], [8]])
    with torch.no_grad():
        out = model.loss(codes, mask)
        logits, _ = model(codes[:, :-1])
    targets = codes[:, 1:]
    expected = sum(
        F.cross_entropy(logits[f].transpose(1, 2), targets[..., f]) for f in range(len(FIELDS))
    )
    assert float(out.loss) == pytest.approx(float(expected), rel=1e-6)
    # the reported per-note NLL stays clean, for comparison across models
    assert float(out.nll_per_note) == pytest.approx(
        _manual_nll(logits, targets, mask[:, 1:]), rel=1e-5
    )


@pytest.mark.parametrize("position", POSITIONS)
def test_padding_cannot_change_the_clean_loss(position: str) -> None:
    model = tiny(position=position, cascade=True)
    codes = song(2, 12)
    lengths = torch.tensor([12, 7])
    garbage = codes.clone()
    garbage[1, 7:] = song(1, 12, seed=5)[0, 7:]
    with torch.no_grad():
        a = model.loss(codes, lengths)
        b = model.loss(garbage, lengths)
        mmt = tiny(position=position, clean_loss=False)
        c, d = mmt.loss(codes, lengths), mmt.loss(garbage, lengths)
    assert torch.equal(a.loss, b.loss)
    assert torch.equal(a.event_nll, b.event_nll)
    for name in FIELDS:
        assert torch.equal(a.field_losses[name], b.field_losses[name])
    assert not torch.equal(c.loss, d.loss)  # MMT's loss does count the padding


def test_undefined_fields_are_not_supervised() -> None:
    codes = song(1, 12)
    codes[0, -1] = torch.tensor([1, 0, 0, 0, 0, 20])  # ends on an instrument row (a target only)
    other = codes.clone()
    other[0, -1, 3] = 77  # a pitch on an instrument row, where pitch is undefined
    with torch.no_grad():
        model = tiny(cascade=False)
        a, b = model.loss(codes), model.loss(other)
        no_table = MusicTransformer(preset("tiny", FIELDS, VOCAB, cascade=False)).eval()
        c, d = no_table.loss(codes), no_table.loss(other)
    assert torch.equal(a.loss, b.loss)
    assert torch.equal(a.field_losses["pitch"], b.field_losses["pitch"])
    assert not torch.equal(c.loss, d.loss)


def test_a_few_steps_on_a_fixed_batch_lower_the_loss() -> None:
    torch.manual_seed(0)
    model = MusicTransformer(
        preset("tiny", FIELDS, VOCAB, defined_fields=DEFINED, position="onset-rotary")
    ).train()
    codes = song(4, 16)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(20):
        loss = model.loss(codes).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0]


# ---------------------------------------------------------------------------- caching
@pytest.mark.parametrize(("position", "cascade"), MODES)
def test_cached_step_by_step_decoding_equals_the_full_forward(position: str, cascade: bool) -> None:
    model = tiny(position=position, cascade=cascade)
    codes = song(2, 14)
    inputs, targets = codes[:, :-1], codes[:, 1:]
    with torch.no_grad():
        full, _ = model(inputs, targets=targets)
        greedy, _ = model(inputs)
        h_full, _ = model.hidden(inputs)
        cache = model.new_cache(2, capacity=4)  # small: the buffers must grow
        prompt = 5
        steps = [model(inputs[:, :prompt], targets=targets[:, :prompt], kv_cache=cache)[0]]
        for t in range(prompt, inputs.shape[1]):
            steps.append(
                model(inputs[:, t : t + 1], targets=targets[:, t : t + 1], kv_cache=cache)[0]
            )
        cache = model.new_cache(2)
        hidden_steps = [model.hidden(inputs[:, t : t + 1], kv_cache=cache)[0] for t in range(13)]
        cache = model.new_cache(2)
        greedy_steps = [model(inputs[:, t : t + 1], kv_cache=cache)[0] for t in range(13)]
    assert cache.length == inputs.shape[1]
    for f in range(len(FIELDS)):
        stepped = torch.cat([s[f] for s in steps], dim=1)
        torch.testing.assert_close(stepped, full[f], atol=1e-5, rtol=0)
        torch.testing.assert_close(
            torch.cat([s[f] for s in greedy_steps], dim=1), greedy[f], atol=1e-5, rtol=0
        )
    torch.testing.assert_close(torch.cat(hidden_steps, dim=1), h_full, atol=1e-5, rtol=0)


@pytest.mark.parametrize(
    ("cascade", "order"), [(False, None), (True, None), (True, INSTRUMENT_FIRST)]
)
def test_field_logits_for_sampling_match_the_teacher_forced_logits(cascade, order) -> None:
    model = tiny(cascade=cascade, position="hybrid-rotary", field_order=order)
    codes = song(2, 10)
    inputs, targets = codes[:, :-1], codes[:, 1:]
    with torch.no_grad():
        logits, _ = model(inputs, targets=targets)
        h, _ = model.hidden(inputs)
        for j in range(len(FIELDS)):
            last = model.field_logits(h[:, -1], targets[:, -1], j)
            torch.testing.assert_close(last, logits[j][:, -1], atol=1e-6, rtol=0)
        # the sampler's way: the cascade input carried from field to field, in model order
        prefix = None
        for k, j in enumerate(model.config.order):
            carried = model.head_logits(h[:, -1], prefix, j)
            torch.testing.assert_close(carried, logits[j][:, -1], atol=1e-6, rtol=0)
            if k < len(FIELDS) - 1:  # the last field is no other field's input
                prefix = model.cascade_prefix(prefix, targets[:, -1, j], j)
        assert (prefix is None) == (not cascade)
        # the heads' module path (training) and functional path (inference) agree (no dropout)
        trained = model.train()(inputs, targets=targets)[0]
        for a, b in zip(trained, logits, strict=True):
            torch.testing.assert_close(a, b, atol=1e-6, rtol=0)


def test_left_padding_is_hidden_from_attention() -> None:
    # batched prompts of different lengths: pad on the left and mask the padding. Rotary
    # attention depends on index differences only, so real events see what they would see
    # without the padding.
    model = tiny(position="rotary")
    codes = song(1, 8)
    padded = torch.cat([song(1, 8, seed=9)[:, 5:], codes], dim=1)
    pad_mask = torch.ones(1, 11, dtype=torch.bool)
    pad_mask[0, :3] = False
    with torch.no_grad():
        h_alone, _ = model.hidden(codes)
        h_padded, att = model.hidden(padded, pad_mask=pad_mask, return_attention=True)
        cache = model.new_cache(1)
        h_prompt, _ = model.hidden(padded[:, :-1], pad_mask=pad_mask[:, :-1], kv_cache=cache)
        h_step, _ = model.hidden(padded[:, -1:], kv_cache=cache)
    assert torch.all(att[0][0, :, 3:, :3] == 0)
    assert torch.isfinite(h_padded).all()
    torch.testing.assert_close(h_padded[:, 3:], h_alone, atol=1e-5, rtol=0)
    torch.testing.assert_close(torch.cat([h_prompt, h_step], 1), h_padded, atol=1e-5, rtol=0)


# -------------------------------------------------------------------------- attention
@pytest.mark.parametrize("position", POSITIONS)
def test_returned_attention_is_causal_normalised_and_matches_sdpa(position: str) -> None:
    model = tiny(position=position)
    codes = song(2, 10)
    with torch.no_grad():
        plain, _ = model(codes)
        logits, _, attentions = model(codes, return_attention=True)
    assert len(attentions) == model.config.n_layer
    for weights in attentions:
        assert weights.shape == (2, model.config.n_head, 10, 10)
        torch.testing.assert_close(weights.sum(dim=-1), torch.ones(2, 2, 10))
        assert torch.all(weights.triu(diagonal=1) == 0)
    for a, b in zip(plain, logits, strict=True):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=0)


def test_cache_select_keeps_the_chosen_sequences() -> None:
    model = tiny(position="onset-rotary", cascade=True)
    codes = song(3, 10)
    with torch.no_grad():
        alone, _ = model(codes[2:, :-1])
        cache = model.new_cache(3)
        model(codes[:, :5], kv_cache=cache)
        cache.select(torch.tensor([False, False, True]))
        rest, _ = model(codes[2:, 5:-1], kv_cache=cache)
    assert cache.batch_size == 1
    torch.testing.assert_close(rest[1], alone[1][:, 5:], atol=1e-5, rtol=0)
    with pytest.raises(UsageError, match="cache holds 1"):
        model(codes[:, -1:], kv_cache=cache)


def test_runs_under_bf16_autocast() -> None:
    # CUDA is where bf16 is used; CPU autocast catches the same dtype mismatches
    model = tiny(position="hybrid-rotary", cascade=True).train()
    codes = song(2, 12)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model.loss(codes)
        out.loss.backward()
    assert torch.isfinite(out.loss.detach())
    model.eval()
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        cache = model.new_cache(2)
        for t in range(11):
            model(codes[:, t : t + 1], kv_cache=cache)
        _, _, attentions = model(codes[:, -1:], kv_cache=cache, return_attention=True)
    assert attentions[0].shape == (2, 2, 1, 12)


# ------------------------------------------------------------------- the range term
def test_the_range_term_teaches_the_pitch_head_an_instruments_range() -> None:
    from tuplet.model.transformer import RangeLoss

    model = tiny(cascade=True, field_order=INSTRUMENT_FIRST).train()
    codes = song(4, 40, seed=3)
    # every instrument plays pitch codes 40..80; the song's own notes are moved inside
    codes[:, 4:, 3] = 40 + codes[:, 4:, 3] % 41
    allowed = torch.zeros(VOCAB[5], VOCAB[3], dtype=torch.bool)
    allowed[:, 40:81] = True
    term = RangeLoss(allowed, note_type=3, weight=2.0)
    with torch.no_grad():
        plain, ranged = model.loss(codes), model.loss(codes, range_loss=term)
        h, _ = model.hidden(codes[:, :-1])
        log_p = model.all_field_logits(h, codes[:, 1:])[3].log_softmax(-1)
    # the reported NLL is the model's own; the objective adds the term, computed here by hand
    assert torch.equal(plain.nll_per_note, ranged.nll_per_note)
    notes = codes[:, 1:, 0] == 3
    outside = -log_p[..., 40:81].logsumexp(-1)[notes].mean()
    assert float(ranged.loss - plain.loss) == pytest.approx(2.0 * float(outside), rel=1e-4)
    # a note whose pitch lies outside its range is left out of the term
    one = codes[:, :6].clone()  # the header, one note (row 4), end-of-song
    one[:, 5] = 0
    one[:, 5, 0] = 4
    one[:, 4, 3] = 20
    with torch.no_grad():
        assert model.loss(one, range_loss=term).loss.item() == model.loss(one).loss.item()
        one[:, 4, 3] = 60
        assert model.loss(one, range_loss=term).loss.item() > model.loss(one).loss.item()
    # trained on the term alone, the pitch head moves its mass inside
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)

    def mass_inside() -> float:
        with torch.no_grad():
            h, _ = model.hidden(codes[:, :-1])
            p = model.all_field_logits(h, codes[:, 1:])[3].softmax(-1)
            return float(p[..., 40:81].sum(-1)[codes[:, 1:, 0] == 3].mean())

    before = mass_inside()
    heavy = term._replace(weight=50.0)  # the term all but alone in the objective
    for _ in range(12):
        opt.zero_grad()
        model.loss(codes, range_loss=heavy).loss.backward()
        opt.step()
    assert before < 0.5 < mass_inside()


def test_the_range_term_reads_the_pitch_or_the_instrument_head() -> None:
    from tuplet.model.transformer import RangeLoss

    model = tiny()
    allowed = torch.ones(VOCAB[5], VOCAB[3], dtype=torch.bool)
    allowed[1] = False
    allowed[1, 60:81] = True  # instrument 1 plays pitch codes 60..80 only
    allowed[3, 70] = False  # instrument 3 cannot play pitch code 70
    targets = torch.zeros(1, 1, len(FIELDS), dtype=torch.long)
    targets[0, 0, 0], targets[0, 0, 3], targets[0, 0, 5] = 3, 70, 1  # a note: pitch 70, instr 1
    real = torch.ones(1, 1, dtype=torch.bool)

    def logits(pitch_code: int, instrument_code: int) -> list[torch.Tensor]:
        out = [torch.zeros(1, 1, v) for v in VOCAB]
        out[3][0, 0, pitch_code] = 40.0  # nearly all the pitch head's mass on one code
        out[5][0, 0, instrument_code] = 40.0
        return out

    def term(head: str, pitch_code: int, instrument_code: int) -> float:
        r = RangeLoss(allowed, 3, 1.0, head)
        return float(model._range_term(logits(pitch_code, instrument_code), targets, real, r))

    # the pitch head: mass inside instrument 1's range or not; the instrument head ignored
    assert term("pitch", 65, 3) < 1e-6 and term("pitch", 30, 2) > 5.0
    # the instrument head: mass on an instrument that can play pitch 70 or not; pitch ignored
    assert term("instrument", 30, 2) < 1e-6 and term("instrument", 65, 3) > 5.0
    targets[0, 0, 3] = 40  # a note outside its own instrument's range is not counted
    assert term("instrument", 65, 3) == 0.0 and term("pitch", 30, 2) == 0.0


def test_the_ensemble_range_term_shares_the_instrument_head_among_the_piece_s_instruments() -> None:
    from tuplet.model.transformer import RangeLoss

    model = tiny()
    allowed = torch.ones(VOCAB[5], VOCAB[3], dtype=torch.bool)
    allowed[3, 70] = False  # instrument 3 cannot play pitch code 70; 1 and 2 can
    # the piece declares instruments 1 and 3 (instrument rows, type 1), then a note of 1
    targets = torch.zeros(1, 3, len(FIELDS), dtype=torch.long)
    targets[0, 0, 0], targets[0, 0, 5] = 1, 1
    targets[0, 1, 0], targets[0, 1, 5] = 1, 3
    targets[0, 2, 0], targets[0, 2, 3], targets[0, 2, 5] = 3, 70, 1
    real = torch.ones(1, 3, dtype=torch.bool)

    def term(head: str, weights: dict[int, float], rows: bool = True) -> float:
        out = [torch.zeros(1, 3, v) for v in VOCAB]
        for code, w in weights.items():
            out[5][0, 2, code] = w
        r = RangeLoss(allowed, 3, 1.0, head, instrument_type=1)
        mask = real if rows else torch.tensor([[False, False, True]])
        return float(model._range_term(out, targets, mask, r))

    # most of the head on instrument 2, not in the piece; of the rest, nearly all on 3
    spread = {2: 40.0, 3: 20.0}
    assert term("instrument", spread) < 1e-6  # 2 can play it: the plain term is content
    assert term("ensemble", spread) > 5.0  # among the piece's 1 and 3, the mass is on 3
    assert term("ensemble", {2: 40.0, 1: 20.0}) < 1e-6
    # evens between the piece's two: log 2, whatever the absent instruments get
    assert abs(term("ensemble", {2: 40.0}) - math.log(2)) < 1e-4
    # a window that lost its instrument rows still counts the note's own instrument: alone
    assert term("ensemble", spread, rows=False) < 1e-6
