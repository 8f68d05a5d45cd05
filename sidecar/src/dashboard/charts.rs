//! Server-rendered SVG charts of the last hour, one point or bar per minute: plain markup styled by
//! the dashboard's stylesheet, nothing from a CDN and no script.

use std::fmt::Write as _;

use super::html::escape;

const WIDTH: f64 = 360.0;
const HEIGHT: f64 = 140.0;
const LEFT: f64 = 40.0;
const BOTTOM: f64 = 18.0;
const TOP: f64 = 8.0;

/// A series drawn as a line; `None` leaves a gap (no figure for that minute).
pub struct Line<'a> {
    pub label: &'a str,
    pub values: &'a [Option<f64>],
}

/// Bars per minute; when `failed` is given, those are stacked on top in the failure colour.
pub fn bars(title: &str, id: &str, values: &[f64], failed: Option<&[f64]>) -> String {
    let totals: Vec<f64> = values
        .iter()
        .enumerate()
        .map(|(index, value)| value + failed.and_then(|f| f.get(index)).copied().unwrap_or(0.0))
        .collect();
    let max = nice_max(totals.iter().copied().fold(0.0, f64::max));
    let slot = plot_width() / values.len().max(1) as f64;
    let mut svg = frame_start(title, id, max);
    for (index, value) in values.iter().enumerate() {
        let x = LEFT + slot * index as f64;
        let height = scale(*value, max);
        let _ = write!(
            svg,
            r#"<rect class="bar" x="{x:.1}" y="{:.1}" width="{:.1}" height="{height:.1}"><title>{value}</title></rect>"#,
            baseline() - height,
            (slot - 1.0).max(0.5)
        );
        if let Some(failed) = failed.and_then(|f| f.get(index)).filter(|f| **f > 0.0) {
            let top = scale(*failed, max);
            let _ = write!(
                svg,
                r#"<rect class="bar failed" x="{x:.1}" y="{:.1}" width="{:.1}" height="{top:.1}"><title>{failed} failed</title></rect>"#,
                baseline() - height - top,
                (slot - 1.0).max(0.5)
            );
        }
    }
    svg.push_str(&frame_end(values.len()));
    svg
}

