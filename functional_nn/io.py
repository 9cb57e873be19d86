"""Saving and loading params and traces: ``.npz`` arrays plus JSON metadata.

    save_params(path, net, params)  /  load_params(path, net=None) -> (net, params)
    save_trace(path, trace)         /  load_trace(path)            -> Trace
    network_to_dict(net)            /  network_from_dict(d)        -> Network

A file is one zip archive in NumPy's ``.npz`` layout: every array as a ``.npy``
entry named ``a/<k>``, and one ``meta.json`` entry (UTF-8 JSON) with the format
version, the kind of content, the network, the config, the seed and the
structure of every tree of arrays (which record, which fields, which entry).

Reading never unpickles anything and reads no more than the arrays the
metadata names, each checked against its entry's size before it is read; a
file that is not what it claims (truncated, corrupted, a header claiming more
data than the file holds, an entry in another compression, JSON nested too
deep, values that do not fit the network) is refused with a ``ValueError``
naming the file.  A loaded file is held in memory whole (about the size of
the file: a 1024-model x 10,000-epoch trace is some 240 MB).  Symbolic links
are refused.

Writes are atomic: the archive goes to a temporary file in the same folder
(created with the mode the process's umask gives, as any file it writes),
then is renamed over the target, so an interrupted save never leaves a
truncated file in its place; a save removes the temporary files that saves
of the same target by processes no longer running left behind.

These are the only functions of the package that touch files.
"""

from __future__ import annotations

import json
import math
import os
import zipfile
import zlib
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any, cast

import attrs
import numpy as np

from functional_nn import conv
from functional_nn._records import FloatArray
from functional_nn._version import __version__
from functional_nn.activations import ACTIVATIONS, Activation, LeakyReLU
from functional_nn.config import TrainConfig
from functional_nn.fold import Watch
from functional_nn.layers import Dense, DenseLayer, DropoutLayer, Layer
from functional_nn.network import Network, Params, model_shape
from functional_nn.optimizers import (
    OPTIMIZERS,
    AdagradState,
    AdamState,
    EmptyState,
    MomentumState,
    RMSPropState,
    ScheduleState,
)
from functional_nn.schedules import SCHEDULE_TYPES, SCHEDULES
from functional_nn.trace import ResumePoint, Trace

__all__ = [
    "FORMAT_VERSION",
    "LAYER_KINDS",
    "RECORDS",
    "load_params",
    "load_trace",
    "network_from_dict",
    "network_to_dict",
    "save_params",
    "save_trace",
]

FORMAT_VERSION = 2
_META = "meta.json"  # its entry: meta.json.npy, UTF-8 bytes
_META_MAX = 64 * 2**20  # bytes of JSON a file may hold

LAYER_KINDS: Mapping[str, type] = MappingProxyType(
    {
        "dense": DenseLayer,
        "dropout": DropoutLayer,
        "conv2d": conv.Conv2DLayer,
        "maxpool2d": conv.MaxPool2DLayer,
        "avgpool2d": conv.AvgPool2DLayer,
        "flatten": conv.FlattenLayer,
    }
)
"""Layer kind name -> class; a layer kind is described by its attrs fields (the activation by name)."""

RECORDS: Mapping[str, type] = MappingProxyType(
    {
        cls.__name__: cls
        for cls in (Dense, conv.Conv2D, conv.NoParams, ResumePoint, Watch)
        + (EmptyState, MomentumState, AdamState, RMSPropState, AdagradState, ScheduleState)
    }
)
"""The records a file may hold, by class name."""


# ----------------------------------------------------------- descriptions ---


def _activation_to_dict(act: Activation) -> dict[str, Any]:
    return {"name": act.name, "alpha": act.alpha} if isinstance(act, LeakyReLU) else {"name": act.name}


def _activation_from_dict(d: Mapping[str, Any]) -> Activation:
    if d["name"] == "leaky_relu":
        return LeakyReLU(alpha=d.get("alpha", 0.01))
    if d["name"] not in ACTIVATIONS:
        raise ValueError(f"unknown activation {d['name']!r}")
    return ACTIVATIONS[d["name"]]


