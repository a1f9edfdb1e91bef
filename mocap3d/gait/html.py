"""A one-page, self-contained HTML gait report (tables, warnings, and the PNGs embedded as base64)."""
from __future__ import annotations

import base64
import html
from pathlib import Path
from typing import Any, Sequence

from ..logs import atomic_write
from .export import cycles_sheet, summary_sheet

STYLE = """body{font-family:Helvetica,Arial,sans-serif;margin:24px;color:#222;max-width:1150px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:16px;margin:22px 0 6px;border-bottom:1px solid #ccc}
table{border-collapse:collapse;font-size:12px}td,th{border:1px solid #ccc;padding:3px 7px;text-align:right}
th{background:#f0f0f0}td:first-child,th:first-child{text-align:left}.warn{color:#a40;font-size:13px}
.meta{color:#555;font-size:13px}img{max-width:100%;border:1px solid #ddd;margin:4px 0}"""


def _fmt(v: Any, nd: int = 3) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return "–" if v != v else f"{v:.{nd}f}"
    return html.escape(str(v))


def _table(head: Sequence[str], rows: Sequence[Sequence[Any]], nd: int = 3) -> str:
    h = "".join(f"<th>{html.escape(str(c))}</th>" for c in head)
    body = "".join("<tr>" + "".join(f"<td>{_fmt(c, nd)}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><tr>{h}</tr>{body}</table>"


def _img(path: Path | None, alt: str) -> str:
    if path is None or not Path(path).is_file():
        return ""
    data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def summary_rows(report: dict[str, Any]) -> tuple[list[str], list[list[Any]]]:
    """Parameter | right mean ± SD | left mean ± SD | both mean ± SD | symmetry index."""
    head, rows = summary_sheet(report)
    out = []
    for r in rows:
        pm = [f"{_fmt(r[i], 3)} ± {_fmt(r[i + 1], 3)}" if r[i] is not None else "–" for i in (1, 4, 7)]
        out.append([r[0]] + pm + [r[9]])
    return ["parameter", "right (mean ± SD)", "left (mean ± SD)", "both (mean ± SD)", "symmetry index (%)"], out


def render(report: dict[str, Any], trial: str, images: dict[str, Path | None]) -> str:
    """The HTML text of one person's report; ``images``: caption -> PNG path."""
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>Gait report: {html.escape(trial)}</title>"
             f"<style>{STYLE}</style></head><body>",
             f"<h1>Gait report: {html.escape(trial)}</h1>"]
    s = report.get("summary", {})
    meta = [f"input: {html.escape(Path(report.get('trc', '')).name)}", f"{report.get('rate_hz', 0):.0f} Hz"]
    if report.get("status") == "ok":
        meta += [f"analysis: <b>{report['mode']}</b>",
                 f"cycles: right {s['cycles']['right']}, left {s['cycles']['left']}",
                 f"analysed: {s['duration_analysed_s']:.2f} s"]
        if s.get("foot_strike_pattern"):
            meta.append(f"foot strike: <b>{s['foot_strike_pattern']}</b>")
    parts.append(f"<p class='meta'>{' · '.join(meta)}</p>")
    if report.get("status") != "ok":
        parts.append(f"<p class='warn'><b>No gait analysed:</b> {html.escape(report.get('reason', ''))}</p>")
    for w in report.get("warnings", []):
        parts.append(f"<p class='warn'>⚠ {html.escape(w)}</p>")
    if report.get("status") == "ok":
        parts.append("<h2>Parameters (mean ± SD over cycles)</h2>" + _table(*summary_rows(report)))
        parts.append("<h2>Every gait cycle</h2>" + _table(*cycles_sheet(report)))
    for caption, path in images.items():
        img = _img(path, caption)
        if img:
            parts.append(f"<h2>{html.escape(caption)}</h2>{img}")
    parts.append("<p class='meta'>Definitions and sources: mocap3d.gait.cycles (Perry &amp; Burnfield 2010, "
                 "Whittle 2007, Novacheck 1998, Robinson et al. 1987, Altman &amp; Davis 2012).</p></body></html>")
    return "\n".join(parts)


def write_html(report: dict[str, Any], trial: str, images: dict[str, Path | None], path: Path) -> Path:
    with atomic_write(path, encoding="utf-8") as fh:
        fh.write(render(report, trial, images))
    return path


def find_browser() -> str | None:
    """A headless-capable Chromium/Chrome on PATH, or None."""
    import shutil
    return next((b for b in ("chromium", "chromium-browser", "google-chrome", "chrome") if shutil.which(b)), None)


def screenshot(html_path: Path, png_path: Path, width: int = 1200, height: int = 2400,
               browser: str | None = None, timeout: float = 120.0) -> Path:
    """Render ``html_path`` in headless Chromium and save a PNG screenshot (to check the page as a
    browser draws it). Raises :class:`~mocap3d.errors.Mocap3dError` when no browser is found or it fails."""
    import subprocess
    import tempfile
    from ..errors import Mocap3dError
    browser = browser or find_browser()
    if browser is None:
        raise Mocap3dError("no Chromium/Chrome on PATH to render the HTML report (Debian: apt-get install chromium)")
    png_path = Path(png_path).resolve()
    with tempfile.TemporaryDirectory() as profile:
        cmd = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
               f"--user-data-dir={profile}", f"--window-size={width},{height}",
               f"--screenshot={png_path}", Path(html_path).resolve().as_uri()]
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if res.returncode != 0 or not png_path.is_file():
        raise Mocap3dError(f"{browser} could not render {html_path}: {res.stderr.strip()[-300:]}")
    return png_path
