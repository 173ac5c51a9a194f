"""The project's error type for bad parameters and bad input."""

from __future__ import annotations


class KMeansInputError(ValueError):
    """Bad parameters or input data, with a message that names the value, the rule and the fix.

    A ``ValueError`` so that callers catching the usual Python error keep working; the job's
    CLI maps it to exit code 2 and prints the message alone, without a stack trace.
    """