def _layer_to_dict(layer: Layer) -> dict[str, Any]:
    kind = next((k for k, cls in LAYER_KINDS.items() if type(layer) is cls), None)
    if kind is None:
        raise TypeError(f"cannot describe a layer of type {type(layer).__name__}; register it in io.LAYER_KINDS")
    out: dict[str, Any] = {"kind": kind, "activation": _activation_to_dict(layer.activation)}
    for f in attrs.fields(cast(Any, type(layer))):
        if f.init and f.name != "activation":
            value = getattr(layer, f.name)
            out[f.name] = list(value) if isinstance(value, tuple) else value
    return out


def _layer_from_dict(spec: Mapping[str, Any]) -> Layer:
    cls = LAYER_KINDS.get(spec["kind"])
    if cls is None:
        raise ValueError(f"unknown layer kind {spec['kind']!r}")
    kwargs = {
        f.name: (_activation_from_dict(spec[f.name]) if f.name == "activation" else _tuple(spec[f.name]))
        for f in attrs.fields(cast(Any, cls))
        if f.init and f.name in spec
    }
    layer: Layer = cls(**kwargs)
    return layer


def _tuple(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def network_to_dict(net: Network) -> dict[str, Any]:
    """A JSON-ready description of the architecture."""
    if not isinstance(net, Network):
        raise TypeError(f"net must be a Network, got {type(net).__name__}")
    return {"layers": [_layer_to_dict(layer) for layer in net.layers]}


def network_from_dict(d: Mapping[str, Any]) -> Network:
    """Inverse of ``network_to_dict``.

    Raises:
        ValueError: if ``d`` does not describe a network (naming what is wrong).
    """
    try:
        return Network(tuple(_layer_from_dict(spec) for spec in d["layers"]))
    except (KeyError, IndexError, TypeError, AttributeError, ValueError) as err:
        raise ValueError(f"d does not describe a network ({type(err).__name__}: {err})") from None


def _hyper_to_json(value: Any) -> Any:
    """A hyperparameter as JSON: an array as a list, a schedule as its name and fields."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, SCHEDULE_TYPES):
        return {"schedule": value.name, **attrs.asdict(value)}
    return value


def _hyper_from_json(value: Any) -> Any:
    if isinstance(value, list):
        return np.asarray(value, dtype=np.float64)
    if isinstance(value, dict):
        fields = dict(value)
        cls = SCHEDULES.get(fields.pop("schedule", None))
        if cls is None:
            raise ValueError(f"unknown lr schedule {value.get('schedule')!r}")
        return cls(**fields)
    return value


def _config_to_dict(cfg: TrainConfig) -> dict[str, Any]:
    hyper = {k: _hyper_to_json(v) for k, v in cfg.optimizer.hyperparams.items()}
    d = {f.name: getattr(cfg, f.name) for f in attrs.fields(TrainConfig)}
    return {**d, "optimizer": {"name": cfg.optimizer.name, "hyperparams": hyper}, "loss": cfg.loss.name}


def _config_from_dict(d: Mapping[str, Any]) -> TrainConfig:
    opt = d["optimizer"]
    if opt["name"] not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {opt['name']!r}")
    hyper = {k: _hyper_from_json(v) for k, v in opt["hyperparams"].items()}
    fields = {f.name: _tuple(d[f.name]) for f in attrs.fields(TrainConfig) if f.name not in ("optimizer",)}
    return TrainConfig(**{**fields, "optimizer": OPTIMIZERS[opt["name"]](**hyper)})


# ------------------------------------------------------------ trees ---------


def _encode(tree: Any, arrays: list[np.ndarray[Any, Any]]) -> Any:
    """A JSON description of ``tree``; its arrays are appended to ``arrays`` (named by position)."""
    if tree is None:
        return {"none": True}
    if isinstance(tree, np.ndarray):
        arrays.append(tree)
        return {"array": len(arrays) - 1}
    if isinstance(tree, tuple):
        return {"tuple": [_encode(t, arrays) for t in tree]}
    if attrs.has(type(tree)) and type(tree).__name__ in RECORDS:
        fields = {f.name: _encode(getattr(tree, f.name), arrays) for f in attrs.fields(type(tree))}
        return {"record": type(tree).__name__, "fields": fields}
    raise TypeError(f"cannot save a {type(tree).__name__} (only arrays, tuples and the records of io.RECORDS)")


def _decode(spec: Any, read: Any) -> Any:
    if "none" in spec:
        return None
    if "array" in spec:
        return read(spec["array"])
    if "tuple" in spec:
        return tuple(_decode(s, read) for s in spec["tuple"])
    cls = RECORDS[spec["record"]]
    return cls(**{name: _decode(s, read) for name, s in spec["fields"].items()})


# ------------------------------------------------------------ files ---------


def _target(path: str | os.PathLike[str]) -> Path:
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or a path, got {type(path).__name__}")
    p = Path(path)
    if "\0" in str(p):
        raise ValueError(f"path {str(p)!r} holds a NUL byte, which no file name can")
    try:
        link = p.is_symlink()
    except (OSError, ValueError) as err:  # a name too long, a NUL byte in it, ...
        raise ValueError(f"path {str(p)!r}: {getattr(err, 'strerror', None) or err}") from None
    if link:
        raise ValueError(f"{p}: refused: it is a symbolic link (give the file it points to)")
    return p


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _write(path: str | os.PathLike[str], tree: Any, meta: dict[str, Any]) -> None:
    """Write the arrays of ``tree`` and ``meta`` to ``path``: atomically, with the umask's mode."""
    p = _target(path)
    arrays: list[np.ndarray[Any, Any]] = []
    meta = {"format": "functional_nn", "format_version": FORMAT_VERSION, "library_version": __version__, **meta}
    meta["tree"] = _encode(tree, arrays)
    folder = p.parent
    for stale in folder.glob(f".{p.name}.*.tmp"):  # left by saves killed before their rename
        pid = stale.name[len(p.name) + 2 :].split("-")[0]
        if pid.isdigit() and not _alive(int(pid)):
            stale.unlink(missing_ok=True)
    tmp = folder / f".{p.name}.{os.getpid()}-{os.urandom(4).hex()}.tmp"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # the umask applies, as to any new file
        with os.fdopen(fd, "wb") as fh:
            savez: Any = np.savez
            savez(fh, **{f"a/{k}": a for k, a in enumerate(arrays)}, **{_META: _json_bytes(meta)})
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, p)
    except BaseException as err:
        tmp.unlink(missing_ok=True)
        if isinstance(err, OSError):
            raise ValueError(f"{p}: cannot write ({err.strerror or err})") from err
        raise


