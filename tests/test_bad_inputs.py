"""Every case of the bad-input catalogue (``scripts/bad_inputs.py``) gets an acceptable verdict.

A case fails when its verdict is silently-wrong, internal-exception, refused, data-loss or hang.
Cases listed in ``bad_inputs.KNOWN_FAILURES`` (the one list, with a one-line reason each) are
strict xfails: once a fix lands the case passes, the xfail turns into a failure, and the entry
must be removed. The hypothesis properties below throw random wrong shapes and dtypes at layers,
losses and trees.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fnnet import layers, losses, metrics, tree

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))  # scripts: no package
import bad_inputs  # noqa: E402

CASES = bad_inputs.cases()
INDEX = {c.id: i for i, c in enumerate(CASES)}


def _param(case: bad_inputs.Case) -> Any:
    reason = bad_inputs.known_reason(case.id)
    marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason is not None else []
    return pytest.param(case, id=case.id, marks=marks)


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cases")  # one folder per case below: cheaper than tmp_path


@pytest.mark.parametrize("case", [_param(c) for c in CASES])
def test_case(case: bad_inputs.Case, scratch: Path) -> None:
    folder = scratch / f"case{INDEX[case.id]}"
    folder.mkdir()
    outcome = bad_inputs.run(case, folder)
    assert outcome.verdict not in bad_inputs.FAILING, (
        f"{outcome.verdict}: {case.id}: expected {case.expected()}; got {outcome.what}"
    )


def test_known_failures_name_real_cases() -> None:
    ids = {c.id for c in CASES}
    stack = {k for k in bad_inputs.KNOWN_FAILURES if k.startswith("stack: ")}
    stale = [k for k in bad_inputs.KNOWN_FAILURES if k not in ids and k not in stack]
    assert not stale, f"KNOWN_FAILURES entries that name no case: {stale[:5]}"


def test_the_catalogue_is_large_and_the_page_current() -> None:
    assert len(CASES) >= 500
    page = Path(__file__).resolve().parents[1] / "docs" / "BAD-INPUTS.md"
    assert f": {len(CASES)} cases," in page.read_text(), "regenerate docs/BAD-INPUTS.md"


def test_the_verdicts_are_computed_not_assumed() -> None:
    def boom(tmp: Path) -> object:
        return [][1]

    internal = bad_inputs.Case("f", "x", boom, "raises", names=(("f",), ("x",)))
    assert bad_inputs.run(internal, Path(".")).verdict == "internal-exception"

    def accepts(tmp: Path) -> object:
        return 1

    assert bad_inputs.run(bad_inputs.Case("f", "x", accepts, "raises"), Path(".")).verdict == (
        "silently-wrong"
    )

    def vague(tmp: Path) -> object:
        raise ValueError("f: something is wrong")

    unclear = bad_inputs.Case("f", "x", vague, "raises", names=(("f",), ("x",)))
    assert bad_inputs.run(unclear, Path(".")).verdict == "unclear-error"

    def sleeps(tmp: Path) -> object:
        import time

        time.sleep(5)
        return None

    hangs = bad_inputs.Case("f", "x", sleeps, "returns", isolate=True, timeout=0.2)
    assert bad_inputs.run(hangs, Path(".")).verdict == "hang"


shapes = st.lists(st.integers(0, 4), min_size=0, max_size=4).map(tuple)
dtypes = st.sampled_from([np.float64, np.float32, np.int64, np.bool_, np.uint8])


def _raises_clearly(fn: str, call: Any) -> None:
    try:
        call()
    except (ValueError, TypeError) as exc:
        assert fn in str(exc), str(exc)


@settings(max_examples=60, deadline=None)
@given(shape=shapes, dtype=dtypes)
def test_dense_accepts_only_matching_float_inputs(shape: tuple[int, ...], dtype: Any) -> None:
    layer = layers.dense(3)
    _, p = layer.init(0, (4,))
    x = np.ones(shape, dtype=dtype)
    ok = dtype is np.float64 and len(shape) >= 2 and shape[-1] == 4 and len(shape) == 2
    if ok:
        assert layer.apply(p, x).shape == (*shape[:-1], 3)
    else:
        with pytest.raises((ValueError, TypeError), match="dense"):
            layer.apply(p, x)


LOSSES = [
    "mse",
    "half_mse",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "softmax_cross_entropy",
]


@settings(max_examples=60, deadline=None)
@given(pred_shape=shapes, target_shape=shapes, loss=st.sampled_from(LOSSES))
def test_losses_never_broadcast(
    pred_shape: tuple[int, ...], target_shape: tuple[int, ...], loss: str
) -> None:
    fn = getattr(losses, loss)
    pred = np.full(pred_shape, 0.5)
    target = np.zeros(target_shape)
    compatible = (
        len(pred_shape) >= 2
        and 2 <= len(target_shape) <= len(pred_shape)
        and pred_shape[len(pred_shape) - len(target_shape) :] == target_shape
        and all(d > 0 for d in pred_shape)
    )
    if compatible:
        value, grad = fn(pred, target)
        assert grad.shape == pred.shape and np.shape(value) == pred_shape[:-2]
    else:
        with pytest.raises(ValueError, match=loss):
            fn(pred, target)


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(0, 5), classes=st.integers(1, 4), labels=st.lists(st.integers(-2, 6), max_size=5)
)
def test_accuracy_and_cross_entropy_on_random_labels(
    n: int, classes: int, labels: list[int]
) -> None:
    logits = np.zeros((n, classes))
    y = np.array(labels, dtype=np.int64)
    in_range = len(labels) == n and all(0 <= v < classes for v in labels)
    if in_range and n > 0:
        assert losses.softmax_cross_entropy(logits, y)[0].shape == ()
    else:
        _raises_clearly("softmax_cross_entropy", lambda: losses.softmax_cross_entropy(logits, y))
    if len(labels) != n:
        with pytest.raises(ValueError, match="accuracy"):
            metrics.accuracy(logits, y)


nested = st.recursive(
    st.just(0.0), lambda c: st.lists(c, max_size=3) | st.tuples(c, c), max_leaves=8
)


@settings(max_examples=40, deadline=None)
@given(a=nested, b=nested)
def test_tree_map_mismatch_is_always_a_tree_error(a: Any, b: Any) -> None:
    if tree.structure(a) == tree.structure(b):
        assert tree.leaves(tree.tree_map(lambda x, y: x + y, a, b)) == tree.leaves(a)
    else:
        with pytest.raises(tree.TreeMismatchError, match="tree structures differ"):
            tree.tree_map(lambda x, y: x + y, a, b)
