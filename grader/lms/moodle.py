"""Moodle: its "Download all submissions" (3.1-4.0 and 4.1+, individual and team) and its offline
grading worksheet.

Sources: mod/assign/classes/downloader.php (4.1+), pre-4.1 locallib.php download_submissions,
mod/assign/feedback/offline/importgradeslib.php and locallib.php process_import_grades; the
table in docs/lms.md lists them. Moodle's LTI side is in ``lti``.
"""
from __future__ import annotations

import csv
import io
import re
import unicodedata
from datetime import datetime
from pathlib import PurePosixPath

from grader.assignment import Assignment
from grader.errors import GraderError
from grader.lms.layouts import Entry, Students, slug
from grader.lms.scores import comment_for, iso_time, lms_max, lms_score, number
from grader.report import csv_text


# ---- download --------------------------------------------------------------------------

# Moodle: "<Full Name>_<participant>_assignsubmission_<plugin>" folders (3.1-4.0 add a trailing "_"),
# or the flat "..._<file>" form. The full name is the student's to choose, so a folder is split at
# its *last* marker (greedy name): a name that embeds another participant's marker stays a name.
# Team downloads (downloader.php get_student_prefix) use "<group>_<group id>" or "Default group".
_MOODLE_FOLDER = re.compile(r"^(?:(?P<name>.+)_(?P<pid>\d+)|(?P<nogroup>Default group))"
                            r"_assignsubmission_(?P<plugin>[a-z]+)_?$")
_MOODLE = re.compile(r"^(?:(?P<name>.+)_(?P<pid>\d+)|(?P<nogroup>Default group))"
                     r"_assignsubmission_(?P<plugin>[a-z]+)(?:_(?P<file>.+))?$")


def is_moodle_folder(name: str) -> bool:
    """A top folder that is one Moodle submission (never unwrapped as a mere wrapper)."""
    return bool(_MOODLE.match(name) or _MOODLE_FOLDER.match(name))


def moodle_entries(tree: dict[str, bytes], unattributed: list[str], teams: bool | None = None) -> list[Entry]:
    students = Students()
    matches = {}
    for name in tree:
        parts = PurePosixPath(name).parts
        matches[name] = (_MOODLE_FOLDER if len(parts) > 1 else _MOODLE).match(unicodedata.normalize("NFC", parts[0]))
    if teams is None:
        teams = any(m is not None and m["nogroup"] for m in matches.values())
    for name, data in tree.items():
        match, parts = matches[name], PurePosixPath(name).parts
        if match is None or (match["nogroup"] and not teams):
            unattributed.append(name)
            continue
        if match["plugin"] not in ("file", "onlinetext"):
            unattributed.append(name)  # e.g. submission comments: not the student's code
            continue
        inner = "/".join(parts[1:]) or match["file"] or f"{match['plugin']}.html"
        display = (match["name"] or match["nogroup"]).replace("_", " ")
        ids = ({"moodle_group": match["pid"]} if match["pid"] else {}) if teams else {"moodle_participant": match["pid"]}
        label = match["nogroup"] or f"{match['name']}_{match['pid']}"
        # The online-text folder belongs to the same person as the file folder: one identity.
        entry = students.get((teams, match["name"], match["pid"]), slug(("team_" if teams else "") + label),
                             lambda key: Entry(student=key, name=display, ids=dict(ids)))
        entry.files[inner] = data
    entries = students.finish()
    return entries if len(entries) * 2 >= len({PurePosixPath(n).parts[0] for n in tree}) else []


# ---- offline grading worksheet -----------------------------------------------------------

# The importer finds its columns by the site's language strings (importgradeslib.php init: recordid,
# grade, lastmodifiedgrade; feedback by the plugin's editor-field name) and cuts the Identifier at
# the length of 'hiddenuser'. English is lang/en/assign.php. The Korean row is UNVERIFIED against
# Moodle's ko language pack (not in the sources read): check it against your site's own worksheet.
MOODLE_HEADERS = {
    "en": {"recordid": "Identifier", "hiddenuser": "Participant", "fullname": "Full name", "email": "Email address",
           "status": "Status", "grade": "Grade", "maxgrade": "Maximum grade", "gradecanbechanged": "Grade can be changed",
           "lastmodifiedsubmission": "Last modified (submission)", "lastmodifiedgrade": "Last modified (grade)",
           "feedback": "Feedback comments", "submitted": "Submitted for grading", "nosubmission": "No submission",
           "yes": "Yes"},
    "ko": {"recordid": "식별자", "hiddenuser": "참가자", "fullname": "성명", "email": "이메일 주소",
           "status": "상태", "grade": "성적", "maxgrade": "최고 성적", "gradecanbechanged": "성적 변경 가능",
           "lastmodifiedsubmission": "최종 수정 (제출)", "lastmodifiedgrade": "최종 수정 (성적)",
           "feedback": "피드백 코멘트", "submitted": "채점을 위해 제출됨", "nosubmission": "제출 안 함",
           "yes": "예"},
}


def moodle_csv(rows: list[dict], assignment: Assignment, now: datetime | None = None, *,
               lang: str = "en") -> tuple[str, list[str]]:
    """Offline grading worksheet in the Moodle site's language.

    'Last modified (grade)' is when the kit graded the row (``graded_at``), with an explicit
    offset: Moodle skips a row whose grade was changed after that time (a TA's manual edit
    survives), which writing "now" would defeat. The participant id is the download's
    per-assignment ``uniqueid`` (never a roster's user id, which would grade someone else).
    """
    if lang not in MOODLE_HEADERS:
        raise GraderError(f"--moodle-language {lang}: known languages are {', '.join(MOODLE_HEADERS)}; "
                          "use the language your Moodle site's worksheet headers are in")
    words = MOODLE_HEADERS[lang]
    fallback = (now or datetime.now().astimezone()).isoformat(timespec="seconds")
    buffer, skipped = io.StringIO(), []
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([words[k] for k in ("recordid", "fullname", "email", "status", "grade", "maxgrade",
                                        "gradecanbechanged", "lastmodifiedsubmission", "lastmodifiedgrade", "feedback")])
    for row in rows:
        if not row.get("moodle_participant"):
            skipped.append(row["student"])
            continue
        missing = row["status"] == "missing"
        writer.writerow([f"{words['hiddenuser']} {row['moodle_participant']}", csv_text(row.get("name", "")),
                         csv_text(row.get("email", "")),
                         words["nosubmission"] if missing else words["submitted"],
                         "" if missing else number(lms_score(row)), number(lms_max(row)),
                         words["yes"], "-", iso_time(row.get("graded_at")) or fallback, csv_text(comment_for(row))])
    return buffer.getvalue(), skipped
