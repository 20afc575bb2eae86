"""Checkpoints of a ``fit`` run: what is saved, what a resume restores, and what it refuses.

A checkpoint is one :mod:`fnnet.io` file (``.npz``, no pickle, written atomically) holding

- ``run``: what identifies the run — the model's name, the optimizer's freshly initialised state
  (its hyperparameters), ``batch_size``, ``key``, the metric names and a digest of the training
  and validation data;
- ``state``: the :class:`~fnnet.train.TrainState` (params and optimizer state in the params'
  tree shape, step count, key);
- ``epoch``, ``history`` (every series so far) and ``best`` (what ``patience`` tracks).

``fit(..., checkpoint=path, resume=True)`` restores all of it and continues; the caller's
arguments must describe the same run. If any of them differs (another optimizer or learning rate,
batch size, key, data, metrics, model), or the file already holds more epochs than ``epochs``,
resume refuses with a message that says what differs and how to start fresh. Only ``epochs``,
``until``, ``patience``, ``log_every``, ``progress`` and ``checkpoint_every`` may change.

A lock file ``<path>.lock`` (holding the writer's process id) keeps two runs from writing one
checkpoint; it is created before training starts — which also proves the path writable — and
removed at the end. :func:`load_checkpoint` reads the params (or anything else) out of a file.
"""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path
from typing import Any

import numpy as np

from fnnet import io, tree

__all__ = ["load_checkpoint", "Lock"]  # the rest serves fit (see the module docstring)


def _digest(arrays: tuple[Any, ...] | None) -> str:
    """A short content hash of the data arrays (shapes, dtypes and bytes)."""
    if arrays is None:
        return "none"
    h = hashlib.blake2b(digest_size=12)
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(f"{a.shape}{a.dtype}".encode())
        h.update(a.data)
    return h.hexdigest()


def run_identity(
    model_name: str,
    fresh_opt_state: Any,
    batch_size: int | None,
    key: tuple[int, ...],
    metric_names: list[str],
    data: tuple[Any, ...],
    val_data: tuple[Any, ...] | None,
) -> dict[str, Any]:
    """What identifies a run in its checkpoint (see the module docstring).

    >>> ident = run_identity("mlp", (), 8, (0,), ["acc"], (np.zeros(2),), None)
    >>> sorted(ident)
    ['batch_size', 'data', 'key', 'metrics', 'model', 'optimizer', 'val_data']
    """
    return {
        "model": np.array(model_name),
        "optimizer": fresh_opt_state,
        "batch_size": -1 if batch_size is None else int(batch_size),
        "key": np.array(key, dtype=np.int64),
        "metrics": np.array(",".join(metric_names)),
        "data": np.array(_digest(data)),
        "val_data": np.array(_digest(val_data)),
    }


_WHAT = {
    "model": "the model",
    "optimizer": "the optimizer or its hyperparameters",
    "batch_size": "batch_size",
    "key": "key",
    "metrics": "the metrics",
    "data": "the training data",
    "val_data": "the validation data",
}


def check_same_run(path: Path, saved: dict[str, Any], now: dict[str, Any]) -> None:
    """Raise ``ValueError`` naming the first part of the run that differs from the checkpoint.

    >>> a = {"batch_size": 8, "key": np.array([0])}
    >>> check_same_run(Path("c.npz"), a, {"batch_size": 16, "key": np.array([0])})
    Traceback (most recent call last):
    ValueError: fit: checkpoint c.npz was written by a different run: batch_size differs (file 8,
    now 16). Pass resume=False or delete the file to start fresh.
    """
    for name, value in now.items():
        old = saved[name]
        old_leaves, new_leaves = tree.leaves(old), tree.leaves(value)
        same = tree.structure(old) == tree.structure(value) and all(
            np.shape(a) == np.shape(b) and np.array_equal(a, b)
            for a, b in zip(old_leaves, new_leaves, strict=True)
        )
        if not same:
            detail = f" (file {_show(old)}, now {_show(value)})" if not old_leaves[1:] else ""
            raise ValueError(
                f"fit: checkpoint {path} was written by a different run: {_WHAT.get(name, name)} "
                f"differs{detail}. Pass resume=False or delete the file to start fresh."
            )


def _show(value: Any) -> str:
    leaves = tree.leaves(value)
    return str(np.asarray(leaves[0]).tolist()) if leaves else "nothing"


def load_checkpoint(path: str | os.PathLike[str], like: Any) -> Any:
    """The training state saved in a checkpoint, read into the structure of ``like``.

    ``like`` is a :class:`~fnnet.train.TrainState` of the same model and optimizer (for
    example ``train.init_state(optimizer, params)``); the result's ``params`` are the
    checkpoint's params in the params' tree shape.

    >>> import tempfile
    >>> from fnnet import data, layers, losses, optim, train
    >>> x, y = data.xor()
    >>> net, opt = layers.mlp([2, 3, 1]), optim.sgd(0.1)
    >>> _, p = net.init(0, (2,))
    >>> with tempfile.TemporaryDirectory() as d:
    ...     r = train.fit(net, losses.mse, opt, p, (x, y), epochs=2, checkpoint=f"{d}/c.npz")
    ...     state = load_checkpoint(f"{d}/c.npz", train.init_state(opt, p))
    >>> state.step, bool(np.array_equal(state.params[0].w, r.params[0].w))
    (2, True)
    """
    from fnnet.train import TrainState

    if not isinstance(like, TrainState):
        raise TypeError(
            f"load_checkpoint: argument 'like' must be a TrainState of the run (for example "
            f"train.init_state(optimizer, params)), got {type(like).__name__}"
        )
    saved = io.load(path, layout(like, like.params), strict=False)["state"]
    check_params(Path(path), saved["params"], like.params)
    return train_state(saved)


