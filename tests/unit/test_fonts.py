"""Plots draw the data's own script: Korean names render, with no missing glyph."""

from __future__ import annotations

import logging
import warnings

import numpy as np
import pytest

pytestmark = pytest.mark.slow  # matplotlib


def test_the_fallback_font_ships_with_the_environment():
    from bnpipe.fonts import font_files

    files = font_files()
    assert any(f.name == "NanumGothic.ttf" for f in files), files


def test_a_plot_with_korean_names_renders_without_missing_glyphs(tmp_path, caplog):
    from bnpipe import report

    caplog.set_level(logging.WARNING)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "Glyph ... missing from font(s)" is a UserWarning
        report.plot_predicted_vs_actual(
            np.array([1.0, 2.0, 3.0]),
            {"plain": np.array([1.1, 1.9, 3.2]), "bn": np.array([0.9, 2.1, 2.8])},
            tmp_path / "korean.png",
            title="붓꽃: 꽃잎길이 예측 (predicted vs actual)",
            target="품종 꽃받침폭",
        )
    assert (tmp_path / "korean.png").stat().st_size > 1000
    assert not [r for r in caplog.records if "missing from font" in r.getMessage()]


def test_latin_text_keeps_the_default_font_first():
    import matplotlib

    from bnpipe.fonts import use_script_fonts

    chain = use_script_fonts()
    assert chain[0] == "DejaVu Sans" and "NanumGothic" in chain
    assert matplotlib.rcParams["font.sans-serif"][:2] == ["DejaVu Sans", "NanumGothic"]
