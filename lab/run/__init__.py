"""``lab run``: plan the targets, run one worker per target in parallel, merge the verdicts."""
