//! The PicGo request parser on any body: never a panic, and the paths it reads are the ones a
//! client sending them would write.
#![no_main]

use imgcloud_core::picgo_request::parse;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    let Ok(paths) = parse(body) else {
        return;
    };
    let again = serde_json::to_vec(&serde_json::json!({ "list": paths })).unwrap();
    assert_eq!(parse(&again), Ok(paths));
});
