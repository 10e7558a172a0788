"""Moodle's offline grading worksheet import, as mod/assign/feedback/offline does it.

importgradeslib.php init(): the header row must hold the site-language strings recordid,
grade and lastmodifiedgrade (else "invalidgradeimport"); next(): the Identifier is cut after
strlen(get_string('hiddenuser')) bytes (PHP substr) and mapped with get_user_id_for_uniqueid().
locallib.php process_import_grades(): a row is skipped when its grade is blank, negative or
above the assignment's maximum, unchanged, or when the grade in Moodle was modified more than
60 s after the row's strtotime('Last modified (grade)'), unless "ignoremodified" is ticked.
Skips are silent, as in Moodle: the double only counts them, for the tests.
"""
from __future__ import annotations

import csv
import io
from datetime import datetime

# lang/en/assign.php and lang/en/grades.php, the strings the importer matches.
STRINGS = {"en": {"recordid": "Identifier", "grade": "Grade", "lastmodifiedgrade": "Last modified (grade)",
                  "hiddenuser": "Participant", "feedback": "Feedback comments"}}


class MoodleWorksheetImporter:
    def __init__(self, uniqueids: dict[str, int], max_grade: float, *, lang: str = "en",
                 grades: dict[int, tuple[float, float]] | None = None) -> None:
        self.words = STRINGS[lang]
        self.uniqueids, self.max_grade = uniqueids, max_grade
        self.grades: dict[int, tuple[float, float]] = dict(grades or {})  # userid -> (grade, timemodified)
        self.feedback: dict[int, str] = {}
        self.skipped: list[tuple[str, str]] = []

    def import_csv(self, text: str, *, now: float, ignoremodified: bool = False) -> None:
        rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
        header = [cell.strip() for cell in rows[0]]
        try:
            idindex, gradeindex, modifiedindex = (header.index(self.words[k])
                                                  for k in ("recordid", "grade", "lastmodifiedgrade"))
        except ValueError:
            raise ValueError("invalidgradeimport") from None
        feedbackindex = header.index(self.words["feedback"]) if self.words["feedback"] in header else None
        cut = len(self.words["hiddenuser"].encode())
        for row in rows[1:]:
            uniqueid = row[idindex].encode()[cut:].decode(errors="ignore").strip()
            userid = self.uniqueids.get(uniqueid)
            if userid is None:
                self.skipped.append((row[idindex], "no such participant"))
                continue
            self._one(userid, row, gradeindex, modifiedindex, feedbackindex, now, ignoremodified)

    def _one(self, userid, row, gradeindex, modifiedindex, feedbackindex, now, ignoremodified) -> None:
        cell = row[gradeindex].strip()
        if cell in ("", "-"):
            self.skipped.append((str(userid), "blank"))
            return
        grade = float(cell.replace(",", "."))
        if grade < 0 or grade > self.max_grade:
            self.skipped.append((str(userid), "out of range"))
            return
        stamp = row[modifiedindex].strip()
        modified = 0.0 if stamp == "-" else datetime.fromisoformat(stamp).timestamp()  # strtotime; "-" is 0
        current = self.grades.get(userid)
        if current and not ignoremodified and current[1] > modified + 60:
            self.skipped.append((str(userid), "modified in Moodle after the worksheet"))
            return
        if current and current[0] == grade:
            self.skipped.append((str(userid), "unchanged"))
            return
        self.grades[userid] = (grade, now)
        if feedbackindex is not None:
            self.feedback[userid] = row[feedbackindex]
