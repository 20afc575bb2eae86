"""Data sets and the plumbing around them: generators, one-hot, batching, Fashion-MNIST.

Everything here is pure and deterministic by key. Unlike the layers, the data functions put the
examples on **axis 0** (data is never stacked per model): ``x`` is ``(N, F)`` features or
``(N, H, W, C)`` images, ``y`` is ``(N, k)`` targets or ``(N,)`` integer labels.

- :func:`linear` and :func:`xor` reproduce the lab's two toy data sets.
- :func:`one_hot`, :func:`batches` and :func:`train_val_split` feed a training loop.
- :func:`fashion_mnist` finds (or downloads) and loads the four original IDX gzip files,
  verified against the MD5 of their decompressed content; :func:`read_idx` reads any IDX file;
  :func:`flatten_images` and :func:`images` turn the uint8 images into float inputs.

>>> x, y = xor()
>>> x.shape, y.shape, int(y.sum())
((21, 2), (21, 1), 10)
"""

from __future__ import annotations

import gzip
import hashlib
import math
import os
import sys
import tempfile
import time
import urllib.error
import urllib.request
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, Final, Protocol, TypeAlias, TypeVar

import numpy as np
import numpy.typing as npt

from fnnet.arrays import (
    Array,
    IntArray,
    Shape,
    require_array,
    require_float_dtype,
    require_int,
    require_labels,
    require_number,
    require_path,
    require_positive_int,
)
from fnnet.random import Key, generator

__all__ = [
    "FASHION_MNIST_CLASSES",
    "FASHION_MNIST_MD5",
    "FASHION_MNIST_URL",
    "SYSTEM_DATA_DIR",
    "U8Array",
    "batches",
    "cache_dir",
    "fashion_mnist",
    "fashion_mnist_dirs",
    "flatten_images",
    "images",
    "linear",
    "num_batches",
    "one_hot",
    "read_idx",
    "train_val_split",
    "xor",
]

U8Array: TypeAlias = npt.NDArray[np.uint8]
"""A uint8 array (raw image pixels)."""

X = TypeVar("X", bound=np.generic)
Y = TypeVar("Y", bound=np.generic)


def _require_examples(fn: str, x: np.ndarray[Any, Any], y: np.ndarray[Any, Any]) -> int:
    """The number of examples shared by ``x`` and ``y`` (their axis 0), else an error."""
    for arg, a in (("x", x), ("y", y)):
        require_array(fn, arg, a)
        if a.ndim < 1:
            raise ValueError(f"{fn}: argument {arg!r} needs an example axis (axis 0), got shape ()")
    if x.shape[0] != y.shape[0]:
        raise ValueError(
            f"{fn}: x and y must have the same number of examples (axis 0), "
            f"got x {x.shape} and y {y.shape}"
        )
    return int(x.shape[0])


# --- the lab's toy data ------------------------------------------------------------------------


def linear(n: int, key: Key, dtype: npt.DTypeLike = np.float64) -> tuple[Array, Array]:
    """The lab's "linear" data: ``n`` points uniform in the unit square, labelled by the diagonal.

    Returns ``x`` ``(n, 2)`` and ``y`` ``(n, 1)`` in ``dtype``; ``y`` is 1.0 where ``x1 > x0``
    (above the diagonal), else 0.0. The label is computed on the returned (cast) coordinates.

    >>> x, y = linear(100, key=0)
    >>> x.shape, y.shape, bool(np.all(y[:, 0] == (x[:, 1] > x[:, 0])))
    ((100, 2), (100, 1), True)
    """
    n = require_int("linear", "n", n, minimum=0)
    dt = require_float_dtype("linear", "dtype", dtype)
    x: Array = generator(key).random((n, 2)).astype(dt)
    y: Array = (x[:, 1:] > x[:, :1]).astype(dt)
    return x, y


