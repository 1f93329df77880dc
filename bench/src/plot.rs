//! `--plot`: the latency percentile spectrum, one line per target
//! (labelled by its name), with the x axis in log scale of 1/(1-p) so the
//! tail (99%, 99.9%, 99.99%) gets as much room as the median, as
//! HdrHistogram's plotter draws it. The title says what was run: the
//! workload, connections, pipeline, threads and loop type.

use std::path::Path;

use anyhow::{anyhow, bail};
use plotters::coord::Shift;
use plotters::prelude::*;

use crate::report::Report;

/// Plot size in pixels.
const SIZE_PX: (u32, u32) = (1000, 600);
/// Highest percentile drawn: 99.9999%.
const SPECTRUM_X_MAX: f64 = 1e6;
/// Where a bitmap plot finds a font for its labels (plotters draws text
/// into pixels itself and needs a TrueType file; SVG leaves text to the
/// viewer).
const FONT_PATHS: [&str; 4] = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
];

/// Checks that the plot file is .svg or .png.
pub fn check_extension(path: &Path) -> Result<(), String> {
    match path.extension().and_then(|e| e.to_str()) {
        Some("svg" | "png") => Ok(()),
        _ => Err(format!(
            "--plot {}: the file must end in .svg or .png",
            path.display()
        )),
    }
}

/// Draws the reports' spectra to `path` (.svg or .png).
pub fn plot(path: &Path, reports: &[Report]) -> anyhow::Result<()> {
    check_extension(path).map_err(anyhow::Error::msg)?;
    let mut series = Vec::new();
    for report in reports {
        series.push((report.label().to_string(), spectrum(report)?));
    }
    let title = title(reports);
    register_font();
    if path.extension().is_some_and(|e| e == "png") {
        draw(
            BitMapBackend::new(path, SIZE_PX).into_drawing_area(),
            &title,
            &series,
        )
    } else {
        let area = SVGBackend::new(path, SIZE_PX).into_drawing_area();
        draw(area, &title, &series)
    }
}

/// "Latency by percentile: " and the run's settings (shared by every
/// target of a run; a plot of reports from different runs says so).
fn title(reports: &[Report]) -> String {
    let Some(first) = reports.first() else {
        return "Latency by percentile".into();
    };
    let settings = first.settings();
    if reports.iter().all(|r| r.settings() == settings) {
        format!("Latency by percentile: {settings}")
    } else {
        "Latency by percentile (targets run with different settings)".into()
    }
}

/// (1/(1-p), latency in µs) points of a report's histogram.
fn spectrum(report: &Report) -> anyhow::Result<Vec<(f64, f64)>> {
    let hist = report.decode_histogram()?;
    let mut points = Vec::new();
    for value in hist.iter_quantiles(5) {
        let q = value.quantile_iterated_to();
        if q >= 1.0 {
            break;
        }
        let x = 1.0 / (1.0 - q);
        if x > SPECTRUM_X_MAX {
            break;
        }
        points.push((x, value.value_iterated_to() as f64 / 1e3));
    }
    Ok(points)
}

fn register_font() {
    use std::sync::Once;
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if let Some(bytes) = FONT_PATHS.iter().find_map(|path| std::fs::read(path).ok()) {
            // Registered once per process; plotters keeps a 'static reference.
            let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
            let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, bytes);
        }
    });
}

fn percentile_label(x: &f64) -> String {
    let p = 100.0 * (1.0 - 1.0 / x);
    let text = format!("{p:.4}");
    format!("{}%", text.trim_end_matches('0').trim_end_matches('.'))
}

fn draw<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    title: &str,
    series: &[(String, Vec<(f64, f64)>)],
) -> anyhow::Result<()>
where
    DB::ErrorType: 'static,
{
    let fail = |e: DrawingAreaErrorKind<DB::ErrorType>| anyhow!("drawing the plot: {e:?}");
    let x_max = series
        .iter()
        .flat_map(|(_, p)| p.iter().map(|&(x, _)| x))
        .fold(100.0, f64::max);
    let y_max = series
        .iter()
        .flat_map(|(_, p)| p.iter().map(|&(_, y)| y))
        .fold(1.0, f64::max);
    if series.iter().all(|(_, p)| p.is_empty()) {
        bail!("nothing to plot: no successful operations were measured");
    }
    root.fill(&WHITE).map_err(fail)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 18))
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d((1f64..x_max).log_scale(), 0f64..y_max * 1.1)
        .map_err(fail)?;
    chart
        .configure_mesh()
        .x_desc("percentile")
        .y_desc("latency (µs)")
        .x_label_formatter(&percentile_label)
        .draw()
        .map_err(fail)?;
    for (i, (name, points)) in series.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        chart
            .draw_series(LineSeries::new(
                points.iter().copied(),
                color.stroke_width(2),
            ))
            .map_err(fail)?
            .label(name.as_str())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(fail)?;
    root.present().map_err(fail)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels() {
        assert_eq!(percentile_label(&2.0), "50%");
        assert_eq!(percentile_label(&1000.0), "99.9%");
    }
}
