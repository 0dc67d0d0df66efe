//! `timeline.png`: what each policy did over the scenario, one row per server.
//!
//! Each row has four panels on the same time axis: offered load, replicas per policy (with the
//! GPU type each policy chose in thin bands underneath), then TTFT and ITL percentiles against
//! their targets. Colours follow `Timeline::policies`, so a policy looks the same everywhere.

mod raster;

use std::path::Path;

use raster::{text_width, Canvas, Point, Rect, Rgb};

/// One panel's line: a name for the legend and (time seconds, value) points.
///
/// Points with a NaN or infinite coordinate are skipped, and the line breaks there.
pub struct Series {
    /// Starts with the policy name, which picks the colour. In the latency panels a name
    /// containing `p50` (e.g. `"inferno p50"`) is drawn thin and light, anything else thick.
    pub name: String,
    /// (seconds since the scenario start, value).
    pub points: Vec<(f64, f64)>,
}

/// A horizontal reference line (a latency target).
pub struct Target {
    /// Written next to the line.
    pub name: String,
    /// Where the line is, in the panel's unit.
    pub value: f64,
}

/// Per policy, per server, what the timeline shows.
pub struct ServerTimeline {
    /// Server (model deployment) name, written in the row's first panel title.
    pub server: String,
    /// Offered load, requests per minute, over scenario time.
    pub load_rpm: Vec<(f64, f64)>,
    /// Replica count per policy (step lines), one Series per policy.
    pub replicas: Vec<Series>,
    /// GPU type per policy over time: (time, accelerator name) change points.
    pub accelerators: Vec<(String, Vec<(f64, String)>)>,
    /// Measured TTFT p50 and p95 per policy (ms, per time bucket).
    pub ttft: Vec<Series>,
    /// Measured ITL p50 and p95 per policy (ms).
    pub itl: Vec<Series>,
    /// TTFT target (ms), the dashed red line of the TTFT panel.
    pub ttft_target_ms: f64,
    /// ITL target (ms), the dashed red line of the ITL panel.
    pub itl_target_ms: f64,
}

/// The whole chart.
pub struct Timeline {
    /// Written at the top.
    pub title: String,
    /// Length of the time axis; when not positive, the last data time is used.
    pub duration_s: f64,
    /// One row each, at most 12 drawn.
    pub servers: Vec<ServerTimeline>,
    /// Policy names in legend order; a policy's position picks its colour.
    pub policies: Vec<String>,
}

const WIDTH: u32 = 1600;
const HEADER_H: i64 = 48;
const ROW_H: i64 = 260;
const FOOTER_H: i64 = 20;
const MAX_ROWS: usize = 12;
const MARGIN: i64 = 8;
const PANEL_W: i64 = (WIDTH as i64 - 2 * MARGIN) / 4;
/// Left of each plot: room for six characters of y label.
const LABEL_W: i64 = 52;
/// Below each plot, after the time labels: room for the replicas panel's accelerator bands.
const BAND_AREA: i64 = 40;

const WHITE: Rgb = [255, 255, 255];
const BLACK: Rgb = [0, 0, 0];
const GREY: Rgb = [110, 110, 110];
const FRAME: Rgb = [205, 205, 205];
const TARGET: Rgb = [220, 0, 0];
/// Tableau-like colours without red: red is reserved for targets.
#[rustfmt::skip]
const PALETTE: [Rgb; 8] = [
    [31, 119, 180], [255, 127, 14], [44, 160, 44], [148, 103, 189],
    [140, 86, 75], [227, 119, 194], [23, 190, 207], [188, 189, 34],
];

/// Renders `timeline` and writes the PNG to `path`.
pub fn render(timeline: &Timeline, path: &Path) -> std::io::Result<()> {
    std::fs::write(path, render_png(timeline))
}

