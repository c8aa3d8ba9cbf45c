# SPDX-License-Identifier: GPL-3.0-or-later
"""`netdata-anomalies report`: what was unusual between A and B on an agent (or a parent's child).

    netdata-anomalies report [--host H] [--after A] [--before B] [--train-after TA] [--train-before TB]
                             [--charts REGEX] [--model M] [--top N] [--out report.html]

Times follow Netdata's API: a unix timestamp, or a negative number of seconds relative to now (`--after
-3600`: the last hour); also `YYYY-MM-DD HH:MM[:SS]` in local time. The reference window defaults to the
4 hours before A. The ranking goes to stdout as a text table, progress and warnings to stderr, the HTML to
`--out`. Bad input exits with status 2 and one line saying what is wrong.
"""
from __future__ import annotations

import argparse
import sys
import time
import warnings
from datetime import datetime
from pathlib import Path
from typing import Optional, Sequence, TextIO

from .config import DEFAULTS, parse_config
from .lookback import LookBack, LookBackError, look_back
from .report_html import number, render, top_dimensions, when

REFERENCE_S = 4 * 3600  # default reference window: the 4 h before the window of interest
TEXT_ROWS = 15


def parse_time(text: str, now: float) -> int:
    """A unix timestamp; a number <= 0 is seconds relative to `now`; or a local 'YYYY-MM-DD HH:MM[:SS]'."""
    text = text.strip()
    try:
        value = float(text)
    except ValueError:
        try:
            return int(datetime.fromisoformat(text).timestamp())
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a timestamp, -seconds or 'YYYY-MM-DD HH:MM'")
    return int(now + value) if value <= 0 else int(value)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="netdata-anomalies",
                                     description="Unsupervised anomaly detection for Netdata, looking back.")
    commands = parser.add_subparsers(dest="command", required=True)
    report = commands.add_parser("report", help="what was unusual between two times", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    report.add_argument("--host", default=DEFAULTS["host"],
                        help="agent to read (a parent's child: 127.0.0.1:19999/host/<child>); default %(default)s")
    report.add_argument("--protocol", default=DEFAULTS["protocol"], choices=("http", "https"))
    report.add_argument("--username")
    report.add_argument("--password")
    report.add_argument("--after", default="-3600", help="start of the window of interest (default -3600)")
    report.add_argument("--before", default="0", help="its end (default 0: now)")
    report.add_argument("--train-after", help="start of the reference window (default: 4 h before --after)")
    report.add_argument("--train-before", help="its end (default: --after)")
    report.add_argument("--charts", default=DEFAULTS["charts_regex"],
                        help="regular expression of the charts to look at (default %(default)s)")
    report.add_argument("--model", default=DEFAULTS["model"], help="offline model (default %(default)s)")
    report.add_argument("--top", type=int, default=10, help="charts plotted in the HTML (default 10)")
    report.add_argument("--out", type=Path, default=Path("report.html"), help="HTML file (default report.html)")
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    """The command line entry point; returns the exit status."""
    args = build_parser().parse_args(argv)
    # anyio warns about trio on its first use: a user of this command can do nothing about it
    warnings.filterwarnings("ignore", message=r"trio\.MultiError is deprecated")
    now = time.time()
    try:
        after, before = parse_time(args.after, now), parse_time(args.before, now)
        train_before = parse_time(args.train_before, now) if args.train_before else after
        train_after = parse_time(args.train_after, now) if args.train_after else train_before - REFERENCE_S
    except argparse.ArgumentTypeError as error:
        return fail(str(error))
    if before <= after:
        return fail(f"the window of interest is empty: --before ({when(before)}) is not after --after ({when(after)})")
    if train_before <= train_after:
        return fail("the reference window is empty: --train-before is not after --train-after")
    config = parse_config({"host": args.host, "protocol": args.protocol, "username": args.username,
                           "password": args.password, "charts_regex": args.charts, "model": args.model,
                           "save_state": False})
    if config.problems:
        return fail("; ".join(config.problems))
    try:
        result = look_back(config, after, before, train_after, train_before, Progress(sys.stderr))
    except LookBackError as error:
        return fail(str(error))
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    print(text_table(result), file=sys.stdout)
    args.out.write_text(render(result, args.top))
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


def fail(message: str) -> int:
    print(f"netdata-anomalies report: {message}", file=sys.stderr)
    return 2


def text_table(result: LookBack, rows: int = TEXT_ROWS) -> str:
    """The ranking as plain text: rank, anomaly rate, peak probability, change points, chart, drivers."""
    lines = [f"{'#':>3}  {'anomaly':>7}  {'peak':>6}  {'changes':>7}  chart: driving dimensions",
             f"{'':>3}  {'rate':>7}  {'prob.':>6}"]
    for rank, model in enumerate(result.ranked_models()[:rows], 1):
        drivers = ", ".join(f"{result.columns[int(model.column_index[i])].dim} {100 * model.driven[i]:.0f}%"
                            for i in top_dimensions(result, model, 3) if model.driven[i] > 0)
        lines.append(f"{rank:>3}  {100 * model.anomaly_rate:>6.1f}%  {number(model.peak_probability):>6}  "
                     f"{len(result.changes_of(model.column_index)):>7}  {model.name}"
                     + (f": {drivers}" if drivers else ""))
    return "\n".join(lines)


class Progress:
    """Progress on stderr: a bar redrawn in place on a terminal, one line per stage otherwise."""

    def __init__(self, stream: TextIO):
        self.stream = stream
        self.tty = stream.isatty()
        self.stage = ""

    def __call__(self, stage: str, done: int, total: int) -> None:
        if self.tty:
            filled = int(30 * done / max(total, 1))
            self.stream.write(f"\r{stage[:40]:<40} [{'#' * filled}{'.' * (30 - filled)}] {done}/{total}")
            if stage == "scoring" and done >= total:
                self.stream.write("\n")
            self.stream.flush()
        elif stage != self.stage:
            print(stage, file=self.stream)
        self.stage = stage


def entry_point() -> None:
    """console_scripts entry: `netdata-anomalies`."""
    sys.exit(main())


if __name__ == "__main__":
    entry_point()
