"""service.stop's look for processes that outlived the service: one still ending is given a moment
(on a loaded machine a process of the tree, still exiting, was once taken for an escaped one)."""

from __future__ import annotations

from suites.test_service import outliving


class Observer:
    def __init__(self, *answers):
        self.answers = list(answers)

    def processes(self):
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]


def test_a_process_still_ending_is_given_a_moment():
    assert outliving(Observer({7: "memcached"}, {}), before={1}) == {}


def test_one_that_stays_is_named_and_the_ones_before_are_not():
    stays = Observer({1: "the install's daemon", 9: "acme-esc-worker 600 (pid 96 in the target)"})
    assert outliving(stays, before={1}, grace=0.3) == {9: "acme-esc-worker 600 (pid 96 in the target)"}
