"""The training gate on rights: real small datasets, tiny models, a few steps each."""

import json
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from test_train import TINY
from tuplet.cli import main
from tuplet.corpus import prepare
from tuplet.corpus.store import read_jsonl
from tuplet.errors import RightsGateError, UsageError
from tuplet.responsibility.card import model_card_text
from tuplet.responsibility.gate import check_rights
from tuplet.training.train import train

DATA = Path(__file__).parent / "data"
MIDI = ("bwv66.6.mid", "bwv84.5.mid", "lascia_chio_pianga.mid", "multitrack_drums.mid")
FAST = replace(TINY, steps=2, decay_steps=2, warmup_steps=1, valid_every=2, valid_batches=1,
               batch_size=2, max_seq_len=64, max_beat=32)  # fmt: skip


def _prepare(tmp_path, name="ds", files=MIDI, **options):
    """A dataset of copies of the fixtures ``files`` in a folder of its own."""
    src = tmp_path / f"{name}-src"
    src.mkdir()
    for file in files:
        shutil.copyfile(DATA / file, src / file)
    prepare([src], tmp_path / name, jobs=1, progress=False, filters=None, **options)
    return tmp_path / name


def _learned_from(dataset):
    """The items of the train and valid splits (a folder's item is its file's absolute path)."""
    entries = read_jsonl(dataset / "index.jsonl")
    return [e["item"] for e in entries if e["split"] in ("train", "valid")]


def _gate(run, which):
    return json.loads((run / which / "config.json").read_text())["extra"]["rights_gate"]


def test_unknown_rights_are_refused_before_anything_is_built(tmp_path):
    ds = _prepare(tmp_path)
    items = _learned_from(ds)
    n = len(items)
    assert n >= 2
    with pytest.raises(RightsGateError) as exc:
        train(ds, tmp_path / "run", FAST, progress=False)
    message = str(exc.value)
    assert "\n" not in message
    assert f"{n} of {n} items of the train and valid splits" in message
    assert f"for research use ({n} unknown rights basis; first: {items[0]}, " in message
    assert "--allow-unverified --reason TEXT" in message
    assert exc.value.details[0].split() == ["unknown", "rights", "basis", str(n)]
    assert not (tmp_path / "run").exists()  # refused before anything was written


def test_the_cli_prints_one_line_and_a_count_table_and_takes_the_override(tmp_path, capsys):
    ds = _prepare(tmp_path)
    n = len(_learned_from(ds))
    args = ["train", str(ds), "--out", str(tmp_path / "run"), "--preset", "tiny"]
    args += ["--steps", "2", "--batch-size", "2", "--max-seq-len", "64", "--max-beat", "32"]
    args += ["--valid-every", "2", "--valid-batches", "1", "--quiet"]
    assert main(args) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith(f"tuplet: error: {ds}: {n} of {n} items")
    assert [line.split() for line in err[1:]] == [
        ["unknown", "rights", "basis", str(n)],
        ["items", "failing", "(of", str(n), "checked)", str(n)],
    ]
    assert main([*args, "--allow-unverified"]) == 1
    assert "--allow-unverified needs --reason" in capsys.readouterr().err
    given = ["--use", "personal", "--allow-unverified", "--reason", "trying tuplet out"]
    assert main([*args, *given]) == 0
    gate = _gate(tmp_path / "run", "last")
    assert (gate["outcome"], gate["use"], gate["reason"]) == (
        "unverified",
        "personal",
        "trying tuplet out",
    )


def test_commercial_use_is_refused_for_non_commercial_data_and_research_passes(tmp_path):
    manifest = tmp_path / "rights.json"
    licence = {"basis": "open_license", "spdx": "CC-BY-NC-4.0", "holder": "Jane Roe"}
    manifest.write_text(json.dumps(licence))
    ds = _prepare(tmp_path, manifest=manifest)
    n = len(_learned_from(ds))
    # the licence's SPDX id says non-commercial; no flag needs to repeat it
    with pytest.raises(RightsGateError, match=rf"for commercial use \({n} non-commercial terms;"):
        train(ds, tmp_path / "run", FAST, progress=False, use="commercial")
    assert check_rights(ds, "personal").passed
    train(ds, tmp_path / "run", FAST, progress=False)  # research, the default
    for which in ("last", "best"):
        assert _gate(tmp_path / "run", which) == {
            "outcome": "passed",
            "use": "research",
            "dataset": str(ds),
            "checked": n,
        }


def test_a_source_file_changed_or_gone_since_prepare_is_refused(tmp_path):
    ds = _prepare(tmp_path, rights="owned", holder="Jane Roe")
    items = _learned_from(ds)
    assert check_rights(ds, "commercial").passed
    changed = Path(items[0])
    changed.write_bytes(changed.read_bytes() + b"\0")
    with pytest.raises(RightsGateError, match="1 source file changed since prepare") as exc:
        train(ds, tmp_path / "run", FAST, progress=False)
    assert f"1 of {len(items)} items" in str(exc.value) and str(changed) in str(exc.value)
    assert "prepare again to read the changed or missing files" in str(exc.value)
    Path(items[1]).unlink()
    found = check_rights(ds)
    assert found.items == {items[0]: ("file_changed",), items[1]: ("file_unverifiable",)}
    assert "source file missing (its hash cannot be verified)" in "\n".join(found.table())


