//! Charts drawn on the server as inline SVG: the page needs no script to
//! show them, and every point carries a `<title>` with its exact value
//! (a tooltip for the mouse, a name for screen readers).
//!
//! Colours come from CSS classes, never inline styles, so the page's
//! Content-Security-Policy can forbid inline styles and the charts still
//! follow the light and dark themes.

use chrono::DateTime;
use maud::{html, Markup};

use super::format;

/// The value kinds a chart plots, which decide its ticks and labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// Whole numbers of things (deployments per bucket).
    Count,
    /// Durations in seconds.
    Seconds,
    /// Rates from 0 to 1, shown as percentages.
    Fraction,
}

impl Unit {
    pub fn label(self, value: f64) -> String {
        match self {
            Self::Count => format::count(value.round().max(0.0) as u64),
            Self::Seconds => format::duration(value),
            Self::Fraction => format::percent(value),
        }
    }
}

/// One line (or the bars) of a chart.
pub struct Series<'a> {
    pub name: &'a str,
    /// CSS class of its colour: `s1`, `s2`.
    pub class: &'a str,
    pub values: Vec<Option<f64>>,
}

// The drawing area in SVG units; the SVG scales to its box.
const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 220.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 12.0;
const TOP: f64 = 12.0;
const BOTTOM: f64 = 28.0;
/// About this many x labels, whatever the number of buckets.
const X_LABELS: usize = 7;
const Y_TICKS: f64 = 4.0;

/// A bar chart of one series over the buckets (`starts` in milliseconds).
pub fn bars(title: &str, starts: &[i64], series: &Series, unit: Unit) -> Markup {
    let values: Vec<f64> = series.values.iter().map(|v| v.unwrap_or(0.0)).collect();
    let axis = Axis::new(values.iter().copied().fold(0.0, f64::max), unit);
    let slot = plot_width() / starts.len().max(1) as f64;
    html! {
        svg.chart viewBox=(view_box()) role="img" aria-label=(title) {
            (frame(starts, &axis))
            @for (i, (start, value)) in starts.iter().zip(&values).enumerate() {
                @let height = axis.scale(*value);
                rect class=(series.class) x=(n(LEFT + slot * i as f64 + slot * 0.15)) y=(n(TOP + plot_height() - height))
                    width=(n(slot * 0.7)) height=(n(height)) {
                    title { (day(*start)) ": " (unit.label(*value)) " " (series.name) }
                }
            }
        }
    }
}

/// One horizontal bar split into `stages` (name, CSS class, seconds), each
/// as wide as its share of the total; a stage without a value takes no room.
/// Widths are SVG attributes, not styles, so the page's CSP holds.
pub fn stages(title: &str, stages: &[(&str, &str, Option<f64>)]) -> Markup {
    let total: f64 = stages.iter().filter_map(|(_, _, v)| *v).sum();
    let mut x = 0.0;
    let mut segments = Vec::new();
    for (name, class, value) in stages {
        if let Some(v) = value.filter(|_| total > 0.0) {
            let width = v / total * 100.0;
            segments.push((*name, *class, v, x, width));
            x += width;
        }
    }
    html! {
        svg.chart.stages viewBox="0 0 100 8" preserveAspectRatio="none" role="img" aria-label=(title) {
            @for (name, class, v, x, width) in segments {
                rect class=(class) x=(n(x)) y="0" width=(n(width)) height="8" {
                    title { (name) ": " (format::duration(v)) }
                }
            }
        }
    }
}

