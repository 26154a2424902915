"""``python -m mdlm_study.runner``: run the study's notebooks (:func:`mdlm_study.runner.main`)."""

import sys

from mdlm_study.runner import main

try:
    sys.exit(0 if main() is not None else 1)
except ValueError as err:  # a bad parameter or a missing prerequisite: the message says what to do
    print(f"runner: error: {err}", file=sys.stderr)
    sys.exit(2)
