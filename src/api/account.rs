//! Which account to deploy to: config `account_id`, `CLOUDFLARE_ACCOUNT_ID`,
//! or the token's memberships (asking when there are several and a terminal).

use std::io::{BufRead, IsTerminal, Write};

use serde_json::Value;

use super::client::Client;
use super::env;
use crate::diagnostics::UserError;
use crate::printer::escape_control;

/// One account the credentials can reach.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub id: String,
    pub name: String,
}

/// Pick the account id: the config's, else `from_env`
/// (`CLOUDFLARE_ACCOUNT_ID`), else the token's one account (as wrangler does).
pub fn resolve(
    client: &Client,
    configured: Option<&str>,
    from_env: Option<&str>,
) -> anyhow::Result<String> {
    if let Some(id) = configured.filter(|s| !s.is_empty()) {
        return Ok(id.to_string());
    }
    if let Some(id) = from_env.map(str::trim).filter(|s| !s.is_empty()) {
        return Ok(id.to_string());
    }
    let accounts = memberships(client)?;
    match accounts.as_slice() {
        [] => Err(
            UserError::new("these credentials cannot reach any Cloudflare account")
                .hint("check that the API token has account access")
                .into(),
        ),
        [one] => Ok(one.id.clone()),
        many => choose(many),
    }
}

/// `GET /memberships` → accounts.
fn memberships(client: &Client) -> anyhow::Result<Vec<Account>> {
    let result = client.get("/memberships", &[])?;
    let list = result.as_array().cloned().unwrap_or_default();
    Ok(list
        .iter()
        .filter_map(|m| {
            let a = m.get("account")?;
            Some(Account {
                id: a.get("id").and_then(Value::as_str)?.to_string(),
                name: escape_control(a.get("name").and_then(Value::as_str).unwrap_or("")),
            })
        })
        .collect())
}

fn choose(accounts: &[Account]) -> anyhow::Result<String> {
    let listing = accounts
        .iter()
        .map(|a| format!("  {}  {}", escape_control(&a.id), a.name))
        .collect::<Vec<_>>()
        .join("\n");
    if !(std::io::stdin().is_terminal() && std::io::stderr().is_terminal()) {
        return Err(UserError::usage(format!(
            "these credentials can reach several accounts; pick one:\n{listing}"
        ))
        .hint(format!(
            "set `account_id` in the wrangler config or {} in the environment",
            env::ACCOUNT_ID
        ))
        .into());
    }
    eprintln!("Several accounts are available:");
    for (i, a) in accounts.iter().enumerate() {
        eprintln!("  {}) {}  {}", i + 1, a.name, escape_control(&a.id));
    }
    eprint!("Account number [1-{}]: ", accounts.len());
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    let pick: usize = line.trim().parse().unwrap_or(0);
    accounts
        .get(pick.wrapping_sub(1))
        .map(|a| a.id.clone())
        .ok_or_else(|| UserError::usage(format!("no account number `{}`", line.trim())).into())
}
