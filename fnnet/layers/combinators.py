"""Combinators: ``serial`` chains layers, ``mlp`` builds the lab's fully connected networks.

``serial(l1, l2, ...)`` has params ``(p1, p2, ...)`` and residuals ``(r1, r2, ...)``; its backward
runs the layers' backwards in reverse (the chain rule), and its ``backward_params`` skips the first
layer's ``dx``, which training never needs.

>>> from fnnet import layers
>>> net = layers.mlp([2, 4, 4, 1], hidden=layers.sigmoid, output=layers.sigmoid)
>>> net
Layer(serial(dense(4), sigmoid, dense(4), sigmoid, dense(1), sigmoid))
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from fnnet import tree
from fnnet.arrays import Array, Shape
from fnnet.layers.activations import identity
from fnnet.layers.base import Elementwise, Layer, check_input, is_quiet
from fnnet.layers.dense import DenseParams, _dx_for, dense, sum_examples
from fnnet.layers.initializers import Initializer
from fnnet.random import Key, fold_in
from fnnet.tree import PyTree

__all__ = ["serial", "mlp", "Serial", "flat_params"]

Serial = Layer[tuple[PyTree, ...], tuple[Any, ...]]


def serial(*layers: Layer[Any, Any]) -> Serial:
    """Compose layers left to right: ``apply(x) = ln(...l2(l1(x)))``.

    >>> from fnnet import layers
    >>> net = serial(layers.dense(3), layers.relu, layers.dense(1))
    >>> out_shape, params = net.init(0, (2,))
    >>> out_shape, len(params), params[1] is None  # (p1, p2, p3); relu has no params
    ((1,), 3, True)
    >>> y, res = net.forward(params, np.ones((4, 2)))  # (N=4, in=2)
    >>> dparams, dx = net.backward(params, res, np.ones_like(y))
    >>> y.shape, dparams[0].w.shape, dx.shape
    ((4, 1), (2, 3), (4, 2))
    """
    if not layers:
        raise ValueError("serial: needs at least one layer")
    n = len(layers)
    keyed = any(layer.forward_keyed is not None for layer in layers)

    def init(key: Key, input_shape: Shape) -> tuple[Shape, tuple[PyTree, ...]]:
        params = []
        shape = tuple(input_shape)
        for i, layer in enumerate(layers):
            shape, p = layer.init(fold_in(key, i), shape)
            params.append(p)
        return shape, tuple(params)

    def _params_len(params: tuple[PyTree, ...]) -> None:
        if type(params) is not tuple or len(params) != n:
            got = f"{len(params)} entries" if isinstance(params, tuple) else type(params).__name__
            raise ValueError(f"serial: argument 'params' must be a tuple of {n} entries, got {got}")

    def apply(params: tuple[PyTree, ...], x: Array) -> Array:
        _params_len(params)
        for layer, p in zip(layers, params):  # noqa: B905 - lengths checked above
            x = layer.apply(p, x)
        return x

    def forward(params: tuple[PyTree, ...], x: Array) -> tuple[Array, tuple[Any, ...]]:
        _params_len(params)
        residuals = []
        for layer, p in zip(layers, params):  # noqa: B905
            x, r = layer.forward(p, x)
            residuals.append(r)
        return x, tuple(residuals)

    def forward_keyed(
        params: tuple[PyTree, ...], x: Array, key: Key
    ) -> tuple[Array, tuple[Any, ...]]:
        _params_len(params)
        residuals = []
        for i, (layer, p) in enumerate(zip(layers, params)):  # noqa: B905
            if layer.forward_keyed is not None:
                x, r = layer.forward_keyed(p, x, fold_in(key, i))
            else:
                x, r = layer.forward(p, x)
            residuals.append(r)
        return x, tuple(residuals)

    def _back(
        params: tuple[PyTree, ...], residuals: tuple[Any, ...], dy: Array, need_dx: bool
    ) -> tuple[tuple[PyTree, ...], Array | None]:
        grads: list[PyTree] = [None] * n
        for i in range(n - 1, -1, -1):
            layer = layers[i]
            if i == 0 and not need_dx and layer.backward_params is not None:
                grads[0] = layer.backward_params(params[0], residuals[0], dy)
                return tuple(grads), None
            grads[i], dy = layer.backward(params[i], residuals[i], dy)
        return tuple(grads), dy

    def backward(
        params: tuple[PyTree, ...], residuals: tuple[Any, ...], dy: Array
    ) -> tuple[tuple[PyTree, ...], Array]:
        grads, dx = _back(params, residuals, dy, need_dx=True)
        assert dx is not None
        return grads, dx

    def backward_params(
        params: tuple[PyTree, ...], residuals: tuple[Any, ...], dy: Array
    ) -> tuple[PyTree, ...]:
        return _back(params, residuals, dy, need_dx=False)[0]

    name = "serial(" + ", ".join(layer.name for layer in layers) + ")"
    return Layer(
        init,
        forward,
        backward,
        apply,
        name=name,
        backward_params=backward_params,
        forward_keyed=forward_keyed if keyed else None,
    )


def _mlp_params_error(fn: str, params: object, sizes: list[int], x: object) -> ValueError:
    """The clear error for params that do not fit an ``mlp`` (and input ``x``), found slowly."""
    n = 2 * (len(sizes) - 1)
    if type(params) is not tuple or len(params) != n:
        got = f"{len(params)} entries" if isinstance(params, tuple) else type(params).__name__
        return ValueError(
            f"{fn} (a serial of {n} layers): argument 'params' must be a tuple of {n} entries, "
            f"got {got}"
        )
    lead: tuple[int, ...] | None = None
    for i in range(n // 2):
        p, gap = params[2 * i], params[2 * i + 1]
        where = f"{fn}: params[{2 * i}]"
        if type(p) is not DenseParams or gap is not None:
            return ValueError(
                f"{where} must be DenseParams and params[{2 * i + 1}] None (the layout "
                f"(dense, activation, ...)), got {type(p).__name__} and {type(gap).__name__}"
            )
        w, b = p.w, p.b
        if not isinstance(w, np.ndarray) or not isinstance(b, np.ndarray) or w.ndim < 2:
            return ValueError(f"{where}: w and b must be arrays, w with (..., in, out) axes")
        lead = w.shape[:-2] if lead is None else lead
        if w.shape[-2:] != (sizes[i], sizes[i + 1]) or w.shape[:-2] != lead:
            return ValueError(
                f"{where}.w must have shape {(*lead, sizes[i], sizes[i + 1])} for sizes {sizes}, "
                f"got {w.shape}"
            )
        if b.shape != (*lead, sizes[i + 1]):
            return ValueError(f"{where}.b must have shape {(*lead, sizes[i + 1])}, got {b.shape}")
        if w.dtype != b.dtype or w.dtype.kind != "f":
            return ValueError(f"{where}: w and b must share one floating dtype")
    if isinstance(x, np.ndarray) and x.ndim > 2 and lead is not None and x.shape[:-2] != lead:
        return ValueError(
            f"{fn}: argument 'x' {x.shape} has model axes {x.shape[:-2]} but the params have "
            f"{lead}; pass (examples, features) to share it"
        )
    return ValueError(f"{fn}: params and x {getattr(x, 'shape', '?')} do not fit sizes {sizes}")


def _fused_mlp(sizes: list[int], specs: list[Elementwise]) -> tuple[Any, ...]:
    """``forward, backward, backward_params, apply`` of an mlp whose activations are all
    :class:`Elementwise`: one loop over (dense, activation) pairs, each activation computed in
    place in the buffer its matmul just allocated, its derivative folded into the dense backward.

    The numbers are exactly those of ``serial(dense, act, dense, act, ...)``: the same numpy
    operations in the same order, fewer allocations and Python calls.
    """
    n_layers = len(sizes) - 1
    n = 2 * n_layers
    acts = [s.apply_ for s in specs]
    grads_of = [s.grad for s in specs]
    features = sizes[0]
    silence = any(s.silence for s in specs)
    x_label = f"mlp (first layer dense({sizes[1]}))"

    def layers_(
        params: tuple[PyTree, ...], h: Array, dt: Any, lead: Any, hs: list[Array] | None
    ) -> Array:
        for i in range(n_layers):
            p = params[2 * i]
            w = p.w
            b = p.b
            if (
                type(p) is not DenseParams
                or w.dtype != dt
                or b.dtype != dt
                or w.shape[:-2] != lead
                or b.shape[:-1] != lead
                or b.shape[-1] != w.shape[-1]
            ):
                raise ValueError
            z = h.dot(w) if h.ndim == 2 and w.ndim == 2 else np.matmul(h, w)
            z += b if b.ndim == 1 else b[..., None, :]
            h = acts[i](z)
            if hs is not None:
                hs.append(h)
        return h

    def run(params: tuple[PyTree, ...], x: Array, keep: bool) -> tuple[Array, list[Array]]:
        if type(params) is not tuple or len(params) != n:
            raise _mlp_params_error("mlp", params, sizes, x)
        p = params[0]
        if type(p) is not DenseParams:
            raise _mlp_params_error("mlp", params, sizes, x)
        dt = p.w.dtype
        check_input(x_label, x, features, dt)
        lead = p.w.shape[:-2]
        if x.ndim > 2 and x.shape[:-2] != lead:
            raise _mlp_params_error("mlp", params, sizes, x)
        hs = [x]
        try:
            if silence and not is_quiet():
                with np.errstate(over="ignore", under="ignore"):
                    h = layers_(params, x, dt, lead, hs if keep else None)
            else:
                h = layers_(params, x, dt, lead, hs if keep else None)
        except (ValueError, AttributeError, IndexError) as e:
            raise _mlp_params_error("mlp", params, sizes, x) from e
        return h, hs

    def forward(params: tuple[PyTree, ...], x: Array) -> tuple[Array, tuple[Any, ...]]:
        y, hs = run(params, x, True)
        return y, tuple(hs)

    def apply(params: tuple[PyTree, ...], x: Array) -> Array:
        return run(params, x, False)[0]

    def back(
        params: tuple[PyTree, ...], hs: tuple[Any, ...], dy: Array, need_dx: bool
    ) -> tuple[tuple[PyTree, ...], Array | None]:
        if type(params) is not tuple or len(params) != n or len(hs) != n_layers + 1:
            raise _mlp_params_error("mlp backward", params, sizes, None)
        grads: list[PyTree] = [None] * n
        delta = grads_of[-1](hs[-1], dy, False)  # dy is the caller's: never written
        dx = None
        for i in range(n_layers - 1, -1, -1):
            h = hs[i]
            w = params[2 * i].w
            ht = h.T if h.ndim == 2 else h.swapaxes(-1, -2)
            dw = ht.dot(delta) if h.ndim == 2 and delta.ndim == 2 else np.matmul(ht, delta)
            grads[2 * i] = DenseParams(dw, sum_examples(delta))
            if i or need_dx:
                wt = w.T if w.ndim == 2 else w.swapaxes(-1, -2)
                dh = delta.dot(wt) if delta.ndim == 2 and w.ndim == 2 else np.matmul(delta, wt)
                if i:
                    delta = grads_of[i - 1](h, dh, True)  # dh is ours: may be overwritten
                else:
                    dx = _dx_for(h, dh)
        return tuple(grads), dx

    def backward(
        params: tuple[PyTree, ...], hs: tuple[Any, ...], dy: Array
    ) -> tuple[tuple[PyTree, ...], Array]:
        grads, dx = back(params, hs, dy, True)
        assert dx is not None
        return grads, dx

    def backward_params(
        params: tuple[PyTree, ...], hs: tuple[Any, ...], dy: Array
    ) -> tuple[PyTree, ...]:
        return back(params, hs, dy, False)[0]

    return forward, backward, backward_params, apply


def _flat_mlp(
    sizes: list[int],
    specs: list[Elementwise],
    inner_name: str,
    inner_init: Callable[[Key, Shape], tuple[Shape, tuple[PyTree, ...]]],
) -> Layer[Array, Any]:
    """``flat_params(mlp(...))`` written for the layout: the weights are views into the vector,
    the gradients are written straight into one new vector (no per-leaf arrays, no
    concatenation), the same numpy operations as the fused mlp otherwise."""
    n_layers = len(sizes) - 1
    acts = [s.apply_ for s in specs]
    grads_of = [s.grad for s in specs]
    silence = any(s.silence for s in specs)
    features = sizes[0]
    name = f"flat_params({inner_name})"
    _, example = inner_init(0, (features,))
    _, layout = tree.ravel(example)
    size = layout.size
    codec = tree.codec(layout.treedef)
    # per layer: the slices of w and b in the vector, w's shape
    w_slices: list[slice] = []
    b_slices: list[slice] = []
    w_shapes: list[tuple[int, int]] = []
    offset = 0
    for i in range(n_layers):
        k, m = sizes[i], sizes[i + 1]
        w_slices.append(slice(offset, offset + k * m))
        b_slices.append(slice(offset + k * m, offset + k * m + m))
        w_shapes.append((k, m))
        offset += k * m + m
    assert offset == size
    layers_range = range(n_layers)
    back_range = range(n_layers - 1, -1, -1)

    # The single-model path keeps every activation transposed, ``(features, examples)``, in one
    # buffer with a row of ones under each layer's input: layer i's block of the vector is
    # ``[w; b]`` (w row-major, then b), so ``z = [w; b]ᵀ [h; 1] = wᵀh + b`` is one matmul and
    # ``[dw; db] = [h; 1] δᵀ`` is one matmul written straight into the gradient vector.
    # ``rows[i]``: where layer i's input ``[h; 1]`` starts in the buffer (rows[0] = 0: ``x``).
    rows = [0]
    for i in layers_range:
        rows.append(rows[-1] + sizes[i] + 1)
    n_rows = rows[-1] + sizes[-1]
    ones_rows = [rows[i + 1] - 1 for i in layers_range]
    blocks = [
        (slice(w_slices[i].start, b_slices[i].stop), (sizes[i] + 1, sizes[i + 1]))
        for i in layers_range
    ]
    ins = [slice(rows[i], rows[i + 1]) for i in layers_range]  # [h_i; 1]
    outs = [slice(rows[i + 1], rows[i + 1] + sizes[i + 1]) for i in layers_range]  # h_{i+1}
    templates: dict[tuple[int, np.dtype[Any]], Array] = {}
    # When every activation has the same ``factor`` (all sigmoid, say), the backward computes
    # the derivatives of all layers in one pass over the buffer's rows from ``rows[1]`` on.
    factor = specs[0].factor
    if any(s.factor is not factor for s in specs):
        factor = None
    outs_d = [slice(o.start - rows[1], o.stop - rows[1]) for o in outs]

    def buffer(examples: int, dt: np.dtype[Any]) -> Array:
        """A fresh ``(n_rows, examples)`` activation buffer with its ones rows set."""
        template = templates.get((examples, dt))
        if template is None:
            if len(templates) > 16:
                templates.clear()
            template = np.zeros((n_rows, examples), dt)
            template[ones_rows] = 1.0
            templates[(examples, dt)] = template
        return template.copy()

    flat_parts = list(zip(w_slices, w_shapes, b_slices, strict=True))

    def views(v: Array) -> tuple[Any, list[Array]]:
        ws = []
        bs = []
        if v.ndim == 1:
            for sw, shape, sb in flat_parts:
                ws.append(v[sw].reshape(shape))
                bs.append(v[sb])
            return ws, bs
        lead = v.shape[:-1]
        for sw, shape, sb in flat_parts:
            ws.append(v[..., sw].reshape(*lead, *shape))
            bs.append(v[..., None, sb])
        return ws, bs

    def unravel(v: Array) -> tuple[PyTree, ...]:
        ws, bs = views(check(v))
        if v.ndim > 1:
            bs = [b[..., 0, :] for b in bs]
        leaves = [a for i in layers_range for a in (ws[i], bs[i])]
        out: tuple[PyTree, ...] = codec.unflatten(leaves)
        return out

    def check(v: object) -> Array:
        if type(v) is not np.ndarray or v.ndim < 1 or v.shape[-1] != size or v.dtype.kind != "f":
            raise ValueError(
                f"{name}: argument 'params' must be a floating array of shape (..., {size}), "
                f"got {getattr(v, 'shape', type(v).__name__)}"
            )
        return v

    def run(v: Array, x: Array, keep: bool) -> tuple[Array, tuple[Any, list[Array]]]:
        if type(v) is not np.ndarray or v.ndim != 1 or v.shape[0] != size:
            check(v)
        if (
            type(x) is not np.ndarray
            or x.dtype is not v.dtype
            or x.ndim != 2
            or x.shape[1] != features
            or v.ndim != 1
        ):
            check_input(name, x, features, v.dtype)
            if x.ndim > 2 and x.shape[:-2] != v.shape[:-1]:
                raise ValueError(
                    f"{name}: argument 'x' {x.shape} has model axes {x.shape[:-2]} but the params "
                    f"have {v.shape[:-1]}; pass (examples, features) to share it"
                )
        if v.ndim == 1 and x.ndim == 2:
            if silence and not is_quiet():
                with np.errstate(over="ignore", under="ignore"):
                    return run_one(v, x)
            return run_one(v, x)
        ws, bs = views(v)
        hs = [x]
        h = x
        if silence and not is_quiet():
            with np.errstate(over="ignore", under="ignore"):
                for i in layers_range:
                    w = ws[i]
                    z = h.dot(w) if h.ndim == 2 and w.ndim == 2 else np.matmul(h, w)
                    z += bs[i]
                    h = acts[i](z)
                    hs.append(h)
        else:
            for i in layers_range:
                w = ws[i]
                z = h.dot(w) if h.ndim == 2 and w.ndim == 2 else np.matmul(h, w)
                z += bs[i]
                h = acts[i](z)
                hs.append(h)
        return h, (hs, ws)

    def run_one(v: Array, x: Array) -> tuple[Array, tuple[Any, list[Array]]]:
        """One model, ``x`` of shape (examples, features): ``hᵢ₊₁ = act([w; b]ᵀ [hᵢ; 1])`` in
        the transposed buffer (see ``rows``); residuals ``(buffer, [[w; b] per layer])``."""
        hb = buffer(x.shape[0], v.dtype)
        hb[:features] = x.T
        wbs = []
        out = hb
        for i in layers_range:
            sl, shape = blocks[i]
            wb = v[sl].reshape(shape)
            wbs.append(wb)
            out = hb[outs[i]]
            wb.T.dot(hb[ins[i]], out=out)
            acts[i](out)
        return out.T, (hb, wbs)

    def back_one(
        hb: Array, wbs: list[Array], dy: Array, need_dx: bool
    ) -> tuple[Array, Array | None]:
        """``δ_L = act'(y) ⊙ dyᵀ``; per layer ``[dw; db] = [hᵢ; 1] δᵀ`` and
        ``δᵢ₋₁ = act'(hᵢ) ⊙ (w δ)``, all transposed (examples on the last axis)."""
        if dy.shape != (hb.shape[1], sizes[-1]):
            raise ValueError(
                f"{name}: argument 'dy' must have shape {(hb.shape[1], sizes[-1])}, got {dy.shape}"
            )
        g = np.empty(size, hb.dtype)
        d = None
        if factor is not None:
            d = factor(hb[rows[1] :])  # act'(h) of every layer, one pass
            delta = np.multiply(d[outs_d[-1]], dy.T)
        else:
            delta = grads_of[-1](hb[outs[-1]], dy.T, False)  # dy is the caller's: never written
        dx = None
        for i in back_range:
            sl, shape = blocks[i]
            hb[ins[i]].dot(delta.T, out=g[sl].reshape(shape))
            if i or need_dx:
                dh = wbs[i][:-1].dot(delta)
                if not i:
                    dx = dh.T
                elif d is not None:
                    delta = np.multiply(d[outs_d[i - 1]], dh, out=dh)
                else:
                    delta = grads_of[i - 1](hb[outs[i - 1]], dh, True)  # dh is ours
        return g, dx

    def forward(v: Array, x: Array) -> tuple[Array, tuple[Any, list[Array]]]:
        return run(v, x, True)

    def apply(v: Array, x: Array) -> Array:
        return run(v, x, False)[0]

    def back(
        v: Array, res: tuple[Any, list[Array]], dy: Array, need_dx: bool
    ) -> tuple[Array, Array | None]:
        hs, ws = res
        if type(hs) is np.ndarray:  # the residuals of run_one
            if v.shape != (size,):
                raise ValueError(f"{name}: backward got params of another network or stack")
            return back_one(hs, ws, dy, need_dx)
        if v.shape[-1] != size or len(hs) != n_layers + 1:
            raise ValueError(f"{name}: backward got params or residuals of another network")
        g = np.empty(v.shape if dy.ndim == 2 else (*dy.shape[:-2], size), v.dtype)
        gws, gbs = views(g)
        delta = grads_of[-1](hs[-1], dy, False)  # dy is the caller's: never written
        dx = None
        for i in back_range:
            h = hs[i]
            w = ws[i]
            if h.ndim == 2 and delta.ndim == 2:
                h.T.dot(delta, out=gws[i])
                sum_examples(delta, out=gbs[i])
            else:
                np.matmul(h.swapaxes(-1, -2), delta, out=gws[i])
                sum_examples(delta, out=gbs[i][..., 0, :])
            if i or need_dx:
                if delta.ndim == 2 and w.ndim == 2:
                    dh = delta.dot(w.T)
                else:
                    dh = np.matmul(delta, w.swapaxes(-1, -2))
                if i:
                    delta = grads_of[i - 1](h, dh, True)  # dh is ours: may be overwritten
                else:
                    dx = _dx_for(h, dh)
        return g, dx

    def backward(v: Array, res: tuple[Any, list[Array]], dy: Array) -> tuple[Array, Array]:
        g, dx = back(v, res, dy, True)
        assert dx is not None
        return g, dx

    def backward_params(v: Array, res: tuple[Any, list[Array]], dy: Array) -> Array:
        return back(v, res, dy, False)[0]

    def init(key: Key, input_shape: Shape) -> tuple[Shape, Array]:
        out, p = inner_init(key, input_shape)
        return out, layout.ravel(p)

    return Layer(
        init,
        forward,
        backward,
        apply,
        name=name,
        backward_params=backward_params,
        unravel=unravel,
    )


