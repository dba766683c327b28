//! The TUI's own uploads: progress in the status line while the pipeline runs, the new images
//! in the list as each one lands, and the links of the last upload for `Y`.

use imgcloud_core::links::format_link;
use imgcloud_core::upload::UploadEvent;

use super::action::{Effect, FileUpload};
use super::state::{AppState, UploadProgress};
use super::view::text::size;

pub fn progress(state: &mut AppState, event: UploadEvent) {
    let upload = state.upload.get_or_insert_with(UploadProgress::default);
    match event {
        UploadEvent::Started { index, bytes, .. } => {
            upload.active.insert(index, (0, bytes));
        }
        UploadEvent::Progress {
            index,
            bytes_done,
            bytes_total,
        } => {
            upload.active.insert(index, (bytes_done, bytes_total));
        }
        UploadEvent::Finished { index, image, .. } => {
            upload.active.remove(&index);
            upload.done += 1;
            state.put(image);
        }
        UploadEvent::Failed { index, .. } => {
            upload.active.remove(&index);
            upload.failed += 1;
        }
    }
    if let Some(upload) = &state.upload {
        let text = progress_text(upload);
        state.set_status(text);
    }
}

/// "uploading: 2 done · 1 failed · 3 sending, 45% of 3.1 MiB".
pub fn progress_text(upload: &UploadProgress) -> String {
    let mut parts = vec![format!("uploading: {} done", upload.done)];
    if upload.failed > 0 {
        parts.push(format!("{} failed", upload.failed));
    }
    if !upload.active.is_empty() {
        let (sent, total) = upload
            .active
            .values()
            .fold((0u64, 0u64), |(s, t), &(done, all)| (s + done, t + all));
        let percent = (sent * 100).checked_div(total).unwrap_or(100);
        parts.push(format!(
            "{} sending, {percent}% of {}",
            upload.active.len(),
            size(total)
        ));
    }
    parts.join(" · ")
}

pub fn done(state: &mut AppState, files: Vec<FileUpload>) {
    state.upload = None;
    let mut ids = Vec::new();
    let (mut uploaded, mut existed) = (0, 0);
    let mut failures = Vec::new();
    for file in files {
        match file.result {
            Ok(done) => {
                if done.existed {
                    existed += 1;
                } else {
                    uploaded += 1;
                }
                ids.push(done.image.id.clone());
                state.put(done.image);
            }
            Err(reason) => failures.push(format!(
                "{}: {reason}",
                file.path
                    .file_name()
                    .map_or(file.path.display().to_string(), |n| n
                        .to_string_lossy()
                        .into_owned())
            )),
        }
    }
    if let Some(row) = ids
        .first()
        .and_then(|id| state.rows.iter().position(|&i| state.images[i].id == *id))
    {
        state.select(row);
    }
    let ok = uploaded + existed;
    if ok == 0 {
        state.set_error(match failures.first() {
            None => "nothing uploaded: no image files there".to_string(),
            Some(first) if failures.len() == 1 => format!("nothing uploaded: {first}"),
            Some(first) => format!("nothing uploaded: {} failed ({first})", failures.len()),
        });
        return;
    }
    let mut text = format!(
        "uploaded {uploaded} image{}",
        if uploaded == 1 { "" } else { "s" }
    );
    if existed > 0 {
        text.push_str(&format!(", {existed} already there"));
    }
    if !failures.is_empty() {
        text.push_str(&format!(", {} failed ({})", failures.len(), failures[0]));
    }
    if ok > 0 {
        state.last_upload = ids;
        text.push_str(" · Y copies the links");
    }
    if failures.is_empty() {
        state.set_status(text);
    } else {
        state.set_error(text);
    }
}

/// `Y`: the links of the last upload, one a line, in the configured format.
pub fn copy_links(state: &mut AppState) -> Vec<Effect> {
    let format = &state.formats[0];
    let links: Vec<String> = state
        .last_upload
        .iter()
        .filter_map(|id| state.image(id))
        .map(|image| format_link(image, format))
        .collect();
    if links.is_empty() {
        state.set_error("no upload in this session yet (U uploads)");
        return vec![];
    }
    let n = links.len();
    vec![Effect::Copy {
        text: links.join("\n"),
        what: if n == 1 {
            "link of the uploaded image".to_string()
        } else {
            format!("{n} links of the upload")
        },
    }]
}
