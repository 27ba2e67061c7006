"""``tuplet studio``: the whole workflow in a local web app.

* :mod:`tuplet.studio.app`: the FastAPI app (:func:`create_app`): the page, the JSON API, the
  safety rules (loopback Host only, a per-launch token for every change, checked uploads);
* :mod:`tuplet.studio.jobs`: the bounded pool that runs generation (a full queue is refused);
* :mod:`tuplet.studio.project`: the piece, its history (undo/redo of kept changes), the
  candidates and reports, saved as a folder that can be reopened;
* :mod:`tuplet.studio.work`: the model, and each action (generate, continue, rewrite, add a
  part, loop) as a call of :mod:`tuplet.generation.generate`, with its candidates' reports;
* :mod:`tuplet.studio.progress`: a running job's notes drawn, its draft and its cancel;
* :mod:`tuplet.studio.view`: the piece as the page draws it;
* :mod:`tuplet.studio.schemas`: the JSON bodies the API takes;
* ``static/``: the page (one HTML, one JS, one CSS file; nothing from another host).

FastAPI, uvicorn and python-multipart are imported only when the app is built.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fastapi import FastAPI


def create_app(*args: Any, **kwargs: Any) -> FastAPI:
    """:func:`tuplet.studio.app.create_app` (imported on first use).

    Raises:
        MissingExtraError: FastAPI is not installed (``pip install 'tuplet[studio]'``).
    """
    try:
        import fastapi  # noqa: F401
    except ImportError:
        from tuplet.errors import MissingExtraError

        raise MissingExtraError("fastapi", "studio") from None
    from tuplet.studio.app import create_app as create

    return create(*args, **kwargs)


__all__ = ["create_app"]
