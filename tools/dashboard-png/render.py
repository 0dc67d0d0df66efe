#!/usr/bin/env python3
"""Renders the panels of deploy/monitoring/grafana-dashboard.json as one PNG, from real data.

  render.py run --bench BIN --scenario FILE --out DIR [--png PNG]
      Starts a Prometheus of its own (127.0.0.1, a free port, scrape every 1 s, TSDB in
      DIR/prometheus-data), runs `BIN run FILE --policy inferno --out DIR/bench` (the real loop:
      four services, kubesim, emulated vLLM servers), points that Prometheus at the four
      services' /metrics as soon as their logs say where they listen, with the labels the
      shipped PodMonitor gives, and when the benchmark has finished renders the dashboard's
      panels over the run into PNG (default DIR/dashboard.png).

  render.py render --out DIR [--png PNG]
      Renders again from the data a `run` left in DIR (starts Prometheus on DIR/prometheus-data,
      scraping nothing).

Every panel's queries are the dashboard's own, with the Grafana variables replaced:
$namespace by the namespace the data has (inferno), $server by .* (All), $__rate_interval by
--rate-interval (30s: 4 x the 1 s scrape is Grafana's minimum; 30 s spans several cycles).
A panel whose queries all return nothing is drawn with "No data" and listed on stdout with the
likely reason. Needs matplotlib and PyYAML (pip), and prometheus (Debian package).
"""

import argparse
import json
import math
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker as mticker  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
DASHBOARD = REPO / "deploy/monitoring/grafana-dashboard.json"

# The scrape targets, as deploy/monitoring/podmonitor.yaml has Prometheus scrape the `inferno`
# pod: job from the pod's app.kubernetes.io/name (jobLabel), namespace and pod from the pod,
# container and endpoint (the container port's name) from the endpoint. `instance` is the
# address (the operator's is pod IP:port). Each entry: container, endpoint, the service's log
# in the benchmark's DIR/bench/inferno/logs, and the log message carrying the /metrics address
# (the controller serves /metrics on its API port, the others on their ops listener).
JOB = "inferno"
TARGET_LABELS = {"namespace": "inferno", "pod": "inferno-0"}
SERVICES = [
    ("controller", "http", "controller.log", "serving"),
    ("collector", "ops-collector", "collector.log", "serving health and metrics"),
    ("optimizer", "ops-optimizer", "optimizer.log", "serving health and metrics"),
    ("actuator", "ops-actuator", "actuator.log", "serving health and metrics"),
]
SCRAPE_INTERVAL = "1s"

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def log(*a):
    print(*a, flush=True)