def _json_bytes(meta: Mapping[str, Any]) -> np.ndarray[Any, Any]:
    return np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8)


def _read(path: str | os.PathLike[str], kind: str) -> tuple[Path, dict[str, Any], Any]:
    """``(path, meta, read)`` where ``read(k)`` reads array ``k``, checked against its entry's size."""
    p = _target(path)
    try:
        if not p.is_file():
            raise ValueError(f"{p}: no such file")
        archive = zipfile.ZipFile(p)
    except (OSError, zipfile.BadZipFile, EOFError, NotImplementedError) as err:
        raise ValueError(f"{p}: corrupted, truncated or not an .npz file ({err})") from None
    with archive:
        for info in archive.infolist():  # headers only: an entry of pickled objects is refused unread
            if _header(p, archive, info)[2].hasobject:
                raise ValueError(f"{p}: refused: the file holds pickled or object data, which is never loaded")
        meta = _meta(p, archive, kind)
        cache: dict[int, FloatArray] = {}

        def read(k: object) -> FloatArray:
            if not isinstance(k, int) or isinstance(k, bool):
                raise ValueError(f"array reference {k!r} is not an index")
            if k not in cache:
                cache[k] = _entry(p, archive, f"a/{k}.npy")
            return cache[k]

        try:
            tree = _decode(meta["tree"], read)
        except (KeyError, TypeError, AttributeError, ValueError, RecursionError) as err:
            raise ValueError(f"{p}: corrupted or inconsistent contents ({type(err).__name__}: {err})") from None
    return p, meta, tree


