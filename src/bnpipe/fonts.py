"""Fonts for plots in the data's own script (the notebook's Korean names included).

matplotlib ships DejaVu Sans only, which has no Hangul: a title or an axis with
a Korean column name drew boxes (``Glyph ... missing from font(s) DejaVu Sans``).
NanumGothic comes as a file inside the ``koreanize-matplotlib`` wheel, a pinned
dependency that ``make setup`` installs without root. Only the font *file* is
used: importing that package would change matplotlib's settings globally.
:func:`use_script_fonts` registers it once and lists it after DejaVu Sans, so
Latin text looks as before and matplotlib falls back per glyph for the rest.
"""

from __future__ import annotations

import functools
from importlib import util
from pathlib import Path

FALLBACK_FAMILIES = ("NanumGothic",)
_FONT_PACKAGE = "koreanize_matplotlib"


def font_files() -> list[Path]:
    """The bundled fallback font files (empty when the package is missing)."""
    spec = util.find_spec(_FONT_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return []
    folder = Path(next(iter(spec.submodule_search_locations))) / "fonts"
    return sorted(folder.glob("NanumGothic*.ttf"))


@functools.cache
def use_script_fonts() -> list[str]:
    """Register the fallback fonts with matplotlib (once per process); returns the
    ``font.sans-serif`` list now in use."""
    import matplotlib
    from matplotlib import font_manager

    for path in font_files():
        font_manager.fontManager.addfont(str(path))
    families = [f for f in matplotlib.rcParams["font.sans-serif"] if f not in FALLBACK_FAMILIES]
    registered = {f.name for f in font_manager.fontManager.ttflist}
    chain = [families[0], *(f for f in FALLBACK_FAMILIES if f in registered), *families[1:]]
    matplotlib.rcParams["font.sans-serif"] = chain
    # Per-glyph fallback runs over the *families* listed in font.family; the generic
    # "sans-serif" there would resolve to one font only.
    matplotlib.rcParams["font.family"] = [
        chain[0],
        *(f for f in FALLBACK_FAMILIES if f in registered),
        "sans-serif",
    ]
    return chain
