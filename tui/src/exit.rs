//! Exit codes: 0 success, 1 when something failed (a file, a request), 2 for usage and
//! configuration errors (the same code clap uses for bad arguments).

use std::process::ExitCode;

/// An error in how imgcloud was called or configured: exit code 2.
#[derive(Debug)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

pub const PARTIAL_FAILURE: u8 = 1;
pub const USAGE: u8 = 2;

/// Prints `err` (with its causes) on stderr and picks the exit code.
pub fn report(err: &anyhow::Error) -> ExitCode {
    crate::output::error(format_args!("{err:#}"));
    if err.chain().any(|cause| cause.is::<UsageError>()) {
        ExitCode::from(USAGE)
    } else {
        ExitCode::from(PARTIAL_FAILURE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context as _;

    #[test]
    fn usage_errors_exit_2_even_when_wrapped() {
        let err = Err::<(), _>(UsageError("bad".into()))
            .context("while loading")
            .unwrap_err();
        assert_eq!(report(&err), ExitCode::from(2));
        assert_eq!(report(&anyhow::anyhow!("network down")), ExitCode::from(1));
    }
}
