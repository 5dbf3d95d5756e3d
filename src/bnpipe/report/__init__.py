"""The plain-vs-BatchNorm comparison report: PNG plots (``plots``), text and
Markdown tables (``tables``), the HTML page from a Jinja2 template (``html``) and
one comparison's report files (``comparison``).

Inputs are plain Python/numpy data; nothing here knows Keras, MLflow or Prefect,
and importing the package imports neither matplotlib nor Jinja2.
"""

from __future__ import annotations

from bnpipe.report.comparison import (
    ReferenceCheck,
    artifact_key,
    drift_section,
    lineage,
    markdown_report,
    results_table,
    write_comparison_report,
    write_plots,
)
from bnpipe.report.html import render_html_report
from bnpipe.report.plots import (
    DPI,
    FIGSIZE,
    VARIANT_COLOURS,
    new_figure,
    plot_confusion_matrix,
    plot_learning_curves,
    plot_predicted_vs_actual,
    preload,
    save_png,
    seed_label,
)
from bnpipe.report.tables import (
    INTERVAL_HEADERS,
    comparison_headers,
    comparison_table,
    describe_interval,
    format_mean_std,
    format_table,
    format_value,
    headline,
    interval_rows,
    markdown_table,
    reference_rows,
)

__all__ = [
    "DPI",
    "FIGSIZE",
    "INTERVAL_HEADERS",
    "VARIANT_COLOURS",
    "ReferenceCheck",
    "artifact_key",
    "comparison_headers",
    "comparison_table",
    "describe_interval",
    "drift_section",
    "format_mean_std",
    "format_table",
    "format_value",
    "headline",
    "interval_rows",
    "lineage",
    "markdown_report",
    "markdown_table",
    "new_figure",
    "plot_confusion_matrix",
    "plot_learning_curves",
    "plot_predicted_vs_actual",
    "seed_label",
    "preload",
    "reference_rows",
    "render_html_report",
    "results_table",
    "save_png",
    "write_comparison_report",
    "write_plots",
]