/// Same, into PNG bytes (for tests).
pub fn render_png(timeline: &Timeline) -> Vec<u8> {
    let rows = timeline.servers.len().min(MAX_ROWS);
    let height = HEADER_H + rows as i64 * ROW_H + FOOTER_H;
    let mut c = Canvas::new(WIDTH, height as u32, WHITE);
    c.text(MARGIN, 6, &timeline.title, 2, BLACK);
    let (policies, dur) = (&timeline.policies[..], time_extent(timeline));
    let chart = Chart { policies, dur };
    chart.legend(&mut c);
    for (row, server) in timeline.servers.iter().take(MAX_ROWS).enumerate() {
        chart.row(&mut c, row, server);
    }
    let more = timeline.servers.len().saturating_sub(MAX_ROWS);
    if more > 0 {
        let note = format!("+{more} more servers");
        c.text(MARGIN, height - FOOTER_H + 6, &note, 1, BLACK);
    }
    c.encode_png()
}

/// A value axis: linear, or log10 when the data spans more than two decades.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Axis {
    pub(crate) lo: f64,
    pub(crate) hi: f64,
    pub(crate) log: bool,
}

/// The plot area of `panel` (0..4) in server row `row`, shared by the renderer and tests.
pub(crate) fn plot_rect(row: usize, panel: usize) -> Rect {
    let top = HEADER_H + row as i64 * ROW_H;
    let left = MARGIN + panel as i64 * PANEL_W;
    // Above: the panel title. Below: time labels, accelerator bands, a gap to the next row.
    let bottom = top + ROW_H - 14 - BAND_AREA - 8;
    Rect::new(left + LABEL_W, top + 20, left + PANEL_W - 12, bottom)
}

/// The pixel row of `value` in `plot`, fractional; not finite where it cannot be drawn
/// (NaN or infinite values, and values <= 0 on a log axis).
pub(crate) fn y_pixel(axis: &Axis, value: f64, plot: &Rect) -> f64 {
    let f = |v: f64| match (axis.log, v > 0.0) {
        (false, _) => v,
        (true, true) => v.log10(),
        (true, false) => f64::NAN,
    };
    let frac = (f(value) - f(axis.lo)) / (f(axis.hi) - f(axis.lo));
    let (top, bottom) = (plot.y0 as f64, (plot.y1 - 1) as f64);
    bottom - frac * (bottom - top)
}

/// Latency axis over every point and the target, so the target line is always in view; log when
/// values differ by decades (one overloaded interval would otherwise flatten all the others).
pub(crate) fn latency_axis(series: &[Series], target: f64) -> Axis {
    let points = || series.iter().flat_map(|s| &s.points);
    let values = || points().map(|p| p.1).chain([target]);
    let positive = values().filter(|v| v.is_finite() && *v > 0.0);
    let (min, max) = positive.fold((f64::INFINITY, 0.0_f64), |(a, b), v| (a.min(v), b.max(v)));
    if max / min > 100.0 {
        // Whole decades, so the min/max labels read as powers of ten.
        let (lo, hi) = (min.log10().floor(), max.log10().ceil());
        let (lo, hi) = (10f64.powf(lo), 10f64.powf(hi));
        return Axis { lo, hi, log: true };
    }
    linear_axis(values())
}

/// From 0 (or a negative minimum) to a round number a little above the maximum, so the top
/// line stays off the border and the max label reads well.
fn linear_axis(values: impl Iterator<Item = f64>) -> Axis {
    let finite = values.filter(|v| v.is_finite());
    let (lo, hi) = finite.fold((0.0_f64, 0.0_f64), |(lo, hi), v| (lo.min(v), hi.max(v)));
    let hi = match hi {
        _ if hi > 0.0 => nice_ceil(hi * 1.05),
        _ if hi > lo => hi,
        _ => 1.0, // all zero, or no data: still a non-empty range
    };
    Axis { lo, hi, log: false }
}

/// The smallest 1, 1.5, 2, 3, 4, 5, 6 or 8 times a power of ten that is at least `v` (> 0).
fn nice_ceil(v: f64) -> f64 {
    let decade = 10f64.powf(v.log10().floor());
    let steps = [1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0].map(|m| m * decade);
    steps.into_iter().find(|&n| n >= v).unwrap_or(v)
}

/// The time axis length: the scenario duration, else the last data time, else one second.
fn time_extent(t: &Timeline) -> f64 {
    if t.duration_s.is_finite() && t.duration_s > 0.0 {
        return t.duration_s;
    }
    let mut last: f64 = 0.0;
    for s in &t.servers {
        let lines = s.replicas.iter().chain(&s.ttft).chain(&s.itl);
        for &(time, _) in s.load_rpm.iter().chain(lines.flat_map(|x| &x.points)) {
            last = last.max(if time.is_finite() { time } else { 0.0 });
        }
    }
    Some(last).filter(|&l| l > 0.0).unwrap_or(1.0)
}

