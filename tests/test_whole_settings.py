"""scripts/whole_settings.py hands the chosen setting to ship-default.sh as command-line flags,
scripts/continuation_settings.py the continuation mode's knobs as a checkpoint states them: each
must give `tuplet generate` exactly the setting that was measured."""

from __future__ import annotations

import importlib.util
import shlex
from pathlib import Path

from tuplet.cli import build_parser
from tuplet.cli.generate import _settings
from tuplet.generation.settings import SamplingSettings, recommended

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"


def _script(name: str = "whole_settings"):
    spec = importlib.util.spec_from_file_location(name, SCRIPTS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_candidates_flags_give_generate_that_candidate() -> None:
    script = _script()
    # the case that once gave one option twice: a knob set globally and for some fields
    both = [
        n
        for n, k in script.CANDIDATES.items()
        if any(knob in k for own in k.get("per_field", {}).values() for knob in own)
    ]
    assert "top-k 20%, position all" in both
    for name, knobs in script.CANDIDATES.items():
        flags = shlex.split(script.flags(knobs))
        # each option once: a knob set for some fields carries its value for the rest
        options = [f for f in flags if f.startswith("--")]
        assert len(options) == len(set(options)), (name, flags)
        args = build_parser().parse_args(["generate", *flags])
        assert _settings(args) == SamplingSettings.from_dict(knobs), (name, flags)


def test_the_continuation_knobs_shipped_give_the_setting_measured() -> None:
    script = _script("continuation_settings")
    shipped = {"top_k_frac": 0.2, "per_field": {"position": {"top_k_frac": 0.5}}}
    base = SamplingSettings.from_dict(shipped)
    for name, own in script.CANDIDATES.items():
        knobs = {k: v for k, v in own.items() if k != "per_field"}
        measured = base.updated(knobs, own.get("per_field", {}))
        choice = {**own, "chosen_on": "valid continuations"}
        sampling = {**shipped, "modes": {"continuation": choice}}
        assert recommended(sampling, "continuation") == measured, name
        assert recommended(sampling, "unconditional") == base, name
    # the score: each figure over another piece's, averaged
    diff = {"model": {"pitch_class_entropy": 0.1, "scale_consistency": 0.03},
            "another piece": {"pitch_class_entropy": 0.2, "scale_consistency": 0.04}}  # fmt: skip
    assert script.score({"mean_abs_diff": diff}) == (0.5 + 0.75) / 2
