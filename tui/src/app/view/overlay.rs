//! Windows over the list: help, the copy-link format picker, the delete confirmation (the
//! prompts are in [`super::prompt`]).

use imgcloud_core::links::format_link;
use ratatui::Frame;
use ratatui::layout::{Constraint, Flex, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};

use crate::app::keys::HELP;
use crate::app::state::{AppState, Overlay};

pub fn draw(frame: &mut Frame, area: Rect, state: &AppState) {
    match &state.overlay {
        None => {}
        Some(Overlay::Help) => help(frame, area),
        Some(Overlay::Formats { selected }) => formats(frame, area, state, *selected),
        Some(Overlay::Shares { shares, selected }) => share_list(frame, area, shares, *selected),
        Some(Overlay::Albums { albums, selected }) => album_list(frame, area, albums, *selected),
        Some(Overlay::ConfirmTrash { name, .. }) => confirm(frame, area, name),
        Some(Overlay::Prompt(prompt)) => super::prompt::draw(frame, area, prompt),
    }
}

pub fn popup(area: Rect, width: u16, height: u16) -> Rect {
    let [row] = Layout::vertical([Constraint::Length(height.min(area.height))])
        .flex(Flex::Center)
        .areas(area);
    let [cell] = Layout::horizontal([Constraint::Length(width.min(area.width))])
        .flex(Flex::Center)
        .areas(row);
    cell
}

/// `lines` in a bordered window of `width` centred in `area`, over what is under it.
fn boxed(frame: &mut Frame, area: Rect, width: u16, lines: Vec<Line>, title: &str, hint: &str) {
    let area = popup(area, width, lines.len() as u16 + 2);
    frame.render_widget(Clear, area);
    frame.render_widget(
        Paragraph::new(lines).block(
            Block::new()
                .borders(Borders::ALL)
                .title(title)
                .title_bottom(hint),
        ),
        area,
    );
}

fn bold() -> Style {
    Style::new().add_modifier(Modifier::BOLD)
}

fn help(frame: &mut Frame, area: Rect) {
    const COLUMN: usize = 48;
    let entry = |(keys, what): &(&str, &str)| {
        vec![
            Span::styled(format!(" {keys:<14}"), bold()),
            Span::raw(format!("{what:<width$}", width = COLUMN - 15)),
        ]
    };
    // In two columns when one does not fit the height (and two fit the width).
    let rows = HELP.len();
    let two = rows + 2 > usize::from(area.height) && usize::from(area.width) >= 2 * COLUMN + 3;
    let lines: Vec<Line> = if two {
        let half = rows.div_ceil(2);
        (0..half)
            .map(|i| {
                let mut spans = entry(&HELP[i]);
                if let Some(right) = HELP.get(half + i) {
                    spans.push(Span::raw(" "));
                    spans.extend(entry(right));
                }
                Line::from(spans)
            })
            .collect()
    } else {
        HELP.iter().map(|e| Line::from(entry(e))).collect()
    };
    let width = if two { 2 * COLUMN + 3 } else { COLUMN + 2 };
    let area = popup(area, width as u16, lines.len() as u16 + 2);
    frame.render_widget(Clear, area);
    frame.render_widget(
        Paragraph::new(lines).block(
            Block::new()
                .borders(Borders::ALL)
                .title(" Keys ")
                .title_bottom(" Esc closes "),
        ),
        area,
    );
}

fn formats(frame: &mut Frame, area: Rect, state: &AppState, selected: usize) {
    let Some(image) = state.selected_image() else {
        return;
    };
    let width = area.width.saturating_sub(8).min(100);
    let label_width = 12;
    let preview_width = usize::from(width.saturating_sub(label_width + 4));
    let lines: Vec<Line> = state
        .formats
        .iter()
        .enumerate()
        .map(|(i, format)| {
            let name = match format {
                imgcloud_core::links::LinkFormat::Custom(_) => "custom".to_string(),
                other => other.to_string(),
            };
            let link = ellipsis(&format_link(image, format), preview_width);
            let style = if i == selected {
                Style::new().add_modifier(Modifier::REVERSED)
            } else {
                Style::new()
            };
            Line::from(vec![
                Span::styled(format!(" {} {name:<9}", i + 1), bold()),
                Span::raw(link),
            ])
            .style(style)
        })
        .collect();
    boxed(
        frame,
        area,
        width,
        lines,
        " Copy link as ",
        " Enter/1-9 copy · Esc cancel ",
    );
}

