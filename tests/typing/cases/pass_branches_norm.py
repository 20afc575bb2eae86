"""Branch combinators and normalization layers keep their params and residual types."""

from fnnet import layers
from fnnet.arrays import Array
from fnnet.layers.branches import fan_in_sum, fan_out, pack_shapes, parallel, residual
from fnnet.layers.dense import DenseParams
from fnnet.layers.normalization import NormParams, NormResiduals, batch_norm, layer_norm

block: layers.Layer[DenseParams, Array] = residual(layers.dense(3))
projected: layers.Layer[tuple[DenseParams, DenseParams], tuple[Array, Array]] = residual(
    layers.dense(4), layers.dense(4)
)
pair: layers.Layer[tuple[DenseParams, NormParams], tuple[Array, NormResiduals]] = parallel(
    layers.dense(3), layer_norm()
)
bn: layers.Layer[NormParams, NormResiduals] = batch_norm()
net = layers.serial(fan_out(2), pair, fan_in_sum())

_, p = block.init(0, (3,))
w: Array = p.w
pair_params = pair.init(0, pack_shapes([(3,), (3,)]))[1]
(dp, q), dx = pair.backward(pair_params, (p.w, NormResiduals(w, w, (1,), 2)), w)
scale: Array = q.scale
