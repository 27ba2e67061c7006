"""The studio's API with a tiny random-weight model: every endpoint, its bad input, the safety
rules (loopback Host, the token, checked uploads, no paths), the bounded queue under load, and
a project that reopens."""

from __future__ import annotations

import io
import json
import threading
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="the studio needs the studio extra (fastapi)")
pytest.importorskip("httpx", reason="the studio's tests need httpx")

import httpx
import numpy as np
from fastapi.testclient import TestClient

from studio_support import BACH, DATA, TOKEN, free_port, save_tiny, serve, wait_job
from tuplet.errors import TupletError, UsageError
from tuplet.io import read_notes
from tuplet.studio import create_app
from tuplet.studio.app import host_allowed

HOST = "127.0.0.1:8765"
AUTH = {"X-Tuplet-Token": TOKEN}


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny(tmp_path_factory.mktemp("model") / "tiny")


def make_client(model: Path, project: Path, **kwargs) -> TestClient:
    app = create_app(model, project, TOKEN, port=8765, **kwargs)
    return TestClient(app, base_url=f"http://{HOST}")


@pytest.fixture
def client(model: Path, tmp_path: Path):
    with make_client(model, tmp_path / "project") as c:
        yield c


def upload(client: TestClient, path: Path, name: str | None = None, data: bytes | None = None):
    body = path.read_bytes() if data is None else data
    return client.post("/api/open", params={"name": name or path.name}, content=body, headers=AUTH)


def act(client: TestClient, **body):
    return client.post("/api/actions", json=body, headers=AUTH)


def same_notes(a: dict, b: dict) -> bool:
    """The same (onset, duration, pitch, velocity) rows, whatever the track numbering."""
    return sorted(n[:4] for n in a["notes"]) == sorted(n[:4] for n in b["notes"])


def run(client: TestClient, **body) -> dict:
    r = act(client, **body)
    assert r.status_code == 202, r.text
    return wait_job(client.get, r.json()["id"])


# ------------------------------------------------------------------------------ the page
def test_page_carries_the_token_and_loads_only_its_own_files(client) -> None:
    r = client.get("/")
    assert r.status_code == 200
    assert f'content="{TOKEN}"' in r.text
    assert "default-src 'self'" in r.headers["content-security-policy"]
    for ref in ('src="/static/studio.js"', 'href="/static/studio.css"'):
        assert ref in r.text
    assert "http://" not in r.text and "https://" not in r.text
    for name in ("studio.js", "studio.css"):
        asset = client.get(f"/static/{name}")
        assert asset.status_code == 200 and "https://" not in asset.text
    for bad in ("index.html", "..%2Fapp.py", "%2E%2E/app.py", "app.py"):
        assert client.get(f"/static/{bad}").status_code == 404


def test_host_header_must_name_the_loopback() -> None:
    for good in ("127.0.0.1:8765", "localhost:8765", "[::1]:8765", "LOCALHOST:8765"):
        assert host_allowed(good, 8765), good
    for bad in ("evil.example:8765", "127.0.0.1:9999", "127.0.0.1.evil.example", "",
                "[::1]x", "localhost:80@evil"):  # fmt: skip
        assert not host_allowed(bad, 8765), bad
    assert host_allowed("localhost", None) and not host_allowed("attacker.test", None)


def test_a_foreign_host_is_refused_for_every_request(client) -> None:
    for method, url in (("GET", "/"), ("GET", "/api/state"), ("POST", "/api/undo")):
        r = client.request(method, url, headers={"Host": "rebind.example:8765", **AUTH})
        assert r.status_code == 403
        assert "loopback" in r.json()["error"]
    assert client.get("/api/state", headers={"Host": "localhost:8765"}).status_code == 200


def test_state_changes_need_the_token(client) -> None:
    before = client.get("/api/state").json()["history"]
    for headers in ({}, {"X-Tuplet-Token": "wrong"}):
        for url in ("/api/undo", "/api/new", "/api/actions", "/api/open?name=a.mid"):
            r = client.post(url, json={}, headers=headers)
            assert r.status_code == 403, url
            assert "token" in r.json()["error"]
    assert client.get("/api/state").json()["history"] == before


