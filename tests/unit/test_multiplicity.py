"""The multiplicity adjustment across sweep cells, against values worked by hand."""

from __future__ import annotations

import math

import pytest

from bnpipe.stats import multiplicity


def test_holm_by_hand():
    # sorted: .005 .01 .03 .04 -> 4*.005=.02, 3*.01=.03, 2*.03=.06, max(.06, 1*.04)=.06
    adjusted = multiplicity.adjust([0.01, 0.04, 0.03, 0.005], "holm")
    assert adjusted == pytest.approx([0.03, 0.06, 0.06, 0.02])


def test_benjamini_hochberg_by_hand():
    # 4/1*.005=.02, 4/2*.01=.02, 4/3*.03=.04, 4/4*.04=.04; minimum from the top keeps them
    adjusted = multiplicity.adjust([0.01, 0.04, 0.03, 0.005], "bh")
    assert adjusted == pytest.approx([0.02, 0.04, 0.04, 0.02])
    # the step-up: a large p lowers nothing, a small one below it is capped by it
    assert multiplicity.adjust([0.04, 0.045], "bh") == pytest.approx([0.045, 0.045])


def test_untested_cells_stay_nan_and_leave_the_family():
    adjusted = multiplicity.adjust([math.nan, 0.01, 0.04], "holm")
    assert math.isnan(adjusted[0])
    assert adjusted[1:] == pytest.approx([0.02, 0.04])  # m = 2, not 3


def test_adjusted_values_never_exceed_one_and_bad_input_is_refused():
    assert multiplicity.adjust([0.5, 0.9, 0.7], "holm") == pytest.approx([1.0, 1.0, 1.0])
    with pytest.raises(ValueError, match="correction must be one of holm, bh"):
        multiplicity.adjust([0.1], "bonferroni")
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        multiplicity.adjust([1.5], "holm")


def test_paired_t_pvalue_by_hand():
    # d = 1, 2, 3: mean 2, sd 1, t = 2 * sqrt(3); df = 2 has the closed form
    # p = 1 - t / sqrt(t^2 + 2) = 1 - sqrt(12 / 14)
    assert multiplicity.paired_t_pvalue([1.0, 2.0, 3.0]) == pytest.approx(1 - math.sqrt(12 / 14))
    assert math.isnan(multiplicity.paired_t_pvalue([0.3]))  # one pair: untestable
    assert math.isnan(multiplicity.paired_t_pvalue([0.3, math.nan]))
    assert multiplicity.paired_t_pvalue([0.0, 0.0, 0.0]) == 1.0
    assert multiplicity.paired_t_pvalue([0.2, 0.2]) == 0.0
