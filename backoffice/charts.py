"""Server-rendered SVG charts for the staff dashboard: plain functions from
numbers to markup, no JavaScript and nothing fetched from elsewhere. Labels
are escaped; colours follow the admin's theme variables (light and dark)."""

from __future__ import annotations

from collections.abc import Sequence

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

BAR = "fill: var(--secondary, #417690)"
BAR_LIGHT = "fill: var(--primary, #79aec8)"
TEXT = "fill: var(--body-quiet-color, #666); font-size: 11px"
GRID = "stroke: var(--hairline-color, #e8e8e8)"


LABEL_CHARS = 24  # what fits left of the funnel's bars at 11px


def _shorten(label: str, chars: int) -> str:
    return label if len(label) <= chars else label[: chars - 1] + "…"


def _nice_max(value: int) -> int:
    """The smallest of 1, 2, 5 x 10^n that is at least ``value`` (and at least 1)."""
    step = 1
    while True:
        for factor in (1, 2, 5):
            if step * factor >= value:
                return step * factor
        step *= 10


def _svg(title: str, width: int, height: int, body: SafeString) -> SafeString:
    return format_html(
        '<svg class="chart" role="img" aria-label="{}" viewBox="0 0 {} {}" width="{}" '
        'height="{}" preserveAspectRatio="xMinYMin meet" xmlns="http://www.w3.org/2000/svg">'
        "<title>{}</title>{}</svg>",
        title,
        width,
        height,
        width,
        height,
        title,
        body,
    )


def column_chart(
    points: Sequence[tuple[str, int]], *, title: str, width: int = 720, height: int = 200
) -> SafeString:
    """Vertical bars, one per point (e.g. per day), with a labelled y axis and
    every fifth x label."""
    left, right, top, bottom = 40, 8, 10, 24
    plot_w, plot_h = width - left - right, height - top - bottom
    top_value = _nice_max(max((v for _, v in points), default=0))
    slot = plot_w / max(len(points), 1)
    parts = []
    for fraction in (0, 0.5, 1):
        y = top + plot_h * (1 - fraction)
        parts.append(
            format_html(
                '<line x1="{}" x2="{}" y1="{}" y2="{}" style="{}"/>'
                '<text x="{}" y="{}" text-anchor="end" style="{}">{}</text>',
                left,
                width - right,
                f"{y:.1f}",
                f"{y:.1f}",
                GRID,
                left - 4,
                f"{y + 4:.1f}",
                TEXT,
                f"{top_value * fraction:g}",
            )
        )
    for index, (label, value) in enumerate(points):
        bar_h = plot_h * value / top_value
        x = left + index * slot
        parts.append(
            format_html(
                '<rect class="bar" x="{}" y="{}" width="{}" height="{}" style="{}">'
                "<title>{}: {}</title></rect>",
                f"{x + slot * 0.15:.1f}",
                f"{top + plot_h - bar_h:.1f}",
                f"{slot * 0.7:.1f}",
                f"{bar_h:.1f}",
                BAR,
                label,
                value,
            )
        )
        if index % 5 == 0 or index == len(points) - 1:
            parts.append(
                format_html(
                    '<text x="{}" y="{}" text-anchor="middle" style="{}">{}</text>',
                    f"{x + slot / 2:.1f}",
                    height - 6,
                    TEXT,
                    label,
                )
            )
    return _svg(title, width, height, format_html_join("", "{}", ((part,) for part in parts)))


def bar_chart(
    rows: Sequence[tuple[str, int]], *, title: str, width: int = 480, row_height: int = 24
) -> SafeString:
    """Horizontal bars with the label on the left and the value at the bar's end."""
    left, right = 70, 50
    plot_w = width - left - right
    top_value = max((v for _, v in rows), default=0) or 1
    body = format_html_join(
        "",
        '<text x="{}" y="{}" text-anchor="end" style="{}">{}</text>'
        '<rect class="bar" x="{}" y="{}" width="{}" height="{}" style="{}"><title>{}: {}</title>'
        '</rect><text x="{}" y="{}" style="{}">{}</text>',
        (
            (
                left - 6,
                i * row_height + 16,
                TEXT,
                label,
                left,
                i * row_height + 4,
                f"{plot_w * value / top_value:.1f}",
                row_height - 8,
                BAR,
                label,
                value,
                f"{left + plot_w * value / top_value + 4:.1f}",
                i * row_height + 16,
                TEXT,
                value,
            )
            for i, (label, value) in enumerate(rows)
        ),
    )
    return _svg(title, width, max(len(rows), 1) * row_height, body)


def funnel_chart(
    rows: Sequence[tuple[str, int, int]], *, title: str, width: int = 480, row_height: int = 34
) -> SafeString:
    """Per row, a light bar (unlocked) with a dark bar (claimed) over it. Long
    labels are shortened on the axis; the bars' tooltips carry them whole."""
    left, right = 150, 70
    plot_w = width - left - right
    top_value = max((unlocked for _, unlocked, _ in rows), default=0) or 1
    body = format_html_join(
        "",
        '<text x="{}" y="{}" text-anchor="end" style="{}">{}</text>'
        '<rect class="bar unlocked" x="{}" y="{}" width="{}" height="{}" style="{}">'
        "<title>{}: {} unlocked</title></rect>"
        '<rect class="bar claimed" x="{}" y="{}" width="{}" height="{}" style="{}">'
        "<title>{}: {} claimed</title></rect>"
        '<text x="{}" y="{}" style="{}">{} / {}</text>',
        (
            (
                left - 6,
                i * row_height + 20,
                TEXT,
                _shorten(label, LABEL_CHARS),
                left,
                i * row_height + 4,
                f"{plot_w * unlocked / top_value:.1f}",
                row_height - 8,
                BAR_LIGHT,
                label,
                unlocked,
                left,
                i * row_height + 10,
                f"{plot_w * claimed / top_value:.1f}",
                row_height - 20,
                BAR,
                label,
                claimed,
                f"{left + plot_w * unlocked / top_value + 4:.1f}",
                i * row_height + 20,
                TEXT,
                claimed,
                unlocked,
            )
            for i, (label, unlocked, claimed) in enumerate(rows)
        ),
    )
    return _svg(title, width, max(len(rows), 1) * row_height, body)