/// What every row shares: the policy colours and the time axis length.
struct Chart<'a> {
    policies: &'a [String],
    dur: f64,
}

/// A framed panel: where its values go.
struct Panel {
    plot: Rect,
    axis: Axis,
    dur: f64,
}

impl Chart<'_> {
    fn row(&self, c: &mut Canvas, row: usize, s: &ServerTimeline) {
        let axis = linear_axis(s.load_rpm.iter().map(|p| p.1));
        let title = format!("{} - load (rpm)", s.server);
        let p = self.panel(c, plot_rect(row, 0), axis, &title);
        p.draw(c, &s.load_rpm, BLACK, 2, None);

        let axis = linear_axis(s.replicas.iter().flat_map(|r| r.points.iter().map(|p| p.1)));
        let p = self.panel(c, plot_rect(row, 1), axis, "replicas (bands: GPU type)");
        for (i, r) in s.replicas.iter().enumerate() {
            // Policies often hold the same count: a 2 px shift each keeps every line in sight.
            let color = self.color(&r.name, i);
            p.draw(c, &r.points, color, 2, Some(-2.0 * i as f64));
        }
        self.bands(c, &p, &s.accelerators);

        let ttft = (2, "TTFT", &s.ttft, s.ttft_target_ms);
        for (panel, what, series, ms) in [ttft, (3, "ITL", &s.itl, s.itl_target_ms)] {
            let name = format!("target {}", fmt_num(ms));
            let target = Target { name, value: ms };
            let axis = latency_axis(series, target.value);
            let log = if axis.log { " (log)" } else { "" };
            let title = format!("{what} ms p50/p95{log}");
            let p = self.panel(c, plot_rect(row, panel), axis, &title);
            for (i, s) in series.iter().enumerate() {
                let color = self.color(&s.name, i);
                if s.name.contains("p50") {
                    p.draw(c, &s.points, mix(color, WHITE, 0.5), 1, None);
                } else {
                    p.draw(c, &s.points, color, 2, None);
                }
            }
            // Drawn last: the target is what every line is read against.
            p.target(c, &target);
        }
    }

    /// Panel chrome: title, border, min/max value labels, start/middle/end time in minutes.
    fn panel(&self, c: &mut Canvas, plot: Rect, axis: Axis, title: &str) -> Panel {
        let Rect { x0, y0, x1, y1 } = plot;
        let title = fit(title, x1 - x0 + LABEL_W);
        c.text(x0 - LABEL_W, y0 - 14, &title, 1, BLACK);
        // A 1 px border: the frame colour, then the inside cleared again.
        c.fill_rect(plot, FRAME);
        c.fill_rect(Rect::new(x0 + 1, y0 + 1, x1 - 1, y1 - 1), WHITE);
        for (v, y) in [(axis.hi, y0), (axis.lo, y1 - 8)] {
            let label = fit(&fmt_num(v), LABEL_W - 4);
            c.text(x0 - 4 - text_width(&label, 1), y, &label, 1, GREY);
        }
        let dur = self.dur;
        let panel = Panel { plot, axis, dur };
        for k in 0..=2_i64 {
            let t = self.dur * k as f64 / 2.0;
            let label = format!("{}m", fmt_num(t / 60.0));
            // Left-, centre- and right-aligned, so the end labels stay under the plot.
            let x = panel.x(t) as i64 - text_width(&label, 1) * k / 2;
            c.text(x, y1 + 3, &label, 1, GREY);
        }
        panel
    }

    /// One thin band per policy under the replicas plot, a segment per GPU type it ran on.
    fn bands(&self, c: &mut Canvas, p: &Panel, accels: &[(String, Vec<(f64, String)>)]) {
        let h = (BAND_AREA / accels.len().max(1) as i64).clamp(1, 10);
        // Text needs 8 rows: with many policies the bands shrink and only the colours remain.
        let with_text = h >= 9;
        // max/min rather than clamp: a NaN time lands on the left edge instead of escaping.
        let x = |t: f64| p.x(t).max(p.plot.x0 as f64).min(p.plot.x1 as f64) as i64;
        for (i, (policy, changes)) in accels.iter().enumerate().take((BAND_AREA / h) as usize) {
            let y0 = p.plot.y1 + 14 + i as i64 * h;
            let color = self.color(policy, i);
            if with_text {
                let name = fit(policy, LABEL_W - 4);
                c.text(p.plot.x0 - LABEL_W, y0 + 1, &name, 1, color);
            }
            for (j, (start, gpu)) in changes.iter().enumerate() {
                let (xa, xb) = (x(*start), x(changes.get(j + 1).map_or(self.dur, |n| n.0)));
                // Alternating shades keep two neighbouring segments apart.
                let shade = mix(color, WHITE, if j % 2 == 0 { 0.55 } else { 0.75 });
                c.fill_rect(Rect::new(xa, y0, xb, y0 + h - 1), shade);
                if with_text {
                    c.text(xa + 2, y0 + 1, &fit(gpu, xb - xa - 2), 1, BLACK);
                }
            }
        }
    }

    /// Policy colours, then how to read the latency lines.
    fn legend(&self, c: &mut Canvas) {
        let (y, mut x) = (30, MARGIN);
        let mut entries = vec![];
        for (i, p) in self.policies.iter().enumerate() {
            entries.push((p.as_str(), self.color(p, i), 2, false));
        }
        entries.push(("p50 (thin, light)", mix(GREY, WHITE, 0.5), 1, false));
        entries.push(("p95 (thick)", GREY, 2, false));
        entries.push(("target", TARGET, 1, true));
        for (label, color, thick, dashed) in entries {
            let swatch = Rect::new(x, y + 3, x + 20, y + 3 + thick);
            if dashed {
                c.dashed_hline(y + 3, 6, 4, &swatch, color);
            } else {
                c.fill_rect(swatch, color);
            }
            x += 24 + c.text(x + 24, y, label, 1, BLACK) + 16;
        }
    }

    /// The colour of the longest policy name that `name` starts with, else of `fallback`.
    fn color(&self, name: &str, fallback: usize) -> Rgb {
        let policies = self.policies.iter().enumerate();
        let matching = policies.filter(|(_, p)| !p.is_empty() && name.starts_with(p.as_str()));
        let longest = matching.max_by_key(|(_, p)| p.len());
        let i = longest.map_or(fallback, |(i, _)| i);
        PALETTE[i % PALETTE.len()]
    }
}

