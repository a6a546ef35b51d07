"""Atomic writes under SIGKILL: a writer killed at any moment leaves the old file (byte for
byte) or the new complete file under the target name, never a partial one.

A child process writes a ~12 MB npz through ``write_npz_atomic`` (the function behind
``Network.save`` and ``circuit2mlp compile``) while reporting its progress on stdout: each zip
member it starts, the rename, the end. The parent SIGKILLs it at a chosen report (before any
byte, between members, after the last member but before the fsync and rename, between fsync
and rename, just after the rename) and at wall-clock delays. Afterwards:

* the target holds exactly the old bytes or exactly the new bytes (or, when there was no old
  file, is absent or new);
* the only other file is at most one hidden ``.<name>.<random>.tmp`` per killed writer: the
  documented leftover of a SIGKILL, which no code can clean up (docs/reliability.md). It never
  carries the target's name, so nothing ever reads it.
"""

from __future__ import annotations

import hashlib
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from circuit2mlp.network import Network, write_npz_atomic

MEMBERS = 6
MB_PER_MEMBER = 2
N = MB_PER_MEMBER * 2**20 // 4  # float32 values per member

CHILD = r"""
import os, sys, time, zipfile
import numpy as np
from circuit2mlp.network import write_npz_atomic

path, seed, pause = sys.argv[1], int(sys.argv[2]), sys.argv[3]
n, members = int(sys.argv[4]), int(sys.argv[5])
rng = np.random.default_rng(seed)
arrays = {f"a{i}": rng.standard_normal(n, dtype=np.float32) for i in range(members)}
real_writestr, real_replace, real_fsync = zipfile.ZipFile.writestr, os.replace, os.fsync

def report(what):
    print(what, flush=True)
    if what == pause:
        time.sleep(60)  # the parent kills us here

def writestr(self, info, data, *args, **kwargs):
    report("member " + info.filename)
    return real_writestr(self, info, data, *args, **kwargs)

def fsync(fd):
    report("fsync")
    real_fsync(fd)

def replace(src, dst):
    report("rename")
    real_replace(src, dst)
    report("renamed")

zipfile.ZipFile.writestr, os.replace, os.fsync = writestr, replace, fsync
report("start")
write_npz_atomic(path, arrays)
report("done")
"""


def arrays_for(seed: int) -> dict[str, np.ndarray]:
    """The arrays the child writes for ``seed`` (same generator, same calls)."""
    rng = np.random.default_rng(seed)
    return {f"a{i}": rng.standard_normal(N, dtype=np.float32) for i in range(MEMBERS)}


@pytest.fixture(scope="module")
def versions(tmp_path_factory) -> dict[str, bytes]:
    """The complete old (seed 1) and new (seed 2) files, written in-process: writes are
    byte-reproducible, so the child's complete file must equal these bytes exactly."""
    folder = tmp_path_factory.mktemp("versions")
    out = {}
    for name, seed in (("old", 1), ("new", 2)):
        write_npz_atomic(folder / name, arrays_for(seed))
        out[name] = (folder / name).read_bytes()
    assert out["old"] != out["new"]
    assert len(out["new"]) > MEMBERS * MB_PER_MEMBER * 2**20 * 0.8  # random floats barely deflate
    return out


def kill_writer(target: Path, at: str | float) -> list[str]:
    """Start the child writing the new version to ``target``; SIGKILL it when it reports
    ``at`` (a progress line) or after ``at`` seconds. Returns the lines it reported."""
    pause = at if isinstance(at, str) else "never"
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(target), "2", pause, str(N), str(MEMBERS)],
        stdout=subprocess.PIPE,
        text=True,
    )
    lines: list[str] = []
    try:
        assert child.stdout is not None
        while True:
            line = child.stdout.readline().strip()
            if not line:
                break  # finished (or died) before the kill point
            lines.append(line)
            if line == "start" and not isinstance(at, str):
                time.sleep(at)
                break
            if line == at:
                break
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    return lines


TEMP = re.compile(r"^\.w\.npz\..+\.tmp$")


