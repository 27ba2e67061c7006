"""Every reader, fed mutated real files: it reads them or refuses in one line naming the file.

A small fixed-seed share of the campaign in scripts/fuzz_readers.py (the same Hypothesis
strategies; docs/reliability.md has the 10,000-case runs). Cases run in this process, so a
hang would show as a slow test rather than be cut at a deadline: the campaign has the
deadlines and the memory limit.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, given, settings

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "fuzz_readers.py"
spec = importlib.util.spec_from_file_location("fuzz_readers", SCRIPT)
assert spec is not None and spec.loader is not None
fuzz = importlib.util.module_from_spec(spec)
sys.modules["fuzz_readers"] = fuzz
spec.loader.exec_module(fuzz)

# cases per target: cheap readers get more
CASES = {"midi": 60, "midi-synth": 40, "musicxml": 6, "kern": 6, "abc": 4, "dataset": 10,
         "checkpoint": 12, "codes": 12}  # fmt: skip


@pytest.fixture(scope="module")
def seeds(tmp_path_factory, one_thread):
    return fuzz.make_seeds(tmp_path_factory.mktemp("seeds"))


@pytest.mark.parametrize("target", list(CASES))
def test_a_reader_reads_a_mutated_file_or_refuses_in_one_line_naming_it(
    target, seeds, tmp_path
):
    source = seeds["dataset"][0].parent / "dataset-src" if target == "dataset" else None
    outcomes = []

    @settings(max_examples=CASES[target], derandomize=True, database=None, deadline=None,
              phases=[Phase.generate], suppress_health_check=list(HealthCheck))  # fmt: skip
    @given(case=fuzz.case_strategy(target, seeds, max_repeat=8))
    def one(case):
        path = fuzz.write_case(target, case, seeds, tmp_path / "case")
        error = None
        try:
            fuzz.read_case(target, path, source)
        except Exception as exc:
            error = exc
        outcome, detail = fuzz.judge(target, path, error)
        assert outcome in ("ok", "refused"), f"{case!r}: {outcome}: {detail}"
        outcomes.append(outcome)

    one()
    assert len(outcomes) == CASES[target]
    if target not in ("kern", "abc", "dataset"):  # these readers forgive most mutations
        assert "refused" in outcomes  # the mutations do reach the readers' checks


def test_the_judge_tells_a_good_refusal_from_a_bad_one(tmp_path):
    from tuplet.errors import BadFileError, UsageError

    path = tmp_path / "piece.mid"
    assert fuzz.judge("midi", path, None) == ("ok", "")
    assert fuzz.judge("midi", path, BadFileError(path, "no notes"))[0] == "refused"
    assert fuzz.judge("midi", path, UsageError("something is wrong"))[0] == "bad-message"
    assert fuzz.judge("midi", path, UsageError(f"{path}: one\ntwo"))[0] == "bad-message"
    assert fuzz.judge("midi", path, KeyError("tracks"))[0] == "uncaught"


def test_mutations_change_files_as_documented():
    data = bytes(range(20))
    assert fuzz.apply_byte_op(data, ("truncate", 0.5)) == data[:10]
    assert fuzz.apply_byte_op(data, ("flip", 0.0, 0))[0] == 1
    repeated = data[:10] + data[10:12] * 3 + data[10:]
    assert fuzz.apply_byte_op(data, ("repeat", 0.5, 2, 3)) == repeated
    midi = b"MThd" + (6).to_bytes(4, "big") + b"\0\1\0\1\1\xe0" + b"MTrk\0\0\0\4\0\xff\x2f\0"
    assert fuzz.apply_midi_op(midi, ("chunk_length", 0.99, 0xFFFFFFFF))[18:22] == b"\xff" * 4
    assert fuzz.apply_midi_op(midi, ("ntracks", 1000))[10:12] == (1000).to_bytes(2, "big")
    text = b"<duration>4</duration>\n<divisions>8</divisions>\n"
    assert fuzz.apply_text_op(text, ("number", 0.9, "0")) == text.replace(b">8<", b">0<")
    assert fuzz.apply_text_op(text, ("line_repeat", 0.0, 3)).count(b"duration") == 6