impl Panel {
    fn x(&self, t: f64) -> f64 {
        let Rect { x0, x1, .. } = self.plot;
        x0 as f64 + t / self.dur * (x1 - 1 - x0) as f64
    }

    /// One series. Non-finite points break the line and a lone point shows as a dot. `step`
    /// draws a step line shifted by that many pixels, holding its last value to the end
    /// (replicas stay until changed).
    fn draw(&self, c: &mut Canvas, points: &[Point], color: Rgb, thick: i64, step: Option<f64>) {
        let (plot, dy) = (&self.plot, step.unwrap_or(0.0));
        let mut prev: Option<Point> = None;
        for &(t, v) in points {
            let p = (self.x(t), y_pixel(&self.axis, v, plot) + dy);
            if !(p.0.is_finite() && p.1.is_finite()) {
                prev = None;
                continue;
            }
            match prev {
                Some(q) if step.is_some() => {
                    c.line(q, (p.0, q.1), thick, plot, color);
                    c.line((p.0, q.1), p, thick, plot, color);
                }
                Some(q) => c.line(q, p, thick, plot, color),
                None => c.line(p, p, thick.max(2), plot, color),
            }
            prev = Some(p);
        }
        if let (Some(_), Some(q)) = (step, prev) {
            c.line(q, (self.x(self.dur), q.1), thick, plot, color);
        }
    }

    /// A dashed red line with its name at the right end, above it unless that leaves the plot.
    fn target(&self, c: &mut Canvas, target: &Target) {
        let y = y_pixel(&self.axis, target.value, &self.plot);
        if y.is_finite() {
            let y = y.round() as i64;
            c.dashed_hline(y, 6, 4, &self.plot, TARGET);
            let above = y - 10 >= self.plot.y0;
            let label_y = if above { y - 10 } else { y + 3 };
            let x = self.plot.x1 - 2 - text_width(&target.name, 1);
            c.text(x, label_y, &target.name, 1, TARGET);
        }
    }
}