def check_folder(folder: Path, versions: dict[str, bytes], allowed: tuple[str, ...]) -> str:
    """Which complete version the target holds; only documented temp files beside it."""
    target = folder / "w.npz"
    state = "absent"
    if target.exists():
        digest = hashlib.sha256(target.read_bytes()).hexdigest()
        names = {hashlib.sha256(v).hexdigest(): k for k, v in versions.items()}
        assert digest in names, "the target holds a partial or foreign file"
        state = names[digest]
    assert state in allowed, state
    others = [p.name for p in folder.iterdir() if p.name != "w.npz"]
    assert len(others) <= 1 and all(TEMP.match(name) for name in others), others
    return state


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        ("start", "old"),
        ("member a3.npy", "old"),
        (f"member a{MEMBERS - 1}.npy", "old"),
        ("fsync", "old"),  # all bytes written, not yet durable
        ("rename", "old"),  # durable, not yet renamed
        ("renamed", "new"),
        (0.1, ("old", "new")),
    ],
)
def test_sigkill_leaves_old_or_new(tmp_path, versions, at, expected):
    target = tmp_path / "w.npz"
    target.write_bytes(versions["old"])
    lines = kill_writer(target, at)
    assert lines[0] == "start"
    if isinstance(at, str):
        assert lines[-1] == at  # killed exactly there
    allowed = expected if isinstance(expected, tuple) else (expected,)
    state = check_folder(tmp_path, versions, allowed)
    if state == "new" or "renamed" in lines:
        assert not any(p.name.endswith(".tmp") for p in tmp_path.iterdir())
    assert_reader_sees_whole_file(target)


def assert_reader_sees_whole_file(target: Path) -> None:
    """Whatever the writer left, a reader sees a whole npz (here: not a circuit2mlp file, so
    a clean refusal naming what is missing, never a zip or EOF error)."""
    from circuit2mlp.errors import NetworkFileError

    with pytest.raises(NetworkFileError, match="missing array 'format'"):
        Network.load(target)


def test_sigkill_without_old_file(tmp_path, versions):
    """No old file: a killed write leaves no file under the target name at all."""
    kill_writer(tmp_path / "w.npz", "member a2.npy")
    assert check_folder(tmp_path, versions, ("absent",)) == "absent"


def test_repeated_kills_then_success(tmp_path, versions):
    """Several killed writers leave one temp file each (never reused, never read), and a
    final complete write still lands whole."""
    target = tmp_path / "w.npz"
    target.write_bytes(versions["old"])
    for at in ("member a1.npy", "fsync"):
        kill_writer(target, at)
    temps = [p for p in tmp_path.iterdir() if TEMP.match(p.name)]
    assert len(temps) == 2
    assert target.read_bytes() == versions["old"]
    lines = kill_writer(target, "never-reported")  # runs to completion
    assert lines[-1] == "done"
    assert target.read_bytes() == versions["new"]
    assert os.stat(target).st_mode & 0o777 == 0o644


def test_cli_compile_killed_before_rename_keeps_old_weights(tmp_path):
    """The same guarantee end to end: ``circuit2mlp compile`` over an existing weights file,
    killed between writing and renaming, leaves the old weights loadable and intact."""
    repo = Path(__file__).resolve().parents[1]
    old_src = repo / "circuits/handwritten/full_adder.yaml"
    new_src = repo / "circuits/real/iscas85/c432.bench"
    target = tmp_path / "w.npz"
    wrapper = (
        "import os, sys, time\n"
        "real = os.replace\n"
        "def replace(src, dst):\n"
        "    print('rename', flush=True); time.sleep(60)\n"
        "os.replace = replace\n"
        "from circuit2mlp.cli import main\n"
        "main(sys.argv[1:])\n"
    )
    args = ["compile", "-q", "--method", "exact", "-o", str(target)]
    subprocess.run([sys.executable, "-m", "circuit2mlp.cli", *args, str(old_src)], check=True)
    before = target.read_bytes()
    child = subprocess.Popen(
        [sys.executable, "-c", wrapper, *args, str(new_src)], stdout=subprocess.PIPE, text=True
    )
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "rename"
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)
    assert target.read_bytes() == before
    assert Network.load(target).input_names == ("a", "b", "cin")
    others = [p.name for p in tmp_path.iterdir() if p.name != "w.npz"]
    assert len(others) == 1 and TEMP.match(others[0])
