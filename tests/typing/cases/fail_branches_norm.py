"""Wrong params types through branch combinators and normalization layers are rejected."""

from fnnet import layers
from fnnet.arrays import Array
from fnnet.layers.branches import pack_shapes, parallel, residual
from fnnet.layers.dense import DenseParams
from fnnet.layers.normalization import NormParams, NormResiduals, layer_norm

block = residual(layers.dense(3))
wrong: layers.Layer[NormParams, Array] = residual(layers.dense(3))  # E
_, p = block.init(0, (3,))
s: NormParams = p  # E

pair = parallel(layers.dense(3), layer_norm())
_, (pd, pn) = pair.init(0, pack_shapes([(3,), (3,)]))
d: DenseParams = pn  # E


def bad_backward(p: DenseParams, r: Array, dy: Array) -> tuple[NormParams, Array]:
    return NormParams(dy, dy), dy


rebuilt: layers.Layer[DenseParams, Array] = layers.Layer(
    block.init, block.forward, bad_backward, block.apply  # E
)
ln_res: NormResiduals = block.forward(p, p.w)[1]  # E
