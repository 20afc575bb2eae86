"""Hand-written, mutable numpy reference networks for the benchmarks.

This is the kind of code the course's lab write-ups contain: a class that owns
its weight arrays and updates them in place. It is written honestly and reasonably efficiently
(no deliberate slowness, no heroic tricks) so the benchmarks can put fnnet beside it fairly.

- ``LabNet``: the lab network (default 2-4-4-1), sigmoid on every layer, MSE loss (mean over
  examples of the summed squared error), full-batch gradient descent or Adam.
- ``FashionMLP``: the report-D network (default 784-392-128-10), ReLU hidden layers, softmax +
  cross-entropy (gradient ``(softmax - onehot) / batch``), minibatch SGD.

Both keep the dtype they were built with (float32 or float64) through the whole step: the learning
rate and other hyperparameters are Python floats, which never upcast a float32 array.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal, TypeAlias

import numpy as np
import numpy.typing as npt

__all__ = ["Array", "FashionMLP", "LabNet", "sigmoid"]

Array: TypeAlias = npt.NDArray[np.floating[Any]]
IntArray: TypeAlias = npt.NDArray[np.integer[Any]]


def sigmoid(z: Array) -> Array:
    """The logistic function, written the way the lab reports wrote it."""
    out: Array = 1.0 / (1.0 + np.exp(-z))
    return out


class LabNet:
    """The lab network: dense layers with sigmoid activations everywhere, MSE loss.

    ``step(x, y)`` does forward, loss, backward and an in-place update, and returns the loss
    (before the update). ``optimizer`` is ``"sgd"`` (plain gradient descent) or ``"adam"`` (with
    bias correction). Weights are Xavier-uniform from ``numpy.random.default_rng(seed)``, biases
    start at zero.
    """

    def __init__(
        self,
        sizes: Sequence[int] = (2, 4, 4, 1),
        *,
        seed: int = 0,
        dtype: npt.DTypeLike = np.float64,
        optimizer: Literal["sgd", "adam"] = "sgd",
        lr: float = 0.5,
        b1: float = 0.9,
        b2: float = 0.999,
        eps: float = 1e-8,
    ) -> None:
        if optimizer not in ("sgd", "adam"):
            raise ValueError(f"LabNet: optimizer must be 'sgd' or 'adam', got {optimizer!r}")
        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.dtype(np.float32), np.dtype(np.float64)):
            raise TypeError(f"LabNet: dtype must be float32 or float64, got {self.dtype}")
        self.sizes = tuple(sizes)
        self.optimizer = optimizer
        self.lr = float(lr)
        self.b1 = float(b1)
        self.b2 = float(b2)
        self.eps = float(eps)

        rng = np.random.default_rng(seed)
        self.weights: list[Array] = []
        self.biases: list[Array] = []
        for n_in, n_out in zip(self.sizes[:-1], self.sizes[1:], strict=True):
            limit = math.sqrt(6.0 / (n_in + n_out))
            self.weights.append(rng.uniform(-limit, limit, size=(n_in, n_out)).astype(self.dtype))
            self.biases.append(np.zeros(n_out, dtype=self.dtype))

        # Adam state: first and second moments, and the step count for bias correction.
        self.t = 0
        self.m_w = [np.zeros_like(w) for w in self.weights]
        self.v_w = [np.zeros_like(w) for w in self.weights]
        self.m_b = [np.zeros_like(b) for b in self.biases]
        self.v_b = [np.zeros_like(b) for b in self.biases]
        self.activations: list[Array] = []

    def forward(self, x: Array) -> Array:
        """Run the network and keep every layer's activation for ``backward``."""
        a = x
        self.activations = [a]
        for w, b in zip(self.weights, self.biases, strict=True):
            z = a @ w
            z += b
            a = sigmoid(z)
            self.activations.append(a)
        return a

    def predict(self, x: Array) -> Array:
        """The network's output, without keeping activations."""
        a = np.asarray(x, dtype=self.dtype)
        for w, b in zip(self.weights, self.biases, strict=True):
            a = sigmoid(a @ w + b)
        return a

    def backward(self, y: Array) -> tuple[float, list[Array], list[Array]]:
        """Loss and gradients for the activations kept by the last ``forward``."""
        acts = self.activations
        out = acts[-1]
        n = out.shape[0]
        diff = out - y
        loss = float(np.sum(diff * diff)) / n
        # d(loss)/d(out) = 2 (out - y) / n; sigmoid' = out (1 - out)
        delta = diff * (2.0 / n) * out * (1.0 - out)
        n_layers = len(self.weights)
        grads_w: list[Array] = [delta] * n_layers
        grads_b: list[Array] = [delta] * n_layers
        for i in range(n_layers - 1, -1, -1):
            a_in = acts[i]
            grads_w[i] = a_in.T @ delta
            grads_b[i] = delta.sum(axis=0)
            if i > 0:  # the input layer's dx is not needed
                delta = (delta @ self.weights[i].T) * a_in * (1.0 - a_in)
        return loss, grads_w, grads_b

    def loss_and_grads(self, x: Array, y: Array) -> tuple[float, list[Array], list[Array]]:
        """Forward and backward on ``(x, y)``; no update."""
        x = np.asarray(x, dtype=self.dtype)
        y = np.asarray(y, dtype=self.dtype)
        if y.shape != (x.shape[0], self.sizes[-1]):
            raise ValueError(
                f"LabNet: y must have shape {(x.shape[0], self.sizes[-1])}, got {y.shape}"
            )
        self.forward(x)
        return self.backward(y)

    def step(self, x: Array, y: Array) -> float:
        """One full-batch training step; returns the loss before the update."""
        loss, grads_w, grads_b = self.loss_and_grads(x, y)
        if self.optimizer == "sgd":
            lr = self.lr
            for w, g in zip(self.weights, grads_w, strict=True):
                w -= lr * g
            for b, g in zip(self.biases, grads_b, strict=True):
                b -= lr * g
        else:
            self.t += 1
            self._adam(self.weights, grads_w, self.m_w, self.v_w)
            self._adam(self.biases, grads_b, self.m_b, self.v_b)
        return loss

    def _adam(
        self, params: list[Array], grads: list[Array], ms: list[Array], vs: list[Array]
    ) -> None:
        b1, b2 = self.b1, self.b2
        step_size = self.lr / (1.0 - b1**self.t)
        sqrt_c2 = math.sqrt(1.0 - b2**self.t)
        for p, g, m, v in zip(params, grads, ms, vs, strict=True):
            m *= b1
            m += (1.0 - b1) * g
            v *= b2
            v += (1.0 - b2) * (g * g)
            # p -= lr * m_hat / (sqrt(v_hat) + eps), with m_hat = m / c1 and v_hat = v / c2
            p -= step_size * m / (np.sqrt(v) / sqrt_c2 + self.eps)


