//! What an image file is: type by magic bytes (never by extension), dimensions, EXIF date and
//! orientation, and whether it is complete.
//!
//! Completeness is checked structurally without decoding pixels: a JPEG must reach its
//! end-of-image marker, a PNG its `IEND` chunk, a GIF its trailer, a WebP/BMP its declared size.
//! (TIFF has no cheap check: a truncated one is uploaded, and the cloud marks it broken when it
//! cannot make its thumbnail.)

use std::fs::File;
use std::io::{self, BufRead, BufReader, Cursor, Read, Seek, SeekFrom};
use std::path::Path;

use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset};

/// Image types imgcloud accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ImageFormat {
    Jpeg,
    Png,
    Gif,
    Webp,
    Bmp,
    Tiff,
}

/// File extensions taken from directories (explicitly named files are always tried).
pub const IMAGE_EXTENSIONS: &[&str] = &[
    "jpg", "jpeg", "jpe", "jfif", "png", "gif", "webp", "bmp", "tif", "tiff",
];

/// Whether `path`'s extension names an image type imgcloud accepts (case-insensitive).
pub fn has_image_extension(path: &Path) -> bool {
    path.extension().and_then(|e| e.to_str()).is_some_and(|e| {
        IMAGE_EXTENSIONS
            .iter()
            .any(|known| known.eq_ignore_ascii_case(e))
    })
}

impl ImageFormat {
    /// Detects the type from the first bytes of a file (12 are enough).
    pub fn sniff(header: &[u8]) -> Option<Self> {
        if header.starts_with(&[0xFF, 0xD8, 0xFF]) {
            Some(Self::Jpeg)
        } else if header.starts_with(b"\x89PNG\r\n\x1a\n") {
            Some(Self::Png)
        } else if header.starts_with(b"GIF87a") || header.starts_with(b"GIF89a") {
            Some(Self::Gif)
        } else if header.len() >= 12 && &header[..4] == b"RIFF" && &header[8..12] == b"WEBP" {
            Some(Self::Webp)
        } else if header.starts_with(b"BM") && header.len() >= 14 {
            Some(Self::Bmp)
        } else if header.starts_with(b"II*\0") || header.starts_with(b"MM\0*") {
            Some(Self::Tiff)
        } else {
            None
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Self::Jpeg => "image/jpeg",
            Self::Png => "image/png",
            Self::Gif => "image/gif",
            Self::Webp => "image/webp",
            Self::Bmp => "image/bmp",
            Self::Tiff => "image/tiff",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Jpeg => "JPEG",
            Self::Png => "PNG",
            Self::Gif => "GIF",
            Self::Webp => "WebP",
            Self::Bmp => "BMP",
            Self::Tiff => "TIFF",
        }
    }

    /// The `image` crate's name for it (header parsing only, here).
    pub fn image_format(self) -> image::ImageFormat {
        match self {
            Self::Jpeg => image::ImageFormat::Jpeg,
            Self::Png => image::ImageFormat::Png,
            Self::Gif => image::ImageFormat::Gif,
            Self::Webp => image::ImageFormat::WebP,
            Self::Bmp => image::ImageFormat::Bmp,
            Self::Tiff => image::ImageFormat::Tiff,
        }
    }
}

/// What [`probe_file`] / [`probe_bytes`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    pub format: ImageFormat,
    /// Stored width (before EXIF orientation).
    pub width: u32,
    /// Stored height (before EXIF orientation).
    pub height: u32,
    /// EXIF orientation 1–8 (1 when absent or invalid).
    pub orientation: u8,
    /// EXIF `DateTimeOriginal` (with `OffsetTimeOriginal` when present, else taken as UTC).
    pub taken_at: Option<OffsetDateTime>,
}

