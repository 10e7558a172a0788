"""Errors the grader reports to a person as one line: what went wrong, where, and the fix."""


class GraderError(Exception):
    """The grader itself cannot go on (bad config, unreadable path, unknown assignment)."""


class SubmissionError(Exception):
    """The submission cannot be graded (encoding, broken notebook, empty zip); it scores 0."""