def _meta(p: Path, archive: zipfile.ZipFile, kind: str) -> dict[str, Any]:
    try:
        if f"{_META}.npy" not in archive.namelist():
            raise ValueError(f"{p}: not a functional_nn file (no {_META} entry)")
        meta = json.loads(_entry(p, archive, f"{_META}.npy", limit=_META_MAX).tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as err:
        raise ValueError(f"{p}: corrupted metadata ({type(err).__name__})") from None
    if not isinstance(meta, dict) or meta.get("format") != "functional_nn":
        raise ValueError(f"{p}: not a functional_nn file")
    if meta.get("format_version") != FORMAT_VERSION:
        raise ValueError(
            f"{p}: format version {meta.get('format_version')!r} is not supported (this library reads {FORMAT_VERSION})"
        )
    if meta.get("kind") != kind:
        raise ValueError(f"{p}: holds {meta.get('kind')!r}, expected {kind!r}")
    return meta


def _header(p: Path, archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> tuple[tuple[int, ...], bool, np.dtype[Any]]:
    """The ``(shape, fortran_order, dtype)`` of one ``.npy`` entry, reading its header only."""
    try:
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise ValueError(f"entry {info.filename} uses an unsupported compression ({info.compress_type})")
        with archive.open(info) as fh:
            return _npy_header(fh)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error, NotImplementedError) as err:
        raise ValueError(f"{p}: corrupted, truncated or not an .npz file ({type(err).__name__}: {err})") from None


def _npy_header(fh: Any) -> tuple[tuple[int, ...], bool, np.dtype[Any]]:
    version = np.lib.format.read_magic(fh)
    read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    shape, fortran, dtype = read(fh)
    return tuple(shape), bool(fortran), dtype


def _entry(p: Path, archive: zipfile.ZipFile, name: str, limit: int | None = None) -> FloatArray:
    """One ``.npy`` entry: its header checked against the entry's size before any data is read."""
    try:
        info = archive.getinfo(name)
        shape, fortran, dtype = _header(p, archive, info)
        with archive.open(info) as fh:
            _npy_header(fh)
            if dtype.kind not in "biuf":
                raise ValueError(f"entry {name} holds {dtype} data, not numbers")
            nbytes = math.prod(shape) * dtype.itemsize
            if nbytes > info.file_size - fh.tell() or (limit is not None and nbytes > limit):
                raise ValueError(f"entry {name} claims {shape} {dtype} values, more than it holds")
            data = fh.read(nbytes)
    except KeyError:
        raise ValueError(f"{p}: missing array {name[:-4]!r}") from None
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error, NotImplementedError) as err:
        raise ValueError(f"{p}: corrupted, truncated or not an .npz file ({type(err).__name__}: {err})") from None
    if len(data) != nbytes:
        raise ValueError(f"{p}: corrupted, truncated or not an .npz file (entry {name} is short)")
    arr = np.frombuffer(data, dtype=dtype).reshape(shape, order="F" if fortran else "C")
    if name != f"{_META}.npy":
        arr = arr.astype(np.float64)
    arr.flags.writeable = False
    return arr


# ------------------------------------------------------------ params --------


def save_params(path: str | os.PathLike[str], net: Network, params: Params) -> None:
    """Write ``params`` of ``net`` to ``path`` (atomically).

    Raises:
        TypeError, ValueError: if params do not fit net, or the file cannot be written (naming it).
    """
    model_shape(net, params)
    _write(path, params, {"kind": "params", "network": network_to_dict(net)})