def test_request_bodies_are_bounded(client) -> None:
    big = {"mode": "generate", "instruments": ["piano"] * 30_000}
    r = client.post("/api/actions", json=big, headers=AUTH)
    assert r.status_code == 413 and "too big" in r.json()["error"]

    def chunks():
        yield b'{"mode": "generate"}'

    r = client.post("/api/actions", content=chunks(), headers=AUTH)
    assert r.status_code == 411
    assert client.app.state.studio.pool.waiting == 0


# ------------------------------------------------------------------------------ opening
@pytest.mark.parametrize("name", ["bwv66.6.mid", "bwv66.6.mxl", "bwv277.krn", "reelsa-c.abc"])
def test_open_a_file_shows_its_notes(client, name: str) -> None:
    r = upload(client, DATA / name)
    assert r.status_code == 200, r.text
    piece = r.json()["piece"]
    assert len(piece["notes"]) == len(read_notes(DATA / name)) > 0
    assert piece["tracks"] and piece["bars"][0] == 0
    assert r.json()["history"]["entries"][-1] == f"open {name}"
    assert not list((client.app.state.studio.project.folder / "tmp").iterdir())


def test_bad_uploads_get_one_clear_line_and_change_nothing(model, tmp_path) -> None:
    with make_client(model, tmp_path / "p", max_upload_bytes=20_000) as client:
        upload(client, BACH)
        before = client.get("/api/state").json()
        cases = [
            ("notes.txt", b"hello", 415, "not a file tuplet reads"),
            ("fake.mid", b"RIFF....WAVEfmt ", 415, "not a MIDI file"),
            ("fake.mxl", b"<xml/>", 415, "not a compressed MusicXML"),
            ("binary.abc", b"X:1\x00\x01\x02", 415, "binary"),
            ("empty.mid", b"", 400, "empty file"),
            ("broken.mid", b"MThd\x00\x00\x00\x06\x00\x01\x00\x01", 400, "broken.mid"),
            ("big.mid", b"MThd" + bytes(30_000), 413, "too big"),
            ("../../etc/passwd.mid", b"MThd\x00", 400, "passwd.mid"),
        ]
        for name, data, status, words in cases:
            r = upload(client, BACH, name=name, data=data)
            assert r.status_code == status, (name, r.text)
            assert words in r.json()["error"], (name, r.json())
            assert "\n" not in r.json()["error"]
            assert "/tmp" not in r.json()["error"] and str(tmp_path) not in r.json()["error"]
        assert client.get("/api/state").json() == before
        assert not list((tmp_path / "p" / "tmp").iterdir())


def test_a_recording_opens_as_its_transcribed_notes(client, tmp_path) -> None:
    """A flute melody rendered by FluidSynth, uploaded as WAV, comes back as its notes."""
    pytest.importorskip("onnxruntime", reason="the audio extra is not installed")
    from audio_support import flute_melody
    from tuplet.io.audio import render_wav

    melody = flute_melody(8)
    wav = render_wav(melody, tmp_path / "hummed.wav")
    r = client.post("/api/open", params={"name": "hummed.wav", "instrument": "violin",
                                         "tempo": 96}, content=wav.read_bytes(), headers=AUTH)
    assert r.status_code == 200, r.text
    state = r.json()
    assert "96 BPM (given)" in state["transcribed"] and "played by violin" in state["transcribed"]
    assert state["history"]["entries"][-1] == "open hummed.wav (transcribed)"
    got = [n[2] for n in state["piece"]["notes"]]
    assert got[:8] == melody.pitch.tolist()
    assert not list((client.app.state.studio.project.folder / "tmp").iterdir())