impl Probe {
    pub fn content_type(&self) -> &'static str {
        self.format.content_type()
    }

    /// Width × height.
    pub fn pixels(&self) -> u64 {
        u64::from(self.width) * u64::from(self.height)
    }

    /// Upright (displayed) size: width and height swapped for orientations 5–8.
    pub fn display_size(&self) -> (u32, u32) {
        if self.orientation >= 5 {
            (self.height, self.width)
        } else {
            (self.width, self.height)
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error("empty file (0 bytes)")]
    Empty,
    #[error("not an image ({0})")]
    NotAnImage(String),
    #[error("truncated {format} file ({detail}); was it fully written or downloaded?")]
    Truncated {
        format: &'static str,
        detail: String,
    },
    #[error("corrupt {format} file ({detail})")]
    Corrupt {
        format: &'static str,
        detail: String,
    },
    #[error("cannot read: {0}")]
    Io(#[from] io::Error),
}

/// Probes a file on disk (reads it once, front to back for JPEG).
pub fn probe_file(path: &Path) -> Result<Probe, ProbeError> {
    let file = File::open(path)?;
    let len = file.metadata()?.len();
    probe_reader(&mut BufReader::with_capacity(256 * 1024, file), len)
}

/// Probes an image held in memory.
pub fn probe_bytes(bytes: &[u8]) -> Result<Probe, ProbeError> {
    probe_reader(&mut Cursor::new(bytes), bytes.len() as u64)
}

/// Probes `len` bytes from `r` (positioned at the start).
pub fn probe_reader<R: BufRead + Seek>(r: &mut R, len: u64) -> Result<Probe, ProbeError> {
    if len == 0 {
        return Err(ProbeError::Empty);
    }
    let mut header = [0u8; 16];
    let n = read_up_to(r, &mut header)?;
    let header = &header[..n];
    let Some(format) = ImageFormat::sniff(header) else {
        return Err(ProbeError::NotAnImage(describe_content(header)));
    };
    r.seek(SeekFrom::Start(0))?;
    let (width, height, exif) = match format {
        ImageFormat::Jpeg => {
            let info = scan_jpeg(r)?;
            (info.width, info.height, info.exif)
        }
        ImageFormat::Png => scan_png(r, len)?,
        ImageFormat::Gif => {
            check_gif(r, header, len)?;
            let (w, h) = dimensions(r, format)?;
            (w, h, None)
        }
        ImageFormat::Webp | ImageFormat::Bmp | ImageFormat::Tiff => {
            check_declared_size(format, header, len)?;
            let (w, h) = dimensions(r, format)?;
            r.seek(SeekFrom::Start(0))?;
            let exif = match format {
                ImageFormat::Bmp => None,
                _ => exif::Reader::new().read_from_container(r).ok(),
            };
            let (orientation, taken_at) = exif.as_ref().map(exif_fields).unwrap_or((1, None));
            return finish(format, w, h, orientation, taken_at);
        }
    };
    let (orientation, taken_at) = exif
        .and_then(|raw| exif::Reader::new().read_raw(raw).ok())
        .as_ref()
        .map(exif_fields)
        .unwrap_or((1, None));
    finish(format, width, height, orientation, taken_at)
}

fn finish(
    format: ImageFormat,
    width: u32,
    height: u32,
    orientation: u8,
    taken_at: Option<OffsetDateTime>,
) -> Result<Probe, ProbeError> {
    if width == 0 || height == 0 {
        return Err(corrupt(format, format!("zero dimension {width}×{height}")));
    }
    Ok(Probe {
        format,
        width,
        height,
        orientation,
        taken_at,
    })
}

fn read_up_to<R: Read>(r: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match r.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// A short, safe description of unrecognised content for the error message.
fn describe_content(header: &[u8]) -> String {
    let printable = header
        .iter()
        .all(|&b| b.is_ascii_graphic() || b.is_ascii_whitespace());
    let hex: Vec<String> = header.iter().take(8).map(|b| format!("{b:02x}")).collect();
    let kind = if printable {
        "looks like text".to_string()
    } else if header.starts_with(b"%PDF") {
        "looks like a PDF".to_string()
    } else {
        format!("starts with bytes {}", hex.join(" "))
    };
    format!("{kind}; expected JPEG, PNG, GIF, WebP, BMP or TIFF content")
}

fn truncated(format: ImageFormat, detail: impl Into<String>) -> ProbeError {
    ProbeError::Truncated {
        format: format.name(),
        detail: detail.into(),
    }
}

fn corrupt(format: ImageFormat, detail: impl Into<String>) -> ProbeError {
    ProbeError::Corrupt {
        format: format.name(),
        detail: detail.into(),
    }
}

/// Turns an unexpected end of file into [`ProbeError::Truncated`].
fn eof_is_truncation(format: ImageFormat, what: &str) -> impl Fn(io::Error) -> ProbeError + '_ {
    move |e| {
        if e.kind() == io::ErrorKind::UnexpectedEof {
            truncated(format, format!("ends inside {what}"))
        } else {
            ProbeError::Io(e)
        }
    }
}

fn dimensions<R: BufRead + Seek>(r: &mut R, format: ImageFormat) -> Result<(u32, u32), ProbeError> {
    r.seek(SeekFrom::Start(0))?;
    let reader = image::ImageReader::with_format(&mut *r, format.image_format());
    reader.into_dimensions().map_err(|e| match e {
        image::ImageError::IoError(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
            truncated(format, "ends inside the header")
        }
        image::ImageError::IoError(e) => ProbeError::Io(e),
        other => corrupt(format, other.to_string()),
    })
}

struct JpegInfo {
    width: u32,
    height: u32,
    exif: Option<Vec<u8>>,
}

/// Walks the JPEG marker structure to the end-of-image marker: frame size, EXIF payload, and
/// proof that the file is complete.
fn scan_jpeg<R: BufRead>(r: &mut R) -> Result<JpegInfo, ProbeError> {
    const F: ImageFormat = ImageFormat::Jpeg;
    let mut soi = [0u8; 2];
    r.read_exact(&mut soi)
        .map_err(eof_is_truncation(F, "the start marker"))?;
    if soi != [0xFF, 0xD8] {
        return Err(corrupt(F, "missing start-of-image marker"));
    }
    let mut frame: Option<(u32, u32)> = None;
    let mut exif = None;
    let mut scans = 0u32;
    let mut pending: Option<u8> = None;
    loop {
        let marker = match pending.take() {
            Some(m) => m,
            None => next_marker(r).map_err(eof_is_truncation(F, "the headers"))?,
        };
        match marker {
            0xD9 => break,
            0x01 | 0xD0..=0xD8 => continue,
            _ => {}
        }
        let mut len = [0u8; 2];
        r.read_exact(&mut len)
            .map_err(eof_is_truncation(F, "a marker segment"))?;
        let len = u16::from_be_bytes(len);
        if len < 2 {
            return Err(corrupt(F, format!("bad segment length {len}")));
        }
        let payload_len = u64::from(len - 2);
        let is_sof = matches!(marker, 0xC0..=0xCF) && !matches!(marker, 0xC4 | 0xC8 | 0xCC);
        if is_sof || (marker == 0xE1 && exif.is_none()) {
            let mut payload = vec![0u8; payload_len as usize];
            r.read_exact(&mut payload)
                .map_err(eof_is_truncation(F, "a marker segment"))?;
            if is_sof {
                if payload.len() < 5 {
                    return Err(corrupt(F, "short frame header"));
                }
                let height = u32::from(u16::from_be_bytes([payload[1], payload[2]]));
                let width = u32::from(u16::from_be_bytes([payload[3], payload[4]]));
                if height == 0 {
                    return Err(corrupt(
                        F,
                        "height defined by a DNL marker is not supported",
                    ));
                }
                frame = Some((width, height));
            } else if let Some(data) = payload.strip_prefix(b"Exif\0\0") {
                exif = Some(data.to_vec());
            }
        } else {
            let skipped = io::copy(&mut r.by_ref().take(payload_len), &mut io::sink())?;
            if skipped < payload_len {
                return Err(truncated(F, "ends inside a marker segment"));
            }
        }
        if marker == 0xDA {
            if frame.is_none() {
                return Err(corrupt(F, "image data before the frame header"));
            }
            scans += 1;
            pending = Some(skip_entropy_coded(r).map_err(eof_is_truncation(F, "the image data"))?);
        }
    }
    match frame {
        Some((width, height)) if scans > 0 => Ok(JpegInfo {
            width,
            height,
            exif,
        }),
        Some(_) => Err(corrupt(F, "no image data")),
        None => Err(corrupt(F, "no frame header")),
    }
}

/// Reads up to and including the next marker (skipping stray bytes and fill bytes).
fn next_marker<R: BufRead>(r: &mut R) -> io::Result<u8> {
    let mut byte = [0u8; 1];
    loop {
        r.read_exact(&mut byte)?;
        if byte[0] != 0xFF {
            continue;
        }
        loop {
            r.read_exact(&mut byte)?;
            if byte[0] != 0xFF {
                break;
            }
        }
        if byte[0] != 0x00 {
            return Ok(byte[0]);
        }
    }
}

/// Skips entropy-coded data; returns the marker that ends it (never RSTn or a stuffed byte).
fn skip_entropy_coded<R: BufRead>(r: &mut R) -> io::Result<u8> {
    let mut after_ff = false;
    loop {
        let buf = r.fill_buf()?;
        if buf.is_empty() {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        let mut i = 0;
        while i < buf.len() {
            if after_ff {
                let b = buf[i];
                i += 1;
                match b {
                    0xFF => continue,
                    0x00 | 0xD0..=0xD7 => after_ff = false,
                    marker => {
                        r.consume(i);
                        return Ok(marker);
                    }
                }
            } else {
                match find_ff(&buf[i..]) {
                    Some(p) => {
                        i += p + 1;
                        after_ff = true;
                    }
                    None => i = buf.len(),
                }
            }
        }
        let n = buf.len();
        r.consume(n);
    }
}

/// The position of the first 0xFF byte, eight bytes at a time (entropy-coded data is
/// megabytes with an 0xFF every few hundred bytes).
fn find_ff(bytes: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let mut at = 0;
    for word in bytes.chunks_exact(8) {
        // A byte of `!v` is zero exactly where `v` has 0xFF.
        let v = !u64::from_le_bytes(word.try_into().unwrap_or([0; 8]));
        if v.wrapping_sub(ONES) & !v & HIGHS != 0 {
            break;
        }
        at += 8;
    }
    bytes[at..].iter().position(|&b| b == 0xFF).map(|p| at + p)
}

/// Walks PNG chunks to `IEND`: size from `IHDR`, EXIF from `eXIf`.
fn scan_png<R: BufRead + Seek>(
    r: &mut R,
    len: u64,
) -> Result<(u32, u32, Option<Vec<u8>>), ProbeError> {
    const F: ImageFormat = ImageFormat::Png;
    r.seek(SeekFrom::Start(8))?;
    let mut size = None;
    let mut exif = None;
    loop {
        let mut head = [0u8; 8];
        r.read_exact(&mut head)
            .map_err(eof_is_truncation(F, "a chunk header"))?;
        let chunk_len = u64::from(u32::from_be_bytes([head[0], head[1], head[2], head[3]]));
        let kind = [head[4], head[5], head[6], head[7]];
        let pos = r.stream_position()?;
        if pos + chunk_len + 4 > len {
            return Err(truncated(
                F,
                format!("ends inside the {} chunk", String::from_utf8_lossy(&kind)),
            ));
        }
        match &kind {
            b"IHDR" | b"eXIf" => {
                let mut data = vec![0u8; chunk_len.min(1 << 24) as usize];
                r.read_exact(&mut data)?;
                if &kind == b"IHDR" {
                    if data.len() < 8 {
                        return Err(corrupt(F, "short IHDR chunk"));
                    }
                    let w = u32::from_be_bytes([data[0], data[1], data[2], data[3]]);
                    let h = u32::from_be_bytes([data[4], data[5], data[6], data[7]]);
                    size = Some((w, h));
                } else {
                    exif = Some(data);
                }
                r.seek(SeekFrom::Start(pos + chunk_len + 4))?;
            }
            b"IEND" => break,
            _ => {
                r.seek(SeekFrom::Start(pos + chunk_len + 4))?;
            }
        }
        if size.is_none() {
            return Err(corrupt(F, "first chunk is not IHDR"));
        }
    }
    let (w, h) = size.ok_or_else(|| corrupt(F, "no IHDR chunk"))?;
    Ok((w, h, exif))
}

fn check_gif<R: BufRead + Seek>(r: &mut R, header: &[u8], len: u64) -> Result<(), ProbeError> {
    const F: ImageFormat = ImageFormat::Gif;
    if header.len() < 10 {
        return Err(truncated(F, "ends inside the header"));
    }
    r.seek(SeekFrom::End(-1))?;
    let mut last = [0u8; 1];
    r.read_exact(&mut last)?;
    // A GIF ends with the trailer byte 0x3B; tolerate a few padding bytes some tools add.
    if last[0] != 0x3B {
        let tail = len.min(16);
        r.seek(SeekFrom::End(-(tail as i64)))?;
        let mut buf = vec![0u8; tail as usize];
        r.read_exact(&mut buf)?;
        let trailer = buf.iter().rposition(|&b| b == 0x3B);
        if !trailer.is_some_and(|p| buf[p + 1..].iter().all(|&b| b == 0)) {
            return Err(truncated(F, "no trailer"));
        }
    }
    r.seek(SeekFrom::Start(0))?;
    Ok(())
}

fn check_declared_size(format: ImageFormat, header: &[u8], len: u64) -> Result<(), ProbeError> {
    match format {
        ImageFormat::Webp => {
            let declared = u64::from(u32::from_le_bytes([
                header[4], header[5], header[6], header[7],
            ]));
            if declared + 8 > len {
                return Err(truncated(
                    format,
                    format!("{len} of {} bytes", declared + 8),
                ));
            }
        }
        ImageFormat::Bmp => {
            let declared = u64::from(u32::from_le_bytes([
                header[2], header[3], header[4], header[5],
            ]));
            if declared > len {
                return Err(truncated(format, format!("{len} of {declared} bytes")));
            }
        }
        _ => {}
    }
    Ok(())
}

/// Orientation (1–8) and `DateTimeOriginal` from parsed EXIF.
fn exif_fields(exif: &exif::Exif) -> (u8, Option<OffsetDateTime>) {
    let orientation = exif
        .get_field(exif::Tag::Orientation, exif::In::PRIMARY)
        .and_then(|f| f.value.get_uint(0))
        .filter(|o| (1..=8).contains(o))
        .map_or(1, |o| o as u8);
    (orientation, taken_at(exif))
}

pub(crate) fn ascii(exif: &exif::Exif, tag: exif::Tag) -> Option<&[u8]> {
    match &exif.get_field(tag, exif::In::PRIMARY)?.value {
        exif::Value::Ascii(values) => values.first().map(Vec::as_slice),
        _ => None,
    }
}

pub(crate) fn taken_at(exif: &exif::Exif) -> Option<OffsetDateTime> {
    let mut dt = exif::DateTime::from_ascii(ascii(exif, exif::Tag::DateTimeOriginal)?).ok()?;
    if let Some(subsec) = ascii(exif, exif::Tag::SubSecTimeOriginal) {
        let _ = dt.parse_subsec(subsec);
    }
    if let Some(offset) = ascii(exif, exif::Tag::OffsetTimeOriginal) {
        let _ = dt.parse_offset(offset);
    }
    let date =
        Date::from_calendar_date(i32::from(dt.year), Month::try_from(dt.month).ok()?, dt.day)
            .ok()?;
    let time =
        Time::from_hms_nano(dt.hour, dt.minute, dt.second, dt.nanosecond.unwrap_or(0)).ok()?;
    let offset = UtcOffset::from_whole_seconds(i32::from(dt.offset.unwrap_or(0)) * 60).ok()?;
    Some(PrimitiveDateTime::new(date, time).assume_offset(offset))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[test]
    fn find_ff_finds_the_first_ff_wherever_it_is() {
        for len in 0..40 {
            assert_eq!(find_ff(&vec![0xFEu8; len]), None, "len {len}");
            for at in 0..len {
                let mut bytes: Vec<u8> = (0..len).map(|i| (i * 37 % 255) as u8).collect();
                bytes[at] = 0xFF;
                if at + 3 < len {
                    bytes[at + 3] = 0xFF;
                }
                assert_eq!(find_ff(&bytes), Some(at), "len {len} at {at}");
            }
        }
    }

    pub(crate) fn png_bytes(w: u32, h: u32) -> Vec<u8> {
        let img = image::RgbImage::from_fn(w, h, |x, y| image::Rgb([x as u8, y as u8, 7]));
        let mut out = Cursor::new(Vec::new());
        img.write_to(&mut out, image::ImageFormat::Png).unwrap();
        out.into_inner()
    }

    pub(crate) fn jpeg_bytes(w: u32, h: u32) -> Vec<u8> {
        let img =
            image::RgbImage::from_fn(w, h, |x, y| image::Rgb([(x * 3) as u8, (y * 5) as u8, 90]));
        let mut out = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 90)
            .encode_image(&img)
            .unwrap();
        out
    }

    /// A value of a test EXIF field.
    pub(crate) enum Field<'a> {
        Short(u16),
        Ascii(&'a str),
    }

    /// A little-endian TIFF-structured EXIF block: IFD0 holds `ifd0` plus a pointer to the Exif
    /// IFD, which holds `exif`; ASCII values are stored after both IFDs.
    pub(crate) fn exif_tiff(ifd0: &[(u16, Field)], exif: &[(u16, Field)]) -> Vec<u8> {
        fn entry(t: &mut Vec<u8>, tag: u16, kind: u16, count: usize, value: u32) {
            t.extend_from_slice(&tag.to_le_bytes());
            t.extend_from_slice(&kind.to_le_bytes());
            t.extend_from_slice(&(count as u32).to_le_bytes());
            t.extend_from_slice(&value.to_le_bytes());
        }
        let ifd_len = |entries: usize| 2 + 12 * entries + 4;
        let exif_ifd = 8 + ifd_len(ifd0.len() + 1);
        let mut data_at = exif_ifd + ifd_len(exif.len());
        let (mut t, mut data) = (Vec::new(), Vec::new());
        let mut fields = |t: &mut Vec<u8>, fields: &[(u16, Field)]| {
            for (tag, field) in fields {
                match field {
                    Field::Short(v) => entry(t, *tag, 3, 1, u32::from(*v)),
                    Field::Ascii(text) => {
                        entry(t, *tag, 2, text.len() + 1, data_at as u32);
                        data.extend_from_slice(text.as_bytes());
                        data.push(0);
                        data_at += text.len() + 1;
                    }
                }
            }
        };
        t.extend_from_slice(b"II*\0");
        t.extend_from_slice(&8u32.to_le_bytes());
        t.extend_from_slice(&(ifd0.len() as u16 + 1).to_le_bytes());
        fields(&mut t, ifd0);
        entry(&mut t, 0x8769, 4, 1, exif_ifd as u32);
        t.extend_from_slice(&0u32.to_le_bytes());
        t.extend_from_slice(&(exif.len() as u16).to_le_bytes());
        fields(&mut t, exif);
        t.extend_from_slice(&0u32.to_le_bytes());
        t.extend_from_slice(&data);
        t
    }

    /// A minimal EXIF block with Orientation and DateTimeOriginal.
    pub(crate) fn exif_block(orientation: u16, date: &str) -> Vec<u8> {
        exif_tiff(
            &[(0x0112, Field::Short(orientation))],
            &[(0x9003, Field::Ascii(date))],
        )
    }

    /// Inserts an APP1 EXIF segment right after the SOI marker.
    pub(crate) fn with_exif(jpeg: &[u8], exif: &[u8]) -> Vec<u8> {
        let mut out = vec![0xFF, 0xD8, 0xFF, 0xE1];
        out.extend_from_slice(&((exif.len() + 8) as u16).to_be_bytes());
        out.extend_from_slice(b"Exif\0\0");
        out.extend_from_slice(exif);
        out.extend_from_slice(&jpeg[2..]);
        out
    }

    #[test]
    fn probes_png_and_jpeg_dimensions() {
        let png = probe_bytes(&png_bytes(33, 17)).unwrap();
        assert_eq!(
            (png.format, png.width, png.height, png.orientation),
            (ImageFormat::Png, 33, 17, 1)
        );
        let jpeg = probe_bytes(&jpeg_bytes(40, 25)).unwrap();
        assert_eq!(
            (jpeg.format, jpeg.width, jpeg.height),
            (ImageFormat::Jpeg, 40, 25)
        );
        assert_eq!(jpeg.content_type(), "image/jpeg");
        assert_eq!(jpeg.taken_at, None);
    }

    #[test]
    fn reads_exif_orientation_and_date() {
        let jpeg = with_exif(&jpeg_bytes(40, 20), &exif_block(6, "2021:07:14 09:30:05"));
        let probe = probe_bytes(&jpeg).unwrap();
        assert_eq!(probe.orientation, 6);
        assert_eq!(probe.display_size(), (20, 40));
        let taken = probe.taken_at.unwrap();
        assert_eq!(taken, time::macros::datetime!(2021-07-14 09:30:05 UTC));
    }

    #[test]
    fn truncated_jpeg_is_an_error() {
        let jpeg = jpeg_bytes(64, 64);
        for cut in [jpeg.len() - 2, jpeg.len() / 2, 30] {
            let err = probe_bytes(&jpeg[..cut]).unwrap_err();
            assert!(
                matches!(err, ProbeError::Truncated { .. }),
                "cut at {cut}: {err}"
            );
        }
    }

    #[test]
    fn truncated_png_is_an_error() {
        let png = png_bytes(64, 64);
        let err = probe_bytes(&png[..png.len() - 5]).unwrap_err();
        assert!(matches!(err, ProbeError::Truncated { .. }), "{err}");
    }

    #[test]
    fn text_named_jpg_and_empty_files_are_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let text = dir.path().join("notes.jpg");
        std::fs::write(&text, "hello, this is not a photo\n").unwrap();
        let err = probe_file(&text).unwrap_err();
        assert!(matches!(err, ProbeError::NotAnImage(_)));
        assert!(
            err.to_string().starts_with("not an image (looks like text"),
            "{err}"
        );

        let empty = dir.path().join("empty.png");
        std::fs::write(&empty, b"").unwrap();
        assert!(matches!(probe_file(&empty).unwrap_err(), ProbeError::Empty));
    }

    #[test]
    fn probes_files_on_disk_like_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("photo.jpeg");
        let bytes = with_exif(&jpeg_bytes(50, 30), &exif_block(3, "2020:01:02 03:04:05"));
        std::fs::write(&path, &bytes).unwrap();
        assert_eq!(probe_file(&path).unwrap(), probe_bytes(&bytes).unwrap());
    }

    #[test]
    fn extensions_are_case_insensitive() {
        assert!(has_image_extension(Path::new("a/B.JPG")));
        assert!(has_image_extension(Path::new("x.webp")));
        assert!(!has_image_extension(Path::new("x.txt")));
        assert!(!has_image_extension(Path::new("jpg")));
    }
}