def test_the_override_is_recorded_in_every_save_the_card_and_on_resume(tmp_path):
    ds = _prepare(tmp_path)
    items = _learned_from(ds)
    n = len(items)
    run = tmp_path / "run"
    with pytest.raises(UsageError, match="needs --reason"):
        train(ds, run, FAST, progress=False, allow_unverified=True)
    reason = "sketches from a friend; written permission being arranged"
    train(ds, run, FAST, progress=False, allow_unverified=True, reason=reason)
    expected = {
        "outcome": "unverified",
        "use": "research",
        "reason": reason,
        "dataset": str(ds),
        "checked": n,
        "failing": n,
        "counts": {"unknown_basis": n},
        "items": {item: ["unknown_basis"] for item in items},
    }
    for which in ("last", "best"):
        assert _gate(run, which) == expected
    card = model_card_text(run / "best", ds)
    assert "## Rights gate" in card
    assert (
        f"- this model's training data: went on unverified for research use: {n} of {n} items "
        f'failed ({n} unknown rights basis), and training went on for this reason: "{reason}"'
    ) in card
    assert f"| unknown rights basis | {n} |" in card and f"`{items[0]}`" in card
    assert "This model makes no licensed-data claim" in card
    # a resumed run keeps its use and its reason, without being told them again
    with pytest.raises(UsageError, match="keeps its use"):
        train(ds, run, FAST, resume=True, progress=False, use="commercial")
    with pytest.raises(UsageError, match="keeps its reason"):
        train(ds, run, FAST, resume=True, progress=False, allow_unverified=True, reason="other")
    assert train(ds, run, FAST, resume=True, progress=False, extend_to=4).steps == 4
    assert _gate(run, "last") == expected


def test_resume_checks_the_gate_again(tmp_path):
    ds = _prepare(tmp_path, rights="owned", holder="Jane Roe")
    run = tmp_path / "run"
    assert train(ds, run, FAST, progress=False, stop_after=1).stopped == "interrupted"
    assert _gate(run, "last")["outcome"] == "passed"
    item = _learned_from(ds)[0]
    Path(item).write_bytes(Path(item).read_bytes() + b"\0")
    with pytest.raises(RightsGateError, match="1 source file changed since prepare"):
        train(ds, run, FAST, resume=True, progress=False)
    reason = "the file was re-exported; the notes are the same"
    train(ds, run, FAST, resume=True, progress=False, allow_unverified=True, reason=reason)
    gate = _gate(run, "last")
    assert (gate["outcome"], gate["reason"]) == ("unverified", reason)
    assert gate["items"] == {item: ["file_changed"]}


def test_owned_data_passes_and_a_fine_tuned_card_shows_its_base_gate(tmp_path):
    owned = _prepare(tmp_path, "owned", rights="owned", holder="Jane Roe")
    n = len(_learned_from(owned))
    train(owned, tmp_path / "mine", FAST, progress=False)
    assert _gate(tmp_path / "mine", "best")["outcome"] == "passed"
    card = model_card_text(tmp_path / "mine" / "best", owned)
    assert f"- this model's training data: passed for research use: all {n} items" in card
    assert "For research use, every item this model learned from" in card
    assert "no licensed-data claim" not in card
    # fine-tuned on owned data from a base that went on unverified: both outcomes, no claim
    unknown = _prepare(tmp_path, "unknown")
    reason = "test files of unknown rights"
    train(unknown, tmp_path / "base", FAST, progress=False, allow_unverified=True, reason=reason)
    base_best = tmp_path / "base" / "best"
    train(owned, tmp_path / "ft", FAST, from_checkpoint=base_best, progress=False)
    for which in ("last", "best"):
        extra = json.loads((tmp_path / "ft" / which / "config.json").read_text())["extra"]
        assert extra["rights_gate"]["outcome"] == "passed"
        assert extra["base"]["rights_gate"] == _gate(tmp_path / "base", "best")
    card = model_card_text(tmp_path / "ft" / "best", owned)
    assert "- this model's training data: passed for research use" in card
    assert "- the model it was fine-tuned from: went on unverified for research use" in card
    assert f'"{reason}"' in card and "This model makes no licensed-data claim" in card


def test_a_rights_reservation_blocks_unless_it_is_the_declared_holders_own(tmp_path):
    # the kern file's notice: "Copyright 1994, Center for Computer Assisted Research in the
    # Humanities Rights to all derivative electronic formats reserved."
    whole = (1.0, 0.0, 0.0)
    theirs = _prepare(tmp_path, "theirs", files=("bwv277.krn",), split=whole,
                      rights="owned", holder="Jane Roe")  # fmt: skip
    assert check_rights(theirs, "personal").counts() == {"rights_reserved": 1}
    holder = "Center for Computer Assisted Research in the Humanities"
    own = _prepare(tmp_path, "own", files=("bwv277.krn",), split=whole,
                   rights="owned", holder=holder)  # fmt: skip
    assert check_rights(own, "commercial").passed
