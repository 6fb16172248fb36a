//! Small bar charts drawn on the server as SVG (no script, no inline style): the geometry
//! here, a pure function of the figures; the markup in the `chart` template macro, whose
//! colours come from the stylesheet.

use serde::Serialize;

/// The drawing area, in SVG user units (the SVG scales to its container).
const WIDTH: f64 = 600.0;
const HEIGHT: f64 = 120.0;
const GAP: f64 = 4.0;

#[derive(Debug, PartialEq, Serialize)]
pub struct Chart {
    pub width: f64,
    pub height: f64,
    pub bars: Vec<Bar>,
    /// The tallest bar's figure, as the axis shows it.
    pub max: String,
    /// What the chart shows in words, for those who cannot see it.
    pub summary: String,
}

#[derive(Debug, PartialEq, Serialize)]
pub struct Bar {
    pub x: f64,
    pub y: f64,
    pub width: f64,
    pub height: f64,
    /// `run-abc: 1m 05s`
    pub title: String,
    /// Where the bar leads (a run, a state version), if anywhere.
    pub href: Option<String>,
    /// The bar's colour class (`ok`, `bad`, ...).
    pub tone: &'static str,
}

/// One figure of a chart, oldest first.
pub struct Point {
    pub label: String,
    pub value: f64,
    pub href: Option<String>,
    pub tone: &'static str,
}

/// Bars for `points` (oldest first), scaled to the largest; `format` writes a figure.
/// `None` without points.
pub fn bars(what: &str, points: &[Point], format: impl Fn(f64) -> String) -> Option<Chart> {
    if points.is_empty() {
        return None;
    }
    let max = points.iter().map(|p| p.value).fold(0.0_f64, f64::max);
    let min = points.iter().map(|p| p.value).fold(f64::INFINITY, f64::min);
    let slot = WIDTH / points.len() as f64;
    let bars = points
        .iter()
        .enumerate()
        .map(|(i, point)| {
            // A zero still shows as a sliver, so that every point is there to hover.
            let height = if max > 0.0 {
                (point.value / max * HEIGHT).max(1.0)
            } else {
                1.0
            };
            Bar {
                x: round(i as f64 * slot + GAP / 2.0),
                y: round(HEIGHT - height),
                width: round((slot - GAP).max(1.0)),
                height: round(height),
                title: format!("{}: {}", point.label, format(point.value)),
                href: point.href.clone(),
                tone: point.tone,
            }
        })
        .collect();
    Some(Chart {
        width: WIDTH,
        height: HEIGHT,
        bars,
        max: format(max),
        summary: format!(
            "{what}, the last {}: from {} to {}",
            points.len(),
            format(min),
            format(max)
        ),
    })
}

fn round(value: f64) -> f64 {
    (value * 10.0).round() / 10.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(value: f64) -> Point {
        Point {
            label: format!("p{value}"),
            value,
            href: None,
            tone: "ok",
        }
    }

    #[test]
    fn bars_share_the_width_and_scale_to_the_largest() {
        let chart = bars("Runs", &[point(10.0), point(40.0), point(0.0)], |v| {
            format!("{v}s")
        })
        .unwrap();
        let heights: Vec<f64> = chart.bars.iter().map(|b| b.height).collect();
        assert_eq!(heights, [30.0, 120.0, 1.0]);
        assert_eq!(chart.bars[1].y, 0.0);
        assert_eq!(chart.bars[2].y, 119.0);
        assert_eq!(chart.bars[0].x, 2.0);
        assert_eq!(chart.bars[1].x, 202.0);
        assert_eq!(chart.bars[0].width, 196.0);
        assert_eq!(chart.bars[1].title, "p40: 40s");
        assert_eq!(chart.max, "40s");
        assert_eq!(chart.summary, "Runs, the last 3: from 0s to 40s");
    }

    #[test]
    fn nothing_to_draw_is_no_chart_and_all_zeros_are_slivers() {
        assert!(bars("Runs", &[], |v| v.to_string()).is_none());
        let flat = bars("Resources", &[point(0.0), point(0.0)], |v| v.to_string()).unwrap();
        assert!(flat.bars.iter().all(|b| b.height == 1.0));
    }
}
