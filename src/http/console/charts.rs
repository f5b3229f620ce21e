//! The overview's charts: stacked bars drawn server-side as SVG by `plotters`, using
//! presentation attributes only (no `style`), so the page's CSP needs no inline style.
//! Every chart also comes as a text table in the page.

use plotters::coord::ranged1d::SegmentValue;
use plotters::prelude::*;

/// One stacked series: a name (fixed text, never user input), a colour, a value per bar.
pub struct Series {
    pub name: &'static str,
    pub color: RGBColor,
    pub values: Vec<i64>,
}

pub const GREEN: RGBColor = RGBColor(0x2e, 0x7d, 0x32);
pub const RED: RGBColor = RGBColor(0xc6, 0x28, 0x28);
pub const AMBER: RGBColor = RGBColor(0xef, 0x8f, 0x00);
pub const BLUE: RGBColor = RGBColor(0x15, 0x65, 0xc0);
pub const PURPLE: RGBColor = RGBColor(0x6a, 0x1b, 0x9a);
pub const GREY: RGBColor = RGBColor(0x75, 0x75, 0x75);

/// An SVG of `series` stacked over the bars labelled `labels` (every few shown).
pub fn stacked_bars(labels: &[String], series: &[Series]) -> String {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (640, 220)).into_drawing_area();
        if let Err(e) = draw(&root, labels, series) {
            log::warn!("chart not drawn: {e}");
        }
        let _ = root.present();
    }
    svg
}

type Area<'a> = DrawingArea<SVGBackend<'a>, plotters::coord::Shift>;

fn draw(
    root: &Area<'_>,
    labels: &[String],
    series: &[Series],
) -> Result<(), Box<dyn std::error::Error>> {
    root.fill(&WHITE)?;
    let bars = i32::try_from(labels.len()).unwrap_or(0).max(1);
    let total = |i: usize| {
        series
            .iter()
            .map(|s| s.values.get(i).copied().unwrap_or(0))
            .sum::<i64>()
    };
    let max = (0..labels.len()).map(total).max().unwrap_or(0).max(1);
    let top = max + (max / 8).max(1);
    let mut chart = ChartBuilder::on(root)
        .margin(8)
        .x_label_area_size(24)
        .y_label_area_size(48)
        .build_cartesian_2d((0..bars).into_segmented(), 0i64..top)?;
    let every = usize::try_from((bars / 6).max(1)).unwrap_or(1);
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(labels.len())
        .y_labels(5)
        .x_label_formatter(&|v| match v {
            SegmentValue::CenterOf(i) | SegmentValue::Exact(i) => {
                let i = usize::try_from(*i).unwrap_or(usize::MAX);
                if i % every == 0 {
                    labels.get(i).cloned().unwrap_or_default()
                } else {
                    String::new()
                }
            }
            SegmentValue::Last => String::new(),
        })
        .draw()?;
    for (k, s) in series.iter().enumerate() {
        let below = &series[..k];
        let color = s.color;
        chart
            .draw_series((0..labels.len()).filter_map(|i| {
                let value = s.values.get(i).copied().unwrap_or(0);
                if value == 0 {
                    return None;
                }
                let base: i64 = below
                    .iter()
                    .map(|b| b.values.get(i).copied().unwrap_or(0))
                    .sum();
                let x = i32::try_from(i).ok()?;
                let mut bar = Rectangle::new(
                    [
                        (SegmentValue::Exact(x), base),
                        (SegmentValue::Exact(x + 1), base + value),
                    ],
                    color.filled(),
                );
                bar.set_margin(0, 0, 2, 2);
                Some(bar)
            }))?
            .label(s.name)
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 10, y + 5)], color.filled()));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.3))
        .draw()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charts_need_no_inline_style_and_show_their_series() {
        let labels: Vec<String> = (0..24).map(|h| format!("{h:02}:00")).collect();
        let svg = stacked_bars(
            &labels,
            &[
                Series {
                    name: "success",
                    color: GREEN,
                    values: (0..24).collect(),
                },
                Series {
                    name: "failure",
                    color: RED,
                    values: vec![3; 24],
                },
            ],
        );
        assert!(svg.starts_with("<svg"), "{svg}");
        assert!(!svg.contains("style="), "{svg}");
        assert!(svg.contains("success") && svg.contains("failure"), "{svg}");
        assert!(svg.matches("<rect").count() >= 47, "{svg}");
    }
}
