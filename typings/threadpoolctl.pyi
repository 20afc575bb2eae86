# Minimal stub for threadpoolctl (the package ships no type information): only what the
# benchmarks use. threadpool_info() returns one dict per loaded BLAS/OpenMP library, with
# str values ("user_api", "internal_api", "version", "architecture", ...) and an int
# "num_threads"; "version" and "architecture" may be None.

from types import TracebackType
from typing import Literal

_Info = dict[str, str | int | None]

__version__: str

def threadpool_info() -> list[_Info]: ...

class threadpool_limits:
    def __init__(
        self,
        limits: int | str | dict[str, int] | None = None,
        user_api: Literal["blas", "openmp"] | None = None,
    ) -> None: ...
    def __enter__(self) -> threadpool_limits: ...
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None: ...
    def restore_original_limits(self) -> None: ...
    def get_original_num_threads(self) -> dict[str, int]: ...