fn album_list(
    frame: &mut Frame,
    area: Rect,
    albums: &[imgcloud_core::api::Album],
    selected: usize,
) {
    let width = area.width.saturating_sub(8).min(70);
    let entries =
        std::iter::once(("Every image".to_string(), String::new())).chain(albums.iter().map(|a| {
            (
                crate::output::sanitize_for_terminal(&a.name),
                format!("{} images", a.image_count),
            )
        }));
    let lines: Vec<Line> = entries
        .enumerate()
        .map(|(i, (name, count))| {
            let style = if i == selected {
                Style::new().add_modifier(Modifier::REVERSED)
            } else {
                Style::new()
            };
            Line::from(format!(" {name:<40} {count}")).style(style)
        })
        .collect();
    boxed(
        frame,
        area,
        width,
        lines,
        " Album ",
        " Enter show · Esc cancel ",
    );
}

fn share_list(
    frame: &mut Frame,
    area: Rect,
    shares: &[imgcloud_core::api::Share],
    selected: usize,
) {
    let width = area.width.saturating_sub(8).min(110);
    let header = Line::from(Span::styled(
        format!(
            " {:<10} {:>9} {:>8} {:<16} {:<16} {}",
            "STATE", "VIEWS", "VISITORS", "LAST VIEW", "EXPIRES", "LABEL"
        ),
        bold(),
    ));
    let date =
        |at: Option<time::OffsetDateTime>| at.map_or("—".to_string(), crate::app::view::text::date);
    let mut lines = vec![header];
    lines.extend(shares.iter().enumerate().map(|(i, share)| {
        let views = match share.max_views {
            Some(max) => format!("{}/{max}", share.views),
            None => share.views.to_string(),
        };
        let expires = match share.expires_at {
            Some(at) => date(Some(at)),
            None => "never".to_string(),
        };
        let label = if share.label.is_empty() {
            "—".to_string()
        } else {
            crate::output::sanitize_for_terminal(&share.label)
        };
        let line = format!(
            " {:<10} {views:>9} {:>8} {:<16} {expires:<16} {label}{}",
            share.state.as_str(),
            share.visitors,
            date(share.last_viewed_at),
            if share.has_password {
                " (password)"
            } else {
                ""
            }
        );
        let style = if i == selected {
            Style::new().add_modifier(Modifier::REVERSED)
        } else {
            Style::new()
        };
        Line::from(line).style(style)
    }));
    boxed(
        frame,
        area,
        width,
        lines,
        " Share links ",
        " Enter copy · x revoke · Esc close ",
    );
}

fn confirm(frame: &mut Frame, area: Rect, name: &str) {
    let text = vec![
        Line::from(format!("Move {name} to the trash?")),
        Line::from("It stays there 30 days; u or the trash view brings it back."),
        Line::from(""),
        Line::styled("y / Enter: move to trash    n / Esc: keep", bold()),
    ];
    let area = popup(area, 64, 6);
    frame.render_widget(Clear, area);
    frame.render_widget(
        Paragraph::new(text)
            .wrap(Wrap { trim: true })
            .block(Block::new().borders(Borders::ALL).title(" Delete ")),
        area,
    );
}

/// `text` cut to `width` characters, with `…` when cut.
fn ellipsis(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_string();
    }
    let mut cut: String = text.chars().take(width.saturating_sub(1)).collect();
    cut.push('…');
    cut
}