/// One or two lines over the hour.
pub fn lines(title: &str, id: &str, series: &[Line<'_>], unit: &str) -> String {
    let max = nice_max(
        series
            .iter()
            .flat_map(|line| line.values.iter().flatten())
            .copied()
            .fold(0.0, f64::max),
    );
    let count = series.first().map_or(0, |line| line.values.len());
    let step = plot_width() / (count.max(2) - 1) as f64;
    let mut svg = frame_start(title, id, max);
    for (number, line) in series.iter().enumerate() {
        let class = if number == 0 { "line" } else { "line second" };
        // a gap in the figures starts a new segment
        let mut path = String::new();
        let mut pen_down = false;
        for (index, value) in line.values.iter().enumerate() {
            match value {
                Some(value) => {
                    let x = LEFT + step * index as f64;
                    let y = baseline() - scale(*value, max);
                    let _ = write!(path, "{}{x:.1},{y:.1} ", if pen_down { "L" } else { "M" });
                    pen_down = true;
                }
                None => pen_down = false,
            }
        }
        if !path.is_empty() {
            let _ = write!(
                svg,
                r#"<path class="{class}" d="{}"><title>{}</title></path>"#,
                path.trim_end(),
                escape(line.label)
            );
        }
        let last = line.values.iter().rev().flatten().next();
        let _ = write!(
            svg,
            r#"<text x="{:.1}" y="{:.1}">{}: {}</text>"#,
            LEFT + 4.0 + 150.0 * number as f64,
            TOP + 10.0,
            escape(line.label),
            last.map_or_else(|| "—".to_string(), |value| format!("{value:.0}{unit}"))
        );
    }
    svg.push_str(&frame_end(count));
    svg
}

/// A horizontal bar of the allowance: used and left, with the figures.
pub fn allowance(title: &str, id: &str, used: Option<u64>, left: Option<u64>) -> String {
    let mut svg = format!(
        r#"<figure id="{}"><figcaption>{}</figcaption><svg viewBox="0 0 {WIDTH} 40" role="img" aria-label="{}">"#,
        escape(id),
        escape(title),
        escape(title)
    );
    match (used, left) {
        (Some(used), Some(left)) if used + left > 0 => {
            let total = (used + left) as f64;
            let used_width = WIDTH * used as f64 / total;
            let _ = write!(
                svg,
                r#"<rect class="used" x="0" y="4" width="{used_width:.1}" height="16"/><rect class="left" x="{used_width:.1}" y="4" width="{:.1}" height="16"/><text x="0" y="34">{used} used, {left} left of {}</text>"#,
                WIDTH - used_width,
                used + left
            );
        }
        _ => svg.push_str(r#"<text x="0" y="24">not reported by Salesforce yet</text>"#),
    }
    svg.push_str("</svg></figure>");
    svg
}

fn frame_start(title: &str, id: &str, max: f64) -> String {
    format!(
        r#"<figure id="{}"><figcaption>{}</figcaption><svg viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{}"><line class="axis" x1="{LEFT}" y1="{}" x2="{WIDTH}" y2="{}"/><line class="axis" x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{}"/><text x="2" y="{}">{}</text><text x="2" y="{}">0</text>"#,
        escape(id),
        escape(title),
        escape(title),
        baseline(),
        baseline(),
        baseline(),
        TOP + 8.0,
        format_axis(max),
        baseline()
    )
}

fn frame_end(count: usize) -> String {
    format!(
        r#"<text x="{LEFT}" y="{}">-{count} min</text><text x="{}" y="{}">now</text></svg></figure>"#,
        HEIGHT - 4.0,
        WIDTH - 22.0,
        HEIGHT - 4.0
    )
}

fn plot_width() -> f64 {
    WIDTH - LEFT
}

fn baseline() -> f64 {
    HEIGHT - BOTTOM
}

fn scale(value: f64, max: f64) -> f64 {
    if max <= 0.0 {
        0.0
    } else {
        (value.max(0.0) / max) * (baseline() - TOP)
    }
}

/// The axis maximum: the next 1, 2 or 5 times a power of ten at or above `value` (at least 1).
fn nice_max(value: f64) -> f64 {
    if value <= 1.0 {
        return 1.0;
    }
    let magnitude = 10f64.powf(value.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|step| step * magnitude)
        .find(|candidate| *candidate >= value)
        .unwrap_or(10.0 * magnitude)
}

fn format_axis(value: f64) -> String {
    if value >= 1_000_000.0 {
        format!("{:.0}M", value / 1_000_000.0)
    } else if value >= 1_000.0 {
        format!("{:.0}k", value / 1_000.0)
    } else {
        format!("{value:.0}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axis_maxima_are_round() {
        assert_eq!(nice_max(0.0), 1.0);
        assert_eq!(nice_max(7.0), 10.0);
        assert_eq!(nice_max(12.0), 20.0);
        assert_eq!(nice_max(4_100.0), 5_000.0);
    }

    #[test]
    fn bars_draw_one_rect_per_minute_and_the_tallest_fills_the_plot() {
        let svg = bars(
            "Written",
            "written",
            &[0.0, 5.0, 10.0],
            Some(&[0.0, 0.0, 0.0]),
        );
        assert_eq!(svg.matches("<rect class=\"bar\"").count(), 3);
        assert!(!svg.contains("bar failed"));
        let full = format!("height=\"{:.1}\"", baseline() - TOP);
        assert!(svg.contains(&full), "{svg}");
    }

    #[test]
    fn lines_leave_gaps_where_no_figure_exists_and_escape_labels() {
        let values = [Some(1.0), None, Some(3.0), Some(4.0)];
        let svg = lines(
            "Latency",
            "latency",
            &[Line {
                label: "<p50>",
                values: &values,
            }],
            " ms",
        );
        assert_eq!(svg.matches('M').count(), 2, "{svg}");
        assert!(svg.contains("&lt;p50&gt;: 4 ms"), "{svg}");
    }

    #[test]
    fn the_allowance_shows_used_and_left() {
        let svg = allowance("API", "api", Some(25), Some(75));
        assert!(svg.contains("25 used, 75 left of 100"), "{svg}");
        assert!(allowance("API", "api", None, None).contains("not reported"));
    }
}
