//! PNG bar charts, one per group of phases: for each phase a bar per engine,
//! relative to the best engine of that phase (1.0 = best, higher is better),
//! labelled with the absolute value. Text uses DejaVu Sans embedded from the
//! `dejavu` crate, so no system font library is needed.

use std::path::{Path, PathBuf};
use std::sync::Once;

use plotters::prelude::*;
use plotters::style::FontTransform;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::Record;
use super::rows::{Group, Row, rows};
use super::table::{engines, thread_counts};
use crate::Result;

const FONT: &str = "sans-serif";
/// Top of the y axis: room above a full bar for its label.
const Y_TOP: f64 = 1.5;
/// Height of every chart, in pixels.
const HEIGHT: u32 = 640;

fn register_font() -> Result<()> {
    static ONCE: Once = Once::new();
    let mut result = Ok(());
    ONCE.call_once(|| {
        result = plotters::style::register_font(FONT, FontStyle::Normal, dejavu::sans::regular())
            .map_err(|_| "the embedded DejaVu Sans font did not load".into());
    });
    result
}

/// The bar colour of an engine: armdb in warm colours, peers in cool ones.
fn color(engine: &str) -> RGBColor {
    match engine {
        "armdb-var" => RGBColor(214, 39, 40),
        "armdb-const" => RGBColor(255, 127, 14),
        "armdb-typed" => RGBColor(188, 128, 34),
        "redb" => RGBColor(31, 119, 180),
        "fjall" => RGBColor(44, 160, 44),
        "lmdb" => RGBColor(148, 103, 189),
        "rocksdb" => RGBColor(140, 86, 75),
        "native_db" => RGBColor(23, 190, 207),
        "sled" => RGBColor(188, 189, 34),
        _ => RGBColor(127, 127, 127),
    }
}

/// The value on a bar, short enough to fit beside it.
fn short(row: &Row, records: &[Record], engine: &str) -> String {
    let shown = row.show(records, engine).unwrap_or_default();
    // Disk values carry "(1.23×)": the ratio to live bytes is what a reader compares.
    match shown.find('(') {
        Some(i) => shown[i + 1..].trim_end_matches(')').to_string(),
        None => shown,
    }
}

/// Draws every group's chart into `out`; returns the files written.
///
/// # Errors
/// Drawing and I/O errors.
pub fn draw_all(records: &[Record], out: &Path) -> Result<Vec<PathBuf>> {
    register_font()?;
    let engines = engines(records);
    let all_rows = rows(&thread_counts(records));
    let mut written = Vec::new();
    for group in Group::ALL {
        let rows: Vec<&Row> = all_rows
            .iter()
            .filter(|r| r.group == group && engines.iter().any(|e| r.value(records, e).is_some()))
            .collect();
        if rows.is_empty() {
            continue;
        }
        let (stem, title) = group.name();
        let path = out.join(format!("{stem}.png"));
        draw(&path, title, &rows, records, &engines)?;
        written.push(path);
    }
    Ok(written)
}

fn draw(path: &Path, title: &str, rows: &[&Row], records: &[Record], engines: &[&str]) -> Result<()> {
    let width = (170 * rows.len() as u32 + 140).max(900);
    let root = BitMapBackend::new(path, (width, HEIGHT)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, (FONT, 24))
        .margin(14)
        .margin_bottom(40)
        .x_label_area_size(56)
        .y_label_area_size(64)
        .build_cartesian_2d(0f64..rows.len() as f64, 0f64..Y_TOP)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(0)
        .y_labels(7)
        .y_desc("relative to the best engine (1.0 = best)")
        .y_label_formatter(&|v| format!("{v:.1}"))
        .label_style((FONT, 14))
        .draw()?;

    let slot = 0.84 / engines.len() as f64;
    let value_style = TextStyle::from((FONT, 12).into_font()).transform(FontTransform::Rotate270);
    for (i, row) in rows.iter().enumerate() {
        let values: Vec<Option<f64>> = engines.iter().map(|e| row.value(records, e)).collect();
        let Some(best) = values
            .iter()
            .flatten()
            .copied()
            .reduce(|a, b| if row.metric.advantage(a, b) >= 1.0 { a } else { b })
        else {
            continue;
        };
        for (j, (engine, value)) in engines.iter().zip(&values).enumerate() {
            let Some(v) = *value else { continue };
            let height = row.metric.advantage(v, best);
            let x0 = i as f64 + 0.08 + j as f64 * slot;
            let x1 = x0 + slot * 0.88;
            chart.draw_series(std::iter::once(Rectangle::new(
                [(x0, 0.0), (x1, height)],
                color(engine).filled(),
            )))?;
            let (px, py) = chart.backend_coord(&((x0 + x1) / 2.0, height));
            root.draw(&Text::new(short(row, records, engine), (px - 7, py - 4), value_style.clone()))?;
        }
        // The phase name under its group of bars, on up to two lines.
        let (cx, cy) = chart.backend_coord(&(i as f64 + 0.5, 0.0));
        for (k, line) in two_lines(&row.label).iter().enumerate() {
            let style = TextStyle::from((FONT, 14).into_font()).pos(Pos::new(HPos::Center, VPos::Top));
            root.draw(&Text::new(line.clone(), (cx, cy + 8 + 17 * k as i32), style))?;
        }
    }

    // The legend, in one row along the bottom.
    let (mut x, y) = (80, HEIGHT as i32 - 28);
    for engine in engines {
        root.draw(&Rectangle::new([(x, y), (x + 14, y + 14)], color(engine).filled()))?;
        root.draw(&Text::new(engine.to_string(), (x + 20, y), (FONT, 15)))?;
        x += 40 + 9 * engine.len() as i32;
    }
    root.present()?;
    Ok(())
}

/// Splits a label at the space nearest its middle when it is long.
fn two_lines(label: &str) -> Vec<String> {
    if label.len() <= 18 {
        return vec![label.to_string()];
    }
    let mid = label.len() / 2;
    let split = label.match_indices(' ').map(|(i, _)| i).min_by_key(|&i| i.abs_diff(mid));
    match split {
        Some(i) => vec![label[..i].to_string(), label[i + 1..].to_string()],
        None => vec![label.to_string()],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_a_png_with_text() {
        let dir = tempfile::tempdir().expect("tempdir");
        let records = vec![
            Record::timed("armdb-var", "random reads", 1, 2000, 1.0),
            Record::timed("redb", "random reads", 1, 1000, 1.0),
            Record::timed("armdb-var", "reopen", 1, 1, 0.5),
            Record::timed("redb", "reopen", 1, 1, 0.25),
        ];
        let files = draw_all(&records, dir.path()).expect("draw");
        assert_eq!(files.len(), 2);
        for f in files {
            assert!(std::fs::read(&f).expect("png").starts_with(b"\x89PNG"));
        }
    }

    #[test]
    fn long_labels_split_near_the_middle() {
        assert_eq!(two_lines("len"), ["len"]);
        assert_eq!(two_lines("concurrent durable writes"), ["concurrent", "durable writes"]);
        assert_eq!(two_lines("reopen after kill without hints"), ["reopen after kill", "without hints"]);
    }
}
