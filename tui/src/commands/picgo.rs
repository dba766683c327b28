//! `imgcloud picgo key [--new|--off]`: the key PicGo clients must send to the sync daemon's
//! endpoint. The key goes to stdout alone (to paste or pipe); what it means goes to stderr.

use std::process::ExitCode;

use imgcloud_core::daemon_config::DaemonConfig;
use imgcloud_core::secrets::{self, OsKeyring, StoredIn};

use crate::cli::PicgoAction;
use crate::context::Context;

pub fn run(ctx: &Context, action: &PicgoAction) -> anyhow::Result<ExitCode> {
    let PicgoAction::Key { new, off } = action;
    if *off {
        if secrets::delete_picgo_key_with(&ctx.dirs, &OsKeyring)? {
            eprintln!(
                "PicGo key forgotten: the endpoint no longer asks for one (within 5 s). {}",
                without_key_note()
            );
        } else {
            eprintln!("there was no PicGo key");
        }
        return Ok(ExitCode::SUCCESS);
    }
    let existing = if *new {
        None
    } else {
        secrets::load_picgo_key_with(&ctx.dirs, &OsKeyring)?
    };
    let key = match existing {
        Some(key) => key,
        None => {
            let (key, stored) = secrets::new_picgo_key_with(&ctx.dirs, &OsKeyring)?;
            if let StoredIn::File(path) = stored {
                eprintln!(
                    "warning: no OS keyring is reachable: the key is in {} (readable by you only)",
                    path.display()
                );
            }
            let listen = DaemonConfig::load(&ctx.dirs.daemon_config_file())
                .map(|c| c.picgo_listen.to_string())
                .unwrap_or_else(|_| imgcloud_core::daemon_config::DEFAULT_PICGO_LISTEN.into());
            eprintln!(
                "new PicGo key: clients must now upload to http://{listen}/upload?key=KEY \
                 (in PicGo: its server settings; requests without it are refused within 5 s)"
            );
            key
        }
    };
    println!("{key}");
    Ok(ExitCode::SUCCESS)
}

fn without_key_note() -> &'static str {
    if cfg!(target_os = "linux") {
        "Requests are still served only to your own OS account."
    } else {
        "On this system any local account can then use the endpoint."
    }
}
