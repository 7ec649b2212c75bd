"""Which result a cell of the buyers' matrix shows, and what of its reason buyers read."""

from __future__ import annotations


def test_a_broken_run_does_not_take_a_judged_cell_off_the_matrix():
    """An engineer's interrupted run and a missing image replaced a passed cell (and its
    certificate) with "broken" on the buyers' matrix: a broken result says nothing of the product."""
    from types import SimpleNamespace as R

    from lab.catalogue.lifecycle import latest
    from lab.catalogue.publish import plain_reason

    def run(*results):
        return R(results=list(results))

    passed = R(target="a", verdict="passed", made=1)
    broken = R(target="a", verdict="broken", made=2)
    only_broken = R(target="b", verdict="broken", made=1)
    failed = R(target="c", verdict="failed", made=1)
    later = R(target="c", verdict="passed", made=3)
    results = [x for r in (run(passed, only_broken, failed), run(broken), run(later)) for x in r.results]
    assert latest(results) == {"a": passed, "b": only_broken, "c": later}
    assert latest(results, {"b"}) == {"b": only_broken}
    # the engineer's advice (a command with the engineer's paths) is not shown to buyers
    said = plain_reason("lab.provision: image lab/x is not built yet: run `lab images build x --inventory /tmp/i.toml`")
    assert "run `" not in said and "/tmp/i.toml" not in said and "is not built yet" in said
