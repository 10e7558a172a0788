"""Two grading sessions on one machine (two instructors, or a batch beside `serve`) stay apart.

Each grading process claims its own range of sandbox uids (grader.sandbox.client.claim_uid_range), so
one session's students can never signal, trace or starve (RLIMIT_NPROC counts per uid) another's.
"""
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from conftest import EXAMPLES, ROOT
from grader.sandbox.client import UID_FIRST, UID_RANGE_SIZE, UID_RANGES, Zygote, claim_uid_range

pytestmark = pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0,
                                reason="sandbox uids are dropped to only when grading as root")
PROBES = str(ROOT / "assignments" / "stage1_autodiff" / "probes.py")
# A correct file that takes a moment to load, so that the two batches' workers overlap in time, and
# one that looks around: every process it can see, and a signal to each (none may be another's).
SLOW = (EXAMPLES / "correct.py").read_text(encoding="utf-8") + "\nimport time\ntime.sleep(0.4)\n"
LOOKS_AROUND = (EXAMPLES / "correct.py").read_text(encoding="utf-8") + '''
import os, signal
seen = [p for p in os.listdir("/proc") if p.isdigit()]
for pid in seen:
    try:
        os.kill(int(pid), 0)
    except OSError:
        pass
print("visible processes:", len(seen))
'''


@pytest.fixture
def own_locks(tmp_path, monkeypatch):
    """A lock folder of this test's own: other sessions on the machine (a developer's batch, another
    test run) hold ranges in the real one, which would make counts here depend on them."""
    from grader.sandbox import client

    monkeypatch.setattr(client, "_uid_lock_folder", lambda: str(tmp_path / "uids"))


def test_two_zygotes_get_disjoint_uid_ranges_and_free_them(own_locks):
    first, second = Zygote(PROBES, []), Zygote(PROBES, [])
    try:
        bases = {first.uid_base, second.uid_base}
        assert len(bases) == 2
        assert all(UID_FIRST <= b < UID_FIRST + UID_RANGES * UID_RANGE_SIZE and (b - UID_FIRST) % UID_RANGE_SIZE == 0
                   for b in bases)
    finally:
        first.close()
        second.close()
    # Released on close: a claim in this process can take either range again.
    claims = [claim_uid_range() for _ in range(UID_RANGES)]
    try:
        assert bases <= {base for _, base in claims}
    finally:
        for fd, _ in claims:
            os.close(fd)


def test_every_range_taken_is_one_clear_error(own_locks):
    claims = [claim_uid_range() for _ in range(UID_RANGES)]
    try:
        with pytest.raises(OSError, match="uid ranges are in use"):
            claim_uid_range()
    finally:
        for fd, _ in claims:
            os.close(fd)


def _uid(pid: str) -> int | None:
    try:
        status = Path("/proc", pid, "status").read_text()
    except OSError:
        return None
    return int(next(line for line in status.splitlines() if line.startswith("Uid:")).split()[1])


def _lineage(pid: str) -> list[int]:
    """The process and its ancestors, innermost first (as far as /proc still shows them)."""
    chain, current = [], pid
    for _ in range(32):
        try:
            text = Path("/proc", current, "stat").read_text()
        except OSError:
            break
        chain.append(int(current))
        current = text[text.rindex(")") + 2:].split()[1]
        if current in ("0", "1"):
            break
    return chain


def _zygote_of(chain: list[int]) -> int | None:
    """The zygote a process descends from, if any: the outermost ancestor with the zygote's command line
    (workers are forked from it, so they carry the same one)."""
    found = None
    for pid in chain:
        try:
            if b"grader.sandbox.zygote" in Path("/proc", str(pid), "cmdline").read_bytes():
                found = pid
        except OSError:
            break
    return found


def _class(folder: Path) -> Path:
    folder.mkdir()
    for number in range(6):
        (folder / f"student{number}.py").write_text(SLOW, encoding="utf-8")
    (folder / "student_looks.py").write_text(LOOKS_AROUND, encoding="utf-8")
    shutil.copy(EXAMPLES / "exp_backward_bug.py", folder / "student_bug.py")
    return folder


@pytest.mark.hostile
def test_two_batches_at_once_never_share_a_uid_and_score_alike():
    work = Path(tempfile.mkdtemp(prefix="grader-sessions-", dir="/var/tmp"))
    try:
        classes = [_class(work / f"class{n}") for n in (1, 2)]
        batches: list[int] = []  # the two batch commands' pids: processes of other sessions on the machine are not ours
        shared: dict[int, set[int]] = {}  # sandbox uid -> zygotes whose workers ran as it at the same moment
        overlap = [False]
        done = threading.Event()

        def watch() -> None:
            while not done.is_set():
                now: dict[int, set[int]] = {}  # this moment's uid -> zygotes
                ours = set()
                for pid in (p for p in os.listdir("/proc") if p.isdigit()):
                    uid = _uid(pid)
                    if uid is None or not UID_FIRST <= uid < UID_FIRST + UID_RANGES * UID_RANGE_SIZE:
                        continue
                    chain = _lineage(pid)
                    batch = next((b for b in batches if b in chain), None)
                    zygote = _zygote_of(chain)
                    if batch is not None and zygote is not None:
                        now.setdefault(uid, set()).add(zygote)
                        ours.add(batch)
                for uid, zygotes in now.items():
                    if len(zygotes) > 1:
                        shared.setdefault(uid, set()).update(zygotes)
                overlap[0] |= len(ours) == 2
                time.sleep(0.02)

        watcher = threading.Thread(target=watch)
        watcher.start()
        runs = [subprocess.Popen([sys.executable, "-m", "grader.cli", "batch", str(folder), "-a", "stage1_autodiff",
                                  "-o", str(work / f"out{n}"), "-j", "1"], cwd=ROOT, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True) for n, folder in enumerate(classes, start=1)]
        batches += [run.pid for run in runs]
        outputs = [run.communicate(timeout=600) for run in runs]
        done.set()
        watcher.join()
        assert [run.returncode for run in runs] == [0, 0], outputs
        assert overlap[0], "the two batches never had workers at the same time: the test proves nothing"
        # A range is free again once its session closed, so a later session may take it: only a uid two
        # live sessions use at one moment is shared.
        assert not shared, f"uids used by workers of two sessions at once: {shared}"
        scores = [(work / f"out{n}" / "scores.csv").read_text(encoding="utf-8") for n in (1, 2)]
        assert scores[0] == scores[1]
        assert "65" in scores[0]
        for n in (1, 2):
            result = (work / f"out{n}" / "results").glob("student_looks*.json")
            text = next(result).read_text(encoding="utf-8")
            assert "visible processes: 1" in text  # its own pid namespace: itself only
    finally:
        shutil.rmtree(work, ignore_errors=True)
