"""The studio's web app: one page and a JSON API over a project, a model and a job pool.

Safe by default:

* only requests whose ``Host`` header names the loopback (``127.0.0.1``, ``localhost``,
  ``[::1]``, with the studio's port when it is known) are served: a page elsewhere cannot drive
  the studio through DNS rebinding;
* every request that changes something (POST) carries the per-launch token that the page
  receives in its HTML (header ``X-Tuplet-Token``); other sites cannot read it;
* uploads are checked for size (streamed, refused past the limit) and type (extension and
  content: :mod:`tuplet.studio.uploads`) before anything changes; a file that is not music
  gets one clear line;
* no request names a path: pieces, candidates, jobs and examples are ids, static files a fixed
  list; the project folder is the only place written (uploads are read from its ``tmp/``);
* generation runs in a bounded pool with a bounded queue (:mod:`tuplet.studio.jobs`): when
  full, requests are refused with 503 "busy, try again"; a failing job keeps its error.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import secrets
import threading
import zipfile
from collections.abc import AsyncIterator
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response

from tuplet.errors import TupletError, UsageError
from tuplet.notes import Notes
from tuplet.studio.jobs import DONE, RUNNING, Busy, Job, JobPool
from tuplet.studio.progress import Progress, watching
from tuplet.studio.project import Candidate, Project, empty_piece
from tuplet.studio.schemas import ActionBody, NewBody, PickBody
from tuplet.studio.uploads import UploadProblem, open_upload
from tuplet.studio.view import notes_key, piece_json, track_keys
from tuplet.studio.work import (
    Action,
    ModelHolder,
    candidates_of,
    check_action,
    generate_action,
)

LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")
TOKEN_HEADER = "x-tuplet-token"
MAX_UPLOAD_BYTES = 4 * 1024 * 1024
MAX_AUDIO_UPLOAD_BYTES = 64 * 1024 * 1024
"""A recording may be bigger than a score: about 6 minutes of CD-quality WAV."""
MAX_JSON_BYTES = 64 * 1024
STATIC_FILES = {"studio.js": "text/javascript", "studio.css": "text/css"}
EXAMPLE_COLLECTIONS = (("bach", 4), ("monteverdi", 2), ("trecento", 2))
RENDERS_AT_ONCE = 2
RENDERS_KEPT = 32


def host_allowed(host: str, port: int | None) -> bool:
    """Whether a Host header names the loopback (and ``port``, when given)."""
    host = host.strip().lower()
    if host.startswith("["):
        name, _, rest = host.partition("]")
        name, given = name + "]", rest[1:] if rest.startswith(":") else None
        if rest and not rest.startswith(":"):
            return False
    else:
        name, _, given_port = host.partition(":")
        given = given_port if ":" in host else None
    if name not in LOOPBACK_NAMES:
        return False
    if given is None or port is None:
        return given is None or given.isdigit()
    return given == str(port)


class Studio:
    """What the app's requests share: the project, the model, the pool, the token."""

    def __init__(
        self,
        model: ModelHolder,
        project: Project,
        token: str,
        pool: JobPool,
        port: int | None,
        max_upload_bytes: int,
        max_events: int | None,
    ) -> None:
        self.model, self.project, self.token, self.pool = model, project, token, pool
        self.port, self.max_upload_bytes, self.max_events = port, max_upload_bytes, max_events
        self.max_audio_bytes = max(max_upload_bytes, MAX_AUDIO_UPLOAD_BYTES)
        self.renders = threading.BoundedSemaphore(RENDERS_AT_ONCE)
        self._examples: dict[str, Path] | None = None

    def examples(self) -> dict[str, Path]:
        """Bundled corpus pieces by id (a few per collection)."""
        if self._examples is None:
            from tuplet.io.score import music21_corpus_paths

            found: dict[str, Path] = {}
            for collection, count in EXAMPLE_COLLECTIONS:
                try:
                    paths = music21_corpus_paths(collection)
                except UsageError:
                    continue
                for path in paths[:count]:
                    found[f"{collection}-{path.stem}"] = path
            self._examples = found
        return self._examples

    def state(self) -> dict[str, Any]:
        """Everything the page draws."""
        p = self.project
        with p.lock:
            return {
                "piece": piece_json(p.piece, self.model.encoding),
                "history": p.history_dict(),
                "label": p.entry.label,
                "model": self.model.describe(),
                "queue": {"waiting": self.pool.waiting, "max": self.pool.max_queued},
            }

    def candidate_json(self, cand: Candidate) -> dict[str, Any]:
        """A candidate as the page shows it."""
        return {
            "id": cand.id,
            "label": cand.label,
            "report": cand.report,
            "withheld": cand.withheld,
            "piece": piece_json(cand.notes, self.model.encoding),
        }

    def render(self, notes: Notes, loop_seconds: float | None = None) -> Path:
        """The WAV of a piece (cached in the project by content)."""
        from tuplet.io import write_midi
        from tuplet.io.audio import render_wav

        path = self.project.render_path(notes_key(notes, loop_seconds))
        if not path.is_file():
            with self.renders:
                if not path.is_file():
                    # the MIDI FluidSynth reads is written in the project too (given notes,
                    # render_wav would write it in the system's temporary folder)
                    midi = self.project.scratch(".mid")
                    try:
                        write_midi(notes, midi)
                        render_wav(midi, path, loop_seconds=loop_seconds)
                    finally:
                        midi.unlink(missing_ok=True)
                    self._forget_renders(keep=path)
        return path

    def _forget_renders(self, keep: Path) -> None:
        """Delete the oldest renders past :data:`RENDERS_KEPT` (the cache stays bounded)."""
        renders = sorted(keep.parent.glob("*.wav"), key=lambda p: p.stat().st_mtime)
        for old in [p for p in renders if p != keep][: max(0, len(renders) - RENDERS_KEPT)]:
            old.unlink(missing_ok=True)

    def run_job(self, job: Job, action: Action, piece: Notes) -> list[str]:
        """A worker's job: generate, then keep the candidates in the project."""
        lm = self.model.lm  # loaded (and its step hook in place) before the clock starts
        # new music grows in view: a new piece, or a continuation after the piece's notes
        after = None
        if action.mode == "continue":
            after = (piece, max(1, math.floor(action.from_beat)))
        job.progress = Progress(draft=action.mode in ("generate", "continue"), after=after)
        job.progress.cancel = job.cancel_requested
        with watching(job.progress):
            generation = generate_action(lm, action, piece, self.max_events)
        ids = []
        for c in candidates_of(generation, action, piece, self.model):
            cand = Candidate(
                secrets.token_hex(8), job.id, action.label, c["notes"], c["report"],
                c["loop_seconds"], c["withheld"],
            )  # fmt: skip
            if not job.cancel_requested:
                self.project.add_candidate(cand)
                ids.append(cand.id)
        return ids