def xor(dtype: npt.DTypeLike = np.float64) -> tuple[Array, Array]:
    """The lab's 21-point XOR pattern on the two diagonals of the unit square.

    ``(i/10, i/10)`` labelled 0 for ``i = 0..10``, then ``(i/10, 1 - i/10)`` labelled 1 for
    ``i = 0..10`` except ``i = 5`` (the centre, already taken). Returns ``x`` ``(21, 2)`` and
    ``y`` ``(21, 1)`` in ``dtype``.

    >>> x, y = xor(np.float32)
    >>> x[[0, 11]], y[[0, 11], 0]  # (0, 0) on the first diagonal, (0, 1) on the second
    (array([[0., 0.],
           [0., 1.]], dtype=float32), array([0., 1.], dtype=float32))
    """
    dt = require_float_dtype("xor", "dtype", dtype)
    i = np.arange(11, dtype=np.float64)
    j = np.delete(i, 5)
    x0 = np.concatenate([i, j]) / 10
    x1 = np.concatenate([i, 10 - j]) / 10
    x: Array = np.stack([x0, x1], axis=-1).astype(dt)
    y: Array = np.concatenate([np.zeros(11), np.ones(10)])[:, None].astype(dt)
    return x, y


# --- labels and batching -----------------------------------------------------------------------


def one_hot(labels: IntArray, num_classes: int, dtype: npt.DTypeLike = np.float64) -> Array:
    """Integer class labels ``(...,)`` to one-hot rows ``(..., num_classes)`` in ``dtype``.

    Raises ``TypeError`` for labels that are not integers (saying whether they have fractions)
    and ``ValueError`` for labels outside ``[0, num_classes)``. Memory is that of the result.

    >>> one_hot(np.array([2, 0]), 3)
    array([[0., 0., 1.],
           [1., 0., 0.]])
    """
    num_classes = require_positive_int("one_hot", "num_classes", num_classes)
    dt = require_float_dtype("one_hot", "dtype", dtype)
    labels = require_labels("one_hot", "labels", labels, num_classes)
    out: Array = np.zeros((*labels.shape, num_classes), dtype=dt)
    np.put_along_axis(out, labels[..., None].astype(np.intp), dt.type(1), axis=-1)
    return out


