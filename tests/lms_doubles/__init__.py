"""Local stand-ins for Canvas and an LTI 1.3 platform (Canvas or Moodle flavour), on 127.0.0.1.

They answer as the real servers do (status line, body and headers as quoted in
shared/research/lms-audit.md, with the platform file each comes from), including the answers
a client is tempted to assume away: Moodle's bare ``[]`` bodies with the reason only in the
status line, Canvas's late policy applied on top of an entered score, Canvas's AGS "new
submission" on every score post. They record every request for wire-format assertions.

One module per platform, as in grader/lms/: ``canvas`` (REST), ``lti`` (AGS/NRPS, Canvas or Moodle
flavour), ``moodle`` (the offline grading worksheet importer); ``server`` is what they share.
"""
from lms_doubles.canvas import CanvasDouble
from lms_doubles.lti import LtiDouble
from lms_doubles.moodle import MoodleWorksheetImporter

__all__ = ["CanvasDouble", "LtiDouble", "MoodleWorksheetImporter"]