/// A line chart of one or more series over the buckets; gaps where a
/// bucket has no value (no sample, rather than zero).
pub fn lines(title: &str, starts: &[i64], series: &[Series], unit: Unit) -> Markup {
    let max = series.iter().flat_map(|s| s.values.iter().flatten().copied()).fold(0.0, f64::max);
    let axis = Axis::new(max, unit);
    let slot = plot_width() / starts.len().max(1) as f64;
    let x = |i: usize| LEFT + slot * (i as f64 + 0.5);
    let y = |v: f64| TOP + plot_height() - axis.scale(v);
    html! {
        svg.chart viewBox=(view_box()) role="img" aria-label=(title) {
            (frame(starts, &axis))
            @for s in series {
                @for run in runs(&s.values) {
                    @if run.len() > 1 {
                        polyline class={ "line " (s.class) } fill="none"
                            points=(run.iter().map(|(i, v)| format!("{},{}", n(x(*i)), n(y(*v)))).collect::<Vec<_>>().join(" ")) {}
                    }
                }
                @for (i, value) in s.values.iter().enumerate() {
                    @if let Some(v) = value {
                        circle class={ "dot " (s.class) } cx=(n(x(i))) cy=(n(y(*v))) r="3" {
                            title { (day(starts[i])) ": " (s.name) " " (unit.label(*v)) }
                        }
                    }
                }
            }
        }
        @if series.len() > 1 {
            p.legend {
                @for s in series {
                    span class={ "key " (s.class) } { (s.name) }
                }
            }
        }
    }
}

/// A small line of a tile's trend, without axes; the tile states the value.
pub fn sparkline(label: &str, values: &[Option<f64>]) -> Markup {
    const W: f64 = 120.0;
    const H: f64 = 28.0;
    let max = values.iter().flatten().copied().fold(0.0, f64::max);
    let slot = W / values.len().max(1) as f64;
    let points: Vec<String> = values
        .iter()
        .enumerate()
        .filter_map(|(i, v)| {
            let v = (*v)?;
            let y = if max > 0.0 { H - 2.0 - (v / max) * (H - 4.0) } else { H - 2.0 };
            Some(format!("{},{}", n(slot * (i as f64 + 0.5)), n(y)))
        })
        .collect();
    html! {
        svg.sparkline viewBox={ "0 0 " (W) " " (H) } role="img" aria-label={ "Trend of " (label) } {
            @if points.len() > 1 {
                polyline fill="none" points=(points.join(" ")) {}
            }
        }
    }
}

/// Runs of consecutive present values, each with its bucket index.
fn runs(values: &[Option<f64>]) -> Vec<Vec<(usize, f64)>> {
    let mut out: Vec<Vec<(usize, f64)>> = vec![Vec::new()];
    for (i, v) in values.iter().enumerate() {
        match v {
            Some(v) => out.last_mut().map_or((), |run| run.push((i, *v))),
            None if out.last().is_some_and(|r| !r.is_empty()) => out.push(Vec::new()),
            None => {}
        }
    }
    out
}

/// The y axis: a round top and round steps in the unit's own terms.
struct Axis {
    top: f64,
    step: f64,
    unit: Unit,
}

impl Axis {
    fn new(max: f64, unit: Unit) -> Self {
        let step = match unit {
            Unit::Count => nice(max / Y_TICKS).max(1.0),
            Unit::Fraction => nice(max / Y_TICKS).max(0.01),
            Unit::Seconds => {
                // Steps of whole minutes, hours or days read better than 0.7 h.
                let base = [86_400.0, 3600.0, 60.0, 1.0].into_iter().find(|b| max / b >= 1.0).unwrap_or(1.0);
                nice(max / Y_TICKS / base).max(1.0) * base
            }
        };
        let top = ((max / step).ceil() * step).max(step);
        Self { top, step, unit }
    }

    /// A value's height in SVG units.
    fn scale(&self, value: f64) -> f64 {
        (value / self.top).clamp(0.0, 1.0) * plot_height()
    }

    fn ticks(&self) -> impl Iterator<Item = f64> + '_ {
        let count = (self.top / self.step).round() as usize;
        (0..=count).map(|i| i as f64 * self.step)
    }
}

