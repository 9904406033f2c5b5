//! `id2meta audit`: the audit log, newest first.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use anyhow::Context;
use chrono::{SecondsFormat, Utc};

use super::dead_letters::Format;
use super::table;
use crate::audit::{read, Recorded};
use crate::config::Config;
use crate::store::Store;

/// Print the audit log: every operator action, newest first
///
/// One row per action, whatever started it: `cancel`, `replay`, `purge`,
/// `forget`, `lookup`, `export`, `login`, `login_refused`, `logout` and the
/// workers' `retention` sweeps. Each names its actor (the CLI's user@host, a
/// console session and its client address, or a worker replica), its origin
/// (cli, console, worker), what it acted on, and a detail of counts, ids and
/// masks (never a name or an ID number). The log cannot be changed or deleted,
/// by the worker's role or any other (the database refuses it).
/// Reads DATABASE_URL.
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct AuditArgs {
    /// Only actions this recent: 45s, 90m, 12h, 30d.
    #[arg(long, value_name = "DURATION", value_parser = crate::duration::parse)]
    pub since: Option<Duration>,
    /// Output format (default: table on a terminal, else json, one object a line).
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// At most this many rows, the newest.
    #[arg(long, value_name = "N", default_value_t = 1000)]
    pub limit: u32,
}

pub async fn run(args: AuditArgs) -> anyhow::Result<()> {
    let config = Config::from_env()?;
    let store = Store::open(&config.database(), 1).await?;
    store.migrate().await?;
    let since = args
        .since
        .map(|d| chrono::Duration::from_std(d).map(|d| Utc::now() - d))
        .transpose()
        .context("--since is too long")?;
    let rows = read::newest_first(store.db(), since, None, i64::from(args.limit)).await?;
    let format = args.format.unwrap_or(if std::io::stdout().is_terminal() {
        Format::Table
    } else {
        Format::Json
    });
    let mut out = std::io::stdout().lock();
    write(&mut out, &rows, format)?;
    out.flush().context("writing the audit log")
}

/// The rows as aligned columns or JSON Lines.
pub fn write(out: &mut impl Write, rows: &[Recorded], format: Format) -> anyhow::Result<()> {
    match format {
        Format::Json => {
            for row in rows {
                serde_json::to_writer(&mut *out, row).context("writing JSON")?;
                writeln!(out)?;
            }
        }
        Format::Table => {
            let lines: Vec<Vec<String>> = rows
                .iter()
                .map(|r| {
                    vec![
                        r.id.to_string(),
                        r.at.to_rfc3339_opts(SecondsFormat::Secs, true),
                        r.origin.clone(),
                        r.actor.clone(),
                        r.action.clone(),
                        r.target.clone().unwrap_or_else(|| "-".into()),
                        r.detail.to_string(),
                    ]
                })
                .collect();
            let header = ["id", "at", "origin", "actor", "action", "target", "detail"];
            out.write_all(table::render(&header, &lines).as_bytes())?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row() -> Recorded {
        Recorded {
            id: 7,
            at: chrono::DateTime::parse_from_rfc3339("2026-12-06T10:00:00Z")
                .unwrap()
                .with_timezone(&Utc),
            actor: "ops@host".into(),
            action: "cancel".into(),
            target: Some("b1".into()),
            detail: serde_json::json!({"first": true}),
            origin: "cli".into(),
        }
    }

    #[test]
    fn a_row_prints_as_a_table_line_or_one_json_object() {
        let mut table = Vec::new();
        write(&mut table, &[row()], Format::Table).unwrap();
        let table = String::from_utf8(table).unwrap();
        assert!(table.starts_with("id  at"), "{table}");
        assert!(
            table.contains(
                "7   2026-12-06T10:00:00Z  cli     ops@host  cancel  b1      {\"first\":true}"
            ),
            "{table}"
        );
        let mut json = Vec::new();
        write(&mut json, &[row()], Format::Json).unwrap();
        let value: serde_json::Value = serde_json::from_slice(&json).unwrap();
        assert_eq!(value["action"], "cancel");
        assert_eq!(value["detail"]["first"], true);
    }
}
