"""Checkpoints: the one place that reads and writes model folders (no pickle anywhere).

A checkpoint is a folder::

    config.json          {"format": "tuplet-checkpoint", "format_version": 1,
                          "model": ModelConfig.to_dict(), "encoding": {...},
                          "training": {...} or null, "extra": {...},
                          "versions": {"tuplet", "torch", "python", "safetensors"},
                          "created": ISO time (UTC), "checkpoint_id": random hex,
                          "weights_sha256": hex digest of model.safetensors}
    model.safetensors    the weights (fp32 as trained), nothing executable
    NAME.safetensors     optional states (optimizer...), see :func:`save_state`

Loading rebuilds the model from the saved ``model`` config, never from today's defaults, and
checks the weights against ``weights_sha256``.

Atomic writes. :func:`save_checkpoint` writes the whole new folder as a hidden sibling
``.NAME.tmp-XXXX`` (files fsynced), then swaps it in with two renames: the existing folder to
``.NAME.old``, the new one to ``NAME``; then ``.NAME.old`` is removed. A kill before the swap
leaves the old checkpoint untouched (the temp folder is cleaned by the next save); a kill
between the two renames leaves the complete previous checkpoint in ``.NAME.old``, which
:func:`load_checkpoint` and the next save move back. Other files of the old folder (a model
card, plots) are carried over; state files are not, since they belong to the old weights.
:func:`save_state` writes one file (tensors plus JSON in the safetensors header) through a
temp file and ``os.replace``; it records the ``checkpoint_id`` it belongs to, so a state left
from an interrupted save is refused by :func:`load_state` rather than silently mixed in. Pass
``states=`` to :func:`save_checkpoint` to write weights and states in one atomic step.
One writer per folder at a time.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import secrets
import shutil
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tuplet.errors import BadFileError, UsageError

if TYPE_CHECKING:
    import torch

    from tuplet.model.transformer import MusicTransformer

FORMAT = "tuplet-checkpoint"
FORMAT_VERSION = 1
CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
_STATE_KEY = "tuplet_state"
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")

StateDict = dict[str, "torch.Tensor"]


# ------------------------------------------------------------------------------ files
def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # not possible on every platform; the rename is still atomic
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _write_bytes(path: Path, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def _json_dumps(obj: Any, what: str) -> str:
    try:
        return json.dumps(obj, indent=2)
    except (TypeError, ValueError) as e:
        raise UsageError(f"checkpoint: {what} is not JSON-safe ({e})") from e


def _check_name(name: str) -> None:
    if not _NAME_RE.match(name) or name == WEIGHTS_NAME.split(".")[0]:
        raise UsageError(f"bad state name {name!r} (letters, digits, '_', '-', '.'; not 'model')")


def _state_bytes(tensors: StateDict, meta: dict[str, Any], checkpoint_id: str | None) -> bytes:
    from safetensors.torch import save

    header = {_STATE_KEY: _json_dumps(meta, "state meta")}
    if checkpoint_id is not None:
        header["checkpoint_id"] = checkpoint_id
    flat = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    return save(flat, metadata=header)


def recover_interrupted_save(folder: str | os.PathLike[str]) -> None:
    """Finish a save killed between its two renames: put the previous checkpoint back.

    Loading and saving do this themselves; call it before asking whether ``folder`` exists.
    """
    folder = Path(folder)
    old = folder.parent / f".{folder.name}.old"
    if not folder.exists() and (old / CONFIG_NAME).exists():
        try:
            os.replace(old, folder)
        except OSError:  # read-only place: leave it; loading then reports the folder missing
            return
        _fsync_dir(folder.parent)


# ------------------------------------------------------------------------ checkpoints
def save_checkpoint(
    folder: str | os.PathLike[str],
    model: MusicTransformer,
    *,
    encoding: dict[str, Any],
    training: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
    states: dict[str, tuple[StateDict, dict[str, Any]]] | None = None,
) -> Path:
    """Write ``model`` and its configs to ``folder``, atomically (see the module docstring).

    Args:
        folder: The checkpoint folder (created, or replaced as a whole).
        model: The model; its weights are saved as they are (moved to CPU).
        encoding: The encoding config dict (``EncodingConfig.to_dict()``) the model reads.
        training: The training config dict, if any.
        extra: Anything else JSON-safe (step, validation loss...).
        states: Name -> (tensors, meta) written with the weights, as :func:`save_state` does.

    Returns:
        The folder.

    Raises:
        UsageError: Configs that are not JSON-safe, a bad state name, or an encoding whose
            ``fields`` differ from the model's.
    """
    import safetensors
    import torch
    from safetensors.torch import save

    import tuplet

    folder = Path(folder)
    fields = encoding.get("fields")
    if fields is not None and list(fields) != list(model.config.field_names):
        raise UsageError(
            f"checkpoint: the encoding's fields {list(fields)} are not the model's "
            f"{list(model.config.field_names)}"
        )
    weights = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    weights_bytes = save(weights, metadata={"format": FORMAT})
    checkpoint_id = secrets.token_hex(8)
    config = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "model": model.config.to_dict(),
        "encoding": encoding,
        "training": training,
        "extra": extra or {},
        "versions": {
            "tuplet": tuplet.__version__,
            "torch": torch.__version__,
            "python": platform.python_version(),
            "safetensors": safetensors.__version__,
        },
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "checkpoint_id": checkpoint_id,
        "weights_sha256": hashlib.sha256(weights_bytes).hexdigest(),
    }
    config_text = _json_dumps(config, "the checkpoint config")
    state_files = {}
    for name, (tensors, meta) in (states or {}).items():
        _check_name(name)
        state_files[f"{name}.safetensors"] = _state_bytes(tensors, meta, checkpoint_id)

    files = {WEIGHTS_NAME: weights_bytes, **state_files, CONFIG_NAME: config_text.encode("utf-8")}
    _replace_folder(folder, files)
    return folder


def _replace_folder(folder: Path, files: dict[str, bytes]) -> None:
    """Write ``files`` as ``folder``, replacing it as a whole (a crash leaves one or the other).

    The user's other files in the old folder are carried over; its ``.safetensors`` states
    belong to the old weights and are not. :func:`recover_interrupted_save` completes a save
    killed between the two renames.
    """
    parent = folder.parent
    parent.mkdir(parents=True, exist_ok=True)
    recover_interrupted_save(folder)
    for stale in parent.glob(f".{folder.name}.tmp-*"):  # left by a killed save
        shutil.rmtree(stale, ignore_errors=True)
    tmp = parent / f".{folder.name}.tmp-{secrets.token_hex(4)}"
    tmp.mkdir()
    try:
        for file_name, data in files.items():
            _write_bytes(tmp / file_name, data)
        if folder.is_dir():  # carry over the user's other files; states belong to old weights
            for item in folder.iterdir():
                if item.name == CONFIG_NAME or item.suffix == ".safetensors":
                    continue
                if item.is_dir():
                    shutil.copytree(item, tmp / item.name)
                elif item.is_file():
                    shutil.copy2(item, tmp / item.name)
        _fsync_dir(tmp)
        old = parent / f".{folder.name}.old"
        if old.exists():
            shutil.rmtree(old)
        if folder.exists():
            os.replace(folder, old)
        os.replace(tmp, folder)
        _fsync_dir(parent)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    shutil.rmtree(parent / f".{folder.name}.old", ignore_errors=True)


def check_device(device: str | torch.device) -> None:
    """Make sure ``device`` names a device this machine has.

    Raises:
        UsageError: An unknown device name, or a GPU that PyTorch cannot see here.
    """
    import torch

    try:
        kind = torch.device(device).type
    except (RuntimeError, TypeError):
        raise UsageError(f"unknown device {device!r} (use cpu, cuda or cuda:N)") from None
    if kind == "cuda" and not torch.cuda.is_available():
        raise UsageError(
            "no CUDA GPU is available here (or this PyTorch has no CUDA); use --device cpu"
        )
    if kind == "mps" and not torch.backends.mps.is_available():
        raise UsageError("no Apple GPU (mps) is available here; use --device cpu")


def load_checkpoint_config(folder: str | os.PathLike[str]) -> dict[str, Any]:
    """A checkpoint's ``config.json``, checked as JSON only (no torch, no weights): fast.

    What a command needs to check its arguments before the model loads (the encoding, the
    training settings); :func:`load_checkpoint_info` also checks the model config.

    Raises:
        BadFileError: No such folder, or a missing, unreadable or invalid ``config.json``
            (a training run's folder: the message names the checkpoint in it).
    """
    folder = Path(folder)
    recover_interrupted_save(folder)
    if not folder.is_dir():
        raise BadFileError(folder, "no such checkpoint folder")
    path = folder / CONFIG_NAME
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        runs = [x for x in ("best", "last") if (folder / x / CONFIG_NAME).is_file()]
        if runs:  # a training run's folder holds its checkpoints one level down
            raise BadFileError(
                path, f"missing: {folder} is a training run; give {folder / runs[0]}"
            ) from None
        raise BadFileError(path, "missing (not a tuplet checkpoint folder?)") from None
    except (OSError, UnicodeDecodeError) as e:
        raise BadFileError(path, f"cannot be read ({e})") from None
    except json.JSONDecodeError as e:
        raise BadFileError(path, f"not valid JSON ({e})") from None
    if not isinstance(info, dict) or info.get("format") != FORMAT:
        raise BadFileError(path, "not a tuplet checkpoint config")
    if int(info.get("format_version", 0)) > FORMAT_VERSION:
        raise BadFileError(
            path, f"written by a newer tuplet (format {info['format_version']}); upgrade tuplet"
        )
    for key in ("model", "encoding", "weights_sha256", "checkpoint_id"):
        if key not in info:
            raise BadFileError(path, f"has no {key!r} entry")
    info.setdefault("training", None)
    info.setdefault("extra", {})
    info["path"] = str(folder)
    return info


def load_checkpoint_info(folder: str | os.PathLike[str]) -> dict[str, Any]:
    """The contents of a checkpoint's ``config.json`` (no weights loaded), plus ``path``.

    Raises:
        BadFileError: No such folder, or a missing, unreadable or invalid ``config.json``.
    """
    from tuplet.model.transformer import ModelConfig

    info = load_checkpoint_config(folder)
    path = Path(folder) / CONFIG_NAME
    try:
        ModelConfig.from_dict(info["model"])
    except (UsageError, TypeError, ValueError) as e:
        raise BadFileError(path, f"invalid model config ({e})") from None
    return info


def load_checkpoint(
    folder: str | os.PathLike[str], device: str | torch.device = "cpu"
) -> tuple[MusicTransformer, dict[str, Any]]:
    """Rebuild a model from a checkpoint folder, in eval mode, on ``device``.

    Args:
        folder: A folder written by :func:`save_checkpoint`.
        device: Where to put the model.

    Returns:
        ``(model, info)``; info is :func:`load_checkpoint_info`'s dict (keys ``model``,
        ``encoding``, ``training``, ``extra``, ``versions``, ``created``, ``path``...).

    Raises:
        BadFileError: Missing folder or file, corrupted weights, or weights that do not fit
            the saved config; the message names the file.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load

    from tuplet.model.transformer import ModelConfig, MusicTransformer

    check_device(device)
    info = load_checkpoint_info(folder)
    path = Path(folder) / WEIGHTS_NAME
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise BadFileError(path, "missing") from None
    except OSError as e:
        raise BadFileError(path, f"cannot be read ({e})") from None
    if hashlib.sha256(data).hexdigest() != info["weights_sha256"]:
        raise BadFileError(path, "corrupted (its checksum differs from config.json's)")
    try:
        weights = load(data)
    except (SafetensorError, ValueError, RuntimeError) as e:
        raise BadFileError(path, f"not a valid safetensors file ({e})") from None
    config_path = Path(folder) / CONFIG_NAME
    model_config = ModelConfig.from_dict(info["model"])
    problem = _config_problem(model_config, sum(t.numel() for t in weights.values()))
    if problem and problem.startswith("it needs"):
        raise BadFileError(path, f"does not fit the model in config.json ({problem})")
    if problem:
        raise BadFileError(config_path, f"invalid model config ({problem})")
    try:
        model = MusicTransformer(model_config)
    except (UsageError, TypeError, ValueError, RuntimeError) as e:
        raise BadFileError(config_path, f"invalid model config ({e})") from None
    try:
        model.load_state_dict(weights, strict=True)
    except RuntimeError as e:
        raise BadFileError(path, f"does not fit the model in config.json ({e})") from None
    return model.to(device).eval(), info