/// The smallest of 1, 2 or 5 times a power of ten that is at least `x`.
fn nice(x: f64) -> f64 {
    if x <= 0.0 || !x.is_finite() {
        return 0.0;
    }
    let power = 10f64.powf(x.log10().floor());
    [1.0, 2.0, 5.0, 10.0].into_iter().map(|m| m * power).find(|v| *v >= x * 0.999_999).unwrap_or(10.0 * power)
}

/// Grid lines with y labels, and x labels under some buckets.
fn frame(starts: &[i64], axis: &Axis) -> Markup {
    let slot = plot_width() / starts.len().max(1) as f64;
    let every = starts.len().div_ceil(X_LABELS).max(1);
    html! {
        g.axis {
            @for tick in axis.ticks() {
                @let y = TOP + plot_height() - axis.scale(tick);
                line.grid x1=(n(LEFT)) x2=(n(WIDTH - RIGHT)) y1=(n(y)) y2=(n(y)) {}
                text.ylabel x=(n(LEFT - 6.0)) y=(n(y + 4.0)) text-anchor="end" { (axis.unit.label(tick)) }
            }
            @for (i, start) in starts.iter().enumerate().step_by(every) {
                text.xlabel x=(n(LEFT + slot * (i as f64 + 0.5))) y=(n(HEIGHT - 8.0)) text-anchor="middle" { (day(*start)) }
            }
        }
    }
}

fn plot_width() -> f64 {
    WIDTH - LEFT - RIGHT
}

fn plot_height() -> f64 {
    HEIGHT - TOP - BOTTOM
}

fn view_box() -> String {
    format!("0 0 {WIDTH} {HEIGHT}")
}

/// A coordinate with one decimal: enough for the eye, and a small page.
fn n(x: f64) -> String {
    let r = (x * 10.0).round() / 10.0;
    if r.fract() == 0.0 {
        format!("{r:.0}")
    } else {
        format!("{r:.1}")
    }
}

/// `May 3`, the UTC day a bucket starts.
pub fn day(ms: i64) -> String {
    DateTime::from_timestamp_millis(ms).map_or_else(String::new, |t| t.format("%b %-d").to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nice_steps_are_one_two_or_five_times_a_power_of_ten() {
        assert_eq!(nice(0.7), 1.0);
        assert_eq!(nice(1.2), 2.0);
        assert_eq!(nice(3.0), 5.0);
        assert_eq!(nice(7.0), 10.0);
        assert_eq!(nice(0.03), 0.05);
        assert_eq!(nice(0.0), 0.0);
    }

    #[test]
    fn duration_axes_step_in_whole_units_and_reach_the_largest_value() {
        let axis = Axis::new(5.0 * 3600.0 + 120.0, Unit::Seconds);
        assert_eq!(axis.step, 7200.0);
        assert!(axis.top >= 5.0 * 3600.0 + 120.0);
        let labels: Vec<String> = axis.ticks().map(|t| axis.unit.label(t)).collect();
        assert_eq!(labels, ["0 s", "2 h", "4 h", "6 h"]);
    }

    #[test]
    fn an_empty_chart_still_has_an_axis() {
        let axis = Axis::new(0.0, Unit::Count);
        assert_eq!((axis.top, axis.step), (1.0, 1.0));
    }

    #[test]
    fn gaps_split_a_line_into_runs() {
        let r = runs(&[Some(1.0), None, Some(2.0), Some(3.0), None]);
        assert_eq!(r, vec![vec![(0, 1.0)], vec![(2, 2.0), (3, 3.0)], vec![]]);
    }

    #[test]
    fn every_point_has_a_title_with_its_exact_value() {
        let starts = [1_714_521_600_000, 1_714_608_000_000]; // May 1 and 2, 2024
        let s = Series { name: "median", class: "s1", values: vec![Some(600.0), None] };
        let svg = lines("Lead time", &starts, &[s], Unit::Seconds).into_string();
        assert!(svg.contains("<title>May 1: median 10 min</title>"), "{svg}");
        assert_eq!(svg.matches("<circle").count(), 1, "no point for a bucket without samples");
    }
}
