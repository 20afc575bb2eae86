"""Tests for fnnet.data: toy data, one-hot, batching, splitting, IDX files and Fashion-MNIST."""

from __future__ import annotations

import gzip
import hashlib
import http.server
import re
import socket
import threading
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from fnnet import data

NAMES = list(data.FASHION_MNIST_MD5)


# --- linear and xor ----------------------------------------------------------------------------


def test_linear_shapes_labels_and_range() -> None:
    x, y = data.linear(200, 0)
    assert x.shape == (200, 2) and y.shape == (200, 1)
    assert x.dtype == y.dtype == np.float64
    assert np.all((x >= 0) & (x < 1))
    np.testing.assert_array_equal(y[:, 0], (x[:, 1] > x[:, 0]).astype(np.float64))
    assert 0 < y.sum() < 200  # both classes occur


def test_linear_is_deterministic_by_key() -> None:
    x0, y0 = data.linear(50, (3, 1))
    x1, y1 = data.linear(50, (3, 1))
    np.testing.assert_array_equal(x0, x1)
    np.testing.assert_array_equal(y0, y1)
    assert not np.array_equal(x0, data.linear(50, (3, 2))[0])


def test_linear_dtype_and_errors() -> None:
    x, y = data.linear(10, 1, dtype=np.float32)
    assert x.dtype == y.dtype == np.float32
    np.testing.assert_array_equal(y[:, 0], x[:, 1] > x[:, 0])
    with pytest.raises(ValueError, match="linear.*'n'"):
        data.linear(-1, 0)
    with pytest.raises(TypeError, match="linear.*'dtype'"):
        data.linear(3, 0, dtype=np.int64)


def test_xor_is_the_labs_21_points() -> None:
    x, y = data.xor()
    assert x.shape == (21, 2) and y.shape == (21, 1) and x.dtype == np.float64
    i = np.arange(11)
    np.testing.assert_allclose(x[:11], np.stack([0.1 * i, 0.1 * i], axis=1))
    j = i[i != 5]
    np.testing.assert_allclose(x[11:], np.stack([0.1 * j, 1 - 0.1 * j], axis=1))
    np.testing.assert_array_equal(y[:, 0], [0] * 11 + [1] * 10)
    assert len({tuple(p) for p in np.round(x, 9)}) == 21  # no point repeated
    assert data.xor(np.float32)[0].dtype == np.float32


# --- one_hot -----------------------------------------------------------------------------------


def test_one_hot_values_shape_and_dtype() -> None:
    labels = np.array([[2, 0, 1], [1, 1, 0]])
    h = data.one_hot(labels, 3, dtype=np.float32)
    assert h.shape == (2, 3, 3) and h.dtype == np.float32
    np.testing.assert_array_equal(h.argmax(-1), labels)
    np.testing.assert_array_equal(h.sum(-1), np.ones((2, 3)))
    assert data.one_hot(np.array([], dtype=np.int64), 4).shape == (0, 4)


@pytest.mark.parametrize("labels", [np.array([0, 3]), np.array([-1, 0])])
def test_one_hot_rejects_labels_out_of_range(labels: npt.NDArray[np.int64]) -> None:
    with pytest.raises(ValueError, match=r"one_hot.*'labels'.*\[0, 3\)"):
        data.one_hot(labels, 3)


def test_one_hot_rejects_non_integer_labels_and_bad_num_classes() -> None:
    with pytest.raises(TypeError, match="one_hot.*'labels'.*float64"):
        data.one_hot(np.array([0.0, 1.0]), 2)
    with pytest.raises(ValueError, match="one_hot.*'num_classes'"):
        data.one_hot(np.array([0]), 0)


# --- batches and train_val_split ---------------------------------------------------------------


def _indexed(n: int) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64]]:
    """Images ``(n, 2, 2, 1)`` whose pixels all equal the example index, and labels ``(n,)``."""
    x = np.broadcast_to(np.arange(n, dtype=np.float64)[:, None, None, None], (n, 2, 2, 1)).copy()
    return x, np.arange(n)


