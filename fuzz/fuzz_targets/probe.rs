//! The image header probe and completeness check on any bytes: never a panic, a hang or a
//! runaway allocation (libFuzzer's -timeout and -rss_limit_mb), and what it accepts is sane.
#![no_main]

use imgcloud_core::probe::{ImageFormat, probe_bytes};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(probe) = probe_bytes(data) else {
        return;
    };
    assert!(probe.width > 0 && probe.height > 0, "{probe:?}");
    assert!((1..=8).contains(&probe.orientation), "{probe:?}");
    // The format is the one the first bytes name.
    let head = &data[..data.len().min(16)];
    assert_eq!(ImageFormat::sniff(head), Some(probe.format));
});
