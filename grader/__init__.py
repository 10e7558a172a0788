"""dezero-autograder: grade DeZero homework with student code kept in a sandbox."""

__version__ = "0.1.0"
