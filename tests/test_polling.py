from itertools import islice

from lab.polling import pauses


def test_pauses_start_short_and_settle_at_the_most():
    got = list(islice(pauses(0.2), 9))
    assert got[:3] == [0.005, 0.01, 0.02]
    assert got[-3:] == [0.2, 0.2, 0.2]
    assert sum(got[:5]) < 0.2  # five looks within the old first pause
