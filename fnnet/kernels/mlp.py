"""Fast multilayer perceptrons, recognised from a model's ``spec`` and tested equal to ``serial``.

:func:`fused` and :func:`flat` accept a model whose ``spec`` is a
:class:`~fnnet.layers.spec.SerialSpec` of alternating ``DenseSpec`` and ``ActivationSpec`` with
a kernel activation (:mod:`fnnet.kernels.activations`) — what ``layers.mlp`` builds — and return
``None`` for anything else. They never look inside the layers' functions.

:class:`FusedMlp` takes the reference params tree ``(DenseParams, None, DenseParams, None,
...)``: one loop over (dense, activation) pairs, each activation computed in place in the buffer
its matmul allocated, its derivative read off its output, and no ``dx`` for the first layer.

:class:`FlatMlp` keeps all params of a model in one vector ``(*models, size)`` (``w₁, b₁, w₂, b₂,
...``, each row-major: the reference leaves in order), so an optimizer updates a whole model in a
handful of numpy calls, and gradients are written straight into one new vector. For one model on
one batch it folds each bias into its weights: the activations live transposed, ``(features,
examples)``, in one buffer with a row of ones under each layer's input, so layer ``i``'s block
``[wᵢ; bᵢ]`` of the vector gives ``hᵢ₊₁ = act([wᵢ; bᵢ]ᵀ [hᵢ; 1])`` in one matmul, ``[dwᵢ; dbᵢ]
= [hᵢ; 1] δᵀ`` in one more, and when every layer has the same activation all derivatives come
from one pass over the buffer.

>>> import numpy as np
>>> from fnnet import layers
>>> net = layers.mlp([2, 3, 1], hidden=layers.tanh, output=layers.sigmoid)
>>> _, params = net.init(0, (2,))
>>> x = np.ones((4, 2))
>>> kernel = fused(net)
>>> y, res = kernel.forward(params, x)
>>> bool(np.allclose(y, net.apply(params, x)))
True
>>> fused(layers.serial(layers.dense(3), layers.dropout(0.5))) is None  # not an mlp
True
"""

from __future__ import annotations

from typing import Any, NamedTuple

import attrs
import numpy as np

from fnnet.arrays import Array, Shape
from fnnet.kernels.activations import KernelActivation, kernel_activation
from fnnet.layers.base import Layer, check_input, is_quiet, require_layer
from fnnet.layers.dense import DenseParams
from fnnet.layers.spec import DenseSpec, SerialSpec
from fnnet.tree import PyTree

__all__ = ["FusedMlp", "FlatMlp", "fused", "flat", "recognise"]

Params = tuple[PyTree, ...]


def recognise(model: Layer[Any, Any]) -> tuple[list[DenseSpec], list[KernelActivation]] | None:
    """The dense specs and kernel activations of an mlp-shaped ``model``, or ``None``.

    >>> from fnnet import layers
    >>> denses, acts = recognise(layers.mlp([2, 4, 1], hidden=layers.relu))
    >>> [d.out_features for d in denses], [a.name for a in acts]
    ([4, 1], ['relu', 'identity'])
    """
    spec = require_layer("fnnet.kernels.recognise", "model", model).spec
    if not isinstance(spec, SerialSpec) or not spec.parts or len(spec.parts) % 2:
        return None
    denses = [p for p in spec.parts[0::2] if isinstance(p, DenseSpec)]
    acts = [kernel_activation(p) for p in spec.parts[1::2]]
    kernel_acts = [a for a in acts if a is not None]
    if len(denses) != len(acts) or len(kernel_acts) != len(acts):
        return None
    return denses, kernel_acts


_ONES: dict[tuple[int, np.dtype[Any]], Array] = {}