# --------------------------------------------------------------------------- Prometheus


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Prometheus:
    """A Prometheus of our own: loopback, free port, its own TSDB."""

    def __init__(self, binary, out, targets_file=None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        cfg = out / "prometheus.yml"
        text = (
            f"global:\n  scrape_interval: {SCRAPE_INTERVAL}\n  scrape_timeout: {SCRAPE_INTERVAL}\n"
        )
        if targets_file is None:  # re-rendering: the stored data only
            text += "scrape_configs: []\n"
        else:
            text += (
                f"scrape_configs:\n"
                f"  - job_name: {JOB}\n"
                f"    metrics_path: /metrics\n"
                f"    honor_labels: false\n"
                f"    file_sd_configs:\n"
                f"      - files: ['{targets_file}']\n"
                f"        refresh_interval: 1s\n"
            )
        cfg.write_text(text)
        self.log_path = out / "prometheus.log"
        self.proc = subprocess.Popen(
            [
                binary,
                f"--config.file={cfg}",
                f"--storage.tsdb.path={out / 'prometheus-data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--storage.tsdb.retention.time=3650d",
            ],
            stdout=open(self.log_path, "w"),
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        deadline = time.time() + 60
        while True:
            try:
                with urllib.request.urlopen(self.url + "/-/ready", timeout=1) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if self.proc.poll() is not None or time.time() > deadline:
                raise SystemExit(f"prometheus did not start: see {self.log_path}")
            time.sleep(0.3)

    def api(self, path, **params):
        url = f"{self.url}/api/v1/{path}?" + urllib.parse.urlencode(params, doseq=True)
        with urllib.request.urlopen(url, timeout=60) as r:
            body = json.load(r)
        if body.get("status") != "success":
            raise RuntimeError(f"{path} {params}: {body}")
        return body["data"]

    def query_range(self, expr, start, end, step):
        return self.api("query_range", query=expr, start=start, end=end, step=step)["result"]

    def query(self, expr, at):
        return self.api("query", query=expr, time=at)["result"]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# --------------------------------------------------------------------------- the run


def metrics_address(logfile, message):
    """The address in the log line `message addr=...` (plain or JSON logs), or None."""
    try:
        text = logfile.read_text(errors="replace")
    except OSError:
        return None
    for line in text.splitlines():
        line = ANSI.sub("", line)
        if line.startswith("{"):
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            fields = rec.get("fields", rec)
            if fields.get("message") == message and fields.get("addr"):
                return fields["addr"]
            continue
        m = re.search(r"\s" + re.escape(message) + r"(\s+\S+=\S+)*?\s+addr=(\S+)", line)
        if m and (message != "serving" or "health and metrics" not in line):
            return m.group(2)
    return None


def write_targets(path, addresses):
    groups = []
    for container, endpoint, _, _ in SERVICES:
        labels = dict(TARGET_LABELS, container=container, endpoint=endpoint)
        groups.append({"targets": [addresses[container]], "labels": labels})
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(groups, indent=2) + "\n")
    tmp.replace(path)


def save_pages(directory, addresses):
    """Keeps the services' latest /metrics pages (OUT/metrics/<container>.txt), for reference."""
    directory.mkdir(exist_ok=True)
    for container, addr in addresses.items():
        try:
            with urllib.request.urlopen(f"http://{addr}/metrics", timeout=2) as r:
                (directory / f"{container}.txt").write_bytes(r.read())
        except OSError:
            pass


def cmd_run(args):
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    for d in ("bench", "prometheus-data", "metrics"):
        shutil.rmtree(out / d, ignore_errors=True)
    targets = out / "targets.json"
    targets.write_text("[]\n")
    prom = Prometheus(args.prometheus, out, targets)
    log(f"prometheus on {prom.url}, data in {out / 'prometheus-data'}")
    bench_cmd = [
        args.bench,
        "run",
        args.scenario,
        "--policy",
        "inferno",
        "--out",
        str(out / "bench"),
    ] + args.bench_args
    log("running: " + " ".join(bench_cmd))
    bench_log = out / "bench.log"
    bench = subprocess.Popen(
        bench_cmd,
        stdout=open(bench_log, "w"),
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    try:
        logs = out / "bench/inferno/logs"
        addresses = {}
        while len(addresses) < len(SERVICES):
            if bench.poll() is not None:
                raise SystemExit(f"the benchmark ended before its services served: {bench_log}")
            for container, _, logname, message in SERVICES:
                if container not in addresses:
                    a = metrics_address(logs / logname, message)
                    if a:
                        addresses[container] = a
            time.sleep(0.2)
        # The benchmark starts its clock once the controller serves.
        clock_start = time.time()
        write_targets(targets, addresses)
        log("scraping " + ", ".join(f"{c} {a}" for c, a in addresses.items()))
        last = 0.0
        while bench.poll() is None:
            if time.time() - last > 30:
                last = time.time()
                log(f"  {last - clock_start:5.0f} s into the run")
                save_pages(out / "metrics", addresses)
            time.sleep(1)
        end = time.time()
        log(f"benchmark exited with {bench.returncode} ({bench_log})")
        if bench.returncode != 0:
            raise SystemExit(1)
        scenario = Path(args.scenario)
        run = {
            "scenario": str(scenario.relative_to(REPO) if scenario.is_relative_to(REPO) else scenario),
            "bench": bench_cmd,
            "clockStart": clock_start,
            "wallEnd": end,
            "targets": json.loads(targets.read_text()),
        }
        (out / "run.json").write_text(json.dumps(run, indent=2) + "\n")
        render(prom, run, args, out)
    finally:
        if bench.poll() is None:
            bench.send_signal(signal.SIGTERM)
            bench.wait()
        prom.stop()


def cmd_render(args):
    out = Path(args.out).resolve()
    run = json.loads((out / "run.json").read_text())
    prom = Prometheus(args.prometheus, out)
    try:
        render(prom, run, args, out)
    finally:
        prom.stop()


# --------------------------------------------------------------------------- the scenario


def seconds(v):
    """A scenario duration (`90s`, `10m`, `1h30m`, `250ms`, or a number of seconds)."""
    if isinstance(v, (int, float)):
        return float(v)
    total, rest = 0.0, str(v).strip()
    for num, unit in re.findall(r"([0-9.]+)\s*(ms|h|m|s)?", rest):
        total += float(num) * {"ms": 0.001, "h": 3600, "m": 60, "s": 1, "": 1}[unit]
    return total


def scenario_info(run):
    """(time scale, [(start, end) of the scenario's load above its first multiplier], name)."""
    try:
        import yaml
    except ImportError:
        return None, [], None
    path = Path(run["scenario"])
    if not path.is_absolute():
        path = REPO / path
    try:
        s = yaml.safe_load(path.read_text())
    except OSError:
        return None, [], None
    ts = float(s.get("timeScale", 1))
    bench = run["bench"]
    if "--time-scale" in bench:
        ts = float(bench[bench.index("--time-scale") + 1])
    bands, t, m, start = [], 0.0, 1.0, None
    for ph in s.get("load") or []:
        t += seconds(ph["for"])
        m = float(ph.get("multiplier", m))
        if m > 1 and start is None:
            start = t - seconds(ph["for"])
        elif m <= 1 and start is not None:
            bands.append((start, t - seconds(ph["for"])))
            start = None
    if start is not None:
        bands.append((start, seconds(s["duration"])))
    return ts, bands, s.get("name", path.stem)


# --------------------------------------------------------------------------- rendering

PX_PER_UNIT_Y = 30  # Grafana's grid: 24 columns, rows of 30 px
COLORS = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
    "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
]
KIND_STYLE = {"measured": "-", "predicted": "--", "target": ":"}
REF_STYLES = ["-", "--", ":", "-."]


def substitute(expr, variables):
    for name, value in variables.items():
        expr = expr.replace("${" + name + "}", value).replace("$" + name, value)
    left = re.findall(r"\$\{?\w+", expr)
    if left:
        raise SystemExit(f"unsubstituted variables {left} in {expr}")
    return expr


def legend_of(fmt, labels, expr):
    if fmt:
        return re.sub(r"\{\{\s*(\w+)\s*\}\}", lambda m: labels.get(m.group(1), ""), fmt).strip()
    name = labels.get("__name__", "")
    rest = ", ".join(f'{k}="{v}"' for k, v in labels.items() if k != "__name__")
    return f"{name}{{{rest}}}" if rest or not name else name


def unit_scale(unit, peak):
    """(factor, axis label) for a Grafana unit and the panel's largest value."""
    if unit == "s":
        return (1000.0, "ms") if peak < 1 else (1.0, "s")
    if unit == "ms":
        return 1.0, "ms"
    if unit == "bytes":
        return 1 / 2**20, "MiB"
    return 1.0, ""


def fmt_value(v):
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    a = abs(v)
    if a == 0:
        return "0"
    if a >= 1000:
        return f"{v:,.0f}"
    if a >= 10:
        return f"{v:.1f}"
    if a >= 0.001:
        return f"{v:.3g}"
    return f"{v:.2e}"


def tick(v, _=None):
    return f"{v:,.0f}" if abs(v) >= 1000 else format(v, ".4g")


def metric_names(expr):
    return set(re.findall(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\{", expr))


def why_empty(expr, seen, prom, start, end):
    """A likely reason a query returned no series over the run."""
    missing = sorted(n for n in metric_names(expr) if n not in seen)
    if missing:
        return "never exposed during the run: " + ", ".join(missing)
    if re.search(r">\s*0\s*$", expr):
        # `... > 0` keeps the non-zero rates only: did the counter ever move?
        names = [n for n in metric_names(expr) if n.endswith("_total")]
        moved = []
        for n in names:
            r = prom.query(f'sum(increase({n}{{job="{JOB}"}}[{int(end - start) + 1}s]))', end)
            moved.append(f"{n} rose by {fmt_value(float(r[0]['value'][1])) if r else '0'}")
        return "the query keeps rates > 0 only and none was (" + "; ".join(moved) + ")"
    return "the series exist but the query returned nothing over the run"


def render(prom, run, args, out):
    dash = json.loads(Path(args.dashboard).read_text())
    # The span of the data: while all four services were scraped (`up` 1 for each), within
    # the benchmark's run.
    t_lo, t_hi = run["clockStart"] - 5, run["wallEnd"]
    all_up = prom.query_range(
        f'count(up{{job="{JOB}"}} == 1) == {len(SERVICES)}', t_lo, t_hi, 1
    )
    stamps = [float(t) for s in all_up for t, _ in s["values"]]
    if not stamps:
        raise SystemExit("the four services were never scraped together: nothing to render")
    start, end = min(stamps), max(stamps)
    step = args.step or max(1, math.ceil((end - start) / 900))
    ns_values = prom.api(
        "label/namespace/values", **{"match[]": f'inferno_build_info{{job="{JOB}"}}'},
        start=start, end=end,
    )
    namespace = ns_values[0] if ns_values else TARGET_LABELS["namespace"]
    variables = {
        "__rate_interval": args.rate_interval,
        "namespace": namespace,
        "server": ".*",
        "datasource": "prometheus",
    }
    seen = set(
        prom.api("label/__name__/values", **{"match[]": f'{{job="{JOB}"}}'}, start=start, end=end)
    )
    ts, bands, name = scenario_info(run)
    ts = ts or 1.0
    t0 = run["clockStart"]

    def x_of(t):  # scenario minutes since the benchmark's clock started
        return (float(t) - t0) * ts / 60.0

    panels = dash["panels"]
    bottom = max(p["gridPos"]["y"] + p["gridPos"]["h"] for p in panels)
    width_px = args.width
    header_px = 80
    height_px = header_px + bottom * PX_PER_UNIT_Y + 10
    dpi = 100
    fig = plt.figure(figsize=(width_px / dpi, height_px / dpi), dpi=dpi)
    fig.patch.set_facecolor("white")
    colw = width_px / 24

    def rect(x, y, w, h):  # px from the top left -> figure fraction
        return [x / width_px, 1 - (y + h) / height_px, w / width_px, h / height_px]

    title = f"Inferno dashboard ({DASHBOARD.relative_to(REPO)}) on a run of the real loop"
    if name:
        title += f": inferno-bench, scenario {run['scenario']}, policy inferno"
    sub = (
        f"{time.strftime('%Y-%m-%d %H:%M', time.gmtime(start))} UTC, {end - start:.0f} s of wall "
        f"time. Prometheus scraping the four services' /metrics every {SCRAPE_INTERVAL} with the "
        f"PodMonitor's labels; the panels' own queries with $namespace={namespace}, $server=All, "
        f"$__rate_interval={args.rate_interval}, step {step} s.\n"
        f"x axis: scenario minutes since the benchmark's clock started (time scale {ts:g}: one wall "
        f"second is {ts:g} scenario seconds)"
        + ("; grey band: the scenario's load above 1x" if bands else "")
        + ". Legends: the last and the largest value, as the dashboard's."
    )
    fig.text(10 / width_px, 1 - 20 / height_px, title, fontsize=14, weight="bold", va="center")
    fig.text(10 / width_px, 1 - 54 / height_px, sub, fontsize=9, va="center", color="#333",
             linespacing=1.5)

    report = []
    for p in panels:
        gp = p["gridPos"]
        x, y, w, h = gp["x"] * colw, header_px + gp["y"] * PX_PER_UNIT_Y, gp["w"] * colw, gp["h"] * PX_PER_UNIT_Y
        if p["type"] == "row":
            fig.text(
                (x + 6) / width_px, 1 - (y + h / 2 + 2) / height_px, p["title"],
                fontsize=12, weight="bold", va="center", color="#1a3d6d",
            )
            line = plt.Line2D(
                [6 / width_px, 1 - 6 / width_px], [1 - (y + h - 2) / height_px] * 2,
                transform=fig.transFigure, color="#1a3d6d", lw=0.8,
            )
            fig.add_artist(line)
            continue
        pad = 4
        frame = fig.add_axes(rect(x + pad, y + pad, w - 2 * pad, h - 2 * pad))
        frame.set_xticks([])
        frame.set_yticks([])
        frame.set_facecolor("#fbfbfb")
        for s in frame.spines.values():
            s.set_color("#c8c8c8")
        frame.text(8 / (w - 2 * pad), 1 - 12 / (h - 2 * pad), p["title"], transform=frame.transAxes,
                   fontsize=10, weight="bold", va="center")
        frame.set_zorder(0)
        inner = (x + pad, y + pad + 22, w - 2 * pad, h - 2 * pad - 22)
        if p["type"] == "table":
            report.append(draw_table(fig, rect, inner, p, prom, variables, end, seen, start))
        else:
            report.append(
                draw_series(fig, rect, inner, p, prom, variables, start, end, step, x_of, bands, seen)
            )

    png = Path(args.png) if args.png else out / "dashboard.png"
    png.parent.mkdir(parents=True, exist_ok=True)
    tmp = png.with_name(png.stem + ".rgb.png")
    fig.savefig(tmp, dpi=dpi, facecolor="white")
    plt.close(fig)
    try:  # a palette image is a third the size, and the drawing has few colours
        from PIL import Image

        Image.open(tmp).convert("RGB").quantize(colors=128, method=Image.Quantize.MEDIANCUT).save(
            png, optimize=True
        )
        tmp.unlink()
    except ImportError:
        tmp.replace(png)
    log(f"\nwrote {png} ({png.stat().st_size // 1024} KB, {width_px} x {height_px} px)")
    log(f"span {time.strftime('%H:%M:%S', time.gmtime(start))}-"
        f"{time.strftime('%H:%M:%S', time.gmtime(end))} UTC ({end - start:.0f} s), step {step} s")
    empty = []
    for title, lines, has_data in report:
        log(("  " if has_data else "  NO DATA  ") + title)
        for ln in lines:
            log("      " + ln)
        if not has_data:
            empty.append(title)
    log(f"{len(report)} panels, {len(empty)} without data" + (": " + "; ".join(empty) if empty else ""))


def no_data(fig, rect, inner, reason):
    ax = fig.add_axes(rect(*inner))
    ax.axis("off")
    ax.text(0.5, 0.58, "No data", ha="center", va="center", fontsize=15, color="#888")
    ax.text(0.5, 0.36, reason, ha="center", va="center", fontsize=8, color="#888", wrap=True)


def draw_series(fig, rect, inner, p, prom, variables, start, end, step, x_of, bands, seen):
    targets = p.get("targets", [])
    unit = p.get("fieldConfig", {}).get("defaults", {}).get("unit", "short")
    custom = p.get("fieldConfig", {}).get("defaults", {}).get("custom", {})
    stacked = custom.get("stacking", {}).get("mode", "none") == "normal"
    fill = custom.get("fillOpacity", 0) / 100
    grid = [start + i * step for i in range(int((end - start) // step) + 1)]
    series, lines, reasons = [], [], []
    for ref_i, t in enumerate(targets):
        expr = substitute(t["expr"], variables)
        res = prom.query_range(expr, start, end, step)
        leg = t.get("legendFormat", "")
        if not res:
            why = why_empty(expr, seen, prom, start, end)
            lines.append(f"{t.get('refId')} ({leg or expr[:40]}): no series; {why}")
            reasons.append(why)
            continue
        lines.append(f"{t.get('refId')} ({leg}): {len(res)} series")
        for r in res:
            vals = {round((float(ts_) - start) / step): float(v) for ts_, v in r["values"]}
            ys = [vals.get(i, math.nan) for i in range(len(grid))]
            series.append(
                {"labels": r["metric"], "legend": legend_of(leg, r["metric"], expr), "ref": ref_i, "y": ys}
            )
    if not series:
        reason = "; ".join(dict.fromkeys(reasons))
        no_data(fig, rect, inner, _wrap(reason, max(40, int(inner[2] / 6.5))))
        return p["title"], lines, False
    finite = [abs(v) for s in series for v in s["y"] if not math.isnan(v)]
    factor, ylabel = unit_scale(unit, max(finite) if finite else 0)
    for s in series:
        s["y"] = [v * factor for v in s["y"]]
    # Colour by the series' own labels (less `kind`), style by kind or query, when the queries
    # share their labels (desired/current, value/sd); else a colour per series.
    label_keys = {frozenset(k for k in s["labels"] if k != "kind") for s in series}
    by_labels = len(label_keys) == 1 and frozenset() not in label_keys
    colour_of, styles = {}, []
    for s in series:
        key = tuple(sorted((k, v) for k, v in s["labels"].items() if k != "kind"))
        if not by_labels or not key:
            key = (s["legend"],)
        colour_of.setdefault(key, COLORS[len(colour_of) % len(COLORS)])
        s["colour"] = colour_of[key]
        kind = s["labels"].get("kind")
        s["style"] = KIND_STYLE.get(kind, "-") if kind else (REF_STYLES[s["ref"] % 4] if by_labels else "-")

    legend_right = inner[2] >= 800
    n = len(series)
    leg_w = min(420, inner[2] * 0.36) if legend_right else 0
    # Two columns below a narrow plot when they fit: each entry is about 5 characters of line
    # sample, the name (up to 26) and two values of 8, at 7 pt monospace (~5.9 px a character).
    name_w = min(max(len(s["legend"]) for s in series), 34 if legend_right else 26)
    ncol = 1 if legend_right or n <= 2 or 2 * 5.9 * (name_w + 24) + 20 > inner[2] - 16 else 2
    leg_h = 0 if legend_right else min(inner[3] * 0.5, 11 * (math.ceil(n / ncol) + 1) + 4)
    ax_rect = (inner[0] + 58, inner[1] + 4, inner[2] - 58 - 12 - leg_w, inner[3] - 4 - 20 - leg_h)
    ax = fig.add_axes(rect(*ax_rect))
    xs = [x_of(t) for t in grid]
    for a, b in bands:
        ax.axvspan(a / 60, b / 60, color="#e6e6e6", zorder=0, lw=0)
    base = [0.0] * len(grid)
    for s in series:
        y = s["y"]
        if stacked:
            top = [bv + v if not math.isnan(v) else math.nan for bv, v in zip(base, y)]
            low = [bv if not math.isnan(v) else math.nan for bv, v in zip(base, y)]
            ax.fill_between(xs, low, top, color=s["colour"], alpha=max(fill, 0.1), lw=0)
            ax.plot(xs, top, s["style"], color=s["colour"], lw=1.2)
            base = [bv + (0 if math.isnan(v) else v) for bv, v in zip(base, y)]
        else:
            ax.plot(xs, y, s["style"], color=s["colour"], lw=1.3)
    ax.set_xlim(xs[0], xs[-1])
    ax.tick_params(labelsize=8, length=3)
    ax.grid(True, color="#e0e0e0", lw=0.6)
    ax.set_axisbelow(True)
    ax.yaxis.set_major_formatter(mticker.FuncFormatter(tick))
    ax.yaxis.set_major_locator(mticker.MaxNLocator(5))
    if ylabel:
        ax.set_ylabel(ylabel, fontsize=8, labelpad=2)
    for sp in ("top", "right"):
        ax.spines[sp].set_visible(False)
    # The legend, as the dashboard's: a table with the last and the largest value.
    handles = [plt.Line2D([], [], color=s["colour"], ls=s["style"], lw=1.5) for s in series]
    def stat(s):
        v = [u for u in s["y"] if not math.isnan(u)]
        return (v[-1] if v else None), (max(v) if v else None)
    width = name_w
    labels = []
    for s in series:
        last, peak = stat(s)
        nm = s["legend"] if len(s["legend"]) <= width else s["legend"][: width - 1] + "~"
        labels.append(f"{nm:<{width}} {fmt_value(last):>8} {fmt_value(peak):>8}")
    head = f"{'':<{width + 5}} {'last':>8} {'max':>8}"  # 5: the line sample's width
    if legend_right:
        lax = fig.add_axes(rect(inner[0] + inner[2] - leg_w - 4, inner[1], leg_w, inner[3] - 6))
    else:
        lax = fig.add_axes(rect(inner[0] + 8, inner[1] + inner[3] - leg_h - 2, inner[2] - 16, leg_h))
    lax.axis("off")
    lg = lax.legend(handles, labels, loc="upper left", ncol=ncol, frameon=False,
                    prop={"family": "monospace", "size": 7}, handlelength=2.2,
                    borderaxespad=0, labelspacing=0.25, columnspacing=1.2, title=head,
                    title_fontproperties={"family": "monospace", "size": 7})
    lg._legend_box.align = "left"
    return p["title"], lines, True


def draw_table(fig, rect, inner, p, prom, variables, end, seen, start):
    lines = []
    rows, cols = [], None
    rename = {}
    for tr in p.get("transformations") or []:
        if tr.get("id") == "organize":
            rename = tr["options"].get("renameByName", {})
    for t in p.get("targets", []):
        expr = substitute(t["expr"], variables)
        res = prom.query(expr, end)
        by = re.search(r"by\s*\(([^)]*)\)", expr)
        order = [c.strip() for c in by.group(1).split(",")] if by else None
        if not res:
            lines.append(f"{t.get('refId')}: no series; " + why_empty(expr, seen, prom, start, end))
            continue
        lines.append(f"{t.get('refId')}: {len(res)} rows at the end of the run")
        cols = order or sorted({k for r in res for k in r["metric"]})
        for r in res:
            rows.append([r["metric"].get(c, "") for c in cols])
    if not rows:
        no_data(fig, rect, inner, "; ".join(lines))
        return p["title"], lines, False
    rows.sort()
    ax = fig.add_axes(rect(inner[0] + 8, inner[1] + 2, inner[2] - 16, inner[3] - 8))
    ax.axis("off")
    header = [rename.get(c, c) or c for c in cols]
    tab = ax.table(cellText=rows, colLabels=header, loc="upper left", cellLoc="left", colLoc="left")
    tab.auto_set_font_size(False)
    tab.set_fontsize(8)
    row_h = min(0.12, 0.9 / (len(rows) + 1))
    for (r, c), cell in tab.get_celld().items():
        cell.set_height(row_h)
        cell.set_edgecolor("#dddddd")
        if r == 0:
            cell.set_text_props(weight="bold")
            cell.set_facecolor("#eef2f7")
    tab.auto_set_column_width(list(range(len(cols))))
    ax.text(1.0, -0.02, "values at the end of the run", transform=ax.transAxes, ha="right",
            va="top", fontsize=7, color="#777")
    return p["title"], lines, True


def _wrap(text, width):
    words, out, line = text.split(" "), [], ""
    for w in words:
        if len(line) + len(w) + 1 > width and line:
            out.append(line)
            line = w
        else:
            line = f"{line} {w}".strip()
    out.append(line)
    return "\n".join(out)


# --------------------------------------------------------------------------- main


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name in ("run", "render"):
        s = sub.add_parser(name)
        s.add_argument("--out", required=True, help="work directory (Prometheus data, the benchmark's output)")
        s.add_argument("--png", help="the PNG to write [DIR/dashboard.png]")
        s.add_argument("--dashboard", default=str(DASHBOARD))
        s.add_argument("--prometheus", default=shutil.which("prometheus") or "/usr/bin/prometheus")
        s.add_argument("--rate-interval", default="30s", help="$__rate_interval [30s]")
        s.add_argument("--step", type=int, default=0, help="query step, s [span/900, at least 1]")
        s.add_argument("--width", type=int, default=1800, help="PNG width, px [1800]")
        if name == "run":
            s.add_argument("--bench", default=str(REPO / "target/release/inferno-bench"))
            s.add_argument("--scenario", default=str(REPO / "benchmarks/burst.yaml"))
            s.add_argument("bench_args", nargs="*", help="more `inferno-bench run` flags, after --")
    args = ap.parse_args()
    if args.cmd == "run":
        args.bench = str(Path(args.bench).resolve())
        args.scenario = str(Path(args.scenario).resolve())
        cmd_run(args)
    else:
        cmd_render(args)


if __name__ == "__main__":
    sys.exit(main())