def _config_problem(config: Any, n_weights: int) -> str | None:
    """Why a model config cannot be the one of weights holding ``n_weights`` numbers, or None.

    Checked before the model is built: a damaged ``config.json`` (a width of 99999999) would
    otherwise ask for terabytes. The count is a lower bound of the config's parameters (the
    attention and feed-forward matrices and the embeddings), so a true config never fails it.
    """
    sizes = {k: getattr(config, k, None) for k in ("n_layer", "n_head", "d_model", "ff_mult")}
    for name, value in sizes.items():
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            return f"{name} is {value!r}, not a positive whole number"
    vocab = getattr(config, "vocab_sizes", ())
    if not all(isinstance(v, int) and v > 0 for v in vocab):
        return f"vocab_sizes {vocab!r}"
    n_layer, d, ff_mult = int(config.n_layer), int(config.d_model), int(config.ff_mult)
    at_least = n_layer * d * d * (4 + 2 * ff_mult) + sum(vocab) * d
    if at_least > n_weights:
        return f"it needs at least {at_least:,} weights, the file holds {n_weights:,}"
    return None


# ------------------------------------------------------------------------------ states
def save_state(
    folder: str | os.PathLike[str],
    name: str,
    tensors: StateDict,
    meta: dict[str, Any],
) -> Path:
    """Write named tensors plus JSON-safe ``meta`` as ``folder/NAME.safetensors``, atomically.

    The meta is stored as JSON in the safetensors header, with the ``checkpoint_id`` of the
    folder's current checkpoint (if any), so :func:`load_state` can refuse a state that
    belongs to other weights.

    Returns:
        The file written.

    Raises:
        UsageError: A bad name or a meta that is not JSON-safe.
    """
    _check_name(name)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    checkpoint_id = None
    config = folder / CONFIG_NAME
    if config.exists():
        try:
            checkpoint_id = json.loads(config.read_text(encoding="utf-8")).get("checkpoint_id")
        except (OSError, ValueError, AttributeError):
            checkpoint_id = None
    data = _state_bytes(tensors, meta, checkpoint_id)
    path = folder / f"{name}.safetensors"
    tmp = folder / f".{name}.safetensors.tmp-{secrets.token_hex(4)}"
    try:
        _write_bytes(tmp, data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(folder)
    return path


def load_state(folder: str | os.PathLike[str], name: str) -> tuple[StateDict, dict[str, Any]]:
    """Read what :func:`save_state` wrote.

    Returns:
        ``(tensors, meta)``, tensors on CPU.

    Raises:
        BadFileError: A missing or corrupted file, or a state that belongs to an earlier save
            of the checkpoint in the same folder (an interrupted save).
    """
    from safetensors import SafetensorError, safe_open

    _check_name(name)
    folder = Path(folder)
    path = folder / f"{name}.safetensors"
    if not path.is_file():
        raise BadFileError(path, "missing")
    try:
        tensors: StateDict = {}
        with safe_open(str(path), framework="pt") as f:
            header = f.metadata() or {}
            for key in f.keys():
                tensors[key] = f.get_tensor(key)
        meta = json.loads(header[_STATE_KEY])
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise BadFileError(path, f"not a valid state file ({e})") from None
    except KeyError:
        raise BadFileError(path, "not a tuplet state file (no metadata)") from None
    saved_id = header.get("checkpoint_id")
    config = folder / CONFIG_NAME
    if saved_id is not None and config.exists():
        try:
            current = json.loads(config.read_text(encoding="utf-8")).get("checkpoint_id")
        except (OSError, ValueError, AttributeError):
            current = None
        if current is not None and current != saved_id:
            raise BadFileError(
                path, "belongs to an earlier save of this checkpoint (an interrupted save)"
            )
    return tensors, meta


# ---------------------------------------------------------- optimizer state, no pickle
def _to_tree(obj: Any, name: str, tensors: StateDict) -> Any:
    import torch

    if isinstance(obj, torch.Tensor):
        tensors[name] = obj.detach().cpu().contiguous()
        return {"__tensor__": name}
    if isinstance(obj, dict):
        if all(isinstance(k, str) and not k.startswith("__") for k in obj):
            return {k: _to_tree(v, f"{name}.{k}", tensors) for k, v in obj.items()}
        # integer keys (parameter ids) would turn into strings in JSON: keep them as pairs
        return {"__items__": [[k, _to_tree(v, f"{name}.{k}", tensors)] for k, v in obj.items()]}
    if isinstance(obj, tuple):
        return {"__tuple__": [_to_tree(v, f"{name}.{i}", tensors) for i, v in enumerate(obj)]}
    if isinstance(obj, list):
        return [_to_tree(v, f"{name}.{i}", tensors) for i, v in enumerate(obj)]
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise UsageError(f"optimizer state: cannot store a {type(obj).__name__} at {name}")


def _from_tree(obj: Any, tensors: StateDict) -> Any:
    if isinstance(obj, dict):
        if "__tensor__" in obj:
            return tensors[obj["__tensor__"]]
        if "__items__" in obj:
            return {k: _from_tree(v, tensors) for k, v in obj["__items__"]}
        if "__tuple__" in obj:
            return tuple(_from_tree(v, tensors) for v in obj["__tuple__"])
        return {k: _from_tree(v, tensors) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_from_tree(v, tensors) for v in obj]
    return obj


def optimizer_state_to_tensors(state_dict: dict[str, Any]) -> tuple[StateDict, dict[str, Any]]:
    """Split ``optimizer.state_dict()`` into named CPU tensors and a JSON-safe tree.

    Returns:
        ``(tensors, meta)`` for :func:`save_state`; :func:`optimizer_state_from_tensors`
        rebuilds the state dict (integer keys and tuples included).

    Raises:
        UsageError: A value that is neither a tensor nor JSON-safe.
    """
    tensors: StateDict = {}
    tree = _to_tree(state_dict, "optimizer", tensors)
    return tensors, {"optimizer": tree}


def optimizer_state_from_tensors(tensors: StateDict, meta: dict[str, Any]) -> dict[str, Any]:
    """Rebuild an optimizer state dict; ``optimizer.load_state_dict`` moves it to the device.

    Raises:
        UsageError: The meta was not written by :func:`optimizer_state_to_tensors`.
    """
    if "optimizer" not in meta:
        raise UsageError("optimizer state: the meta has no 'optimizer' entry")
    try:
        return _from_tree(meta["optimizer"], tensors)
    except (KeyError, TypeError, ValueError) as e:
        raise UsageError(f"optimizer state: inconsistent tensors and meta ({e})") from None


__all__ = [
    "check_device",
    "load_checkpoint",
    "load_checkpoint_config",
    "load_checkpoint_info",
    "load_state",
    "optimizer_state_from_tensors",
    "optimizer_state_to_tensors",
    "recover_interrupted_save",
    "save_checkpoint",
    "save_state",
]