def sum_rows(a: Array, out: Array | None = None) -> Array:
    """``Σ a`` over axis -2 as ``1ᵀ a``: a BLAS matrix-vector product with a cached read-only
    vector of ones, several times faster than ``a.sum(axis=-2)`` on small and tall arrays.

    >>> sum_rows(np.arange(6.0).reshape(3, 2)), sum_rows(np.ones((5, 3, 2))).shape
    (array([6., 9.]), (5, 2))
    """
    key = (a.shape[-2], a.dtype)
    ones = _ONES.get(key)
    if ones is None:
        if len(_ONES) > 256:
            _ONES.clear()
        ones = np.ones(key[0], a.dtype)
        ones.flags.writeable = False
        _ONES[key] = ones
    if a.ndim == 2:
        result: Array = ones.dot(a) if out is None else ones.dot(a, out=out)
        return result
    return np.matmul(ones, a, out=out)


def _mm(a: Array, b: Array) -> Array:
    """``a @ b``; ``ndarray.dot`` for two matrices (half of ``np.matmul``'s call overhead)."""
    out: Array = a.dot(b) if a.ndim == 2 and b.ndim == 2 else np.matmul(a, b)
    return out


def _t(a: Array) -> Array:
    return a.T if a.ndim == 2 else a.swapaxes(-1, -2)


def _silenced(acts: list[KernelActivation]) -> bool:
    return any(a.silence for a in acts)


@attrs.frozen(eq=False)
class FusedMlp:
    """An mlp on its reference params tree (see the module docstring). ``model`` is the
    reference network: its own checks explain bad input the kernel cannot run.

    >>> from fnnet import layers
    >>> net = layers.mlp([3, 4, 2], hidden=layers.relu)
    >>> _, params = net.init(0, (3,))
    >>> kernel = fused(net)
    >>> y, res = kernel.forward(params, np.ones((5, 3)))
    >>> [type(g).__name__ for g in kernel.grads(params, res, np.ones_like(y))]
    ['DenseParams', 'NoneType', 'DenseParams', 'NoneType']
    """

    model: Layer[Any, Any]
    acts: list[KernelActivation]
    name: str = "fused_mlp"

    def _run(self, params: Params, x: Array, hs: list[Array] | None) -> Array:
        h = x
        for i, act in enumerate(self.acts):
            p = params[2 * i]
            z = _mm(h, p.w)
            z += p.b if p.b.ndim == 1 else p.b[..., None, :]
            h = act.forward_(z)
            if hs is not None:
                hs.append(h)
        return h

    def _checked_run(self, params: Params, x: Array, hs: list[Array] | None) -> Array:
        try:
            w = params[0].w
            ok = type(x) is np.ndarray and x.dtype == w.dtype and x.ndim >= 2
            ok = ok and x.shape[-1] == w.shape[-2] and x.ndim in (2, w.ndim)
            ok = ok and (x.ndim == 2 or x.shape[:-2] == w.shape[:-2])
            if ok and len(params) == 2 * len(self.acts):
                if _silenced(self.acts) and not is_quiet():
                    with np.errstate(over="ignore", under="ignore"):
                        return self._run(params, x, hs)
                return self._run(params, x, hs)
        except (AttributeError, IndexError, TypeError, ValueError) as e:
            self.model.apply(params, x)  # raises the reference's clear error
            raise ValueError(f"{self.name}: cannot run these params and x: {e}") from e
        self.model.apply(params, x)
        raise ValueError(f"{self.name}: cannot run x {getattr(x, 'shape', x)} on these params")

    def forward(self, params: Params, x: Array) -> tuple[Array, list[Array]]:
        """``(y, residuals)``; the residuals are every layer's input and the output."""
        hs = [x]
        return self._checked_run(params, x, hs), hs

    def apply(self, params: Params, x: Array) -> Array:
        """``y``, keeping no residuals."""
        return self._checked_run(params, x, None)

    def grads(self, params: Params, hs: list[Array], dy: Array) -> Params:
        """``dparams`` (the params' tree): ``δ = act'(y) ⊙ dy``; per layer ``dw = hᵀ δ``,
        ``db = Σ δ``, ``δ ← act'(h) ⊙ (δ wᵀ)``; no ``dx`` for the first layer."""
        if len(hs) != len(self.acts) + 1 or getattr(dy, "shape", None) != hs[-1].shape:
            raise ValueError(
                f"{self.name}: argument 'dy' must have the output's shape {hs[-1].shape}, got "
                f"{getattr(dy, 'shape', type(dy).__name__)} (or residuals of another network)"
            )
        grads: list[PyTree] = [None] * len(params)
        delta = self.acts[-1].grad(hs[-1], dy, False)  # dy is the caller's: never written
        for i in reversed(range(len(self.acts))):
            grads[2 * i] = DenseParams(_mm(_t(hs[i]), delta), sum_rows(delta))
            if i:
                dh = _mm(delta, _t(params[2 * i].w))
                delta = self.acts[i - 1].grad(hs[i], dh, True)  # dh is ours
        return tuple(grads)