def create_app(
    model: str | Path | None = None,
    project_dir: str | Path = "tuplet-project",
    token: str | None = None,
    *,
    port: int | None = None,
    workers: int = 1,
    max_queued: int = 4,
    max_upload_bytes: int = MAX_UPLOAD_BYTES,
    max_events: int | None = None,
    device: str = "cpu",
) -> FastAPI:
    """The studio's FastAPI app.

    Args:
        model: A checkpoint folder; None = the shipped default model (weights load on the
            first generation).
        project_dir: The project folder (created, or reopened with its history).
        token: The per-launch token state changes need; None draws one
            (``app.state.studio.token``).
        port: The port it is served on (the Host header must name it); None accepts any.
        workers: Generation jobs at once.
        max_queued: Jobs that may wait; more are refused with 503.
        max_upload_bytes: The largest file that may be opened.
        max_events: Limit on events per sequence (default: the model's context).
        device: Where the model runs.

    Raises:
        UsageError: An unknown model.
        TupletError: A project folder that cannot be used.
    """
    studio = Studio(
        ModelHolder(model, device),
        Project(project_dir),
        token or secrets.token_urlsafe(24),
        JobPool(workers, max_queued),
        port,
        max_upload_bytes,
        max_events,
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        yield
        studio.pool.close()

    app = FastAPI(
        title="tuplet studio", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan
    )
    app.state.studio = studio
    _add_guards(app, studio)
    _add_page(app, studio)
    _add_piece_routes(app, studio)
    _add_action_routes(app, studio)
    _add_file_routes(app, studio)
    return app


def _error(status: int, message: str) -> JSONResponse:
    """A refusal for people: ``{"error": message}``."""
    return JSONResponse({"error": message}, status_code=status)


def _add_guards(app: FastAPI, studio: Studio) -> None:
    """The Host, token and body-size checks of every request, and errors as JSON."""

    @app.middleware("http")
    async def guard(request: Request, call_next: Any) -> Any:
        if not host_allowed(request.headers.get("host", ""), studio.port):
            return _error(403, "this studio answers only on this machine's loopback address")
        if request.method not in ("GET", "HEAD"):
            given = request.headers.get(TOKEN_HEADER, "")
            if not secrets.compare_digest(given.encode(), studio.token.encode()):
                return _error(403, "missing or wrong studio token: reload the page")
            # bodies are bounded before they are read: a file (streamed and counted by
            # /api/open), else a small JSON request
            size = request.headers.get("content-length")
            if size is None and request.headers.get("transfer-encoding"):
                return _error(411, "a request body needs its length")
            if request.url.path != "/api/open" and size is not None:
                if not size.isdigit() or int(size) > MAX_JSON_BYTES:
                    return _error(413, f"request too big (at most {MAX_JSON_BYTES:,} bytes)")
        response = await call_next(request)
        response.headers["Cache-Control"] = "no-store"
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["X-Frame-Options"] = "DENY"
        return response

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        parts = []
        for e in exc.errors():
            where = ".".join(str(x) for x in e.get("loc", ()) if x != "body")
            parts.append(f"{where}: {e.get('msg')}" if where else str(e.get("msg")))
        return _error(422, "; ".join(parts) or "invalid request")

    @app.exception_handler(Busy)
    async def busy(request: Request, exc: Busy) -> JSONResponse:
        return JSONResponse({"error": str(exc)}, status_code=503, headers={"Retry-After": "5"})

    @app.exception_handler(TupletError)
    async def refused(request: Request, exc: TupletError) -> JSONResponse:
        return _error(400, str(exc))


def _add_page(app: FastAPI, studio: Studio) -> None:
    """The page and its two files (a fixed list: no request names a path)."""
    static = resources.files("tuplet.studio") / "static"

    @app.get("/", response_class=HTMLResponse)
    def index() -> HTMLResponse:
        html = (static / "index.html").read_text(encoding="utf-8")
        csp = ("default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; "
               "style-src 'self'; script-src 'self'; connect-src 'self'")  # fmt: skip
        return HTMLResponse(
            html.replace("{{TOKEN}}", studio.token), headers={"Content-Security-Policy": csp}
        )

    @app.get("/static/{name}")
    def static_file(name: str) -> Response:
        if name not in STATIC_FILES:
            return _error(404, "no such file")
        return Response((static / name).read_bytes(), media_type=STATIC_FILES[name])

    @app.get("/favicon.ico")
    def favicon() -> Response:
        return Response(status_code=204)


def _add_piece_routes(app: FastAPI, studio: Studio) -> None:
    """The piece: its state, opening a file or an example, a new piece, undo and redo."""

    @app.get("/api/state")
    def state() -> dict[str, Any]:
        return studio.state()

    @app.get("/api/examples")
    def examples() -> dict[str, Any]:
        return {"examples": [{"id": k, "title": k.replace("-", ": ", 1)}
                             for k in studio.examples()]}  # fmt: skip

    @app.post("/api/new")
    def new(body: NewBody) -> dict[str, Any]:
        studio.project.set_piece(empty_piece(body.qpm, (body.meter[0], body.meter[1])), "new piece")
        return studio.state()

    @app.post("/api/example")
    def example(body: PickBody) -> Any:
        from tuplet.io import read_notes

        path = studio.examples().get(body.id)
        if path is None:
            return _error(404, f"no example {body.id!r}")
        studio.project.set_piece(read_notes(path), f"open example {body.id}")
        return studio.state()

    @app.post("/api/open")
    async def open_file(
        request: Request, name: str, instrument: str = "piano", tempo: float | None = None
    ) -> Any:
        from starlette.concurrency import run_in_threadpool

        try:
            notes, label, assumed = await open_upload(
                request, name, studio.project.scratch, instrument, tempo,
                limits=(studio.max_upload_bytes, studio.max_audio_bytes),
            )  # fmt: skip
        except UploadProblem as exc:
            return _error(exc.status, str(exc))
        # written and read back off the event loop, which keeps answering meanwhile
        await run_in_threadpool(studio.project.set_piece, notes, label)
        state = await run_in_threadpool(studio.state)
        if assumed:
            state["transcribed"] = assumed
        return state

    @app.post("/api/undo")
    def undo() -> dict[str, Any]:
        studio.project.undo()
        return studio.state()

    @app.post("/api/redo")
    def redo() -> dict[str, Any]:
        studio.project.redo()
        return studio.state()


def _add_action_routes(app: FastAPI, studio: Studio) -> None:
    """Actions queued as jobs, their progress and candidates, keep and discard."""

    @app.post("/api/actions", status_code=202)
    def act(body: ActionBody) -> Any:
        if body.model not in (None, studio.model.name):
            return _error(
                404, f"unknown model {body.model!r}: this studio runs {studio.model.name!r}"
            )
        piece = studio.project.piece
        action = check_action(body.to_action(), piece, studio.model)
        job = studio.pool.submit(action.mode, lambda job: studio.run_job(job, action, piece))
        return JSONResponse(job.to_dict(), status_code=202)

    @app.get("/api/jobs/{job_id}")
    def job(job_id: str) -> Any:
        found = studio.pool.get(job_id)
        if found is None:
            return _error(404, "no such job")
        data = found.to_dict()
        progress = found.progress
        if found.status == RUNNING and progress is not None and progress.draft:
            enc = studio.model.encoding
            draft = progress.draft_notes(enc, enc.type_codes["end-of-song"])
            if draft is not None:
                data["draft"] = piece_json(draft, enc)
        if found.status == DONE:
            cands = [studio.project.candidates.get(c) for c in found.result or []]
            data["candidates"] = [studio.candidate_json(c) for c in cands if c is not None]
        return data

    @app.post("/api/jobs/{job_id}/cancel")
    def cancel(job_id: str) -> Any:
        found = studio.pool.cancel(job_id)
        if found is None:
            return _error(404, "no such job")
        return found.to_dict()

    @app.post("/api/candidates/{cid}/keep")
    def keep(cid: str) -> Any:
        try:
            studio.project.keep(cid)
        except KeyError:  # (also when another request kept or discarded it just now)
            return _error(404, "no such candidate (kept or discarded already?)")
        return studio.state()

    @app.post("/api/candidates/{cid}/discard")
    def discard(cid: str) -> Any:
        try:
            studio.project.discard(cid)
        except KeyError:
            return _error(404, "no such candidate")
        return {"discarded": cid}


def _add_file_routes(app: FastAPI, studio: Studio) -> None:
    """Audio for playback, and the downloads."""
    _add_audio_routes(app, studio)
    _add_download_routes(app, studio)


def _midi_bytes(studio: Studio, notes: Notes) -> bytes:
    """The notes as a MIDI file's bytes (written in the project's scratch space)."""
    from tuplet.io import write_midi

    tmp = studio.project.scratch(".mid")
    try:
        write_midi(notes, tmp)
        return tmp.read_bytes()
    finally:
        tmp.unlink(missing_ok=True)


def _attachment(data: bytes, media: str, filename: str) -> Response:
    headers = {"Content-Disposition": f'attachment; filename="{filename}"'}
    return Response(data, media_type=media, headers=headers)


def _add_audio_routes(app: FastAPI, studio: Studio) -> None:
    """The piece (its sounding tracks) and the candidates, rendered for playback."""

    def wav(notes: Notes, loop_seconds: float | None, filename: str | None) -> Response:
        from tuplet.io.audio import AudioUnavailable

        if len(notes) == 0:
            return _error(404, "the piece has no notes to play")
        try:
            path = studio.render(notes, loop_seconds)
        except AudioUnavailable as exc:
            return _error(503, f"no audio on this machine: {exc}")
        headers = {}
        if filename:
            headers["Content-Disposition"] = f'attachment; filename="{filename}"'
        return Response(path.read_bytes(), media_type="audio/wav", headers=headers)

    @app.get("/api/audio/piece.wav")
    def piece_wav(download: bool = False, tracks: str | None = None) -> Response:
        notes = studio.project.piece
        if tracks is not None:  # mute and solo: only these tracks sound
            keys, _ = track_keys(notes)
            chosen = [int(t) for t in tracks.split(",") if t.strip().isdigit()]
            notes = notes.select(np.isin(keys, chosen))
        return wav(notes, None, "piece.wav" if download else None)

    @app.get("/api/audio/candidates/{cid}.wav")
    def candidate_wav(cid: str) -> Response:
        cand = studio.project.candidates.get(cid)
        if cand is None:
            return _error(404, "no such candidate")
        return wav(cand.notes, cand.loop_seconds, None)


def _add_download_routes(app: FastAPI, studio: Studio) -> None:
    """The piece, a candidate, the tracks, the stems and the report, as files."""

    @app.get("/api/download/piece.mid")
    def download_midi() -> Response:
        notes = studio.project.piece
        if len(notes) == 0:
            return _error(404, "the piece has no notes to download")
        return _attachment(_midi_bytes(studio, notes), "audio/midi", "piece.mid")

    @app.get("/api/download/candidates/{cid}.mid")
    def download_candidate(cid: str) -> Response:
        cand = studio.project.candidates.get(cid)
        if cand is None or cand.withheld is not None:
            return _error(404, "no such candidate (or it is withheld)")
        data = _midi_bytes(studio, cand.notes)
        return _attachment(data, "audio/midi", f"candidate-{cid[:6]}.mid")

    @app.get("/api/download/tracks.zip")
    def download_tracks() -> Response:
        notes = studio.project.piece
        if len(notes) == 0:
            return _error(404, "the piece has no notes to download")
        keys, tracks = track_keys(notes)
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
            for i, (name, _, _) in enumerate(tracks):
                mask = keys == i
                if mask.any():
                    safe = "".join(ch if ch.isalnum() else "-" for ch in name).strip("-") or "track"
                    data = _midi_bytes(studio, notes.select(mask))
                    z.writestr(f"{i + 1:02d}-{safe[:40]}.mid", data)
        return _attachment(buffer.getvalue(), "application/zip", "tracks.zip")

    @app.get("/api/download/stems.zip")
    def download_stems(loudness: float | None = None) -> Response:
        """The mix and one WAV per track, sample-aligned (the mix is their sum)."""
        import tempfile

        from tuplet.io.audio import AudioUnavailable
        from tuplet.io.mixdown import render_mix

        notes = studio.project.piece
        if len(notes) == 0:
            return _error(404, "the piece has no notes to download")
        scratch = studio.project.scratch("")
        scratch.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=scratch.parent) as folder, studio.renders:
            try:  # every file made in the project's tmp/, and no more renders at once
                mixed = render_mix(notes, Path(folder) / "piece.wav", stems=True,
                                   loudness=loudness, scratch_dir=folder)  # fmt: skip
            except AudioUnavailable as exc:
                return _error(503, f"no audio on this machine: {exc}")
            except UsageError as exc:
                return _error(400, str(exc).replace(folder, "").lstrip("/"))
            buffer = io.BytesIO()
            with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
                for path in (mixed.mix, *mixed.stems):
                    z.write(path, path.name)
        return _attachment(buffer.getvalue(), "application/zip", "stems.zip")

    @app.get("/api/download/report.json")
    def download_report() -> Response:
        data = json.dumps(studio.project.reports(), indent=2).encode()
        return _attachment(data, "application/json", "report.json")


__all__ = [
    "LOOPBACK_NAMES",
    "MAX_AUDIO_UPLOAD_BYTES",
    "MAX_UPLOAD_BYTES",
    "TOKEN_HEADER",
    "Studio",
    "create_app",
    "host_allowed",
]
