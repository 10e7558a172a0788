"""``grader serve --demo``: a course holding every installed assignment, demo students and an instructor,
each with an API token (printed once: ``student token: T`` per student, then ``instructor token: T``), so
the service can be tried, tested and benchmarked without an LMS."""
from __future__ import annotations

from grader.serve.service import Service
from grader.serve.storage import courses, links, users
from grader.serve.web import INSTRUCTOR, STUDENT

ISSUER = "demo"


def setup_demo(svc: Service, students: int = 2) -> tuple[list[str], str]:
    """(one token per demo student, the instructor's token). Run again on the same data, it adds tokens."""
    store = svc.store
    course = store.upsert(courses, {"issuer": ISSUER, "context_id": "demo-course"}, {"title": "Demo course"})
    for ident, assignment in svc.assignments.items():
        link = store.upsert(links, {"course_id": course, "resource_link_id": ident}, {"title": assignment.title})
        store.update_link(link, assignment_id=ident)
    tokens = [_person(svc, course, f"student-{n}", f"Demo student {n}", f"student{n}@demo.invalid", STUDENT)
              for n in range(1, students + 1)]
    return tokens, _person(svc, course, "instructor", "Demo instructor", "instructor@demo.invalid", INSTRUCTOR)


def _person(svc: Service, course: int, subject: str, name: str, email: str, role: str) -> str:
    user = svc.store.upsert(users, {"issuer": ISSUER, "subject": subject}, {"name": name, "email": email, "locale": ""})
    svc.store.set_member(user, course, role)
    return svc.store.create_token(user, "demo")