/// `a` moved `f` of the way towards `b`.
fn mix(a: Rgb, b: Rgb, f: f64) -> Rgb {
    std::array::from_fn(|i| (f64::from(a[i]) * (1.0 - f) + f64::from(b[i]) * f).round() as u8)
}

/// At most as many characters as fit in `max_px` at scale 1.
fn fit(s: &str, max_px: i64) -> String {
    s.chars().take((max_px / 8).max(0) as usize).collect()
}

/// Short tick labels: a few digits, `k`/`M` suffixes, no trailing zeros.
fn fmt_num(v: f64) -> String {
    let trim = |s: String| match s.contains('.') {
        true => s.trim_end_matches('0').trim_end_matches('.').to_string(),
        false => s,
    };
    let a = v.abs();
    match a {
        _ if !v.is_finite() => "?".to_string(),
        _ if a >= 1e6 => format!("{}M", trim(format!("{:.1}", v / 1e6))),
        _ if a >= 1e4 => format!("{}k", trim(format!("{:.1}", v / 1e3))),
        _ if a >= 1.0 || a == 0.0 => trim(format!("{v:.1}")),
        _ if a >= 0.01 => trim(format!("{v:.3}")),
        _ => format!("{v:.0e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(name: &str, points: &[(f64, f64)]) -> Series {
        let (name, points) = (name.into(), points.to_vec());
        Series { name, points }
    }

    /// Policies inferno and hpa; TTFT p50 and p95 flat at the given values, target 500 ms.
    fn server(name: &str, [p50, p95]: [f64; 2]) -> ServerTimeline {
        let policies = ["inferno", "hpa"];
        let flat = |p: &str, q: &str, v: f64| series(&format!("{p} {q}"), &[(0.0, v), (600.0, v)]);
        let steps = [(0.0, 1.0), (200.0, 3.0), (500.0, 2.0)];
        let gpus = vec![(0.0, "A100".to_string()), (200.0, "H100".to_string())];
        ServerTimeline {
            server: name.into(),
            load_rpm: vec![(0.0, 60.0), (300.0, 240.0), (600.0, 120.0)],
            replicas: policies.map(|p| series(p, &steps)).into(),
            accelerators: policies.map(|p| (p.to_string(), gpus.clone())).into(),
            ttft: policies
                .iter()
                .flat_map(|p| [flat(p, "p50", p50), flat(p, "p95", p95)])
                .collect(),
            itl: vec![series("inferno p95", &[(0.0, 20.0), (600.0, 30.0)])],
            ttft_target_ms: 500.0,
            itl_target_ms: 50.0,
        }
    }

    fn timeline(servers: Vec<ServerTimeline>) -> Timeline {
        let policies = vec!["inferno".into(), "hpa".into()];
        let (title, duration_s) = ("test".into(), 600.0);
        Timeline {
            title,
            duration_s,
            servers,
            policies,
        }
    }

    /// (width, height, RGB pixels)
    fn decode(png: &[u8]) -> (usize, usize, Vec<u8>) {
        let mut reader = png::Decoder::new(png).read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size()];
        let info = reader.next_frame(&mut buf).unwrap();
        assert_eq!(info.color_type, png::ColorType::Rgb);
        (info.width as usize, info.height as usize, buf)
    }

    #[test]
    fn renders_a_png_of_the_expected_size() {
        let servers = vec![server("a", [100.0, 300.0]), server("b", [10.0, 30.0])];
        let png = render_png(&timeline(servers));
        assert!(png.starts_with(&[0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a]));
        let (w, h, _) = decode(&png);
        let expected = (WIDTH, HEADER_H + 2 * ROW_H + FOOTER_H);
        assert_eq!((w as u32, h as i64), expected);
    }

    #[test]
    fn ttft_target_is_a_dashed_red_line_on_its_row() {
        // Within two decades of the target: linear; 0.5 to 5000 ms: log.
        for (ttft, log) in [([100.0, 300.0], false), ([0.5, 5000.0], true)] {
            let t = timeline(vec![server("a", ttft)]);
            let (w, _, px) = decode(&render_png(&t));
            let (plot, axis) = (plot_rect(0, 2), latency_axis(&t.servers[0].ttft, 500.0));
            assert_eq!(axis.log, log);
            let y = y_pixel(&axis, 500.0, &plot).round() as usize;
            let red = |x: &i64| px[(y * w + *x as usize) * 3..][..3] == TARGET;
            let count = (plot.x0..plot.x1).filter(red).count() as i64;
            // Dashes of 6 every 10 pixels cover 60% of the row.
            let half = (plot.x1 - plot.x0) / 2;
            assert!(count > half, "{count} target pixels on row {y}");
        }
    }

    #[test]
    fn y_pixel_maps_axis_ends_to_plot_edges() {
        let plot = Rect::new(0, 10, 100, 111);
        let (lo, hi) = (0.0, 50.0);
        let y = |v| y_pixel(&Axis { lo, hi, log: false }, v, &plot);
        assert_eq!([y(0.0), y(25.0), y(50.0)], [110.0, 60.0, 10.0]);
        assert!(y(f64::NAN).is_nan() && y(f64::INFINITY).is_infinite());
        let (lo, hi) = (1.0, 100.0);
        let y = |v| y_pixel(&Axis { lo, hi, log: true }, v, &plot);
        assert_eq!([y(1.0), y(10.0), y(100.0)], [110.0, 60.0, 10.0]);
        assert!(y(0.0).is_nan());
        let zeros = latency_axis(&[series("x", &[(0.0, 0.0), (1.0, 0.0)])], 0.0);
        assert_eq!((zeros.lo, zeros.hi, zeros.log), (0.0, 1.0, false));
        let replicas = linear_axis([1.0, 6.0, f64::NAN].into_iter());
        assert_eq!((replicas.lo, replicas.hi), (0.0, 8.0));
        assert_eq!(
            [0.7, 95.0, 1000.0, 2600.0].map(nice_ceil),
            [0.8, 100.0, 1000.0, 3000.0]
        );
    }

    #[test]
    fn degenerate_inputs_do_not_panic() {
        let (nan, inf) = (f64::NAN, f64::INFINITY);
        let mut odd = server("odd", [1.0, 2.0]);
        odd.load_rpm = vec![
            (nan, 1.0),
            (1.0, inf),
            (2.0, -inf),
            (3.0, 1e300),
            (4.0, -1e9),
        ];
        odd.replicas = vec![series("inferno", &[(10.0, 2.0)]), series("nobody", &[])];
        let odd_gpus = vec![(nan, "X".to_string()), (700.0, "\u{e9}".to_string())];
        odd.accelerators = vec![("hpa".into(), vec![]), ("inferno".into(), odd_gpus)];
        odd.ttft = vec![series("inferno p95", &[(0.0, 0.0), (1.0, 0.0)])];
        let wild = [(0.0, -5.0), (1.0, 1e-9), (2.0, 1e12), (3.0, nan)];
        odd.itl = vec![series("hpa p50", &wild)];
        odd.ttft_target_ms = nan;
        let mut empty = server("", [0.0, 0.0]);
        (empty.load_rpm, empty.replicas, empty.ttft, empty.itl) = (vec![], vec![], vec![], vec![]);
        let l4 = vec![(0.0, "L4".to_string())];
        empty.accelerators = (0..50).map(|i| (format!("p{i}"), l4.clone())).collect();
        empty.itl_target_ms = -1.0;
        let mut many = vec![odd, empty];
        many.extend((0..13).map(|i| server(&format!("s{i}"), [1.0, 2.0])));
        for (duration_s, servers) in [(nan, vec![]), (0.0, many)] {
            let t = Timeline {
                duration_s,
                servers,
                ..timeline(vec![])
            };
            let (w, h, px) = decode(&render_png(&t));
            let rows = t.servers.len().min(MAX_ROWS) as i64;
            assert_eq!(h as i64, HEADER_H + rows * ROW_H + FOOTER_H);
            // "+N more servers" is written only when rows were dropped.
            let footer = &px[(h - FOOTER_H as usize) * w * 3..];
            let footer_ink = footer.iter().any(|&b| b != 255);
            assert_eq!(footer_ink, t.servers.len() > MAX_ROWS);
        }
    }
}