def fused(model: Layer[Any, Any]) -> FusedMlp | None:
    """A :class:`FusedMlp` for ``model`` if its spec describes an mlp with kernel activations,
    else ``None``.

    >>> from fnnet import layers
    >>> fused(layers.mlp([2, 1])).name, fused(layers.dense(1))
    ('fused_mlp', None)
    """
    found = recognise(model)
    return None if found is None else FusedMlp(model, found[1])


@attrs.frozen
class FlatLayout:
    """Where each layer's params sit in the vector, and the rows of the folded buffer.

    Layer ``i`` (``k → m`` features) owns ``block[i]``: ``k·m`` weights then ``m`` biases, which
    read as the ``(k + 1, m)`` matrix ``[w; b]``. In the transposed activation buffer (one model,
    ``(rows, examples)``) layer ``i``'s input ``[hᵢ; 1]`` is rows ``ins[i]`` and its output
    ``hᵢ₊₁`` rows ``outs[i]``; ``ones`` are the rows of ones; ``shapes[i]`` is ``(k + 1, m)``.

    >>> lay = FlatLayout.of([2, 3, 1])
    >>> lay.size, lay.blocks[1], lay.ins[1], lay.outs[1]
    (13, slice(9, 13, None), slice(3, 7, None), slice(7, 8, None))
    """

    sizes: tuple[int, ...]
    size: int
    blocks: tuple[slice, ...]
    ins: tuple[slice, ...]
    outs: tuple[slice, ...]
    ones: tuple[int, ...]
    rows: int
    shapes: tuple[tuple[int, int], ...]

    @staticmethod
    def of(sizes: list[int]) -> FlatLayout:
        """The layout of an mlp with these layer sizes (input size first)."""
        blocks, ins, outs, ones = [], [], [], []
        offset = row = 0
        for k, m in zip(sizes[:-1], sizes[1:], strict=True):
            blocks.append(slice(offset, offset + (k + 1) * m))
            offset += (k + 1) * m
            ins.append(slice(row, row + k + 1))
            ones.append(row + k)
            row += k + 1
            outs.append(slice(row, row + m))
        return FlatLayout(
            tuple(sizes),
            offset,
            tuple(blocks),
            tuple(ins),
            tuple(outs),
            tuple(ones),
            row + sizes[-1],
            tuple((k + 1, m) for k, m in zip(sizes[:-1], sizes[1:], strict=True)),
        )

    def block_shape(self, i: int) -> tuple[int, int]:
        """``(k + 1, m)``: the shape of layer ``i``'s ``[w; b]`` (``shapes[i]``)."""
        return self.shapes[i]


class Workspace(NamedTuple):
    """The activation buffer of the folded path for one model and a number of examples, with
    its views: ``ins[i]`` is layer ``i``'s input ``[hᵢ; 1]``, ``outs[i]`` its output ``hᵢ₊₁``,
    ``above`` every row from the first layer's output on (where one derivative pass reads)."""

    buffer: Array
    ins: tuple[Array, ...]
    outs: tuple[Array, ...]
    above: Array


class _Folded(NamedTuple):
    """Residuals of the folded path: the workspace and each layer's ``[w; b]``."""

    ws: Workspace
    wbs: list[Array]


class _Stacked(NamedTuple):
    """Residuals of the general path: every layer's input and the output, and the weights."""

    hs: list[Array]
    ws: list[Array]


def _shared_factor(acts: list[KernelActivation]) -> Any:
    """The derivative factor every layer shares (one activation throughout), else ``None``."""
    same = all(a.name == acts[0].name for a in acts)
    return acts[0].factor if same else None