def mlp(
    sizes: Sequence[int],
    hidden: Layer[None, Array] = identity,
    output: Layer[None, Array] = identity,
    init: Initializer | None = None,
    dtype: npt.DTypeLike = np.float64,
) -> Serial:
    """A fully connected network ``sizes[0] -> sizes[1] -> ... -> sizes[-1]``.

    ``hidden`` follows every dense layer but the last, ``output`` follows the last; ``sizes[0]``
    is the input size, checked against ``init``'s ``input_shape``. ``init`` is the weight
    initializer of every dense layer (Glorot uniform by default).

    The params are those of ``serial(dense, hidden, ..., dense, output)``: a tuple
    ``(DenseParams, None, DenseParams, None, ...)`` (``params[2 * i]`` is layer ``i``'s weights,
    the ``None`` entries the activations'), initialised with the same keys. The residuals are the
    tuple ``(x, h1, ..., y)`` of every layer's input and the output. When every activation is
    elementwise (identity, sigmoid, tanh, relu, or any layer with an ``elementwise`` record), the
    forward and backward are fused: one loop over (dense, activation) pairs, the activation
    computed in place in the buffer the matmul allocated and its derivative folded into the dense
    backward — the same numbers as the ``serial`` composition, in fewer numpy and Python calls.

    >>> from fnnet import layers
    >>> net = mlp([2, 8, 1], hidden=layers.tanh, output=layers.sigmoid)
    >>> _, params = net.init(0, (2,))
    >>> [type(p).__name__ for p in params]
    ['DenseParams', 'NoneType', 'DenseParams', 'NoneType']
    >>> y, res = net.forward(params, np.zeros((5, 2)))
    >>> y.shape, bool(np.all((y > 0) & (y < 1)))
    ((5, 1), True)
    >>> y2 = serial(layers.dense(8), layers.tanh, layers.dense(1), layers.sigmoid).apply(
    ...     params, np.zeros((5, 2)))
    >>> bool(np.allclose(y, y2))  # the same numbers as the serial composition
    True
    """
    sizes = list(sizes)
    if len(sizes) < 2 or any(not isinstance(s, int) or s < 1 for s in sizes):
        raise ValueError(f"mlp: argument 'sizes' must be >= 2 positive ints, got {sizes}")
    parts: list[Layer[Any, Any]] = []
    acts: list[Layer[None, Array]] = []
    for i, size in enumerate(sizes[1:]):
        parts.append(dense(size, init=init, dtype=dtype))
        acts.append(output if i == len(sizes) - 2 else hidden)
        parts.append(acts[-1])
    net = serial(*parts)
    inner_init = net.init

    def checked_init(key: Key, input_shape: Shape) -> tuple[Shape, tuple[PyTree, ...]]:
        if tuple(input_shape) != (sizes[0],):
            raise ValueError(f"mlp: input_shape must be ({sizes[0]},), got {tuple(input_shape)}")
        return inner_init(key, input_shape)

    specs = [a.elementwise for a in acts]
    if any(s is None for s in specs) or net.forward_keyed is not None:
        return Layer(
            checked_init,
            net.forward,
            net.backward,
            net.apply,
            name=net.name,
            backward_params=net.backward_params,
            forward_keyed=net.forward_keyed,
        )
    fused = [s for s in specs if s is not None]
    forward, backward, backward_params, apply = _fused_mlp(sizes, fused)

    def flat(input_shape: Shape) -> Layer[Array, Any]:
        if tuple(input_shape) != (sizes[0],):
            raise ValueError(f"mlp: input_shape must be ({sizes[0]},), got {tuple(input_shape)}")
        return _flat_mlp(sizes, fused, net.name, checked_init)

    return Layer(
        checked_init,
        forward,
        backward,
        apply,
        name=net.name,
        backward_params=backward_params,
        flat=flat,
    )