def test_bad_recordings_get_one_clear_line_and_change_nothing(client) -> None:
    pytest.importorskip("onnxruntime", reason="the audio extra is not installed")
    import wave

    upload(client, BACH)
    before = client.get("/api/state").json()
    silent = io.BytesIO()
    with wave.open(silent, "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(16000)
        w.writeframes(bytes(32000))
    cases = [
        ("idea.wav", b"MThd\x00\x00\x00\x06", 415, "not a WAV file"),
        ("idea.flac", b"RIFF....WAVE", 415, "not a FLAC file"),
        ("idea.mp3", b"hello", 415, "not an MP3 file"),
        ("silent.wav", silent.getvalue(), 400, "silent.wav: is silent"),
        ("idea.aiff", b"FORM", 415, "or a recording: .wav"),
    ]
    for name, data, status, words in cases:
        r = upload(client, BACH, name=name, data=data)
        assert r.status_code == status, (name, r.text)
        assert words in r.json()["error"] and "\n" not in r.json()["error"], (name, r.json())
    assert client.get("/api/state").json() == before
    assert not list((client.app.state.studio.project.folder / "tmp").iterdir())


def test_stems_download_lines_up_with_the_mix(client) -> None:
    sf = pytest.importorskip("soundfile", reason="the audio extra is not installed")
    upload(client, BACH)
    r = client.get("/api/download/stems.zip", params={"loudness": -16})
    assert r.status_code == 200, r.text
    assert r.headers["content-disposition"] == 'attachment; filename="stems.zip"'
    with zipfile.ZipFile(io.BytesIO(r.content)) as z:
        names = z.namelist()
        audio = {n: sf.read(io.BytesIO(z.read(n)))[0] for n in names}
    assert names == ["piece.wav", "piece.01-soprano.wav", "piece.02-alto.wav",
                     "piece.03-tenor.wav", "piece.04-bass.wav"]  # fmt: skip
    mix = audio.pop("piece.wav")
    assert all(len(a) == len(mix) for a in audio.values())
    assert np.abs(sum(audio.values()) - mix).max() < 4 * 2.0**-23
    bad = client.get("/api/download/stems.zip", params={"loudness": 12})
    assert bad.status_code == 400 and "between -70 and 0 LUFS" in bad.json()["error"]
    assert not list((client.app.state.studio.project.folder / "tmp").iterdir())


def test_examples_and_a_new_empty_piece(client) -> None:
    examples = client.get("/api/examples").json()["examples"]
    assert len(examples) >= 3 and all("/" not in e["id"] for e in examples)
    r = client.post("/api/example", json={"id": examples[0]["id"]}, headers=AUTH)
    assert r.status_code == 200 and len(r.json()["piece"]["notes"]) > 0
    assert client.post("/api/example", json={"id": "../../x"}, headers=AUTH).status_code == 404
    assert client.post("/api/example", json={"id": 3}, headers=AUTH).status_code == 422
    r = client.post("/api/new", json={"meter": [3, 4], "qpm": 90}, headers=AUTH)
    assert r.status_code == 200
    piece = r.json()["piece"]
    assert piece["notes"] == [] and piece["meter"] == [3, 4] and piece["bars"][1] == 3
    assert client.post("/api/new", json={"meter": "3/4"}, headers=AUTH).status_code == 422


# ------------------------------------------------------------------------------ actions
def test_generate_two_candidates_keep_one_undo_redo(client) -> None:
    job = run(client, mode="generate", n=2, bars=2, instruments=["piano"], seed=3)
    assert job["status"] == "done", job
    cands = job["candidates"]
    assert len(cands) == 2
    for c in cands:
        r = c["report"]
        assert r["seed"] == 3 and r["notes"] == len(c["piece"]["notes"]) > 0
        assert r["instruments"] and r["generation_seconds"] >= 0
        assert "originality" in r and r["studio_action"]["mode"] == "generate"
        assert max(n[0] for n in c["piece"]["notes"]) < 8  # 2 bars of 4/4
    wav = client.get(f"/api/audio/candidates/{cands[0]['id']}.wav")
    assert wav.status_code == 200 and wav.content[:4] == b"RIFF" and wav.content[8:12] == b"WAVE"
    mid = client.get(f"/api/download/candidates/{cands[0]['id']}.mid")
    assert mid.status_code == 200 and mid.content[:4] == b"MThd"
    kept = client.post(f"/api/candidates/{cands[1]['id']}/keep", headers=AUTH)
    assert kept.status_code == 200
    assert client.get(f"/api/download/candidates/{cands[0]['id']}.mid").status_code == 404
    assert same_notes(kept.json()["piece"], cands[1]["piece"])
    for c in cands:  # kept, and its sibling discarded
        assert client.post(f"/api/candidates/{c['id']}/keep", headers=AUTH).status_code == 404
    undone = client.post("/api/undo", headers=AUTH).json()
    assert undone["piece"]["notes"] == [] and undone["history"]["can_redo"]
    redone = client.post("/api/redo", headers=AUTH).json()
    assert redone["piece"] == kept.json()["piece"]
    report = client.get("/api/download/report.json").json()
    assert report["history"][-1]["report"]["seed"] == 3


def test_generate_in_a_meter(client) -> None:
    job = run(client, mode="generate", n=2, bars=2, meter=[3, 4], instruments=["piano"], seed=1)
    for cand in job["candidates"]:
        assert cand["piece"]["meter"] == [3, 4]
        assert cand["report"]["meter"] == cand["report"]["meter_asked"] == "3/4"
        assert max(n[0] for n in cand["piece"]["notes"]) < 6  # 2 bars of 3/4
        assert cand["piece"]["bars"][:3] == [0, 3, 6]
    free = run(client, mode="generate", n=1, bars=1, seed=1)["candidates"][0]
    assert "meter_asked" not in free["report"]


def test_every_mode_on_a_piece(client) -> None:
    upload(client, BACH)
    piece = client.get("/api/state").json()["piece"]
    for body in (
        {"mode": "rewrite", "start_beat": 4, "end_beat": 8, "tracks": [0]},
        {"mode": "rewrite", "start_beat": 0, "end_beat": 4},
        {"mode": "continue", "from_beat": 8.5, "bars": 1},
        {"mode": "add-part", "instrument": "fiddle"},
        {"mode": "loop", "bars": 2},
    ):
        job = run(client, n=1, seed=1, **body)
        assert job["status"] == "done", (body, job)
        (cand,) = job["candidates"]
        assert cand["report"]["mode"] in ("infill", "continuation", "add-part", "loop")
        if body["mode"] == "rewrite":  # notes outside the span are kept
            outside = [n for n in piece["notes"] if n[0] + 1e-9 < body["start_beat"]]
            assert all(n in cand["piece"]["notes"] for n in outside)
        client.post(f"/api/candidates/{cand['id']}/discard", headers=AUTH)
    assert client.get("/api/state").json()["piece"]["notes"] == piece["notes"]


def test_bad_actions_are_refused_before_they_are_queued(client) -> None:
    empty = [
        ({"mode": "rewrite", "start_beat": 0, "end_beat": 4}, 400, "empty"),
        ({"mode": "dance"}, 400, "unknown action"),
    ]
    for body, status, words in empty:
        r = act(client, **body)
        assert r.status_code == status and words in r.json()["error"], r.text
    upload(client, BACH)
    length = client.get("/api/state").json()["piece"]["length_beats"]
    cases = [
        ({"mode": "generate", "n": 0}, 400, "candidates must be"),
        ({"mode": "generate", "n": "two"}, 422, "n:"),
        ({"mode": "generate", "bars": 1000}, 400, "bars must be"),
        ({"mode": "generate", "adventurous": 2}, 400, "adventurousness"),
        ({"mode": "generate", "meter": [4, 3]}, 400, "meter"),
        ({"mode": "generate", "instruments": ["violn"]}, 400, "violin"),
        ({"mode": "generate", "colour": "red"}, 422, "colour"),
        ({"mode": "generate", "model": "../other-model"}, 404, "unknown model"),
        ({"mode": "rewrite", "start_beat": 500, "end_beat": 504}, 400, "outside the piece"),
        ({"mode": "rewrite", "start_beat": 8, "end_beat": 4}, 400, "outside the piece"),
        ({"mode": "rewrite", "start_beat": 0, "end_beat": 4, "tracks": [40]}, 400, "track 40"),
        ({"mode": "continue", "from_beat": length + 10}, 400, "outside the piece"),
        ({"mode": "add-part"}, 400, "name its instrument"),
    ]
    for body, status, words in cases:
        r = act(client, **body)
        assert r.status_code == status, (body, r.text)
        assert words in r.json()["error"], (body, r.json())
    assert client.app.state.studio.pool.waiting == 0
    assert client.get("/api/jobs/nope").status_code == 404
    assert client.post("/api/jobs/nope/cancel", headers=AUTH).status_code == 404
    assert client.post("/api/candidates/nope/keep", headers=AUTH).status_code == 404
    assert client.post("/api/candidates/nope/discard", headers=AUTH).status_code == 404
    assert client.get("/api/audio/candidates/nope.wav").status_code == 404


def test_a_model_that_cannot_fill_says_so(tmp_path) -> None:
    mmt = save_tiny(tmp_path / "mmt", "mmt")
    with make_client(mmt, tmp_path / "p") as client:
        assert client.get("/api/state").json()["model"]["can_fill"] is False
        upload(client, BACH)
        for body in ({"mode": "rewrite", "start_beat": 0, "end_beat": 4},
                     {"mode": "add-part", "instrument": "violin"}):  # fmt: skip
            r = act(client, **body)
            assert r.status_code == 400 and "fill" in r.json()["error"], r.text
        assert run(client, mode="continue", n=1, from_beat=8, bars=1)["status"] == "done"


def test_a_failing_job_shows_its_error_and_the_app_stays_up(client, monkeypatch) -> None:
    import tuplet.studio.app as studio_app

    def explode(*args, **kwargs):
        raise RuntimeError("the sampler fell over")

    monkeypatch.setattr(studio_app, "generate_action", explode)
    job = run(client, mode="generate", n=1)
    assert job["status"] == "failed" and "the sampler fell over" in job["error"]
    assert client.get("/api/state").status_code == 200
    monkeypatch.undo()
    assert run(client, mode="generate", n=1, bars=1)["status"] == "done"


def test_a_candidate_that_copies_is_withheld_and_cannot_be_kept(client, monkeypatch) -> None:
    from tuplet.responsibility.originality import OriginalityReport
    from tuplet.studio.work import ModelHolder

    class CopyingIndex:
        def score(self, notes):
            return OriginalityReport(0.0, 1.0, "bwv66.6", 0.0, 0.0, 0, len(notes), "bwv66.6",
                                     verdict="block", reason="copies bwv66.6")  # fmt: skip

    monkeypatch.setattr(ModelHolder, "index", property(lambda self: CopyingIndex()))
    job = run(client, mode="generate", n=1, bars=1, seed=1)
    (cand,) = job["candidates"]
    assert cand["withheld"] == "copies bwv66.6"
    assert cand["report"]["originality"]["verdict"] == "block"
    r = client.post(f"/api/candidates/{cand['id']}/keep", headers=AUTH)
    assert r.status_code == 400 and "withheld" in r.json()["error"]
    assert client.get("/api/state").json()["history"]["position"] == 0


def test_a_running_job_reports_progress_and_stops_when_cancelled(client, monkeypatch) -> None:
    import tuplet.studio.app as studio_app
    from tuplet.studio import progress as studio_progress

    real = studio_app.generate_action
    started = threading.Event()

    def held(*args, **kwargs):  # the job runs, and waits for the cancel before it samples
        started.set()
        progress = studio_progress._watched.progress
        deadline = time.monotonic() + 30
        while not progress.cancel and time.monotonic() < deadline:
            time.sleep(0.01)
        return real(*args, **kwargs)

    monkeypatch.setattr(studio_app, "generate_action", held)
    r = act(client, mode="generate", n=2, bars=4)
    assert started.wait(30)
    assert client.get(f"/api/jobs/{r.json()['id']}").json()["status"] == "running"
    client.post(f"/api/jobs/{r.json()['id']}/cancel", headers=AUTH)
    assert wait_job(client.get, r.json()["id"])["status"] == "cancelled"
    job = client.app.state.studio.pool.get(r.json()["id"])
    assert job.progress.events == 0  # stopped at the sampler's first step
    assert not client.app.state.studio.project.candidates
    monkeypatch.undo()
    done = run(client, mode="generate", n=2, bars=2, seed=4)
    assert done["status"] == "done"
    assert done["notes_drawn"] >= sum(c["report"]["new_notes"] for c in done["candidates"]) > 0
    assert done["events"] > done["notes_drawn"]


def test_a_new_piece_can_be_shown_as_it_is_drawn(client) -> None:
    from tuplet.studio.progress import Progress, watching
    from tuplet.studio.project import empty_piece
    from tuplet.studio.work import Action, generate_action

    studio = client.app.state.studio
    lm = studio.model.lm
    progress = Progress(draft=True)
    with watching(progress):
        generation = generate_action(lm, Action("generate", n=1, bars=4, seed=7), empty_piece())
    draft = progress.draft_notes(lm.encoding, lm.encoding.type_codes["end-of-song"])
    piece = generation.pieces[0].notes
    assert draft is not None and len(piece) > 0
    assert sorted(draft.pitch.tolist()) == sorted(piece.pitch.tolist())
    assert sorted(draft.onset_ticks.tolist()) == sorted(piece.onset_ticks.tolist())
    assert progress.notes == len(piece)


def test_a_continuation_is_drawn_after_the_piece(client) -> None:
    from tuplet.studio.progress import Progress, watching
    from tuplet.studio.work import Action, generate_action

    lm = client.app.state.studio.model.lm
    piece = read_notes(BACH)
    progress = Progress(draft=True, after=(piece, 12))
    with watching(progress):
        action = Action("continue", n=1, bars=2, seed=11, from_beat=12)
        generation = generate_action(lm, action, piece)
    draft = progress.draft_notes(lm.encoding, lm.encoding.type_codes["end-of-song"])
    result = generation.pieces[0].notes

    def new(notes):  # (onset in beats, pitch) of the notes from beat 12 on
        beats = notes.onset_ticks / notes.ticks_per_beat
        return sorted(zip(np.round(beats[beats >= 12], 3).tolist(),
                          notes.pitch[beats >= 12].tolist(), strict=True))  # fmt: skip

    assert draft is not None and new(result)
    assert new(draft) == new(result)


def test_a_queued_job_can_be_cancelled(client) -> None:
    pool = client.app.state.studio.pool
    release = threading.Event()
    pool.submit("block", lambda job: release.wait(30))
    r = act(client, mode="generate", n=1, bars=1)
    assert r.status_code == 202 and r.json()["status"] == "queued"
    cancelled = client.post(f"/api/jobs/{r.json()['id']}/cancel", headers=AUTH).json()
    release.set()
    assert cancelled["status"] == "cancelled"
    assert wait_job(client.get, r.json()["id"])["status"] == "cancelled"


# ------------------------------------------------------------------------------ downloads
def test_downloads_midi_tracks_wav_and_report(client, tmp_path, monkeypatch) -> None:
    assert client.get("/api/download/piece.mid").status_code == 404  # nothing yet
    upload(client, BACH)
    mid = client.get("/api/download/piece.mid")
    assert mid.status_code == 200 and "attachment" in mid.headers["content-disposition"]
    (tmp_path / "back.mid").write_bytes(mid.content)
    back, source = read_notes(tmp_path / "back.mid"), read_notes(BACH)
    assert back.equals(source)
    with zipfile.ZipFile(io.BytesIO(client.get("/api/download/tracks.zip").content)) as z:
        names = z.namelist()
        assert len(names) == len(source.tracks)
        total = 0
        for name in names:
            (tmp_path / "t.mid").write_bytes(z.read(name))
            total += len(read_notes(tmp_path / "t.mid"))
    assert total == len(source)
    wav = client.get("/api/audio/piece.wav", params={"download": "true"})
    assert wav.content[:4] == b"RIFF" and "piece.wav" in wav.headers["content-disposition"]
    solo = client.get("/api/audio/piece.wav", params={"tracks": "0"})
    assert solo.status_code == 200 and solo.content != wav.content
    import tuplet.studio.app as studio_app

    renders = client.app.state.studio.project.folder / "renders"
    assert len(list(renders.glob("*.wav"))) == 2
    monkeypatch.setattr(studio_app, "RENDERS_KEPT", 1)  # bounded: the oldest render goes
    assert client.get("/api/audio/piece.wav", params={"tracks": "1"}).status_code == 200
    assert len(list(renders.glob("*.wav"))) == 1
    report = json.loads(client.get("/api/download/report.json").content)
    assert report["history"][-1]["label"] == "open bwv66.6.mid"


def test_without_fluidsynth_audio_says_why_and_the_rest_works(client, monkeypatch, tmp_path):
    upload(client, BACH)
    monkeypatch.setenv("PATH", str(tmp_path))  # a machine without the fluidsynth program
    r = client.get("/api/audio/piece.wav")
    assert r.status_code == 503
    assert "no audio on this machine" in r.json()["error"] and "fluidsynth" in r.json()["error"]
    assert client.get("/api/download/piece.mid").status_code == 200


# ------------------------------------------------------------------------------ the project
def test_the_project_folder_reopens_with_its_history_and_is_the_only_place_written(
    model, tmp_path
) -> None:
    folder = tmp_path / "project"
    with make_client(model, folder) as client:
        upload(client, BACH)
        job = run(client, mode="rewrite", n=1, start_beat=0, end_beat=4, seed=2)
        kept = client.post(f"/api/candidates/{job['candidates'][0]['id']}/keep", headers=AUTH)
        client.post("/api/undo", headers=AUTH)
        state = client.get("/api/state").json()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["project"]
    with make_client(model, folder) as again:
        reopened = again.get("/api/state").json()
        assert reopened["history"] == state["history"]
        assert reopened["piece"] == state["piece"]
        redone = again.post("/api/redo", headers=AUTH).json()
        assert redone["piece"]["notes"] == kept.json()["piece"]["notes"]
    (folder / "studio.json").write_text('{"history": [{"label": "x", "file": "../../etc/x.mid"}]}')
    with pytest.raises(TupletError, match="project"):
        create_app(model, folder, TOKEN)
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "song.mid").write_bytes(BACH.read_bytes())
    with pytest.raises(TupletError, match="not a studio project"):
        create_app(model, tmp_path / "mine", TOKEN)
    assert [p.name for p in (tmp_path / "mine").iterdir()] == ["song.mid"]


