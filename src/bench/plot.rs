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

fn chart<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    title: &str,
    y_desc: &str,
    s: &Series,
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
        .x_label_formatter(&|v| super::report::size_label(*v as u64))
        .y_label_formatter(&|v| format!("{v:.0e}"))
        .draw()
        .map_err(e)?;
    for (i, (name, pts)) in s.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        c.draw_series(LineSeries::new(pts.iter().copied(), color.stroke_width(2)))
            .map_err(e)?
            .label(name.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2)));
    }
    c.configure_series_labels().background_style(WHITE.mix(0.85)).border_style(BLACK).draw().map_err(e)?;
    Ok(())
}

/// Writes the SVG.
///
/// # Errors
/// A message if drawing or writing fails.
pub fn write_svg(rep: &Report, path: &Path) -> Result<(), String> {
    let latency = series(rep, "pingpong", |r| r.p50_ns);
    let throughput = series(rep, "stream", |r| Some(r.bytes_per_s));
    let root = SVGBackend::new(path, (1400, 620)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let (left, right) = root.split_horizontally(700);
    chart(&left, "ping-pong round trip, p50", "nanoseconds", &latency)?;
    chart(&right, "streaming throughput", "bytes per second", &throughput)?;
    root.present().map_err(|e| format!("cannot write {}: {e}", path.display()))
}
