"""``tuplet studio``: the local web app (see :mod:`tuplet.studio`)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from tuplet.errors import UsageError

DEFAULT_PORT = 8765
DESCRIPTION = """\
Start the studio: a web page on this machine (http://127.0.0.1:PORT) where you open a MIDI or
score file (or start empty, or from a bundled example), see it as a piano roll, play it, and
ask for ideas: generate, continue from the playhead, rewrite a selected span, add a part, make
a loop. Each action returns candidates to listen to against your piece; keep one, undo, redo,
download MIDI (whole or per track), WAV and the reports.

It answers only this machine (127.0.0.1), and only the page it serves can change anything (a
token drawn at every launch). Your piece and its history are kept in the --project folder
(reopen it to go on); nothing else is written."""


def cmd_studio(args: argparse.Namespace) -> int:
    """Build the app, print where it is, open the browser, serve until Ctrl-C."""
    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port must be 0..65535, got {args.port}")
    try:
        import uvicorn
    except ImportError:
        from tuplet.errors import MissingExtraError

        raise MissingExtraError("uvicorn", "studio") from None
    import socket

    from tuplet.studio import create_app

    port = args.port
    if port == 0:  # any free port
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
    app = create_app(args.model, args.project, port=port, device=args.device)
    import threading

    def warm_up() -> None:  # the first idea should not wait for the weights
        holder = app.state.studio.model
        try:
            holder.lm  # noqa: B018 (loads the model)
            holder.index  # noqa: B018 (loads the originality index, if any)
        except Exception as exc:  # the first job will say it again, in the page
            print(f"tuplet studio: the model did not load: {exc}", file=sys.stderr)
        try:  # and the first recording not for transcription's imports and compiling
            from tuplet.io.transcribe import warm_up as warm_transcription

            warm_transcription()
        except Exception:  # not installed, or failing: an opened recording will say why
            pass

    threading.Thread(target=warm_up, daemon=True).start()
    url = f"http://127.0.0.1:{port}/"
    print(f"tuplet studio: {url} (project: {args.project}); Ctrl-C stops it", flush=True)
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    if not args.no_browser:
        import time
        import webbrowser

        def open_when_up() -> None:
            for _ in range(200):
                if server.started:
                    webbrowser.open(url)
                    return
                time.sleep(0.05)

        threading.Thread(target=open_when_up, daemon=True).start()
    try:
        server.run()
    except OSError as exc:
        print(f"tuplet: error: port {port}: {exc.strerror or exc} (try --port 0)", file=sys.stderr)
        return 1
    return 0


def register(sub: Any) -> None:
    """Add ``tuplet studio`` to the ``tuplet`` parser."""
    p = sub.add_parser(
        "studio",
        help="the local web app: piano roll, playback, ideas to audition, keep, undo",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--model", default=None, help="checkpoint folder (default: the shipped model)")
    p.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help=f"default {DEFAULT_PORT}; 0: any free"
    )
    p.add_argument(
        "--project",
        default="tuplet-project",
        help="the folder that keeps the piece and its history (default: tuplet-project)",
    )
    p.add_argument("--no-browser", dest="no_browser", action="store_true", help="do not open it")
    p.add_argument("--device", default="cpu", help="where the model runs (default cpu)")
    p.set_defaults(handler=cmd_studio)