def test_candidates_waiting_are_bounded(tmp_path) -> None:
    from tuplet.studio.project import MAX_CANDIDATES, Candidate, Project

    project = Project(tmp_path / "p")
    notes = read_notes(BACH)
    ids = [f"c{i:03d}" for i in range(MAX_CANDIDATES + 5)]
    for cid in ids:
        project.add_candidate(Candidate(cid, "job", "x", notes, {"n": cid}))
    assert list(project.candidates) == ids[5:]
    assert len(list((tmp_path / "p" / "candidates").glob("*.mid"))) == MAX_CANDIDATES


def test_an_unknown_model_is_refused_at_launch(tmp_path) -> None:
    from tuplet.cli import main

    with pytest.raises(UsageError, match="unknown model"):
        create_app(tmp_path / "nowhere", tmp_path / "p")
    assert main(["studio", "--model", str(tmp_path / "nowhere"), "--no-browser"]) == 1


def test_the_command_serves_the_page_on_the_loopback(model, tmp_path) -> None:
    import subprocess
    import sys

    port = free_port()
    command = [sys.executable, "-m", "tuplet", "studio", "--model", str(model), "--port",
               str(port), "--project", str(tmp_path / "p"), "--no-browser"]  # fmt: skip
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                page = httpx.get(f"http://127.0.0.1:{port}/", timeout=2)
                break
            except httpx.TransportError:
                assert proc.poll() is None, proc.communicate()
                assert time.monotonic() < deadline, "the studio did not start"
                time.sleep(0.2)
        assert page.status_code == 200 and 'name="tuplet-token"' in page.text
        foreign = httpx.get(f"http://127.0.0.1:{port}/api/state", headers={"Host": "x.test"})
        assert foreign.status_code == 403
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=30)
    assert f"http://127.0.0.1:{port}/" in out


