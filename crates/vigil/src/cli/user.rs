//! `vigil user add|list|remove`: the users of the web UI and the API (docs/users.md), kept in
//! the catalog of the configuration's `data_dir`. Works while vigil runs (the catalog is shared
//! through SQLite's own locking): a removed user is signed out at its next request.

use std::io::{BufRead, IsTerminal};

use anyhow::{bail, Context};

use crate::auth::{self, Role};
use crate::catalog::Catalog;
use crate::config::Config;

fn catalog(config: &Config) -> anyhow::Result<Catalog> {
    std::fs::create_dir_all(&config.server.data_dir)
        .with_context(|| format!("creating {}", config.server.data_dir.display()))?;
    Ok(Catalog::for_config(config)?)
}

/// The new password: from the terminal without echo (asked twice), or the first line of stdin
/// when it is a pipe (`echo "$PW" | vigil user add …`).
fn read_password() -> anyhow::Result<String> {
    if std::io::stdin().is_terminal() {
        let p = rpassword::prompt_password("Password: ")?;
        let again = rpassword::prompt_password("Password again: ")?;
        if p != again {
            bail!("the two passwords differ");
        }
        Ok(p)
    } else {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        Ok(line.trim_end_matches(['\n', '\r']).to_owned())
    }
}

pub fn add(config: &Config, name: &str, role: &str) -> anyhow::Result<String> {
    auth::check_name(name).map_err(anyhow::Error::msg)?;
    let role: Role = role.parse().map_err(anyhow::Error::msg)?;
    let password = read_password()?;
    auth::check_password(&password).map_err(anyhow::Error::msg)?;
    let hash = auth::hash_password(&password).map_err(anyhow::Error::msg)?;
    let now = {
        use vigil_core::time::Clock;
        vigil_core::time::SystemClock.now().0
    };
    let new = catalog(config)?.put_user(name, role.as_str(), &hash, now)?;
    Ok(if new {
        format!("user {name} added ({})", role.as_str())
    } else {
        format!(
            "user {name} changed ({}, new password; its sessions ended)",
            role.as_str()
        )
    })
}

pub fn list(config: &Config) -> anyhow::Result<Vec<String>> {
    let users = catalog(config)?.users()?;
    if users.is_empty() {
        return Ok(vec![
            "no users (add one: vigil user add NAME --role admin --config FILE)".into(),
        ]);
    }
    Ok(users
        .into_iter()
        .map(|u| {
            let since = vigil_core::time::Time(u.created_at).to_string();
            format!("{}\t{}\tsince {since}", u.name, u.role)
        })
        .collect())
}

pub fn remove(config: &Config, name: &str) -> anyhow::Result<String> {
    if !catalog(config)?.remove_user(name)? {
        bail!("no user named {name:?}");
    }
    Ok(format!("user {name} removed (its sessions ended)"))
}
