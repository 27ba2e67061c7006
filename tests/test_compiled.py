"""The static-cache decoding step (tuplet.model.compiled): the same hidden states and the same
sampled codes as the eager path, every rule kept, int8 weights, the fallback where nothing can
be compiled, and the compiled graph itself where a C++ compiler exists."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tuplet.encoding import get_encoding
from tuplet.errors import UsageError
from tuplet.generation import sample
from tuplet.generation.constraints import check_sequence
from tuplet.generation.rules import Constraints, Limits
from tuplet.generation.sample import SamplingSettings, sample_codes
from tuplet.model import compiled
from tuplet.model.compiled import compile_step, compile_unavailable
from tuplet.model.quantize import halve_products, quantize_int8
from tuplet.model.static import StaticDecoder
from tuplet.model.transformer import MusicTransformer, field_order, preset


def make_model(name: str = "mmt", **overrides: object) -> tuple:
    enc = get_encoding(name, max_beat=32)
    torch.manual_seed(0)
    config = preset(
        "tiny",
        enc.fields,
        enc.vocab_sizes,
        max_seq_len=96,
        defined_fields=tuple(map(tuple, enc.defined_fields.tolist())),
        **overrides,
    )
    model = MusicTransformer(config).eval()
    with torch.no_grad():  # a slow walk through the beats: sequences run to their limits
        beat = model.heads[enc.field_index("beat")]
        beat.bias -= 2.0 * torch.arange(beat.bias.numel())
    return model, enc


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models decode fastest on one


def header(enc, *instruments: int) -> np.ndarray:
    rows = np.zeros((len(instruments) + 2, len(enc.fields)), dtype=np.int64)
    rows[1:-1, 0] = enc.type_codes["instrument"]
    rows[1:-1, enc.field_index("instrument")] = instruments
    rows[-1, 0] = enc.type_codes["start-of-notes"]
    return rows


def draw(model, enc, decoder: str, n: int = 3, seed: int = 1, **kwargs) -> list[np.ndarray]:
    g = torch.Generator().manual_seed(seed)
    return sample_codes(
        model, enc, header(enc, 1, 25, 41), n=n, generator=g, decoder=decoder, **kwargs
    )


@pytest.mark.parametrize(
    "overrides",
    [
        {"position": "absolute", "cascade": False},
        {"position": "absolute", "cascade": True},
        {"position": "rotary"},
        {"position": "hybrid-rotary"},
        {"position": "onset-rotary"},
    ],
)
def test_the_static_cache_step_gives_the_hidden_states_of_the_eager_cache(overrides) -> None:
    model, enc = make_model(**overrides)
    rng = np.random.default_rng(0)
    codes = torch.as_tensor(rng.integers(0, 5, size=(2, 24, len(enc.fields))))
    codes[..., enc.field_index("beat")] = torch.arange(24) // 3 + 1  # onsets that move on
    static = StaticDecoder(model, batch_size=2, capacity=40)
    with torch.inference_mode():
        cache = model.new_cache(2, capacity=40)
        model.hidden(codes[:, :4], kv_cache=cache)
        static.load(cache)
        for t in range(4, 24):
            want = model.hidden(codes[:, t : t + 1], kv_cache=cache)[0][:, -1]
            got = static.hidden(codes[:, t : t + 1], static.position())
            static.length += 1
            torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("name", ["mmt", "tuplet"])
@pytest.mark.parametrize(
    ("cascade", "order"), [(False, "columns"), (True, "columns"), (True, "instrument-first")]
)
def test_the_static_step_samples_the_eager_codes_and_keeps_every_rule(name, cascade, order) -> None:
    enc = get_encoding(name, max_beat=32)
    fields = field_order(order, enc.fields)
    model, enc = make_model(name, cascade=cascade, position="hybrid-rotary", field_order=fields)
    for limits in (Limits(max_events=80, min_notes=40), Limits(max_events=80, max_beats=6)):
        eager = draw(model, enc, "eager", n=4, limits=limits)
        static = draw(model, enc, "static", n=4, limits=limits)
        assert [len(x) for x in static] == [len(x) for x in eager]
        assert all(np.array_equal(a, b) for a, b in zip(eager, static, strict=True))
        for seq in static:
            assert check_sequence(seq, enc, prompt_length=5, max_beats=limits.max_beats) == []
    lengths = [len(x) for x in draw(model, enc, "static", n=4, limits=Limits(max_events=80))]
    assert len(set(lengths)) > 1  # sequences ended at different steps and were cut right


def test_settings_and_constraints_give_the_same_codes_on_both_paths() -> None:
    model, enc = make_model("tuplet")
    kwargs = {
        "settings": SamplingSettings(
            temperature=1.3, top_p=0.9, min_p=0.05, per_field={"pitch": {"top_k": 5}}
        ),
        "constraints": Constraints(instruments=(25,), disabled=frozenset({"range", "gap"})),
        "limits": Limits(max_events=60, max_notes=20, max_gap_beats=2),
    }
    for seed in (0, 1):
        eager = draw(model, enc, "eager", seed=seed, **kwargs)
        static = draw(model, enc, "static", seed=seed, **kwargs)
        assert all(np.array_equal(a, b) for a, b in zip(eager, static, strict=True))


def test_int8_weights_are_applied_weight_only_with_their_scales() -> None:
    model, enc = make_model()
    int8 = quantize_int8(model)
    # the same weights, rounded to int8 and scaled back, in an ordinary float model
    rounded = MusicTransformer(model.config).eval()
    rounded.load_state_dict(model.state_dict())
    for block, q in zip(rounded.blocks, int8.blocks, strict=True):
        for name in ("qkv", "out"):
            w = getattr(q.attn, name).weight().dequantize()
            getattr(block.attn, name).weight.data.copy_(w)
        for name in ("ff_in", "ff_out"):
            getattr(block, name).weight.data.copy_(getattr(q, name).weight().dequantize())
    codes = torch.randint(0, 5, (1, 12, len(enc.fields)))
    static = StaticDecoder(int8, batch_size=1, capacity=16)
    with torch.inference_mode():
        want = rounded.hidden(codes)[0][:, -1]
        for t in range(12):
            got = static.hidden(codes[:, t : t + 1], static.position())
            static.length += 1
    torch.testing.assert_close(got, want, atol=1e-4, rtol=1e-4)
    outs = draw(int8, enc, "static", n=2, limits=Limits(max_events=48))
    assert all(check_sequence(seq, enc, prompt_length=5) == [] for seq in outs)


def test_without_a_compiler_the_step_runs_eagerly_with_one_note(monkeypatch) -> None:
    model, enc = make_model()
    monkeypatch.setattr(compiled, "compile_unavailable", lambda device: "no C++ compiler (x)")
    notes: list[str] = []
    limits = Limits(max_events=40)
    outs = draw(model, enc, "compiled", limits=limits, note=notes.append)
    assert notes == ["tuplet: no C++ compiler (x); decoding without compiling"]
    eager = draw(model, enc, "eager", limits=limits)
    assert all(np.array_equal(a, b) for a, b in zip(eager, outs, strict=True))


def test_a_failing_compiler_falls_back_to_the_eager_function(monkeypatch) -> None:
    def broken(fn, **kwargs):
        def call(*args, **kw):
            raise RuntimeError("the C++ compiler crashed")

        return call

    monkeypatch.setattr(compiled, "compile_unavailable", lambda device: None)
    monkeypatch.setattr(torch, "compile", broken)
    notes: list[str] = []
    step = compile_step(lambda x: x + 1, torch.device("cpu"), notes.append)
    assert step(1) == 2 and step(2) == 3
    assert notes[-1] == "tuplet: compiling failed (RuntimeError); decoding without compiling"
    assert len(notes) == 2  # the note before compiling, then the failure; nothing per call


def test_cuda_steps_are_captured_in_cuda_graphs_cpu_steps_are_not() -> None:
    assert compiled.compile_options(torch.device("cuda")) == {"mode": "reduce-overhead"}
    cpu = compiled.compile_options(torch.device("cpu"))
    assert cpu == {"options": {"cpp_wrapper": True, "realize_opcount_threshold": 4}}


def test_windows_of_the_static_cache_give_the_same_codes(monkeypatch) -> None:
    # windows of 8, 16, 32, 64 and the whole 96 positions, as a long piece goes on
    monkeypatch.setattr(sample, "WINDOW_MIN", 8)
    model, enc = make_model("mmt", position="hybrid-rotary")
    widths: list[int] = []
    window = StaticDecoder.window

    def spy(self, capacity):
        widths.append(window(self, capacity).capacity)
        return window(self, capacity)

    monkeypatch.setattr(StaticDecoder, "window", spy)
    limits = Limits(max_events=96, min_notes=1000)  # no ending before the limit
    outs = draw(model, enc, "static", n=2, limits=limits)
    eager = draw(model, enc, "eager", n=2, limits=limits)
    assert all(np.array_equal(a, b) for a, b in zip(eager, outs, strict=True))
    assert max(len(o) for o in outs) > 64  # the run reached the whole cache
    assert sorted(set(widths)) == [8, 16, 32, 64, 96]


def test_bad_decoder_names_and_uncached_static_runs_are_refused() -> None:
    model, enc = make_model()
    with pytest.raises(UsageError, match="unknown decoder"):
        draw(model, enc, "fast")
    with pytest.raises(UsageError, match="needs the KV cache"):
        draw(model, enc, "static", use_cache=False)


@pytest.mark.slow  # compiling twice: a minute or so
@pytest.mark.skipif(
    compile_unavailable(torch.device("cpu")) is not None,
    reason=f"torch.compile cannot run here: {compile_unavailable(torch.device('cpu'))}",
)
def test_the_compiled_step_samples_the_eager_codes(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path))  # not the user's cache
    monkeypatch.setattr(sample, "WINDOW_MIN", 64)  # a window of 64 of the 96 cached positions
    model, enc = make_model("mmt", position="hybrid-rotary")
    limits = Limits(max_events=64, max_beats=12)
    notes: list[str] = []
    eager = draw(model, enc, "eager", n=2, limits=limits)
    built = draw(model, enc, "compiled", n=2, limits=limits, note=notes.append)
    assert all(np.array_equal(a, b) for a, b in zip(eager, built, strict=True))
    assert "failed" not in " ".join(notes)
    assert notes[0].startswith("tuplet: compiling the decoding step ahead of time")
    assert len(list((tmp_path / "aot").glob("step-*.pt2"))) == 1
    # a second call (a new process: nothing loaded) loads the package from disk; nothing is
    # compiled again, though it asks for another length (limits are inputs of the step)
    monkeypatch.setattr(compiled, "_LOADED", {})
    notes.clear()
    limits = Limits(max_events=64, max_beats=6, min_notes=3)
    again = draw(model, enc, "compiled", n=2, seed=2, limits=limits, note=notes.append)
    eager = draw(model, enc, "eager", n=2, seed=2, limits=limits)
    assert all(np.array_equal(a, b) for a, b in zip(eager, again, strict=True))
    assert notes == []
    # a damaged package is compiled again, once, and says so
    for package in (tmp_path / "aot").glob("step-*.pt2"):
        package.write_bytes(package.read_bytes()[:1000])
    monkeypatch.setattr(compiled, "_LOADED", {})
    mended = draw(model, enc, "compiled", n=2, seed=2, limits=limits, note=notes.append)
    assert all(np.array_equal(a, b) for a, b in zip(eager, mended, strict=True))
    assert any("could not be loaded; compiling it again" in line for line in notes)


@pytest.mark.slow  # compiling: half a minute or so
@pytest.mark.skipif(
    compile_unavailable(torch.device("cpu")) is not None,
    reason=f"torch.compile cannot run here: {compile_unavailable(torch.device('cpu'))}",
)
def test_int8_weights_compile_ahead_of_time_too(tmp_path, monkeypatch) -> None:
    # quantized layers cannot be exported as modules: their int8 weights are read out of them
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path))
    model, enc = make_model("mmt", position="hybrid-rotary")
    int8 = quantize_int8(model)
    limits = Limits(max_events=48)
    notes: list[str] = []
    static = draw(int8, enc, "static", n=2, limits=limits)
    built = draw(int8, enc, "compiled", n=2, limits=limits, note=notes.append)
    assert all(np.array_equal(a, b) for a, b in zip(static, built, strict=True))
    assert "failed" not in " ".join(notes) and list((tmp_path / "aot").glob("step-*.pt2"))
    assert all(check_sequence(seq, enc, prompt_length=5) == [] for seq in built)


@pytest.mark.slow  # compiling: half a minute or so
@pytest.mark.skipif(
    compile_unavailable(torch.device("cpu")) is not None,
    reason=f"torch.compile cannot run here: {compile_unavailable(torch.device('cpu'))}",
)
def test_bfloat16_weights_compile_frozen_and_sample_as_the_static_path(
    tmp_path, monkeypatch
) -> None:
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path))
    model, enc = make_model("mmt", position="hybrid-rotary")
    half = halve_products(model, "bfloat16")
    assert compiled.aot_options(half)[0]["freezing"] is True  # packed once for bf16 products
    assert all("freezing" not in o for o in compiled.aot_options(make_model()[0]))
    limits = Limits(max_events=40)
    notes: list[str] = []
    static, built, other = [], [], []
    for seed in range(40):  # bf16 rounds in another order: not always the same draws
        static += draw(half, enc, "static", n=2, seed=seed, limits=limits)
        built += draw(half, enc, "compiled", n=2, seed=seed, limits=limits, note=notes.append)
        other += draw(half, enc, "static", n=2, seed=1000 + seed, limits=limits)
    assert "failed" not in " ".join(notes) and len(list((tmp_path / "aot").glob("*.pt2"))) == 1
    assert all(check_sequence(seq, enc, prompt_length=5) == [] for seq in built)
    same = sum(np.array_equal(a, b) for a, b in zip(static, built, strict=True))
    assert same >= 0.1 * len(built)  # half of them here; rounding differs between CPUs

    def distance(x: list[np.ndarray], y: list[np.ndarray], f: int) -> float:
        """Total variation between the codes of field f that x and y drew."""
        a, b = (np.bincount(np.concatenate([s[5:, f] for s in z]), minlength=256) for z in (x, y))
        return 0.5 * float(np.abs(a / a.sum() - b / b.sum()).sum())

    # the same distribution of codes, field by field: static and compiled draws differ no more
    # than two sets of static draws with other seeds do (here about half as much)
    for f in range(len(enc.fields)):
        assert distance(static, built, f) <= 1.5 * distance(static, other, f) + 0.02


def test_the_weights_digest_follows_the_weights() -> None:
    model, _ = make_model()
    first = compiled.weights_digest(model)
    assert compiled.weights_digest(model) == first  # kept
    twin, _ = make_model()
    assert compiled.weights_digest(twin) == first  # the same weights, another model
    with torch.no_grad():
        next(model.parameters())[0, 0] += 1.0  # written in place: recomputed
    assert compiled.weights_digest(model) != first
    assert compiled.weights_digest(quantize_int8(twin)) != first  # int8 weights differ
    with torch.inference_mode():  # inference tensors keep no version counter: hashed each time
        made_in_inference, _ = make_model()
    assert compiled.weights_digest(made_in_inference) == compiled.weights_digest(twin)


def test_the_code_digest_follows_the_step_s_source(tmp_path, monkeypatch) -> None:
    """A package traced from other code (an upgrade, an edit) is never loaded for this code."""
    (tmp_path / "stepcode.py").write_text("def step(x):\n    return x + 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(compiled, "STEP_MODULES", ("stepcode",))
    compiled.code_digest.cache_clear()
    first = compiled.code_digest()
    (tmp_path / "stepcode.py").write_text("def step(x):\n    return x + 2\n")
    compiled.code_digest.cache_clear()
    assert compiled.code_digest() != first
    monkeypatch.undo()
    compiled.code_digest.cache_clear()
    assert compiled.code_digest() not in (first, "")


def state_and_decoder(enc, model, **limits: int) -> tuple:
    from tuplet.generation.constraints import MaskState, read_prompt

    info = read_prompt(header(enc, 1, 25), enc)
    state = MaskState(enc, info, 2, Constraints(), Limits(**limits), "cpu")
    return state, StaticDecoder(model, 2, 96)


def test_leaves_carry_the_tensors_and_name_everything_baked_in() -> None:
    model, enc = make_model()

    def holders(st, dec) -> list:
        return [(st, None), (st.g, None), (dec, ("keys", "values"))]

    a = compiled.Leaves(holders(*state_and_decoder(enc, model)))
    b = compiled.Leaves(holders(*state_and_decoder(enc, model)))
    c = compiled.Leaves(holders(*state_and_decoder(enc, model, max_beats=8)))
    d = compiled.Leaves(holders(*state_and_decoder(enc, model, max_beats=16, min_notes=4)))
    # whether a limit exists is baked in; its value is an input (one step for every length)
    assert a.signature() == b.signature() != c.signature() == d.signature()
    assert "max_beats=None" in a.signature()
    # the cache's layers are one leaf each; values() and assign() go round
    keys = [i for i, (_, name, _) in enumerate(a.slots) if name == "keys"]
    assert len(keys) == model.config.n_layer
    values = a.values()
    fresh = [v.clone() + 1 if v.dtype.is_floating_point else v.clone() for v in values]
    a.assign(fresh)
    assert all(x is y for x, y in zip(a.values(), fresh, strict=True))
    a.assign([values[keys[1]]], [keys[1]])
    assert a.values()[keys[1]] is values[keys[1]] and a.values()[keys[0]] is fresh[keys[0]]

    class Opaque:
        def __init__(self) -> None:
            self.thing = object()

    with pytest.raises(ValueError, match=r"cannot bake Opaque\.thing"):
        compiled.Leaves([(Opaque(), None)])

    class Nested:
        def __init__(self) -> None:
            self.pair = {"scale": torch.ones(3)}  # a tensor not given as a leaf

    with pytest.raises(ValueError, match=r"cannot bake Nested\.pair"):
        compiled.Leaves([(Nested(), None)])


def test_a_failed_ahead_of_time_compile_leaves_nothing_and_falls_back(
    tmp_path, monkeypatch
) -> None:
    import torch._inductor

    def crashing(program, package_path, inductor_configs):
        with open(package_path, "wb") as f:
            f.write(b"half a package")
        raise RuntimeError("the C++ compiler crashed")

    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(compiled, "compile_unavailable", lambda device: None)
    monkeypatch.setattr(torch._inductor, "aoti_compile_and_package", crashing)
    monkeypatch.setattr(torch, "compile", lambda fn, **kw: fn)  # then compiling as it runs: eager
    model, enc = make_model()
    notes: list[str] = []
    limits = Limits(max_events=40)
    outs = draw(model, enc, "compiled", limits=limits, note=notes.append)
    eager = draw(model, enc, "eager", limits=limits)
    assert all(np.array_equal(a, b) for a, b in zip(eager, outs, strict=True))
    assert any(
        line.startswith("tuplet: compiling ahead of time failed (RuntimeError") for line in notes
    )
    assert list((tmp_path / "aot").iterdir()) == []  # no package, no half-written file


def test_generate_compile_writes_what_the_eager_run_writes(tmp_path, capsys, monkeypatch) -> None:
    from test_generate_cli import FAST, save_tiny
    from tuplet.cli import main

    model = save_tiny(tmp_path / "model", "tuplet", 64)
    monkeypatch.setattr(compiled, "compile_unavailable", lambda device: "no C++ compiler (x)")

    def run(out: str, *args: str) -> bytes:
        argv = ["generate", "--model", str(model), "--out", str(tmp_path / out), *FAST]
        assert main([*argv, "--seed", "3", "--n", "3", *args]) == 0
        return b"".join((tmp_path / out / f"sample-{i:02d}.mid").read_bytes() for i in (1, 2, 3))

    assert run("a", "--compile") == run("b")
    assert "tuplet: no C++ compiler (x); decoding without compiling" in capsys.readouterr().err
