"""Render a result's snippet with line numbers and its highlighted matches, escaped."""

from __future__ import annotations

from collections import defaultdict

from django import template
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

register = template.Library()

MAX_LINES = 40


@register.simple_tag
def highlighted_snippet(result: object) -> SafeString:
    lines = str(result.snippet).split("\n")  # type: ignore[attr-defined]
    first = int(result.start_line)  # type: ignore[attr-defined]
    spans: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for mark in result.highlights:  # type: ignore[attr-defined]
        spans[mark.line].append((mark.start, mark.end))
    rendered = []
    for offset, line in enumerate(lines[:MAX_LINES]):
        number = first + offset
        out, position = [], 0
        for start, end in sorted(spans.get(number, [])):
            if start < position:
                continue
            out.append(escape(line[position:start]))
            out.append(f"<mark>{escape(line[start:end])}</mark>")
            position = end
        out.append(escape(line[position:]))
        rendered.append(f'<span class="ln">{number}</span>{"".join(out)}')
    if len(lines) > MAX_LINES:
        rendered.append(f'<span class="more">… {len(lines) - MAX_LINES} more lines</span>')
    return mark_safe("\n".join(rendered))  # noqa: S308 -- every piece above is escaped
