"""Errors the grader reports to a person as one line: what went wrong, where, and the fix."""


class GraderError(Exception):
    """The grader itself cannot go on (bad config, unreadable path, unknown assignment)."""


class SubmissionError(Exception):
    """The submission cannot be graded (encoding, broken notebook, empty zip); it scores 0.

    Carries a catalogue message so that the student reads it in their language.
    """

    def __init__(self, key: str, **params: object) -> None:
        from grader.i18n import Message

        self.message = Message(f"submission.{key}", params)
        super().__init__(str(self.message))
