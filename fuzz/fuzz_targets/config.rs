//! Config parsing (`config.toml`, `daemon.toml`) on any text: never a panic, and a config that
//! loads saves to text that loads back the same.
#![no_main]

use imgcloud_core::config::ClientConfig;
use imgcloud_core::daemon_config::DaemonConfig;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(config) = ClientConfig::from_toml(text) {
        let saved = toml::to_string_pretty(&config).unwrap();
        assert_eq!(ClientConfig::from_toml(&saved), Ok(config), "{saved}");
    }
    if let Ok(config) = DaemonConfig::from_toml(text) {
        let saved = toml::to_string_pretty(&config).unwrap();
        assert_eq!(DaemonConfig::from_toml(&saved), Ok(config), "{saved}");
    }
});