def test_batches_cover_every_example_once_in_a_keyed_order() -> None:
    x, y = _indexed(10)
    out = list(data.batches(x, y, 4, key=7))
    assert [len(b) for b, _ in out] == [4, 4, 2]  # the last, partial batch is kept
    assert len(out) == data.num_batches(10, 4)
    for xb, yb in out:
        assert xb.shape[1:] == (2, 2, 1) and xb.dtype == x.dtype and yb.dtype == y.dtype
        np.testing.assert_array_equal(xb[:, 0, 0, 0], yb)  # x and y stay paired
    order = np.concatenate([yb for _, yb in out])
    np.testing.assert_array_equal(np.sort(order), np.arange(10))
    assert not np.array_equal(order, np.arange(10))
    again = np.concatenate([yb for _, yb in data.batches(x, y, 4, key=7)])
    np.testing.assert_array_equal(order, again)
    other = np.concatenate([yb for _, yb in data.batches(x, y, 4, key=8)])
    assert not np.array_equal(order, other)


def test_batches_without_key_or_size() -> None:
    x = np.arange(12.0).reshape(6, 2)
    y = np.arange(6.0).reshape(6, 1)
    [(xb, yb)] = list(data.batches(x, y, None, key=None))
    np.testing.assert_array_equal(xb, x)
    np.testing.assert_array_equal(yb, y)
    [(xs, ys)] = list(data.batches(x, y, None, key=0))  # one full, shuffled batch
    np.testing.assert_array_equal(np.sort(ys, axis=0), y)
    np.testing.assert_array_equal(xs[:, 0], 2 * ys[:, 0])
    ordered = list(data.batches(x, y, 4, key=None))
    np.testing.assert_array_equal(ordered[1][0], x[4:])
    assert data.num_batches(6, None) == 1 and data.num_batches(0, 3) == 0


def test_batches_checks_arguments_when_called() -> None:
    x, y = np.zeros((5, 2)), np.zeros((4, 1))
    with pytest.raises(ValueError, match=r"batches.*\(5, 2\).*\(4, 1\)"):
        data.batches(x, y, 2, key=0)
    with pytest.raises(ValueError, match="batches.*'batch_size'"):
        data.batches(x, x, 0, key=0)


def test_train_val_split_by_fraction_and_count() -> None:
    x, y = _indexed(10)
    (xt, yt), (xv, yv) = data.train_val_split(x, y, 0.25, key=0)
    assert len(yv) == 3 and len(yt) == 7  # ceil(2.5)
    np.testing.assert_array_equal(np.sort(np.concatenate([yt, yv])), np.arange(10))
    np.testing.assert_array_equal(xt[:, 0, 0, 0], yt)
    np.testing.assert_array_equal(xv[:, 0, 0, 0], yv)
    (_, yt2), (_, yv2) = data.train_val_split(x, y, 3, key=0)
    np.testing.assert_array_equal(yv2, yv)  # same key, same split
    np.testing.assert_array_equal(yt2, yt)
    (_, _), (_, yv3) = data.train_val_split(x, y, 3, key=1)
    assert not np.array_equal(yv3, yv)
    (_, yt4), (_, yv4) = data.train_val_split(x, y, 2, key=None)
    np.testing.assert_array_equal(yt4, np.arange(8))
    np.testing.assert_array_equal(yv4, [8, 9])


@pytest.mark.parametrize("val", [0, 10, 0.0, 1.0])
def test_train_val_split_rejects_empty_parts(val: float) -> None:
    x, y = _indexed(10)
    with pytest.raises(ValueError, match="train_val_split.*'val'"):
        data.train_val_split(x, y, val, key=0)


# --- IDX files ---------------------------------------------------------------------------------


def _idx(a: npt.NDArray[np.generic]) -> bytes:
    """``a`` encoded as an IDX file (big-endian dims and data)."""
    code = {"u1": 0x08, "i1": 0x09, "i2": 0x0B, "i4": 0x0C, "f4": 0x0D, "f8": 0x0E}
    header = bytes([0, 0, code[a.dtype.str[1:]], a.ndim])
    dims = np.array(a.shape, dtype=">u4").tobytes()
    return header + dims + a.astype(a.dtype.newbyteorder(">")).tobytes()


def _write_gz(path: Path, content: bytes) -> str:
    """Write ``content`` gzipped to ``path``; return the MD5 of ``content``."""
    path.write_bytes(gzip.compress(content))
    return hashlib.md5(content).hexdigest()


