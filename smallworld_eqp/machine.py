"""The machine a result was computed on: CPU model, cores, BLAS kernels, library versions.

Float32 training carries the rounding of the host forward (numba compiles for its vector
width; OpenBLAS picks kernels by core type), so a run records where it ran.

Examples
--------
>>> from smallworld_eqp.machine import describe
>>> sorted(describe())
['blas', 'cpu', 'cpus', 'numba', 'numpy']
"""

from __future__ import annotations

import os
import platform
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from threadpoolctl import threadpool_info


def cpu_model() -> str:
    """The CPU's model name (``platform.processor()`` is empty on Linux)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def _version(package: str) -> str:
    try:
        return version(package)
    except PackageNotFoundError:
        return ""


def describe() -> dict[str, object]:
    """CPU model, core count, the loaded BLAS libraries' kernels (``internal_api
    architecture``, e.g. ``openblas Haswell``) and the numba and numpy versions."""
    blas = sorted(
        {f"{i.get('internal_api', '')} {i.get('architecture', '')}".strip() for i in threadpool_info()} - {""}
    )
    return {
        "cpu": cpu_model(),
        "cpus": os.cpu_count(),
        "blas": blas,
        "numba": _version("numba"),
        "numpy": _version("numpy"),
    }
