"""What differs between the Python versions the student's checker supports (3.9 and newer).

The instructor's kit needs 3.11; what ``grader handout`` ships (see ``handout.CHECK_MODULES``)
must import on 3.9, where ``tomllib`` is the ``tomli`` package (a dependency only there).
"""
try:
    import tomllib
except ModuleNotFoundError:  # Python < 3.11
    import tomli as tomllib  # type: ignore[no-redef]

__all__ = ["tomllib"]