# ------------------------------------------------------------------------------ load
def test_fifty_concurrent_requests_are_answered_or_refused_none_lost(model, tmp_path) -> None:
    """The worker is held busy, so the queue fills: the rest are refused with 503 at once,
    a plain GET is answered within a second meanwhile, and every accepted job then runs."""
    port = free_port()
    app = create_app(model, tmp_path / "p", TOKEN, port=port, max_queued=4)
    release = threading.Event()
    app.state.studio.pool.submit("block", lambda job: release.wait(60))
    with serve(app, port) as base, httpx.Client(base_url=base, timeout=30) as http:
        http.post("/api/open", params={"name": BACH.name}, content=BACH.read_bytes(), headers=AUTH)

        def one(i: int) -> httpx.Response:
            body = {"mode": "generate", "n": 2, "bars": 1 + i % 4, "seed": i}
            if i % 2:  # and rewrites of the open piece
                body = {"mode": "rewrite", "n": 1, "start_beat": i % 8, "end_beat": i % 8 + 2}
            return http.post("/api/actions", json=body, headers=AUTH)

        with ThreadPoolExecutor(16) as ex:
            answers = list(ex.map(one, range(50)))
        statuses = sorted(r.status_code for r in answers)
        assert len(answers) == 50 and set(statuses) == {202, 503}
        assert statuses.count(202) == 4
        for r in answers:
            if r.status_code == 503:
                assert "busy, try again" in r.json()["error"] and r.headers["retry-after"]
        start = time.perf_counter()
        assert http.get("/api/state").status_code == 200
        assert time.perf_counter() - start < 1.0
        release.set()
        accepted = [r.json()["id"] for r in answers if r.status_code == 202]
        finished = [wait_job(lambda u: http.get(u), j, timeout=120) for j in accepted]
        assert [f["status"] for f in finished] == ["done"] * 4


