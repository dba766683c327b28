//! EXIF parsing of the first bytes of an image (camera and date for the info panel): never a
//! panic, and what it reports is trimmed text.
#![no_main]

use imgcloud_core::photo_info::from_head;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let info = from_head(data);
    if let Some(camera) = &info.camera {
        assert!(!camera.is_empty());
        assert_eq!(camera.trim(), camera.as_str());
    }
});
