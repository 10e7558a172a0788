"""Realistic class downloads built from the bundled examples (names as each LMS writes them)."""
import zipfile
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

# (example file, sortable name, user id); a mix of correct, buggy, broken and hostile work.
MIX = [
    ("submissions/correct.py", "doejohn", 1001), ("submissions/exp_backward_bug.py", "kimminji", 1002),
    ("submissions/recursive_backward.py", "leejiho", 1003), ("submissions/syntax_error.py", "parksoyeon", 1004),
    ("submissions/correct_notebook.ipynb", "smithanna", 1005), ("submissions/not_utf8.py", "muellerzoe", 1006),
    ("submissions/seed_not_ones_like.py", "garciaana", 1007), ("hostile/fork_and_daemon.py", "malloryeve", 1008),
    ("hostile/fake_os_exit.py", "trudyx", 1009), ("submissions/empty.py", "nguyenan", 1010),
]


def class_of(size: int) -> list[tuple[Path, str, int]]:
    return [(EXAMPLES / MIX[i % len(MIX)][0], f"{MIX[i % len(MIX)][1]}{i}", 2000 + i) for i in range(size)]


def canvas_zip(path: Path, size: int = 40) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for i, (source, name, uid) in enumerate(class_of(size)):
            late = "_LATE" if i % 7 == 3 else ""
            upload = "dezero_stage1" + source.suffix if i % 2 else "hw1-1" + source.suffix  # LMSs rename files
            archive.write(source, f"{name}{late}_{uid}_{90000 + i}_{upload}")
        archive.writestr("anon_Xk29_91000_report.pdf", b"%PDF-1.4")
        archive.writestr("anon_Xk29_91001_dezero_stage1.py", (EXAMPLES / "submissions/correct.py").read_bytes())
    return path


def moodle_folder(root: Path, size: int = 40) -> Path:
    for i, (source, name, uid) in enumerate(class_of(size)):
        folder = root / f"Student {name.title()}_{uid}_assignsubmission_file"
        folder.mkdir(parents=True)
        (folder / f"homework{source.suffix}").write_bytes(source.read_bytes())
        if i % 5 == 0:
            (folder / "notes.pdf").write_bytes(b"%PDF")
    (root / f"Flat Person_{5000}_assignsubmission_file_dezero_stage1.py").write_bytes(
        (EXAMPLES / "submissions/correct.py").read_bytes())
    return root


def gradescope_zip(path: Path, size: int = 6) -> Path:
    lines = []
    with zipfile.ZipFile(path, "w") as archive:
        for i, (source, name, uid) in enumerate(class_of(size)):
            archive.write(source, f"assignment_77_export/submission_{300 + i}/{source.name}")
            lines += [f"submission_{300 + i}:", "  :submitters:", f"  - :name: Student {name}",
                      f"    :sid: '{uid}'", f"    :email: s{uid}@example.edu", "  :created_at: 2026-11-01 10:00:00.000000000 +09:00"]
        archive.writestr("assignment_77_export/submission_metadata.yml", "\n".join(lines) + "\n")
    return path
