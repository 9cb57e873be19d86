"""Saving and loading params and traces: ``.npz`` arrays plus JSON metadata.

    save_params(path, net, params)  /  load_params(path) -> (net, params)
    save_trace(path, trace)         /  load_trace(path)  -> Trace
    network_to_dict(net) / network_from_dict(d)

A file is one ``.npz`` archive: every array under a path-like name
(``params/0/w``) and one ``meta.json`` entry (a uint8 array holding UTF-8
JSON) with the format version, library version, kind of content, network
description, config and seed.  Loading uses ``allow_pickle=False``, so a file
carrying object arrays or pickled data is refused.  Writes are atomic: the
archive is written to a temporary file in the same folder and renamed over the
target, so an interrupted save never leaves a truncated file in its place.

These are the only functions of the package that touch files.
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any, cast

import attrs
import numpy as np
import numpy.typing as npt

from functional_nn import conv
from functional_nn._records import FloatArray
from functional_nn._version import __version__
from functional_nn.activations import ACTIVATIONS, Activation, LeakyReLU
from functional_nn.config import TrainConfig
from functional_nn.layers import Dense, DenseLayer, Layer
from functional_nn.losses import get_loss
from functional_nn.network import Network, Params, model_shape
from functional_nn.optimizers import (
    AdagradState,
    AdamState,
    EmptyState,
    MomentumState,
    OptState,
    RMSPropState,
    make_optimizer,
)
from functional_nn.trace import ResumePoint, Trace
from functional_nn.tree import leaves, tree_unflatten

__all__ = [
    "FORMAT_VERSION",
    "LAYER_KINDS",
    "PARAM_TYPES",
    "load_params",
    "load_trace",
    "network_from_dict",
    "network_to_dict",
    "save_params",
    "save_trace",
]

FORMAT_VERSION = 2
_META = "meta.json"

PARAM_TYPES: Mapping[str, type] = MappingProxyType({"Dense": Dense, "Conv2D": conv.Conv2D, "NoParams": conv.NoParams})
"""Params record classes by name, for loading."""

STATE_TYPES: Mapping[str, type] = MappingProxyType(
    {
        "EmptyState": EmptyState,
        "MomentumState": MomentumState,
        "AdamState": AdamState,
        "RMSPropState": RMSPropState,
        "AdagradState": AdagradState,
    }
)


def _activation_to_dict(act: Activation) -> dict[str, Any]:
    d: dict[str, Any] = {"name": act.name}
    if isinstance(act, LeakyReLU):
        d["alpha"] = act.alpha
    return d


def _activation_from_dict(d: Mapping[str, Any]) -> Activation:
    name = d["name"]
    if name == "leaky_relu":
        return LeakyReLU(alpha=float(d.get("alpha", 0.01)))
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}")
    return ACTIVATIONS[name]


LAYER_KINDS: Mapping[str, type] = MappingProxyType(
    {
        "dense": DenseLayer,
        "conv2d": conv.Conv2DLayer,
        "maxpool2d": conv.MaxPool2DLayer,
        "avgpool2d": conv.AvgPool2DLayer,
        "flatten": conv.FlattenLayer,
    }
)
"""Layer kind name -> class; a layer kind is described by its attrs fields (the activation by name)."""


def _layer_to_dict(layer: Layer) -> dict[str, Any]:
    for kind, cls in LAYER_KINDS.items():
        if type(layer) is cls:
            out: dict[str, Any] = {"kind": kind}
            for f in attrs.fields(cast(Any, cls)):
                value = getattr(layer, f.name)
                if f.init:
                    out[f.name] = _activation_to_dict(value) if f.name == "activation" else _jsonable(value)
            out.setdefault("activation", _activation_to_dict(layer.activation))
            return out
    raise TypeError(f"cannot describe a layer of type {type(layer).__name__}; register it in io.LAYER_KINDS")


def _layer_from_dict(spec: Mapping[str, Any]) -> Layer:
    cls = LAYER_KINDS.get(spec["kind"])
    if cls is None:
        raise ValueError(f"unknown layer kind {spec['kind']!r}")
    kwargs: dict[str, Any] = {}
    for f in attrs.fields(cls):
        if f.init and f.name in spec:
            value = spec[f.name]
            kwargs[f.name] = _activation_from_dict(value) if f.name == "activation" else _unlist(value)
    layer: Layer = cls(**kwargs)
    return layer


def _unlist(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def network_to_dict(net: Network) -> dict[str, Any]:
    """A JSON-ready description of the architecture."""
    if not isinstance(net, Network):
        raise TypeError(f"net must be a Network, got {type(net).__name__}")
    return {"layers": [_layer_to_dict(layer) for layer in net.layers]}


def network_from_dict(d: Mapping[str, Any]) -> Network:
    """Inverse of ``network_to_dict``.

    Raises:
        ValueError: if ``d`` does not describe a network.
    """
    try:
        return Network(tuple(_layer_from_dict(spec) for spec in d["layers"]))
    except (KeyError, TypeError, AttributeError) as err:
        raise ValueError(f"d does not describe a network ({type(err).__name__}: {err})") from err


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return {"array": value.tolist()}
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, (np.floating, np.integer, np.bool_)):
        return value.item()
    return value


def _unjson(value: Any) -> Any:
    if isinstance(value, dict) and set(value) == {"array"}:
        return np.asarray(value["array"], dtype=np.float64)
    return value


def _config_to_dict(cfg: TrainConfig) -> dict[str, Any]:
    return {
        "epochs": cfg.epochs,
        "optimizer": {
            "name": cfg.optimizer.name,
            "hyperparams": {k: _jsonable(v) for k, v in cfg.optimizer.hyperparams.items()},
        },
        "loss": cfg.loss.name,
        "batch_size": cfg.batch_size,
        "shuffle": cfg.shuffle,
        "seed": list(cfg.seed) if isinstance(cfg.seed, tuple) else cfg.seed,
        "stop_loss": cfg.stop_loss,
        "snapshot_every": cfg.snapshot_every,
    }


def _config_from_dict(d: Mapping[str, Any]) -> TrainConfig:
    opt = d["optimizer"]
    name = opt["name"]
    hyper = {k: _unjson(v) for k, v in opt["hyperparams"].items()}
    seed = d["seed"]
    return TrainConfig(
        epochs=int(d["epochs"]),
        optimizer=make_optimizer(name, **hyper),
        loss=get_loss(d["loss"]),
        batch_size=d["batch_size"],
        shuffle=bool(d["shuffle"]),
        seed=tuple(seed) if isinstance(seed, list) else seed,
        stop_loss=d["stop_loss"],
        snapshot_every=d["snapshot_every"],
    )


def _params_arrays(prefix: str, params: Params) -> dict[str, FloatArray]:
    out: dict[str, FloatArray] = {}
    for i, record in enumerate(params):
        for f in attrs.fields(type(record)):
            out[f"{prefix}/{i}/{f.name}"] = getattr(record, f.name)
    return out


def _params_types(params: Params) -> list[str]:
    return [type(r).__name__ for r in params]


def _params_from(arrays: Mapping[str, FloatArray], prefix: str, types: list[str], path: Path) -> Params:
    out = []
    for i, name in enumerate(types):
        if name not in PARAM_TYPES:
            raise ValueError(f"{path}: unknown params record type {name!r} for layer {i}")
        cls = PARAM_TYPES[name]
        fields = {}
        for f in attrs.fields(cls):
            key = f"{prefix}/{i}/{f.name}"
            if key not in arrays:
                raise ValueError(f"{path}: missing array {key!r}")
            fields[f.name] = arrays[key]
        out.append(cls(**fields))
    return tuple(out)


def _state_arrays(state: OptState, prefix: str = "state") -> tuple[dict[str, FloatArray], dict[str, Any]]:
    arrays: dict[str, FloatArray] = {}
    meta: dict[str, Any] = {"type": type(state).__name__, "scalars": {}, "trees": []}
    for f in attrs.fields(type(state)):
        value = getattr(state, f.name)
        if isinstance(value, np.ndarray):
            meta.setdefault("arrays", []).append(f.name)
            arrays[f"{prefix}/{f.name}"] = value
        elif isinstance(value, tuple) or attrs.has(type(value)):
            meta["trees"].append(f.name)
            for j, leaf in enumerate(leaves(value)):
                arrays[f"{prefix}/{f.name}/{j}"] = leaf
        else:
            meta["scalars"][f.name] = _jsonable(value)
    return arrays, meta


def _state_from(
    arrays: Mapping[str, FloatArray], meta: Mapping[str, Any], params: Params, path: Path, prefix: str = "state"
) -> OptState:
    name = meta["type"]
    if name not in STATE_TYPES:
        raise ValueError(f"{path}: unknown optimizer state type {name!r}")
    fields: dict[str, Any] = dict(meta["scalars"])
    for array_name in meta.get("arrays", []):
        key = f"{prefix}/{array_name}"
        if key not in arrays:
            raise ValueError(f"{path}: missing array {key!r}")
        value = arrays[key]
        value.flags.writeable = False
        fields[array_name] = value
    n_leaves = len(leaves(params))
    for tree_name in meta["trees"]:
        ls = []
        for j in range(n_leaves):
            key = f"{prefix}/{tree_name}/{j}"
            if key not in arrays:
                raise ValueError(f"{path}: missing array {key!r}")
            ls.append(arrays[key])
        fields[tree_name] = tree_unflatten(params, tuple(ls))
    state: OptState = STATE_TYPES[name](**fields)
    return state


def _atomic_write(path: Path, arrays: Mapping[str, npt.NDArray[Any]], meta: Mapping[str, Any]) -> None:
    path = Path(path)
    blob = np.frombuffer(json.dumps(meta, allow_nan=True).encode("utf-8"), dtype=np.uint8)
    payload: dict[str, npt.NDArray[Any]] = {k: np.asarray(v) for k, v in arrays.items()}
    payload[_META] = blob
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent if str(path.parent) else ".")
    try:
        with os.fdopen(fd, "wb") as fh:
            savez: Any = np.savez  # numpy's stub types **kwds as arrays but also lists allow_pickle
            savez(fh, **payload)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _read(path: Path, kind: str) -> tuple[dict[str, FloatArray], dict[str, Any]]:
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: no such file")
    try:
        with open(path, "rb") as fh:
            magic = fh.read(4)
            if magic[:2] == b"\x80" or magic[:1] == b"\x80":
                raise ValueError(f"{path}: refused: the file holds pickled data, which is never loaded")
            if magic != b"PK\x03\x04":
                raise ValueError(f"{path}: corrupted or not an .npz file (it does not start like a zip archive)")
            fh.seek(0)
            with np.load(fh, allow_pickle=False) as archive:
                if _META not in archive.files:
                    raise ValueError(f"{path}: not a functional_nn file (no {_META} entry)")
                arrays = {k: archive[k] for k in archive.files}
    except ValueError as err:
        msg = str(err)
        if msg.startswith(str(path)):
            raise
        if "pickle" in msg.lower() or "object" in msg.lower():
            raise ValueError(f"{path}: refused: the file holds pickled or object data, which is never loaded") from err
        raise ValueError(f"{path}: corrupted or not an .npz file ({msg})") from err
    except (OSError, zipfile.BadZipFile, EOFError, KeyError) as err:
        raise ValueError(f"{path}: corrupted, truncated or not an .npz file ({type(err).__name__}: {err})") from err
    try:
        meta = json.loads(arrays.pop(_META).tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"{path}: corrupted metadata ({err})") from err
    if not isinstance(meta, dict) or meta.get("format") != "functional_nn":
        raise ValueError(f"{path}: not a functional_nn file")
    if meta.get("format_version") != FORMAT_VERSION:
        raise ValueError(
            f"{path}: format version {meta.get('format_version')!r} is not supported (this library reads {FORMAT_VERSION})"
        )
    if meta.get("kind") != kind:
        raise ValueError(f"{path}: holds {meta.get('kind')!r}, expected {kind!r}")
    for k, v in arrays.items():
        if v.dtype.kind not in "biuf":
            raise ValueError(f"{path}: array {k!r} has dtype {v.dtype}, expected numbers")
    return arrays, meta


def _base_meta(kind: str) -> dict[str, Any]:
    return {"format": "functional_nn", "format_version": FORMAT_VERSION, "library_version": __version__, "kind": kind}


def save_params(path: str | os.PathLike[str], net: Network, params: Params) -> None:
    """Write ``params`` of ``net`` to ``path`` (atomically)."""
    model_shape(net, params)
    meta = {**_base_meta("params"), "network": network_to_dict(net), "params_types": _params_types(params)}
    _atomic_write(Path(path), _params_arrays("params", params), meta)


def load_params(path: str | os.PathLike[str], net: Network | None = None) -> tuple[Network, Params]:
    """Read ``(net, params)`` written by ``save_params``.

    Args:
        path: the file.
        net: if given, the params must fit this network (else the error says
            which layer and which shapes differ); it is returned as the network.

    Raises:
        ValueError: naming the file and what is wrong with it.
    """
    p = Path(path)
    wanted = net
    arrays, meta = _read(p, "params")
    try:
        net = network_from_dict(meta["network"])
        params = _params_from(arrays, "params", meta["params_types"], p)
    except (KeyError, TypeError) as err:
        raise ValueError(f"{p}: incomplete metadata ({err!r})") from err
    _check_fit(net, params, p)
    if net is not None and wanted is not None:
        _check_fit(wanted, params, p)
        return wanted, params
    return net, params


def _check_fit(net: Network, params: Params, path: Path) -> None:
    if not isinstance(net, Network):
        raise TypeError(f"net must be a Network, got {type(net).__name__}")
    if len(params) != len(net.layers):
        raise ValueError(f"{path}: the file holds params for {len(params)} layers, the network has {len(net.layers)}")
    try:
        model_shape(net, params)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{path}: params do not fit the network: {err}") from err


def save_trace(path: str | os.PathLike[str], trace: Trace) -> None:
    """Write ``trace`` (per-epoch arrays, params, optimizer state, snapshots, config) to ``path``, atomically."""
    arrays: dict[str, FloatArray] = {
        "loss": trace.loss,
        "accuracy": trace.accuracy,
        "grad_norm": trace.grad_norm,
        "final_loss": trace.final_loss,
        "final_accuracy": trace.final_accuracy,
        "stop_epoch": np.asarray(trace.stop_epoch, dtype=np.int64),
        **_params_arrays("params", trace.params),
    }
    state_arrays, state_meta = _state_arrays(trace.opt_state)
    arrays.update(state_arrays)
    for j, (_, snap) in enumerate(trace.snapshots):
        arrays.update(_params_arrays(f"snapshot/{j}", snap))
    resume_meta: dict[str, Any] | None = None
    if trace.resume_point is not None:
        point = trace.resume_point
        arrays.update(_params_arrays("resume/params", point.prev_params))
        prev_arrays, prev_meta = _state_arrays(point.prev_opt_state, "resume/state")
        arrays.update(prev_arrays)
        resume_meta = {"opt_state": prev_meta}
    meta = {
        **_base_meta("trace"),
        "resume": resume_meta,
        "network": network_to_dict(trace.network),
        "params_types": _params_types(trace.params),
        "config": _config_to_dict(trace.config),
        "seed": list(trace.seed) if isinstance(trace.seed, tuple) else trace.seed,
        "stop_reasons": list(trace.stop_reasons),
        "snapshot_epochs": [e for e, _ in trace.snapshots],
        "opt_state": state_meta,
    }
    _atomic_write(Path(path), arrays, meta)


def load_trace(path: str | os.PathLike[str]) -> Trace:
    """Read a Trace written by ``save_trace``; ``compare_traces`` finds no difference.

    Raises:
        ValueError: naming the file and what is wrong with it.
    """
    p = Path(path)
    arrays, meta = _read(p, "trace")
    try:
        net = network_from_dict(meta["network"])
        types = meta["params_types"]
        params = _params_from(arrays, "params", types, p)
        _check_fit(net, params, p)
        state = _state_from(arrays, meta["opt_state"], params, p)
        snapshots = tuple(
            (int(e), _params_from(arrays, f"snapshot/{j}", types, p)) for j, e in enumerate(meta["snapshot_epochs"])
        )
        seed = meta["seed"]
        for key in ("loss", "accuracy", "grad_norm", "final_loss", "final_accuracy", "stop_epoch"):
            if key not in arrays:
                raise ValueError(f"{p}: missing array {key!r}")
        stop_epoch = arrays["stop_epoch"]
        stop_epoch.flags.writeable = False
        point = None
        if meta.get("resume") is not None:
            rmeta = meta["resume"]
            prev_params = _params_from(arrays, "resume/params", types, p)
            point = ResumePoint(
                prev_params=prev_params,
                prev_opt_state=_state_from(arrays, rmeta["opt_state"], prev_params, p, "resume/state"),
            )
        return Trace(
            loss=arrays["loss"],
            accuracy=arrays["accuracy"],
            grad_norm=arrays["grad_norm"],
            params=params,
            opt_state=state,
            final_loss=arrays["final_loss"],
            final_accuracy=arrays["final_accuracy"],
            stop_epoch=stop_epoch,
            stop_reasons=tuple(meta["stop_reasons"]),
            snapshots=snapshots,
            network=net,
            config=_config_from_dict(meta["config"]),
            seed=tuple(seed) if isinstance(seed, list) else seed,
            resume_point=point,
        )
    except (KeyError, TypeError) as err:
        raise ValueError(f"{p}: incomplete or inconsistent metadata ({err!r})") from err