def test_adventurousness_loosens_every_cut_and_zero_keeps_the_models_settings() -> None:
    from types import SimpleNamespace

    from tuplet.encoding import get_encoding
    from tuplet.generation.sample import SamplingSettings
    from tuplet.studio.work import sampling

    enc = get_encoding("tuplet")
    base = SamplingSettings(top_k_frac=0.2, min_p=0.04, per_field={"beat": {"min_p": 0.1}})
    own = SamplingSettings(top_k_frac=0.2, per_field={"pitch": {"temperature": 0.9}})
    lm = SimpleNamespace(
        settings_for=lambda mode: own if mode == "continuation" else base, encoding=enc
    )
    assert sampling(lm, 0.0) is base  # type: ignore[arg-type]
    # a studio mode takes the model's settings of its generation mode
    assert sampling(lm, 0.0, "continue") is own  # type: ignore[arg-type]
    assert sampling(lm, 0.0, "generate") is base  # type: ignore[arg-type]
    rules = [sampling(lm, a).resolve(enc.fields, enc.vocab_sizes) for a in (0.5, 1.0)]  # type: ignore[arg-type]
    beat = enc.fields.index("beat")
    for rule, a in zip(rules, (0.5, 1.0), strict=True):
        assert rule[beat].min_p == pytest.approx(0.1 * (1 - a))
        assert rule[0].min_p == pytest.approx(0.04 * (1 - a))
        assert rule[beat].temperature == pytest.approx(1 + 0.25 * a)
    assert rules[1][beat].k > base.resolve(enc.fields, enc.vocab_sizes)[beat].k
