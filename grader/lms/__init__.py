"""Everything about one LMS in one module: its download layout, its import file and its upload.

``canvas``, ``moodle``, ``gradescope`` and ``lti`` are the platforms; ``layouts`` (reading a
download, ``Entry``, plain folders), ``discover`` (which platform), ``scores`` (late policy,
scale, groups) and ``posting`` (report, state, retries) are what they share.
"""