@attrs.frozen(eq=False)
class FlatMlp:
    """An mlp whose params are one vector per model (see the module docstring and
    :class:`FlatLayout`). ``ravel``/``unravel`` convert from/to the reference params tree.

    >>> from fnnet import layers
    >>> net = layers.mlp([2, 3, 1], hidden=layers.sigmoid, output=layers.sigmoid)
    >>> _, params = net.init(0, (2,))
    >>> kernel = flat(net, (2,))
    >>> v = kernel.ravel(params)  # w1 (2·3), b1 (3), w2 (3·1), b2 (1)
    >>> v.shape, kernel.unravel(v)[2].w.shape
    ((13,), (3, 1))
    >>> y, res = kernel.forward(v, np.ones((4, 2)))
    >>> kernel.grads(v, res, np.ones_like(y)).shape  # the gradient in the same layout
    (13,)
    """

    model: Layer[Any, Any]
    acts: list[KernelActivation]
    layout: FlatLayout
    factor: Any = None
    folds: bool = True
    name: str = "flat_mlp"
    _templates: dict[tuple[int, np.dtype[Any]], Array] = attrs.field(factory=dict, init=False)

    @property
    def size(self) -> int:
        """The length of one model's vector."""
        return self.layout.size

    def _check_tree(self, params: object) -> Shape:
        """The model axes of a valid params tree, or a ``ValueError`` naming what is wrong."""
        sizes, n = self.layout.sizes, 2 * len(self.acts)
        fn = f"{self.name}.ravel: argument 'params'"
        if type(params) is not tuple or len(params) != n:
            raise ValueError(f"{fn} must be the mlp's tuple of {n} entries, got {params!r:.80}")
        lead: Shape | None = None
        for i in range(len(self.acts)):
            p, k, m = params[2 * i], sizes[i], sizes[i + 1]
            w, b = getattr(p, "w", None), getattr(p, "b", None)
            if not isinstance(w, np.ndarray) or not isinstance(b, np.ndarray):
                raise ValueError(f"{fn}[{2 * i}] must be DenseParams, got {type(p).__name__}")
            lead = w.shape[:-2] if lead is None else lead
            if w.shape != (*lead, k, m) or b.shape != (*lead, m) or params[2 * i + 1] is not None:
                raise ValueError(
                    f"{fn}[{2 * i}] must have w {(*lead, k, m)} and b {(*lead, m)} followed by "
                    f"None, got w {w.shape}, b {b.shape}, {type(params[2 * i + 1]).__name__}"
                )
            if w.dtype.kind != "f" or w.dtype != b.dtype or w.dtype != params[0].w.dtype:
                raise TypeError(f"{fn}: every w and b must have one floating dtype")
        assert lead is not None
        return lead

    def ravel(self, params: Params) -> Array:
        """The vector ``(*models, size)`` holding the reference params tree ``params``."""
        lead = self._check_tree(params)
        parts = [a.reshape(*lead, -1) for p in params[0::2] for a in (p.w, p.b)]
        return np.concatenate(parts, axis=-1)

    def _views(self, v: Array) -> tuple[list[Array], list[Array]]:
        """Each layer's ``w (..., k, m)`` and ``b (..., m)`` as views into ``v``."""
        lead, ws, bs = v.shape[:-1], [], []
        for block, k, m in zip(
            self.layout.blocks, self.layout.sizes[:-1], self.layout.sizes[1:], strict=True
        ):
            ws.append(v[..., block.start : block.start + k * m].reshape(*lead, k, m))
            bs.append(v[..., block.start + k * m : block.stop])
        return ws, bs

    def unravel(self, v: Array) -> Params:
        """The reference params tree of vector ``v`` (copies: independent of ``v``)."""
        self._check_vector(v)
        ws, bs = self._views(v)
        pairs = [(DenseParams(w.copy(), b.copy()), None) for w, b in zip(ws, bs, strict=True)]
        return tuple(part for pair in pairs for part in pair)

    def _check_vector(self, v: object) -> Array:
        if not isinstance(v, np.ndarray) or v.dtype.kind != "f" or v.shape[-1:] != (self.size,):
            got = getattr(v, "shape", type(v).__name__)
            raise ValueError(
                f"{self.name}: argument 'params' must be a floating array of shape (..., "
                f"{self.size}), got {got}"
            )
        return v

    def check(self, v: Array, x: Array) -> None:
        """Nothing when ``x`` fits the params vector ``v``, else the reference's clear error."""
        size, features = self.layout.size, self.layout.sizes[0]
        if (
            type(v) is np.ndarray
            and type(x) is np.ndarray
            and v.ndim >= 1
            and v.shape[-1] == size
            and x.dtype == v.dtype
            and v.dtype.kind == "f"
            and x.ndim >= 2
            and x.shape[-1] == features
            and (x.ndim == 2 or x.shape[:-2] == v.shape[:-1])
        ):
            return
        self._check_vector(v)
        check_input(self.name, x, features, v.dtype)
        raise ValueError(
            f"{self.name}: argument 'x' {x.shape} has model axes {x.shape[:-2]} but the params "
            f"have {v.shape[:-1]}; pass (examples, features) to share it"
        )

    def _workspace(self, examples: int, dtype: np.dtype[Any]) -> Workspace:
        """A fresh :class:`Workspace`: a ``(rows, examples)`` activation buffer with its rows of
        ones set (copied from a template kept per size)."""
        template = self._templates.get((examples, dtype))
        if template is None:
            if len(self._templates) > 16:
                self._templates.clear()
            template = np.zeros((self.layout.rows, examples), dtype)
            template[list(self.layout.ones)] = 1.0
            self._templates[(examples, dtype)] = template
        hb, lay = template.copy(), self.layout
        ins = tuple(hb[s] for s in lay.ins)
        return Workspace(hb, ins, tuple(hb[s] for s in lay.outs), hb[lay.outs[0].start :])

    def _forward_folded(self, v: Array, x: Array) -> tuple[Array, _Folded]:
        """One model, ``x (examples, features)``: ``hᵢ₊₁ = act([wᵢ; bᵢ]ᵀ [hᵢ; 1])`` in a fresh
        workspace (the residuals of every call stay valid; the fused training step reuses its
        buffers instead: :mod:`fnnet.kernels.folded`)."""
        lay = self.layout
        ws = self._workspace(x.shape[0], v.dtype)
        ws.buffer[: lay.sizes[0]] = x.T
        wbs, out = [], ws.buffer
        for block, shape, h, out, act in zip(
            lay.blocks, lay.shapes, ws.ins, ws.outs, self.acts, strict=True
        ):
            wb = v[block].reshape(shape)
            wbs.append(wb)
            wb.T.dot(h, out)  # positional out: a little less call overhead
            act.forward_(out)
        return out.T, _Folded(ws, wbs)

    def _forward_stacked(self, v: Array, x: Array) -> tuple[Array, _Stacked]:
        """Any model axes: ``hᵢ₊₁ = act(hᵢ @ wᵢ + bᵢ)`` on views into ``v``."""
        ws, bs = self._views(v)
        hs, h = [x], x
        for w, b, act in zip(ws, bs, self.acts, strict=True):
            z = _mm(h, w)
            z += b if b.ndim == 1 else b[..., None, :]
            h = act.forward_(z)
            hs.append(h)
        return h, _Stacked(hs, ws)

    def forward(self, v: Array, x: Array) -> tuple[Array, _Folded | _Stacked]:
        """``(y, residuals)`` for the params vector ``v (*models, size)`` and ``x``."""
        self.check(v, x)
        run = self._forward_folded if self.folds and v.ndim == 1 and x.ndim == 2 else None
        if any(a.silence for a in self.acts) and not is_quiet():
            with np.errstate(over="ignore", under="ignore"):
                return run(v, x) if run is not None else self._forward_stacked(v, x)
        return run(v, x) if run is not None else self._forward_stacked(v, x)

    def apply(self, v: Array, x: Array) -> Array:
        """``y`` for the params vector ``v`` and ``x``."""
        return self.forward(v, x)[0]

    def _grads_folded(self, res: _Folded, dy: Array) -> Array:
        """The gradient vector from the residuals of :meth:`_forward_folded`: ``δ = act'(y) ⊙
        dyᵀ``; per layer ``[dw; db] = [hᵢ; 1] δᵀ`` and ``δ ← act'(hᵢ) ⊙ (w δ)``, all transposed
        (examples on the last axis)."""
        dy_t = dy.T
        (ws, wbs), lay, acts = res, self.layout, self.acts
        g = np.empty(lay.size, ws.buffer.dtype)
        start = lay.outs[0].start
        d = self.factor(ws.above) if self.factor is not None else None  # every act', one pass
        last = lay.outs[-1]
        if d is not None:
            delta = np.multiply(d[last.start - start : last.stop - start], dy_t)
        else:
            delta = acts[-1].grad(ws.outs[-1], dy_t, False)  # dy is the caller's
        for i in range(len(acts) - 1, -1, -1):
            ws.ins[i].dot(delta.T, g[lay.blocks[i]].reshape(lay.shapes[i]))
            if i:
                dh = wbs[i][:-1].dot(delta)
                if d is not None:
                    prev = lay.outs[i - 1]
                    delta = np.multiply(d[prev.start - start : prev.stop - start], dh, dh)
                else:
                    delta = acts[i - 1].grad(ws.outs[i - 1], dh, True)  # dh is ours
        return g

    def _grads_stacked(self, v: Array, res: _Stacked, dy: Array) -> Array:
        """``δ = act'(y) ⊙ dy``; per layer ``dw = hᵀ δ``, ``db = Σ δ`` (written into the
        gradient vector) and ``δ ← act'(h) ⊙ (δ wᵀ)``."""
        hs, ws = res
        g = np.empty(v.shape, v.dtype)
        gws, gbs = self._views(g)
        delta = self.acts[-1].grad(hs[-1], dy, False)  # dy is the caller's
        for i in reversed(range(len(self.acts))):
            np.matmul(_t(hs[i]), delta, out=gws[i])
            sum_rows(delta, out=gbs[i])
            if i:
                delta = self.acts[i - 1].grad(hs[i], _mm(delta, _t(ws[i])), True)
        return g

    def grads(self, v: Array, res: _Folded | _Stacked, dy: Array) -> Array:
        """The gradient vector ``(*models, size)`` of the params vector ``v``, from the
        residuals of :meth:`forward` and ``dy = dL/dy``; no ``dx`` for the first layer."""
        if isinstance(res, _Folded):
            y_shape = (res.ws.buffer.shape[1], self.layout.sizes[-1])
            ok = v.shape == (self.size,)
        else:
            y_shape, ok = res.hs[-1].shape, True
        if not ok or getattr(dy, "shape", None) != y_shape:
            raise ValueError(
                f"{self.name}: argument 'dy' must have the output's shape {y_shape}, got "
                f"{getattr(dy, 'shape', type(dy).__name__)} (or params or residuals of "
                "another network or stack)"
            )
        if isinstance(res, _Folded):
            return self._grads_folded(res, dy)
        return self._grads_stacked(v, res, dy)


def flat(model: Layer[Any, Any], input_shape: Shape) -> FlatMlp | None:
    """A :class:`FlatMlp` for ``model`` on inputs of ``input_shape`` if its spec describes an
    mlp with kernel activations, else ``None``. ``ValueError`` if ``input_shape`` is not the
    ``(in_features,)`` the model was built for.

    >>> from fnnet import layers
    >>> flat(layers.mlp([2, 3, 1]), (2,)).size, flat(layers.dense(1), (2,))
    (13, None)
    """
    found = recognise(model)
    if found is None:
        return None
    denses, acts = found
    shape, first = tuple(input_shape), denses[0].in_features
    if len(shape) != 1 or first not in (None, shape[0]):
        want = "(features,)" if first is None else f"({first},)"
        raise ValueError(f"flat: input_shape must be {want} for {model.name}, got {shape}")
    layout = FlatLayout.of([shape[0], *(d.out_features for d in denses)])
    folds = all(a.elementwise for a in acts)
    return FlatMlp(model, acts, layout, factor=_shared_factor(acts), folds=folds)
