"""Feedback that names the bug: a failed test's answers compared with those of known bugs.

Three different bugs used to print the same "x.grad has the wrong values". The known bugs of an
assignment are its buggy variants (``variants/buggy/``, hints in their headers) and the mutants
of its reference (``grader.mutants``), some named in ``hints.toml``:

- ``catalogue``: which bugs there are, and the hint each one's author wrote (en, ko);
- ``record`` (the instructor's kit): every known bug graded in the sandbox like a student's file,
  and its answers to the tests it fails kept as an answer book, cached per assignment version;
- ``book``: the answer book, and matching a graded submission's answers against it (the only
  part a student's handout ships, with the public tests' answers only);
- ``coverage``: ``grader selftest``'s "hints: H of F fingerprints named".
"""
