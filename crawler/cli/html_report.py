"""`crawler report DB -o report.html`: one self-contained HTML file of charts and tables.

Charts are drawn by plotly.js, inlined in the file (Plotly's Python package
ships it, so nothing is downloaded to make the report and nothing is loaded
from the network when it is opened). Why Plotly: it is maintained by a
company with regular releases, MIT-licensed, gives interactive charts (hover
values, zoom into a time range) that read well for crawl data, and its
Python package needs no numpy or pandas; the cost is ~4.8 MB of JavaScript
in each report, and an optional extra (`pip install 'crawler[report]'`).

The numbers are those of `crawler stats` (`report.build_report`) plus the
time series, per-host latency spread and biggest pages of `report_data`.
"""

from __future__ import annotations

import argparse
import html
import sys
from pathlib import Path
from typing import Any

from crawler.cli.query import open_readonly, resolve_crawl
from crawler.cli.report import Report, Rows, build_report
from crawler.cli.report_data import STATUS_CLASSES, Extra, build_extra
from crawler.errors import CrawlerError
from crawler.stats import size_text

COLOURS = {"2xx": "#2ca02c", "3xx": "#1f77b4", "4xx": "#ff7f0e", "5xx": "#d62728",
           "no response": "#7f7f7f"}
CHART_CONFIG = {"displaylogo": False, "responsive": True}

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1100px;
       color: #222; padding: 0 1rem; }