def state_record(state: Any) -> dict[str, Any]:
    """A train state as the checkpoint stores it: a dict, the key an array of any length.

    >>> from fnnet.train import TrainState
    >>> state_record(TrainState(params=(), opt_state=(), step=3, key=(0, 1)))["key"]
    array([0, 1])
    """
    key = np.array((state.key,) if isinstance(state.key, int) else state.key, dtype=np.int64)
    return {"params": state.params, "opt_state": state.opt_state, "step": state.step, "key": key,
            "model_state": state.model_state}  # fmt: skip


def train_state(record: dict[str, Any]) -> Any:
    """The :class:`~fnnet.train.TrainState` of a :func:`state_record`."""
    from fnnet.train import TrainState

    key = tuple(int(k) for k in record["key"])
    return TrainState(
        record["params"], record["opt_state"], record["step"], key, record["model_state"]
    )


def layout(state: Any, best_params: Any) -> dict[str, Any]:
    """The structure of a checkpoint file for a run whose train state looks like ``state``.

    >>> sorted(layout(None, None))
    ['best', 'epoch', 'history', 'run', 'state']
    """
    opt_state = getattr(state, "opt_state", None)
    return {
        "run": run_identity("", opt_state, None, (0,), [], (), None),
        "state": {**state_record(state), "key": np.zeros(0, np.int64)}
        if state is not None
        else None,
        "epoch": 0,
        "history": {"names": np.array(""), "values": np.zeros(0)},
        "best": {"params": best_params, "epoch": 0,
                 "model_state": getattr(state, "model_state", None), "val": np.zeros(0),
                 "since": np.zeros(0), "dead": np.zeros(0), "stopped": np.zeros(0)},
    }  # fmt: skip


def check_params(path: Path, got: Any, expected: Any) -> None:
    """Refuse params whose shapes or dtypes differ from the run's (another architecture)."""
    for a, b, where in zip(tree.leaves(got), tree.leaves(expected), tree.paths(got), strict=True):
        a, b = np.asarray(a), np.asarray(b)
        if a.shape != b.shape or a.dtype != b.dtype:
            raise ValueError(
                f"fit: checkpoint {path} holds params{where} of shape {a.shape} {a.dtype}, but "
                f"the params passed have {b.shape} {b.dtype}: it was written for another model. "
                "Pass resume=False or delete the file to start fresh."
            )


class Lock:
    """``<path>.lock``, created exclusively with this process's id: one writer per checkpoint.

    A lock left by a process that no longer runs is taken over. Creating it proves the
    directory writable before any training starts.

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     lock = Lock(Path(d) / "c.npz")
    ...     print(lock.path.name, lock.path.exists())
    ...     lock.release()
    ...     print(lock.path.exists())
    c.npz.lock True
    False
    """

    def __init__(self, target: Path) -> None:
        self.path = target.with_name(target.name + ".lock")
        key = str(self.path.resolve())
        with _HELD_GUARD:  # one process, two threads: the pid alone cannot tell them apart
            if key in _HELD:
                raise ValueError(
                    f"fit: checkpoint {target} is in use by another run in this process; use "
                    "another checkpoint path"
                )
            _HELD.add(key)
        self.key = key
        try:
            self._acquire(target)
        except BaseException:
            self._forget()
            raise

    def _acquire(self, target: Path) -> None:
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            if not self._try_create():
                owner = self._owner()
                if owner is not None and owner != os.getpid() and _alive(owner):
                    raise ValueError(
                        f"fit: checkpoint {target} is in use by another run (process {owner}, "
                        f"lock file {self.path}); use another checkpoint path"
                    )
                self.path.unlink(missing_ok=True)  # left by a run that no longer runs
                self._try_create()
        except OSError as e:
            raise ValueError(
                f"fit: cannot write checkpoint {target} ({type(e).__name__}: {e}); "
                "pass a writable path"
            ) from e

    def _try_create(self) -> bool:
        try:
            self._create()
        except FileExistsError:
            return False
        return True

    def _create(self) -> None:
        fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        with os.fdopen(fd, "w") as f:
            f.write(str(os.getpid()))

    def _owner(self) -> int | None:
        try:
            return int(self.path.read_text().strip())
        except (OSError, ValueError):
            return None

    def release(self) -> None:
        """Remove the lock file."""
        self.path.unlink(missing_ok=True)
        self._forget()

    def _forget(self) -> None:
        with _HELD_GUARD:
            _HELD.discard(self.key)


_HELD: set[str] = set()
"""Lock files held by runs in this process."""
_HELD_GUARD = threading.Lock()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
