"""scripts/whole_settings.py hands the chosen setting to ship-default.sh as command-line flags:
those flags must give `tuplet generate` exactly the setting that was measured."""

from __future__ import annotations

import importlib.util
import shlex
from pathlib import Path

from tuplet.cli import build_parser
from tuplet.cli.generate import _settings
from tuplet.generation.settings import SamplingSettings

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "whole_settings.py"


def _script():
    spec = importlib.util.spec_from_file_location("whole_settings", SCRIPT)
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