def test_read_idx_round_trip(tmp_path: Path) -> None:
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    md5 = _write_gz(tmp_path / "a.gz", _idx(images))
    np.testing.assert_array_equal(data.read_idx(tmp_path / "a.gz", md5), images)
    np.testing.assert_array_equal(data.read_idx(str(tmp_path / "a.gz")), images)
    floats = np.linspace(-1, 1, 6).reshape(3, 2)
    (tmp_path / "b.idx").write_bytes(_idx(floats))  # uncompressed, big-endian float64
    b = data.read_idx(tmp_path / "b.idx")
    assert b.dtype == np.float64 and b.dtype.isnative
    np.testing.assert_array_equal(b, floats)


def _corrupt_files(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    """Broken IDX files and the message each must raise (a regex)."""
    good = _idx(np.zeros((4, 5), dtype=np.uint8))
    (tmp_path / "truncated.gz").write_bytes(gzip.compress(good)[:-10])
    _write_gz(tmp_path / "magic.gz", b"\x00\x00\x07\x02" + good[4:])
    _write_gz(tmp_path / "length.gz", good[:-1])
    return {
        "truncated": (tmp_path / "truncated.gz", "truncated gzip"),
        "magic": (tmp_path / "magic.gz", "bad magic number 0x00000702"),
        "length": (tmp_path / "length.gz", r"wrong length.*\(4, 5\)"),
    }


@pytest.mark.parametrize("case", ["truncated", "magic", "length"])
def test_read_idx_rejects_broken_files_naming_them(tmp_path: Path, case: str) -> None:
    path, message = _corrupt_files(tmp_path)[case]
    with pytest.raises(ValueError, match=f"read_idx: {re.escape(str(path))}: .*{message}"):
        data.read_idx(path)


def test_read_idx_rejects_wrong_checksum(tmp_path: Path) -> None:
    md5 = _write_gz(tmp_path / "a.gz", _idx(np.ones(3, dtype=np.uint8)))
    wrong = "0" * 32
    with pytest.raises(ValueError, match=f"{re.escape(str(tmp_path / 'a.gz'))}.*wrong checksum"):
        data.read_idx(tmp_path / "a.gz", wrong)
    assert data.read_idx(tmp_path / "a.gz", md5.upper()).shape == (3,)


# --- Fashion-MNIST: search order, download, verification ---------------------------------------


def _fake_fashion(directory: Path, n_train: int = 5, n_test: int = 3, seed: int = 0) -> None:
    """Write four small Fashion-MNIST-shaped IDX gzip files to ``directory``."""
    rng = np.random.default_rng(seed)
    directory.mkdir(parents=True, exist_ok=True)
    for split, n in (("train", n_train), ("t10k", n_test)):
        x = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        y = rng.integers(0, 10, n, dtype=np.uint8)
        _write_gz(directory / f"{split}-images-idx3-ubyte.gz", _idx(x))
        _write_gz(directory / f"{split}-labels-idx1-ubyte.gz", _idx(y))


@pytest.fixture
def fake_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An isolated environment: cache and system dirs under ``tmp_path``, and a source of fake
    files at ``tmp_path / "src"`` whose MD5s replace the real ones. Returns ``tmp_path``."""
    monkeypatch.delenv("FNNET_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(data, "SYSTEM_DATA_DIR", tmp_path / "system")
    _fake_fashion(tmp_path / "src")
    for name in NAMES:
        content = gzip.decompress((tmp_path / "src" / name).read_bytes())
        monkeypatch.setitem(data.FASHION_MNIST_MD5, name, hashlib.md5(content).hexdigest())
    return tmp_path


def test_fashion_mnist_loads_shapes_and_types(fake_env: Path) -> None:
    (x_train, y_train), (x_test, y_test) = data.fashion_mnist(fake_env / "src", download=False)
    assert x_train.shape == (5, 28, 28) and x_train.dtype == np.uint8
    assert y_train.shape == (5,) and y_train.dtype == np.int64
    assert x_test.shape == (3, 28, 28) and y_test.shape == (3,)
    assert int(y_train.max()) < len(data.FASHION_MNIST_CLASSES) == 10


def test_fashion_mnist_search_order(fake_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env = fake_env / "env" / "fashion-mnist"
    cache = fake_env / "cache" / "fnnet" / "fashion-mnist"
    system = fake_env / "system" / "fashion-mnist"
    monkeypatch.setenv("FNNET_DATA", str(fake_env / "env"))
    assert data.fashion_mnist_dirs() == [env, cache, system]
    assert data.fashion_mnist_dirs(fake_env / "src") == [fake_env / "src"]
    for seed, directory in enumerate((env, cache, system), start=1):
        _fake_fashion(directory, seed=seed)  # different content tells which one was read

    def read_from(directory: Path) -> bool:
        (x, _), _ = data.fashion_mnist(download=False, verify=False)
        return np.array_equal(x, data.read_idx(directory / NAMES[0]))

    assert read_from(env)
    (env / NAMES[3]).unlink()  # a directory counts only with all four files
    assert read_from(cache)
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(fake_env / "home"))  # the cache is now ~/.cache/fnnet
    assert data.cache_dir() == fake_env / "home" / ".cache" / "fnnet"
    assert read_from(system)
    (x, _), _ = data.fashion_mnist(fake_env / "src", download=False)  # an explicit path wins
    assert np.array_equal(x, data.read_idx(fake_env / "src" / NAMES[0]))


def test_fashion_mnist_not_found_without_download(fake_env: Path) -> None:
    with pytest.raises(FileNotFoundError, match="fashion_mnist.*download=False"):
        data.fashion_mnist(download=False)
    with pytest.raises(FileNotFoundError, match=re.escape(str(fake_env / "nowhere"))):
        data.fashion_mnist(fake_env / "nowhere", download=False)


def test_fashion_mnist_downloads_into_the_cache(
    fake_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (x, y), _ = data.fashion_mnist(url=(fake_env / "src").as_uri())
    cache = fake_env / "cache" / "fnnet" / "fashion-mnist"
    assert sorted(p.name for p in cache.iterdir()) == sorted(NAMES)
    assert "downloading train-images-idx3-ubyte.gz" in capsys.readouterr().err
    for name in NAMES:
        (fake_env / "src" / name).unlink()
    (x2, y2), _ = data.fashion_mnist(download=False, progress=False)  # now from the cache
    np.testing.assert_array_equal(x2, x)
    np.testing.assert_array_equal(y2, y)
    assert capsys.readouterr().err == ""


def test_fashion_mnist_download_into_explicit_path_fetches_missing_files(fake_env: Path) -> None:
    target = fake_env / "mine"
    target.mkdir()
    (target / NAMES[1]).write_bytes((fake_env / "src" / NAMES[1]).read_bytes())
    data.fashion_mnist(target, url=(fake_env / "src").as_uri() + "/", progress=False)
    assert sorted(p.name for p in target.iterdir()) == sorted(NAMES)
    assert not (fake_env / "cache").exists()


def test_failed_or_corrupt_download_leaves_nothing(fake_env: Path) -> None:
    src, cache = fake_env / "src", fake_env / "cache" / "fnnet" / "fashion-mnist"
    good = (src / NAMES[2]).read_bytes()
    (src / NAMES[2]).write_bytes(gzip.compress(b"\0\0\x08\x01\0\0\0\0"))  # valid, wrong md5
    with pytest.raises(ValueError, match=f"{NAMES[2]}: wrong checksum"):
        data.fashion_mnist(url=src.as_uri(), progress=False)
    (src / NAMES[2]).write_bytes(good[: len(good) // 2])  # truncated in transit
    with pytest.raises(ValueError, match=f"{NAMES[2]}: truncated gzip"):
        data.fashion_mnist(url=src.as_uri(), progress=False)
    (src / NAMES[2]).unlink()  # not on the server
    with pytest.raises(OSError, match=f"could not download .*{NAMES[2]}"):
        data.fashion_mnist(url=src.as_uri(), progress=False)
    assert sorted(p.name for p in cache.iterdir()) == sorted(NAMES[:2])  # no partial file


def test_fashion_mnist_verifies_found_files(fake_env: Path) -> None:
    src = fake_env / "src"
    _fake_fashion(src, seed=1)  # same shapes, different content: checksums no longer match
    with pytest.raises(ValueError, match=f"{re.escape(str(src / NAMES[0]))}: wrong checksum"):
        data.fashion_mnist(src)
    (x, _), _ = data.fashion_mnist(src, verify=False)
    assert x.shape == (5, 28, 28)
    (src / NAMES[3]).write_bytes(gzip.compress(_idx(np.zeros(4, dtype=np.uint8))))
    with pytest.raises(ValueError, match=r"test labels must be uint8 \(3,\)"):
        data.fashion_mnist(src, verify=False)


# --- image preprocessing -----------------------------------------------------------------------


def test_flatten_images_and_images_scale_to_unit_interval() -> None:
    x = np.array([[[0, 255], [51, 102]]] * 3, dtype=np.uint8)  # (3, 2, 2)
    flat = data.flatten_images(x)
    assert flat.shape == (3, 4) and flat.dtype == np.float32
    np.testing.assert_allclose(flat[0], [0, 1, 0.2, 0.4], rtol=1e-6)
    assert flat.max() == 1.0
    img = data.images(x, dtype=np.float64)
    assert img.shape == (3, 2, 2, 1) and img.dtype == np.float64
    np.testing.assert_array_equal(img[..., 0], x / 255)
    with pytest.raises(TypeError, match="flatten_images.*'x'.*uint8"):
        data.flatten_images(x.astype(np.float32))


# --- the real data set -------------------------------------------------------------------------


def _real_dir() -> Path | None:
    for d in (
        Path(__file__).resolve().parents[2] / "shared/data/fashion-mnist",
        Path("/usr/share/datasets/fashion-mnist"),
    ):
        if all((d / name).is_file() for name in NAMES):
            return d
    return None


@pytest.mark.skipif(_real_dir() is None, reason="the Fashion-MNIST files are not available")
def test_real_fashion_mnist() -> None:
    directory = _real_dir()
    assert directory is not None
    (x_train, y_train), (x_test, y_test) = data.fashion_mnist(directory, download=False)
    assert x_train.shape == (60_000, 28, 28) and x_test.shape == (10_000, 28, 28)
    np.testing.assert_array_equal(np.bincount(y_train), [6000] * 10)
    np.testing.assert_array_equal(np.bincount(y_test), [1000] * 10)
    assert x_train.mean() / 255 == pytest.approx(0.2860, abs=1e-4)


# --- bad input and hostile servers -------------------------------------------------------------


def test_one_hot_with_many_classes_builds_only_the_result(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_eye(*args: object, **kwargs: object) -> None:
        raise AssertionError("one_hot must not build an identity matrix")

    monkeypatch.setattr(np, "eye", no_eye)
    h = data.one_hot(np.array([7999, 0]), 8000, dtype=np.float32)
    assert h.shape == (2, 8000) and h.dtype == np.float32
    assert h[0, 7999] == 1 and h[1, 0] == 1 and h.sum() == 2
    assert data.one_hot(np.array(2), 3).tolist() == [0.0, 0.0, 1.0]  # 0-d labels: one row
    two: Any = np.int64(2)  # a numpy int is accepted
    assert data.one_hot(np.array([1], np.uint8), two).tolist() == [[0.0, 1.0]]


def test_one_hot_says_what_is_wrong_with_labels() -> None:
    with pytest.raises(TypeError, match=r"one_hot: argument 'labels' .*fractional values such as"):
        data.one_hot(np.array([0.0, 1.5]), 3)
    with pytest.raises(TypeError, match=r"whole-number labels with labels\.astype\(np\.int64\)"):
        data.one_hot(np.array([0.0, 2.0]), 3)
    with pytest.raises(TypeError, match="one_hot: argument 'labels' must be integer"):
        data.one_hot(np.array([True]), 3)
    with pytest.raises(TypeError, match="one_hot: argument 'labels' must be a numpy array"):
        data.one_hot([1, 2], 3)  # type: ignore[arg-type]  # deliberately a list
    with pytest.raises(ValueError, match=r"must lie in \[0, 3\).*got values in \[-2, 1\]"):
        data.one_hot(np.array([-2, 1]), 3)
    with pytest.raises(TypeError, match="one_hot: argument 'dtype' is not a dtype"):
        data.one_hot(np.array([1]), 3, dtype="bogus")


def test_keys_and_counts_refuse_bools_and_floats() -> None:
    with pytest.raises(TypeError, match="a key must be an int or a tuple of ints"):
        data.linear(3, True)  # True would silently be the key 1
    with pytest.raises(TypeError, match="linear: argument 'n' must be an int, got float 3.0"):
        data.linear(3.0, 0)  # type: ignore[arg-type]  # deliberately a float
    assert data.linear(np.int64(3), 0)[0].shape == (3, 2)  # type: ignore[arg-type]  # numpy int


def test_read_idx_names_missing_files_and_directories(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"read_idx: there is no file .*nope"):
        data.read_idx(tmp_path / "nope")
    with pytest.raises(IsADirectoryError, match="read_idx: .* is a directory"):
        data.read_idx(tmp_path)
    with pytest.raises(TypeError, match="read_idx: argument 'expected_md5'"):
        data.read_idx(tmp_path / "nope", 5)  # type: ignore[arg-type]  # deliberately an int


def test_read_idx_stops_reading_a_file_longer_than_its_header(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bomb = _idx(np.zeros(4, dtype=np.uint8)) + bytes(50 << 20)  # 50 MB more than announced
    (tmp_path / "bomb.gz").write_bytes(gzip.compress(bomb))
    reads: list[int] = []
    real = gzip.GzipFile.read

    def counting(self: gzip.GzipFile, size: int = -1) -> bytes:
        reads.append(size)
        return real(self, size)

    monkeypatch.setattr(gzip.GzipFile, "read", counting)
    with pytest.raises(ValueError, match=r"wrong length: the IDX header says shape \(4,\)"):
        data.read_idx(tmp_path / "bomb.gz", "0" * 32)
    assert len(reads) == 1 and 0 < reads[0] <= 1 << 20  # one chunk, not the whole 50 MB


def _serve(handler: type[http.server.BaseHTTPRequestHandler]) -> http.server.ThreadingHTTPServer:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


class _Endless(http.server.BaseHTTPRequestHandler):
    """Answers every request with a body that never ends (no Content-Length)."""

    def do_GET(self) -> None:  # noqa: N802 - the name http.server calls
        self.send_response(200)
        self.end_headers()
        try:
            for _ in range(64):  # 4 MB at most, well past the test's limit
                self.wfile.write(bytes(1 << 16))
        except OSError:
            pass  # the client hung up, as it should

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Announced(_Endless):
    """Announces a body of 1 GB."""

    def do_GET(self) -> None:  # noqa: N802
        self.send_response(200)
        self.send_header("Content-Length", str(1 << 30))
        self.end_headers()


def test_a_server_that_sends_too_much_is_cut_off(
    fake_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(data, "_DOWNLOAD_LIMIT", 1 << 20)
    target = fake_env / "target"
    for handler, message in ((_Endless, "sent more than 1048576 bytes"), (_Announced, "announces")):
        server = _serve(handler)
        url = f"http://127.0.0.1:{server.server_address[1]}/"
        try:
            with pytest.raises(ValueError, match=f"fashion_mnist: .*{message}"):
                data.fashion_mnist(target, url=url, progress=False, timeout=10)
        finally:
            server.shutdown()
            server.server_close()
        assert not target.exists() or not list(target.iterdir())  # no partial file left


def test_a_server_that_never_answers_times_out(fake_env: Path) -> None:
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)  # connections complete in the backlog, and nobody ever answers
    url = f"http://127.0.0.1:{silent.getsockname()[1]}/"
    errors: list[BaseException] = []

    def run() -> None:
        try:
            data.fashion_mnist(fake_env / "target", url=url, progress=False, timeout=0.5)
        except BaseException as e:  # handed to the test thread
            errors.append(e)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(60)  # a hang detector, not a speed test: it fails after 0.5 s
    silent.close()
    assert not worker.is_alive(), "the download hangs on a server that never answers"
    assert len(errors) == 1 and isinstance(errors[0], TimeoutError), errors
    assert "no answer within 0.5 s" in str(errors[0]) and url in str(errors[0])
    assert not list((fake_env / "target").iterdir())  # no partial file left
