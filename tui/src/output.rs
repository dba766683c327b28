//! What the CLI prints: stdout carries only results (links, tables, JSON); everything meant for
//! a person (warnings, errors, summaries) goes to stderr.

use std::io::Write;

use anyhow::Context as _;
use imgcloud_core::api::Image;
use serde::Serialize;
use time::OffsetDateTime;
use time::macros::format_description;

/// Writes `lines` to stdout, one per line, and flushes (a closed pipe is not an error).
pub fn print_lines<S: AsRef<str>>(lines: &[S]) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    for line in lines {
        if let Err(e) = writeln!(out, "{}", line.as_ref()) {
            return broken_pipe_ok(e);
        }
    }
    out.flush().or_else(broken_pipe_ok)
}

/// Writes `value` as pretty JSON to stdout.
pub fn print_json<T: Serialize>(value: &T) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(value).context("cannot encode the JSON output")?;
    print_lines(&[text])
}

fn broken_pipe_ok(e: std::io::Error) -> anyhow::Result<()> {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        Ok(())
    } else {
        Err(anyhow::Error::new(e).context("cannot write to stdout"))
    }
}

/// `warning: …` on stderr.
pub fn warn(message: impl std::fmt::Display) {
    eprintln!("warning: {message}");
}

/// `error: …` on stderr.
pub fn error(message: impl std::fmt::Display) {
    eprintln!("error: {message}");
}

pub use imgcloud_core::human::human_size;

/// "2026-01-31 14:05" (UTC).
pub fn short_date(at: OffsetDateTime) -> String {
    at.format(format_description!("[year]-[month]-[day] [hour]:[minute]"))
        .unwrap_or_else(|_| at.to_string())
}

/// The `imgcloud ls` table: id, name, size, dimensions, date (taken, else uploaded).
pub fn image_table(images: &[Image]) -> String {
    let header = ["ID", "NAME", "SIZE", "DIMS", "DATE", "VISIBILITY"].map(String::from);
    let rows: Vec<[String; 6]> = images
        .iter()
        .map(|image| {
            [
                image.id.clone(),
                sanitize_for_terminal(&image.filename),
                human_size(image.size),
                format!("{}×{}", image.width, image.height),
                short_date(image.taken_at.unwrap_or(image.created_at)),
                image.visibility.to_string(),
            ]
        })
        .collect();
    let mut widths = header.clone().map(|h| h.chars().count());
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut text = String::new();
    for row in std::iter::once(&header).chain(&rows) {
        let mut line = String::new();
        for (i, (cell, width)) in row.iter().zip(widths).enumerate() {
            let pad = width.saturating_sub(cell.chars().count());
            if i == 2 {
                // Sizes read best right-aligned.
                line.push_str(&" ".repeat(pad));
                line.push_str(cell);
            } else {
                line.push_str(cell);
                if i + 1 < row.len() {
                    line.push_str(&" ".repeat(pad));
                }
            }
            if i + 1 < row.len() {
                line.push_str("  ");
            }
        }
        text.push_str(line.trim_end());
        text.push('\n');
    }
    text
}

/// Replaces control characters so a hostile filename cannot move the cursor or change colours.
pub fn sanitize_for_terminal(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { '\u{FFFD}' } else { c })
        .collect()
}

/// A plain table: `header`, then `rows`, columns padded to their widest cell (cells are made
/// safe for the terminal).
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|row| row.iter().map(|c| sanitize_for_terminal(c)).collect())
        .collect();
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut text = String::new();
    let header: Vec<String> = header.iter().map(|h| h.to_string()).collect();
    for row in std::iter::once(&header).chain(&rows) {
        let mut line = String::new();
        for (i, (cell, width)) in row.iter().zip(&widths).enumerate() {
            line.push_str(cell);
            if i + 1 < row.len() {
                line.push_str(&" ".repeat(width.saturating_sub(cell.chars().count()) + 2));
            }
        }
        text.push_str(line.trim_end());
        text.push('\n');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn image(id: &str, filename: &str, size: u64) -> Image {
        Image {
            id: id.into(),
            filename: filename.into(),
            size,
            sha256: "00".repeat(32),
            content_type: "image/jpeg".into(),
            width: 4000,
            height: 3000,
            taken_at: None,
            created_at: datetime!(2026-01-31 14:05:09 UTC),
            updated_at: datetime!(2026-01-31 14:05:09 UTC),
            deleted_at: None,
            tags: vec![],
            visibility: Default::default(),
            url: format!("http://cdn/i/{id}/{filename}"),
            thumb_url: String::new(),
            preview_url: String::new(),
            thumbhash: None,
            derivatives: Default::default(),
            derivatives_error: None,
        }
    }

    #[test]
    fn table_aligns_columns_and_neutralises_control_characters() {
        let table = image_table(&[
            image("aaaa", "cat.jpg", 2048),
            image("bbbbbbbb", "evil\x1b[2Jname.png", 5),
        ]);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[0].starts_with("ID        NAME"), "{table}");
        assert!(!table.contains('\x1b'), "{table}");
        // The NAME column starts at the same offset on every line.
        let offsets: Vec<usize> = [("NAME", 0), ("cat.jpg", 1), ("evil", 2)]
            .iter()
            .map(|(needle, line)| lines[*line].find(needle).unwrap())
            .collect();
        assert!(offsets.windows(2).all(|w| w[0] == w[1]), "{table}");
        assert!(
            lines[1].contains("2.0 KiB")
                && lines[1].contains("4000×3000")
                && lines[1].contains("2026-01-31 14:05")
        );
    }
}
