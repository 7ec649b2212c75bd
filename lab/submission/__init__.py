"""A vendor's submission: ``submission.toml`` plus the packages it names (CONTRACT section 1)."""

from lab.submission.load import LoadedSubmission, load_for_lab, load_submission
from lab.submission.model import Artifact, Submission

__all__ = ["Artifact", "LoadedSubmission", "Submission", "load_for_lab", "load_submission"]