def flat_params(layer: Layer[Any, Any], input_shape: Shape) -> Layer[Array, Any]:
    """``layer`` with its params stored as one flat vector (per model): an opt-in layout for
    small networks, where every per-leaf numpy call of the optimizer costs as much as the
    arithmetic itself.

    The new layer's params are an array of shape ``(*models, size)`` holding ``layer``'s leaves
    in :func:`fnnet.tree.leaves` order, each row-major (for an ``mlp``: ``w1, b1, w2, b2, ...``),
    initialised with the same numbers as ``layer.init``; its gradients are vectors of the same
    layout, so an optimizer updates the whole model in a handful of numpy calls (Adam: about 12
    instead of 12 per leaf). ``input_shape`` fixes the layout. The structured params are
    ``flat_layer.unravel(vector)``: a tree of views into the vector (``layer.apply`` works on it).
    Stacks work as usual (``init_stack`` gives ``(models, size)``); forward and backward compute
    exactly what ``layer`` computes.

    >>> import numpy as np
    >>> from fnnet import layers
    >>> net = layers.flat_params(layers.mlp([2, 3, 1]), (2,))
    >>> _, v = net.init(0, (2,))
    >>> v.shape, net.unravel(v)[0].w.shape
    ((13,), (2, 3))
    """
    input_shape = tuple(input_shape)
    if layer.flat is not None:
        return layer.flat(input_shape)
    out_shape, example = layer.init(0, input_shape)
    _, layout = tree.ravel(example)
    size = layout.size
    unravel = layout.unravel
    ravel_leaves = layout.ravel_leaves
    codec = tree.codec(layout.treedef)
    name = f"flat_params({layer.name})"
    inner_forward = layer.forward
    inner_keyed = layer.forward_keyed
    inner_backward = layer.backward
    inner_params = layer.backward_params

    def check(v: object) -> Array:
        if type(v) is not np.ndarray or v.ndim < 1 or v.shape[-1] != size or v.dtype.kind != "f":
            raise ValueError(
                f"{name}: argument 'params' must be a floating array of shape (..., {size}), "
                f"got {getattr(v, 'shape', type(v).__name__)}"
            )
        return v

    def to_vector(grads: PyTree, v: Array) -> Array:
        found = codec.leaves(grads)
        if found is None:
            raise tree.TreeMismatchError(
                f"{name}: backward returned {tree.structure(grads)!r}, the params are "
                f"{layout.treedef!r}"
            )
        return ravel_leaves(found, v.shape[:-1])

    def init(key: Key, shape: Shape) -> tuple[Shape, Array]:
        if tuple(shape) != input_shape:
            raise ValueError(f"{name}: input_shape must be {input_shape}, got {tuple(shape)}")
        out, p = layer.init(key, shape)
        return out, layout.ravel(p)

    def forward(v: Array, x: Array) -> tuple[Array, tuple[Any, Any]]:
        p = unravel(check(v))
        y, r = inner_forward(p, x)
        return y, (p, r)

    def forward_keyed(v: Array, x: Array, key: Key) -> tuple[Array, tuple[Any, Any]]:
        assert inner_keyed is not None
        p = unravel(check(v))
        y, r = inner_keyed(p, x, key)
        return y, (p, r)

    def backward(v: Array, res: tuple[Any, Any], dy: Array) -> tuple[Array, Array]:
        p, r = res
        g, dx = inner_backward(p, r, dy)
        return to_vector(g, v), dx

    def backward_params(v: Array, res: tuple[Any, Any], dy: Array) -> Array:
        p, r = res
        g = inner_params(p, r, dy) if inner_params is not None else inner_backward(p, r, dy)[0]
        return to_vector(g, v)

    def apply(v: Array, x: Array) -> Array:
        return layer.apply(unravel(check(v)), x)

    del out_shape
    return Layer(
        init,
        forward,
        backward,
        apply,
        name=name,
        backward_params=backward_params,
        forward_keyed=forward_keyed if inner_keyed is not None else None,
        unravel=unravel,
    )
