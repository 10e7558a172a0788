"""The data behind the pages: a link's current results as the kit's score rows (the same rows ``grader batch``
writes to scores.csv and the exports read), and one student's current result."""
from __future__ import annotations

from dataclasses import replace

from sqlalchemy import func, select

from grader.assignment import Assignment
from grader.report import RosterRow, score_rows
from grader.lms.scores import apply_late_policy
from grader.serve.storage import DONE, Store, gradings, submissions
from grader.serve.worker import due_date, student_key


def current_gradings(store: Store, link_id: int, user_id: int | None = None) -> dict[int, dict]:
    """user id -> the grading that is their score: the latest finished grading of their newest graded
    submission (a regrade under way leaves the previous result standing)."""
    latest_done = (select(gradings.c.submission_id, func.max(gradings.c.round).label("round"))
                   .where(gradings.c.status == DONE).group_by(gradings.c.submission_id).subquery())
    query = (select(submissions.c.id, submissions.c.user_id, submissions.c.submitted_at,
                    gradings.c.id.label("grading_id"))
             .join(latest_done, latest_done.c.submission_id == submissions.c.id)
             .join(gradings, (gradings.c.submission_id == latest_done.c.submission_id)
                   & (gradings.c.round == latest_done.c.round))
             .where(submissions.c.link_id == link_id).order_by(submissions.c.submitted_at.desc()))
    if user_id is not None:
        query = query.where(submissions.c.user_id == user_id)
    chosen: dict[int, dict] = {}
    with store.reading() as conn:
        for row in conn.execute(query).mappings():
            chosen.setdefault(row["user_id"], dict(row))
    return chosen


def current_result(store: Store, link_id: int, user_id: int) -> tuple[str, dict] | None:
    """(submission id, results.json) of the student's score on this link, if they have one."""
    found = current_gradings(store, link_id, user_id).get(user_id)
    if found is None:
        return None
    return found["id"], store.results([found["grading_id"]])[found["grading_id"]]


def link_results(store: Store, link_id: int) -> list[dict]:
    """Every student's current result on this link."""
    chosen = current_gradings(store, link_id)
    results = store.results([row["grading_id"] for row in chosen.values()])
    return [results[row["grading_id"]] for row in chosen.values() if row["grading_id"] in results]


def roster(store: Store, course_id: int, members_from_lms: list[dict] | None = None) -> list[RosterRow]:
    """The course's students: those who launched the tool, and those the LMS lists (NRPS) who have not."""
    people: dict[str, RosterRow] = {}
    for member in store.course_members(course_id):
        if member["role"] == "student":
            key = student_key(member)
            people[key] = RosterRow(name=member["name"] or key, ids={"email": key, **member["lms_ids"]})
    for member in members_from_lms or []:
        roles = " ".join(str(r) for r in member.get("roles") or [])
        if "Learner" not in roles or member.get("status", "Active") != "Active":
            continue
        key = str(member.get("email") or member["user_id"])
        people.setdefault(key, RosterRow(name=str(member.get("name") or key), ids={"email": key}))
    return list(people.values())


def link_rows(store: Store, link: dict, assignment: Assignment, members_from_lms: list[dict] | None = None
              ) -> tuple[list[dict], list[dict]]:
    """(results, score rows with the late policy applied): what the instructor's pages and exports show."""
    results = link_results(store, link["id"])
    rows = score_rows(results, roster(store, link["course_id"], members_from_lms))
    return results, apply_late_policy(rows, with_due(assignment, link))


def with_due(assignment: Assignment, link: dict) -> Assignment:
    """The assignment with the due date this link has (the LMS's, when the launch carried one)."""
    return replace(assignment, due=due_date(link, assignment))
