//! How values read on screen: sizes, dates, dimensions.

use time::OffsetDateTime;
use time::macros::format_description;

/// `834 B`, `12.4 KiB`, `3.1 MiB`.
pub fn size(bytes: u64) -> String {
    imgcloud_core::human::human_size(bytes)
}

/// `2024-05-01 14:03` (UTC).
pub fn date(at: OffsetDateTime) -> String {
    at.format(format_description!("[year]-[month]-[day] [hour]:[minute]"))
        .unwrap_or_default()
}

pub fn dimensions(width: u32, height: u32) -> String {
    format!("{width}×{height}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_use_binary_units() {
        assert_eq!(size(834), "834 B");
        assert_eq!(size(1536), "1.5 KiB");
        assert_eq!(size(3 * 1024 * 1024 + 100_000), "3.1 MiB");
    }

    #[test]
    fn dates_read_to_the_minute() {
        assert_eq!(
            date(time::macros::datetime!(2024-05-01 14:03:59 UTC)),
            "2024-05-01 14:03"
        );
    }
}