h1 { margin-bottom: .2rem; } h2 { margin-top: 2.5rem; border-bottom: 1px solid #ddd; }
.summary { color: #555; } .none { color: #888; font-style: italic; }
table { border-collapse: collapse; width: 100%; font-size: .9rem; margin-top: .5rem; }
th, td { text-align: left; padding: .25rem .5rem; border-bottom: 1px solid #eee;
         vertical-align: top; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
td.url { word-break: break-all; }
.chart { height: 360px; }
"""


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "report", help="write an HTML report of a crawl: charts and tables, one file",
        description="Write one self-contained HTML file (opens offline in any browser) with "
                    "pages/s and statuses over time, hosts, depth, errors, the biggest and "
                    "slowest pages and broken links of one crawl in DB.")
    p.add_argument("db", metavar="DB", help="the crawl database (.db)")
    p.add_argument("-o", "--output", metavar="FILE", help="the HTML file (default: DB.html)")
    p.add_argument("--crawl", type=int, metavar="ID", help="the crawl (default: latest)")
    p.add_argument("--top", type=int, default=10, metavar="N",
                   help="rows in the slowest, biggest and broken-link lists (default: 10)")
    p.set_defaults(func=cmd_report)


def cmd_report(args: argparse.Namespace) -> int:
    output = Path(args.output or Path(args.db).with_suffix(".html"))
    conn = open_readonly(args.db)
    try:
        cid = resolve_crawl(conn, args.crawl)
        report = build_report(conn, cid, top=args.top)
        extra = build_extra(conn, cid, top=args.top)
    finally:
        conn.close()
    try:
        output.write_text(render(report, extra), encoding="utf-8")
    except OSError as exc:
        raise CrawlerError(f"{output}: cannot write: {exc.strerror}") from None
    print(f"wrote {output} (crawl {report.crawl['id']}, {report.crawl['pages']:,} pages)",
          file=sys.stderr)
    return 0


def _plotly() -> Any:
    try:
        import plotly.graph_objects as go
        from plotly.offline import get_plotlyjs
    except ImportError:
        raise CrawlerError("crawler report draws its charts with plotly: "
                           "pip install 'crawler[report]' (or: pip install plotly)") from None
    return go, get_plotlyjs


# --------------------------------------------------------------------------- the page

def render(report: Report, extra: Extra) -> str:
    """The whole HTML document."""
    go, plotly_js = _plotly()
    charts = Charts(go)
    c = report.crawl
    title = f"Crawl {c['id']} '{c['name']}'"
    body = [f"<h1>{_e(title)}</h1>", _summary(report),
            "<h2>Pages per second</h2>", charts.rate(extra),
            "<h2>Statuses over time</h2>", charts.statuses(extra),
            "<h2>Hosts: pages and latency</h2>", charts.hosts(extra.host_latency),
            _table(extra.host_latency, ["host", "pages", "p50_ms", "p95_ms", "mean_ms"]),
            "<h2>Depth</h2>", charts.bars("depth", report.depth, "depth", "pages"),
            "<h2>Errors by kind</h2>",
            charts.bars("errors", report.errors_by_kind, "kind", "errors", colour="#d62728"),
            "<h2>Biggest pages</h2>", _table(extra.biggest, ["url", "size", "status",
                                                              "content_type"]),
            "<h2>Slowest pages</h2>", _table(report.slowest, ["url", "elapsed_ms", "status",
                                                               "size"]),
            f"<h2>Broken links ({report.broken_total:,})</h2>", _broken(report.broken_links)]
    return (f"<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{_e(title)}</title><style>{STYLE}</style>"
            f"<script>{plotly_js()}</script></head>\n<body>\n" + "\n".join(body)
            + "\n</body></html>\n")


def _summary(report: Report) -> str:
    c = report.crawl
    duration = f", {c['duration_s']:g} s" if c["duration_s"] is not None else ""
    return (f"<p class=\"summary\">{_e(c['status'])}{_e(duration)}; started "
            f"{_e(c['started_at'])}, finished {_e(c['finished_at'] or '-')}<br>"
            f"{c['pages']:,} pages ({_e(size_text(c['bytes'] or 0))}), {c['links']:,} links, "
            f"{c['items']:,} items, {c['errors']:,} errors</p>")


class Charts:
    """Plotly figures as HTML fragments (the library itself is inlined once, in <head>)."""

    def __init__(self, go: Any) -> None:
        self.go = go

    def _html(self, figure: Any, div_id: str) -> str:
        figure.update_layout(template="plotly_white", height=360,
                             margin={"l": 60, "r": 20, "t": 30, "b": 50})
        fragment = figure.to_html(full_html=False, include_plotlyjs=False, div_id=div_id,
                                  config=CHART_CONFIG, default_height="360px")
        return f'<div class="chart-box" id="{div_id}-box">{fragment}</div>'

    def rate(self, extra: Extra) -> str:
        series = extra.series
        if not series.times:
            return _none("no pages")
        figure = self.go.Figure(self.go.Scatter(
            x=series.times, y=series.pages_per_second, mode="lines+markers", name="pages/s",
            line={"shape": "hv"}))
        figure.update_layout(yaxis_title="pages/s", yaxis_rangemode="tozero",
                             xaxis_title=f"time (UTC), {series.width:g} s buckets")
        return self._html(figure, "rate")

    def statuses(self, extra: Extra) -> str:
        series = extra.series
        if not series.times:
            return _none("no pages")
        figure = self.go.Figure()
        for name in (*STATUS_CLASSES, "no response"):
            counts = series.by_class.get(name, [])
            if any(counts):
                figure.add_bar(x=series.times, y=counts, name=name,
                               marker_color=COLOURS[name])
        figure.update_layout(barmode="stack", yaxis_title="pages", legend_title="status")
        return self._html(figure, "statuses")

    def hosts(self, rows: Rows) -> str:
        if not rows:
            return _none("no hosts")
        hosts = [row["host"] for row in rows][::-1]  # the busiest on top
        figure = self.go.Figure()  # pages on the left (x, y), latency on the right (x2, y2)
        figure.add_bar(y=hosts, x=[row["pages"] for row in rows][::-1], orientation="h",
                       name="pages", marker_color="#1f77b4")
        for key, name, colour in (("p50_ms", "median ms", "#9467bd"),
                                  ("p95_ms", "95th percentile ms", "#e377c2")):
            figure.add_bar(y=hosts, x=[row[key] for row in rows][::-1], orientation="h",
                           name=name, xaxis="x2", yaxis="y2", marker_color=colour)
        figure.update_layout(
            barmode="group", xaxis={"domain": [0, 0.45], "title": "pages"},
            xaxis2={"domain": [0.55, 1], "title": "latency (ms)", "anchor": "y2"},
            yaxis={"automargin": True},
            yaxis2={"matches": "y", "anchor": "x2", "showticklabels": False})
        return self._html(figure, "hosts")

    def bars(self, div_id: str, rows: Rows, x: str, y: str, *, colour: str = "#1f77b4") -> str:
        if not rows:
            return _none(f"no {y}")
        figure = self.go.Figure(self.go.Bar(
            x=[str(row[x]) for row in rows], y=[row[y] for row in rows], name=y,
            marker_color=colour, text=[row[y] for row in rows], textposition="auto"))
        figure.update_layout(xaxis_title=x, yaxis_title=y, xaxis_type="category")
        return self._html(figure, div_id)


# --------------------------------------------------------------------------- tables

def _table(rows: Rows, columns: list[str]) -> str:
    if not rows:
        return _none("none")
    head = "".join(f"<th>{_e(name)}</th>" for name in columns)
    body = "".join("<tr>" + "".join(_cell(name, row.get(name)) for name in columns) + "</tr>"
                   for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _cell(name: str, value: Any) -> str:
    if name == "url" and value:
        return f'<td class="url"><a href="{_e(value)}">{_e(value)}</a></td>'
    if name == "size" and isinstance(value, int):
        return f'<td class="n" title="{value:,} bytes">{_e(size_text(value))}</td>'
    if isinstance(value, int | float):
        return f'<td class="n">{value:,}</td>'
    return f"<td>{_e('' if value is None else value)}</td>"


def _broken(rows: Rows) -> str:
    """Each broken URL, why, and the pages that link to it."""
    if not rows:
        return _none("none")
    body = []
    for row in rows:
        why = str(row["status"]) if row["status"] else row["kind"]
        sources = "<br>".join(f'<a href="{_e(u)}">{_e(u)}</a>' for u in row["linked_from"])
        more = row["linked_from_count"] - len(row["linked_from"])
        if more > 0:
            sources += f"<br>... and {more:,} more"
        body.append(f'<tr class="broken"><td class="url">{_e(row["url"])}</td>'
                    f"<td>{_e(why)}</td><td>{_e(row['message'] or '')}</td>"
                    f'<td class="url linkers">{sources}</td></tr>')
    return ("<table><thead><tr><th>url</th><th>status</th><th>message</th>"
            f"<th>linked from</th></tr></thead><tbody>{''.join(body)}</tbody></table>")


def _none(text: str) -> str:
    return f'<p class="none">({_e(text)})</p>'


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)