def num_batches(n: int, batch_size: int | None) -> int:
    """How many batches :func:`batches` yields for ``n`` examples (the last may be partial).

    >>> num_batches(5, 2), num_batches(5, None)
    (3, 1)
    """
    n = require_int("num_batches", "n", n, minimum=0)
    if batch_size is None:
        return 1 if n else 0
    return -(-n // require_int("num_batches", "batch_size", batch_size, minimum=1))


def batches(
    x: npt.NDArray[X], y: npt.NDArray[Y], batch_size: int | None, key: Key | None
) -> Iterator[tuple[npt.NDArray[X], npt.NDArray[Y]]]:
    """Minibatches ``(x[idx], y[idx])`` over the examples (axis 0) of ``x`` and ``y``.

    ``x`` is ``(N, ...)`` (features or images), ``y`` is ``(N, ...)`` (targets or int labels).
    The examples are shuffled by a permutation drawn from ``generator(key)``; ``key=None`` keeps
    their order (and yields views, no copies). ``batch_size=None`` gives one full batch; otherwise
    batches have ``batch_size`` examples and the last, partial one is kept. Every example appears
    exactly once. Arguments are checked when called, not when iteration starts.

    >>> x, y = np.arange(10.0).reshape(5, 2), np.arange(5)
    >>> [yb.tolist() for _, yb in batches(x, y, 2, key=None)]  # in order; the last one partial
    [[0, 1], [2, 3], [4]]
    >>> [yb.tolist() for _, yb in batches(x, y, 2, key=0)]  # shuffled by the key
    [[4, 0], [1, 2], [3]]
    """
    n = _require_examples("batches", x, y)
    size = n if batch_size is None else require_int("batches", "batch_size", batch_size, minimum=1)
    if key is None:
        return ((x[s : s + size], y[s : s + size]) for s in range(0, n, size))
    perm = generator(key).permutation(n)
    return (
        (np.take(x, idx, axis=0), np.take(y, idx, axis=0))
        for idx in (perm[s : s + size] for s in range(0, n, size))
    )


def train_val_split(
    x: npt.NDArray[X], y: npt.NDArray[Y], val: int | float, key: Key | None
) -> tuple[tuple[npt.NDArray[X], npt.NDArray[Y]], tuple[npt.NDArray[X], npt.NDArray[Y]]]:
    """Split the examples (axis 0) into ``((x_train, y_train), (x_val, y_val))``.

    ``val`` is the number of validation examples (an int) or their fraction (a float in
    ``(0, 1)``, rounded up). With a ``key`` the validation examples are a random subset drawn
    from ``generator(key)``; with ``key=None`` they are the last ones. Both parts keep the
    original order of their examples and must be non-empty.

    >>> x, y = np.arange(20.0).reshape(10, 2), np.arange(10)
    >>> (xt, yt), (xv, yv) = train_val_split(x, y, 0.3, key=None)  # the last 30 %
    >>> yt.tolist(), yv.tolist()
    ([0, 1, 2, 3, 4, 5, 6], [7, 8, 9])
    >>> train_val_split(x, y, 3, key=0)[1][1].tolist()  # 3 random ones, in their original order
    [4, 7, 8]
    """
    n = _require_examples("train_val_split", x, y)
    if isinstance(val, bool) or not isinstance(val, int | float | np.integer | np.floating):
        raise TypeError(f"train_val_split: argument 'val' must be an int or a float, got {val!r}")
    if isinstance(val, float | np.floating):
        if not 0.0 < val < 1.0:
            raise ValueError(
                f"train_val_split: a fractional 'val' must lie in (0, 1), got {val} "
                "(pass an int for a number of examples)"
            )
        n_val = math.ceil(float(val) * n)
    else:
        n_val = int(val)
    if not 0 < n_val < n:
        raise ValueError(
            f"train_val_split: 'val'={val} gives {n_val} validation examples out of {n}; "
            "both the training and the validation part must be non-empty"
        )
    if key is None:
        return (x[: n - n_val], y[: n - n_val]), (x[n - n_val :], y[n - n_val :])
    perm = generator(key).permutation(n)
    val_idx, train_idx = np.sort(perm[:n_val]), np.sort(perm[n_val:])
    return (
        (np.take(x, train_idx, axis=0), np.take(y, train_idx, axis=0)),
        (np.take(x, val_idx, axis=0), np.take(y, val_idx, axis=0)),
    )


# --- IDX files ---------------------------------------------------------------------------------

_IDX_DTYPES: Final[dict[int, np.dtype[Any]]] = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
"""IDX type codes (the magic number's third byte) and their big-endian dtypes."""


_CHUNK: Final = 1 << 20


def _idx_header(fn: str, name: object, head: bytes | bytearray) -> tuple[np.dtype[Any], Shape, int]:
    """``(dtype, shape, header bytes)`` from the start of an IDX file; ``ValueError`` if the
    magic number is wrong. Layout: ``00 00 <type> <ndim>``, ``ndim`` big-endian uint32 dims."""
    if len(head) < 4 or head[:2] != b"\0\0" or head[2] not in _IDX_DTYPES:
        raise ValueError(
            f"{fn}: {name}: not an IDX file: bad magic number 0x{bytes(head[:4]).hex()} "
            "(expected 00 00, a type code in 08 09 0b 0c 0d 0e, and the number of dimensions)"
        )
    dtype, ndim = _IDX_DTYPES[head[2]], head[3]
    header = 4 + 4 * ndim
    if ndim == 0 or len(head) < header:
        raise ValueError(
            f"{fn}: {name}: bad IDX header: {ndim} dimensions but only {len(head)} bytes"
        )
    shape = tuple(int(d) for d in np.frombuffer(head, ">u4", count=ndim, offset=4))
    return dtype, shape, header


def _wrong_length(fn: str, name: object, shape: Shape, expected: int, got: str) -> ValueError:
    return ValueError(
        f"{fn}: {name}: wrong length: the IDX header says shape {shape} ({expected} bytes of "
        f"data) but the file has {got} bytes after the header"
    )


class _Reader(Protocol):
    def read(self, size: int, /) -> bytes: ...


def _read_content(fn: str, name: object, stream: _Reader, expected_md5: str | None) -> bytearray:
    """The decompressed bytes of ``stream``, read in chunks: the MD5 is computed as they arrive
    and reading stops as soon as there is more than the IDX header announces."""
    md5 = hashlib.md5(usedforsecurity=False)
    content = bytearray()
    limit: int | None = None
    try:
        while chunk := stream.read(_CHUNK):
            md5.update(chunk)
            content += chunk
            if limit is None and len(content) >= 4 and len(content) >= 4 + 4 * content[3]:
                dtype, shape, header = _idx_header(fn, name, content)
                limit = header + math.prod(shape) * dtype.itemsize
            if limit is not None and len(content) > limit:
                raise _wrong_length(fn, name, shape, limit - header, "more")
    except EOFError as e:
        raise ValueError(f"{fn}: {name}: truncated gzip file ({e})") from e
    except (gzip.BadGzipFile, zlib.error) as e:
        raise ValueError(f"{fn}: {name}: corrupt gzip file ({e})") from e
    got = md5.hexdigest()
    if expected_md5 is not None and got != expected_md5.lower():
        raise ValueError(
            f"{fn}: {name}: wrong checksum: the MD5 of its decompressed content is {got}, "
            f"expected {expected_md5}; the file is corrupt or not the expected one"
        )
    return content


def _parse_idx(fn: str, name: object, content: bytearray) -> npt.NDArray[np.generic]:
    """The array stored in the (decompressed) IDX bytes ``content`` (read-only, no copy for
    uint8); ``ValueError`` if malformed."""
    dtype, shape, header = _idx_header(fn, name, content)
    expected = math.prod(shape) * dtype.itemsize
    if len(content) - header != expected:
        raise _wrong_length(fn, name, shape, expected, str(len(content) - header))
    data = np.frombuffer(content, dtype, count=math.prod(shape), offset=header).reshape(shape)
    data = data if dtype.isnative else data.astype(dtype.newbyteorder("="))
    data.flags.writeable = False
    return data


def _read_idx_file(
    fn: str, name: object, path: Path, expected_md5: str | None
) -> npt.NDArray[np.generic]:
    """The array in the IDX file ``path`` (gzipped or not), checked against ``expected_md5``."""
    try:
        f = open(path, "rb")  # noqa: SIM115 - closed below, after a possible gzip wrapper
    except FileNotFoundError as e:
        raise FileNotFoundError(f"{fn}: there is no file {path}") from e
    except IsADirectoryError as e:
        raise IsADirectoryError(f"{fn}: {path} is a directory, not an IDX file") from e
    with f:
        gzipped = f.read(2) == b"\x1f\x8b"
        f.seek(0)
        if not gzipped:
            content = _read_content(fn, name, f, expected_md5)
        else:
            with gzip.GzipFile(fileobj=f, mode="rb") as unzipped:
                content = _read_content(fn, name, unzipped, expected_md5)
    return _parse_idx(fn, name, content)


def read_idx(
    path: str | os.PathLike[str], expected_md5: str | None = None
) -> npt.NDArray[np.generic]:
    """The array in an IDX file (gzipped or not), in native byte order, read-only.

    If ``expected_md5`` is given, the MD5 of the *decompressed* content must match it; it is
    computed while the file is decompressed in chunks, and reading stops as soon as the data is
    longer than the header announces. A missing file raises ``FileNotFoundError``; a truncated
    or corrupt gzip stream, a bad magic number, a length that disagrees with the header, or a
    wrong checksum raises ``ValueError`` naming the file.

    >>> import os, struct, tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     path = os.path.join(d, "a-idx2-ubyte")
    ...     with open(path, "wb") as f:  # magic: 0, 0, type 0x08 (uint8), 2 axes; then the sizes
    ...         _ = f.write(bytes([0, 0, 8, 2]) + struct.pack(">II", 2, 3) + bytes(range(6)))
    ...     read_idx(path)
    array([[0, 1, 2],
           [3, 4, 5]], dtype=uint8)
    """
    if expected_md5 is not None and not isinstance(expected_md5, str):
        raise TypeError(
            f"read_idx: argument 'expected_md5' must be a hex string or None, got {expected_md5!r}"
        )
    return _read_idx_file("read_idx", path, require_path("read_idx", "path", path), expected_md5)


# --- Fashion-MNIST -----------------------------------------------------------------------------

FASHION_MNIST_URL: Final = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
"""The dataset's published address; the file names are appended to it."""

FASHION_MNIST_MD5: Final[dict[str, str]] = {
    "train-images-idx3-ubyte.gz": "f4a8712d7a061bf5bd6d2ca38dc4d50a",
    "train-labels-idx1-ubyte.gz": "9018921c3c673c538a1fc5bad174d6f9",
    "t10k-images-idx3-ubyte.gz": "8181f5470baa50b63fa0f6fddb340f0a",
    "t10k-labels-idx1-ubyte.gz": "15d484375f8d13e6eb1aabb0c3f46965",
}
"""The four files and the MD5 of their *decompressed* content (gzip headers may differ)."""

FASHION_MNIST_CLASSES: Final = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
"""The class names, indexed by label."""

SYSTEM_DATA_DIR: Final = Path("/usr/share/datasets")
"""Where Debian's ``dataset-*`` packages install data sets (``dataset-fashion-mnist``)."""


def cache_dir() -> Path:
    """fnnet's download cache: ``$XDG_CACHE_HOME/fnnet``, or ``~/.cache/fnnet``.

    >>> cache_dir().name
    'fnnet'
    """
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "fnnet"


def fashion_mnist_dirs(path: str | os.PathLike[str] | None = None) -> list[Path]:
    """The directories :func:`fashion_mnist` searches, in order.

    Only ``path`` if given; else ``$FNNET_DATA/fashion-mnist`` (when set), the cache
    (:func:`cache_dir` ``/fashion-mnist``) and ``/usr/share/datasets/fashion-mnist``.

    >>> fashion_mnist_dirs("/data/fmnist")  # an explicit path is the only place searched
    [PosixPath('/data/fmnist')]
    >>> fashion_mnist_dirs()[-1]
    PosixPath('/usr/share/datasets/fashion-mnist')
    """
    if path is not None:
        return [Path(path)]
    env = os.environ.get("FNNET_DATA")
    dirs = [Path(env) / "fashion-mnist"] if env else []
    return [*dirs, cache_dir() / "fashion-mnist", SYSTEM_DATA_DIR / "fashion-mnist"]


def _show_progress(name: str, done: int, total: int | None, end: bool = False) -> None:
    """One updating line on stderr: the file name and how much of it has arrived."""
    size = f"{done / 1e6:.1f}" + (f" / {total / 1e6:.1f} MB" if total else " MB")
    pct = f" ({100 * done // total:3d}%)" if total else ""
    sys.stderr.write(f"\rfnnet: downloading {name}: {size}{pct}" + ("\n" if end else ""))
    sys.stderr.flush()


_DOWNLOAD_LIMIT: Final = 64 << 20
"""The most bytes a download may bring (the largest Fashion-MNIST file has 26.4 MB)."""


def _fetch(url: str, out: IO[bytes], name: str, progress: bool, timeout: float) -> None:
    """Stream ``url`` into ``out``: every network wait is bounded by ``timeout`` seconds and at
    most :data:`_DOWNLOAD_LIMIT` bytes are accepted; a clear ``OSError``/``ValueError`` else."""
    fn = "fashion_mnist"
    done, shown = 0, 0.0
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            if total is not None and total > _DOWNLOAD_LIMIT:
                raise ValueError(
                    f"{fn}: {url} announces {total} bytes, more than the {_DOWNLOAD_LIMIT} a "
                    "Fashion-MNIST file can have; check the url"
                )
            while chunk := response.read(_CHUNK):
                done += len(chunk)
                if done > _DOWNLOAD_LIMIT:
                    raise ValueError(
                        f"{fn}: {url} sent more than {_DOWNLOAD_LIMIT} bytes, more than a "
                        "Fashion-MNIST file can have; stopped. Check the url"
                    )
                out.write(chunk)
                if progress and time.monotonic() - shown > 0.25:
                    _show_progress(name, done, total)
                    shown = time.monotonic()
    except (TimeoutError, urllib.error.URLError, OSError) as e:
        if progress and done:
            sys.stderr.write("\n")
        reason = e.reason if isinstance(e, urllib.error.URLError) else e
        if isinstance(reason, TimeoutError):
            raise TimeoutError(
                f"{fn}: could not download {url}: no answer within {timeout} s; check the "
                "network, or pass a larger timeout"
            ) from e
        raise OSError(f"{fn}: could not download {url}: {e}") from e
    if progress:
        _show_progress(name, done, total, end=True)


def _download(
    url: str, dest: Path, expected_md5: str | None, progress: bool, timeout: float
) -> npt.NDArray[np.generic]:
    """Fetch ``url`` into the file ``dest`` and return the array in it.

    The bytes are streamed to a temporary file in ``dest``'s folder (``.<name>.<random>.part``),
    verified (gzip integrity, IDX layout, and the MD5 of the content when ``expected_md5`` is
    given) and only then renamed to ``dest``; a failed or corrupt download leaves nothing.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as f:
            _fetch(url, f, dest.name, progress, timeout)
        array = _read_idx_file("fashion_mnist", url, Path(tmp), expected_md5)
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return array


def _check_fashion_arrays(
    name: str, images: npt.NDArray[np.generic], labels: npt.NDArray[np.generic]
) -> tuple[U8Array, IntArray]:
    """The images ``(N, 28, 28)`` uint8 and labels ``(N,)`` int64, or ``ValueError``."""
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (28, 28):
        raise ValueError(
            f"fashion_mnist: {name} images must be uint8 (N, 28, 28), "
            f"got {images.dtype} {images.shape}"
        )
    if labels.dtype != np.uint8 or labels.shape != images.shape[:1]:
        raise ValueError(
            f"fashion_mnist: {name} labels must be uint8 ({images.shape[0]},) to match the "
            f"images, got {labels.dtype} {labels.shape}"
        )
    return images.astype(np.uint8, copy=False), labels.astype(np.int64)


def fashion_mnist(
    path: str | os.PathLike[str] | None = None,
    *,
    download: bool = True,
    progress: bool = True,
    verify: bool = True,
    url: str = FASHION_MNIST_URL,
    timeout: float = 60.0,
) -> tuple[tuple[U8Array, IntArray], tuple[U8Array, IntArray]]:
    """Fashion-MNIST as ``(x_train, y_train), (x_test, y_test)``.

    Images are uint8 ``(N, 28, 28)`` (read-only), labels int64 ``(N,)`` in ``0..9`` (names in
    :data:`FASHION_MNIST_CLASSES`); N is 60,000 for train and 10,000 for test.

    The four original IDX gzip files are taken from the first directory of
    :func:`fashion_mnist_dirs` (``path`` alone if given) that holds all four. If none does and
    ``download`` is true, the missing files are downloaded from ``url`` into ``path`` if given,
    else into the cache (:func:`cache_dir` ``/fashion-mnist``), with a progress line on stderr
    unless ``progress`` is false. Every file is checked against the MD5 of its decompressed
    content (:data:`FASHION_MNIST_MD5`) unless ``verify=False``; a truncated or corrupt file
    raises ``ValueError`` naming it (delete it to download it again). A download gives up with
    ``TimeoutError`` when the server does not answer for ``timeout`` seconds, and with
    ``ValueError`` when it sends more than a Fashion-MNIST file can hold (64 MB).

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     fashion_mnist(d, download=False)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    FileNotFoundError: fashion_mnist: the files train-images-idx3-ubyte.gz, ... are in none of
    ..., and download=False
    >>> FASHION_MNIST_CLASSES[9]  # label 9
    'Ankle boot'
    """
    timeout = require_number("fashion_mnist", "timeout", timeout, low=1e-3)
    names = list(FASHION_MNIST_MD5)
    dirs = fashion_mnist_dirs(path)
    found = next((d for d in dirs if all((d / f).is_file() for f in names)), None)
    if found is None and not download:
        raise FileNotFoundError(
            f"fashion_mnist: the files {', '.join(names)} are in none of "
            f"{', '.join(map(str, dirs))}, and download=False"
        )
    where = found or (Path(path) if path is not None else cache_dir() / "fashion-mnist")
    arrays: list[npt.NDArray[np.generic]] = []
    for name in names:
        file = where / name
        md5 = FASHION_MNIST_MD5[name] if verify else None
        if file.is_file():
            arrays.append(_read_idx_file("fashion_mnist", file, file, md5))
        else:
            source = url.rstrip("/") + "/" + name
            arrays.append(_download(source, file, md5, progress, timeout))
    train = _check_fashion_arrays("train", arrays[0], arrays[1])
    test = _check_fashion_arrays("test", arrays[2], arrays[3])
    return train, test


# --- image preprocessing -----------------------------------------------------------------------


def _scaled(fn: str, x: U8Array, dtype: npt.DTypeLike) -> Array:
    """``x / 255`` in ``dtype`` after checking that ``x`` is uint8 ``(..., H, W)``."""
    dt = require_float_dtype(fn, "dtype", dtype)
    if not isinstance(x, np.ndarray) or x.dtype != np.uint8 or x.ndim < 2:
        got = f"{x.dtype} {x.shape}" if isinstance(x, np.ndarray) else type(x).__name__
        raise TypeError(f"{fn}: argument 'x' must be a uint8 array (..., H, W), got {got}")
    out: Array = x.astype(dt)
    out /= dt.type(255)
    return out


def flatten_images(x: U8Array, dtype: npt.DTypeLike = np.float32) -> Array:
    """uint8 images ``(..., H, W)`` to rows ``(..., H*W)`` in ``[0, 1]`` (``(N, 784)`` here).

    >>> x = np.full((4, 28, 28), 255, np.uint8)  # (N, H, W) uint8
    >>> rows = flatten_images(x)
    >>> rows.shape, rows.dtype, float(rows.max())
    ((4, 784), dtype('float32'), 1.0)
    """
    out = _scaled("flatten_images", x, dtype)
    return out.reshape(*x.shape[:-2], x.shape[-2] * x.shape[-1])


def images(x: U8Array, dtype: npt.DTypeLike = np.float32) -> Array:
    """uint8 images ``(..., H, W)`` to channels-last ``(..., H, W, 1)`` in ``[0, 1]``.

    >>> x = np.zeros((4, 28, 28), np.uint8)
    >>> images(x, np.float64).shape  # channels last, for conv2d
    (4, 28, 28, 1)
    """
    return _scaled("images", x, dtype)[..., None]