def load_params(path: str | os.PathLike[str], net: Network | None = None) -> tuple[Network, Params]:
    """Read ``(net, params)`` written by ``save_params``.

    Args:
        path: the file.
        net: if given, the params must fit this network, which is returned.

    Raises:
        ValueError: naming the file and what is wrong with it.
    """
    if net is not None and not isinstance(net, Network):
        raise TypeError(f"net must be a Network or None, got {type(net).__name__}")
    p, meta, params = _read(path, "params")
    saved = _network(p, meta)
    for candidate in (saved, net):
        if candidate is not None:
            _fits(p, candidate, params)
    return net or saved, params


def _network(p: Path, meta: Mapping[str, Any]) -> Network:
    try:
        return network_from_dict(meta["network"])
    except (KeyError, TypeError, ValueError) as err:
        raise ValueError(f"{p}: the network it describes is not valid: {err}") from None


def _fits(p: Path, net: Network, params: Any) -> tuple[int, ...]:
    if isinstance(params, tuple) and len(params) != len(net.layers):
        raise ValueError(f"{p}: the file holds params for {len(params)} layers, the network has {len(net.layers)}")
    try:
        return model_shape(net, params)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{p}: params do not fit the network: {err}") from None


# ------------------------------------------------------------ traces --------


def save_trace(path: str | os.PathLike[str], trace: Trace) -> None:
    """Write ``trace`` (per-epoch arrays, params, optimizer state, snapshots, resume point) to ``path``, atomically.

    Raises:
        TypeError: if ``trace`` is not a Trace.
        ValueError: if the file cannot be written (naming it).
    """
    if not isinstance(trace, Trace):
        raise TypeError(f"trace must be a Trace, got {type(trace).__name__}")
    arrays = tuple(getattr(trace, name) for name in _TRACE_ARRAYS)
    held_out = () if trace.val_loss is None else (trace.val_loss, trace.val_accuracy)
    snaps = tuple(s for _, s in trace.snapshots)
    rates = () if trace.lr is None else (trace.lr,)
    tree = (arrays, trace.params, trace.opt_state, snaps, trace.resume_point or (), held_out, rates)
    meta = {
        "kind": "trace",
        "network": network_to_dict(trace.network),
        "config": _config_to_dict(trace.config),
        "stop_reasons": list(trace.stop_reasons),
        "snapshot_epochs": [e for e, _ in trace.snapshots],
    }
    _write(path, tree, meta)


_TRACE_ARRAYS = ("loss", "accuracy", "grad_norm", "final_loss", "final_accuracy", "stop_epoch")


def load_trace(path: str | os.PathLike[str]) -> Trace:
    """Read a Trace written by ``save_trace``; ``compare_traces`` finds no difference.

    Raises:
        ValueError: naming the file and what is wrong with it.
    """
    p, meta, tree = _read(path, "trace")
    net = _network(p, meta)
    try:
        arrays, params, state, snaps, point, held_out, *more = tree  # files without learning rates have 6 parts
        rates = more[0] if more else ()
        if len(more) > 1 or len(rates) > 1:
            raise ValueError("the trace holds more parts than a trace has")
        _fits(p, net, params)
        config = _config_from_dict(meta["config"])  # the Trace checks that its fields fit together
        fields = dict(zip(_TRACE_ARRAYS, arrays, strict=True))
        return Trace(
            **fields,
            params=params,
            opt_state=state,
            stop_reasons=tuple(meta["stop_reasons"]),
            snapshots=tuple(zip((int(e) for e in meta["snapshot_epochs"]), snaps, strict=True)),
            network=net,
            config=config,
            seed=config.seed,
            resume_point=point or None,
            val_loss=held_out[0] if held_out else None,
            val_accuracy=held_out[1] if held_out else None,
            lr=rates[0] if rates else None,
        )
    except (KeyError, TypeError, ValueError, AttributeError) as err:
        raise ValueError(f"{p}: inconsistent contents ({type(err).__name__}: {err})") from None