class FashionMLP:
    """The Fashion-MNIST lab's network: ReLU hidden layers, softmax + cross-entropy, minibatch SGD.

    Weights are He-normal from ``numpy.random.default_rng(seed)``, biases start at zero. The loss
    is the mean cross-entropy over the batch (computed from the log-softmax, so it never takes
    the log of zero); its gradient with respect to the logits is ``(softmax - onehot) / batch``.
    """

    def __init__(
        self,
        sizes: Sequence[int] = (784, 392, 128, 10),
        *,
        seed: int = 0,
        dtype: npt.DTypeLike = np.float32,
    ) -> None:
        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.dtype(np.float32), np.dtype(np.float64)):
            raise TypeError(f"FashionMLP: dtype must be float32 or float64, got {self.dtype}")
        self.sizes = tuple(sizes)
        rng = np.random.default_rng(seed)
        self.weights: list[Array] = []
        self.biases: list[Array] = []
        for n_in, n_out in zip(self.sizes[:-1], self.sizes[1:], strict=True):
            w = rng.standard_normal((n_in, n_out)) * math.sqrt(2.0 / n_in)
            self.weights.append(w.astype(self.dtype))
            self.biases.append(np.zeros(n_out, dtype=self.dtype))

    def logits(self, x: Array) -> Array:
        """The last layer's pre-activations (inference)."""
        a = np.asarray(x, dtype=self.dtype)
        last = len(self.weights) - 1
        for i, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            a = a @ w + b
            if i < last:
                a = np.maximum(a, 0.0)
        return a

    def accuracy(self, x: Array, y_int: IntArray) -> float:
        """Fraction of rows whose arg-max logit is the label."""
        return float(np.mean(np.argmax(self.logits(x), axis=1) == y_int))

    def loss_and_grads(self, x: Array, y_int: IntArray) -> tuple[float, list[Array], list[Array]]:
        """Mean cross-entropy on the batch and its gradients; no update."""
        n_layers = len(self.weights)
        last = n_layers - 1
        acts: list[Array] = [x]  # inputs of each layer (post-ReLU)
        a = x
        for i in range(n_layers):
            z = a @ self.weights[i]
            z += self.biases[i]
            a = np.maximum(z, 0.0) if i < last else z
            acts.append(a)

        logits = acts[-1]
        batch = logits.shape[0]
        rows = np.arange(batch)
        shifted = logits - logits.max(axis=1, keepdims=True)
        e = np.exp(shifted)
        s = e.sum(axis=1, keepdims=True)
        loss = float(np.mean(np.log(s[:, 0]) - shifted[rows, y_int]))
        dz = e / s  # softmax
        dz[rows, y_int] -= 1.0
        dz /= batch

        grads_w: list[Array] = [dz] * n_layers
        grads_b: list[Array] = [dz] * n_layers
        for i in range(last, -1, -1):
            a_in = acts[i]
            grads_w[i] = a_in.T @ dz
            grads_b[i] = dz.sum(axis=0)
            if i > 0:  # the input layer's dx is not needed
                dz = (dz @ self.weights[i].T) * (a_in > 0)
        return loss, grads_w, grads_b

    def train_epoch(
        self,
        x: Array,
        y_int: IntArray,
        batch_size: int,
        lr: float,
        rng: np.random.Generator,
    ) -> float:
        """One epoch of minibatch SGD over a permutation drawn from ``rng``; mean batch loss."""
        if x.dtype != self.dtype:
            raise TypeError(f"FashionMLP.train_epoch: x must be {self.dtype}, got {x.dtype}")
        if y_int.shape != (x.shape[0],):
            raise ValueError(
                f"FashionMLP.train_epoch: y_int must have shape {(x.shape[0],)}, got {y_int.shape}"
            )
        lr = float(lr)
        n = x.shape[0]
        perm = rng.permutation(n)
        total = 0.0
        n_batches = 0
        for start in range(0, n, batch_size):
            idx = perm[start : start + batch_size]
            loss, grads_w, grads_b = self.loss_and_grads(x[idx], y_int[idx])
            for w, g in zip(self.weights, grads_w, strict=True):
                w -= lr * g
            for b, g in zip(self.biases, grads_b, strict=True):
                b -= lr * g
            total += loss
            n_batches += 1
        return total / n_batches
