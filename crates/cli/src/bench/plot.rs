//! `--plot FILE.svg`: ping-pong p50 latency and streaming throughput against
//! message size, log axes, one line per transport and wait strategy.

use std::collections::BTreeMap;
use std::path::Path;

use plotters::prelude::*;

use super::Report;

type Series = BTreeMap<String, Vec<(f64, f64)>>;

fn series(rep: &Report, pattern: &str, value: impl Fn(&super::Record) -> Option<f64>) -> Series {
    let mut s: Series = BTreeMap::new();
    for r in rep.results.iter().filter(|r| r.pattern == pattern) {
        if let Some(v) = value(r).filter(|v| v.is_finite() && *v > 0.0) {
            s.entry(format!("{}/{}", r.transport, r.wait)).or_default().push((r.size as f64, v));
        }
    }
    s
}

fn range(s: &Series, pick: impl Fn(&(f64, f64)) -> f64) -> (f64, f64) {
    let vals = s.values().flatten().map(pick);
    let (lo, hi) = vals.fold((f64::MAX, f64::MIN), |(lo, hi), v| (lo.min(v), hi.max(v)));
    if lo > hi { (1.0, 10.0) } else { (lo / 2.0, hi * 2.0) }
}

/// Decimal size labels for the log axis ticks (10 B, 1 kB, 100 kB).
fn tick_label(v: f64) -> String {
    if v >= 1e6 {
        format!("{:.0} MB", v / 1e6)
    } else if v >= 1e3 {
        format!("{:.0} kB", v / 1e3)
    } else {
        format!("{v:.0} B")
    }
}

fn chart<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    title: &str,
    y_desc: &str,
    s: &Series,
    colors: &BTreeMap<String, RGBAColor>,
) -> Result<(), String> {
    let e = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    let (x0, x1) = range(s, |p| p.0);
    let (y0, y1) = range(s, |p| p.1);
    let mut c = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d((x0..x1).log_scale(), (y0..y1).log_scale())
        .map_err(e)?;
    c.configure_mesh()
        .x_desc("message size (bytes)")
        .y_desc(y_desc)
        .x_label_formatter(&|v| tick_label(*v))
        .y_label_formatter(&|v| format!("{v:.0e}"))
        .draw()
        .map_err(e)?;
    for (name, pts) in s {
        let color = colors.get(name).copied().unwrap_or(BLACK.to_rgba());
        c.draw_series(LineSeries::new(pts.iter().copied(), color.stroke_width(2))).map_err(e)?;
        // A dot per measured size (a one-size row has no line).
        c.draw_series(pts.iter().map(|&p| Circle::new(p, 3, color.filled()))).map_err(e)?;
    }
    Ok(())
}

/// One legend for both charts, in its own column.
fn legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    colors: &BTreeMap<String, RGBAColor>,
) -> Result<(), String> {
    let e = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    for (i, (name, color)) in colors.iter().enumerate() {
        let y = 60 + 22 * i as i32;
        area.draw(&PathElement::new(vec![(8, y), (34, y)], color.stroke_width(3))).map_err(e)?;
        area.draw(&Text::new(name.clone(), (42, y - 7), ("sans-serif", 14))).map_err(e)?;
    }
    Ok(())
}

/// Writes the SVG.
///
/// # Errors
/// A message if drawing or writing fails.
pub fn write_svg(rep: &Report, path: &Path) -> Result<(), String> {
    let latency = series(rep, "pingpong", |r| r.p50_ns);
    let throughput = series(rep, "stream", |r| Some(r.bytes_per_s));
    // One color per transport/wait, the same in both charts.
    let names: std::collections::BTreeSet<&String> = latency.keys().chain(throughput.keys()).collect();
    let colors: BTreeMap<String, RGBAColor> =
        names.into_iter().enumerate().map(|(i, n)| (n.clone(), Palette99::pick(i).to_rgba())).collect();
    let root = SVGBackend::new(path, (1600, 620)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let (charts, key) = root.split_horizontally(1400);
    let (left, right) = charts.split_horizontally(700);
    chart(&left, "ping-pong round trip, p50 (lower is better)", "nanoseconds", &latency, &colors)?;
    chart(&right, "streaming throughput (higher is better)", "bytes per second", &throughput, &colors)?;
    legend(&key, &colors)?;
    root.present().map_err(|e| format!("cannot write {}: {e}", path.display()))
}
