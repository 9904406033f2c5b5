//! `id2meta dead-letters list|show|replay|purge`: the dead-letter queue from a
//! terminal. Masked output only; the work is the queue room's
//! ([`crate::queue::dead_letters::DeadLetterQueue`]), shared with the console.

use std::io::{IsTerminal, Write};

use anyhow::{bail, Context};
use chrono::SecondsFormat;

use super::table;
use crate::audit::{self, Actor};
use crate::config::Config;
use crate::queue::dead_letters::{DeadLetterQueue, Report, Selection, Summary};
use crate::store::Store;

/// Look at, replay or purge dead letters (masked output only)
///
/// Dead letters are messages the worker could not process (not a job, a
/// job_id reused for another identity, the broker's delivery limit). Each
/// rests in `<jobs>.dead` sealed, with its reason, job_id, masks and identity
/// digest in headers, and expires after ID2META_DEAD_LETTER_TTL.
///
/// `list` and `show` print masks and metadata; `replay` restores the selected
/// letters, unsealed, to the queue they came from (needs ID2META_PII_KEY) and
/// removes each only after the broker confirmed it; `purge` deletes them.
/// Select by id (as `list` prints it), by --reason, or --all. Each replay and
/// purge is recorded in the audit log (`id2meta audit`) with its counts.
/// Reads AMQP_URL, ID2META_JOBS_QUEUE, ID2META_PII_KEY (and DATABASE_URL for
/// the audit log).
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct DeadLettersArgs {
    #[command(subcommand)]
    pub action: Action,
}

#[derive(Debug, clap::Subcommand)]
pub enum Action {
    /// The dead letters, oldest first.
    List {
        /// At most this many (up to 65535).
        #[arg(long, value_name = "N", default_value_t = 100)]
        limit: usize,
        /// Output format (default: table on a terminal, else json).
        #[arg(long, value_enum)]
        format: Option<Format>,
    },
    /// One dead letter, by its id.
    Show {
        id: String,
        #[arg(long, value_enum)]
        format: Option<Format>,
    },
    /// Restore the selected dead letters to their source queue.
    Replay(SelectionArgs),
    /// Delete the selected dead letters.
    Purge(SelectionArgs),
}

/// Which letters: ids, or --reason, or --all.
#[derive(Debug, clap::Args)]
pub struct SelectionArgs {
    /// Dead-letter ids (the `id` column of `list`).
    #[arg(value_name = "ID", required_unless_present_any = ["reason", "all"], conflicts_with_all = ["reason", "all"])]
    pub ids: Vec<String>,
    /// Every letter with this reason (e.g. delivery_limit, not_json).
    #[arg(long, conflicts_with = "all")]
    pub reason: Option<String>,
    /// Every letter.
    #[arg(long)]
    pub all: bool,
}

impl SelectionArgs {
    fn selection(&self) -> Selection {
        match (&self.reason, self.all) {
            (Some(reason), _) => Selection::Reason(reason.clone()),
            (None, true) => Selection::All,
            (None, false) => Selection::Ids(self.ids.clone()),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Json,
}

pub async fn run(args: DeadLettersArgs) -> anyhow::Result<()> {
    let config = Config::from_env()?;
    let queue = DeadLetterQueue::from_config(&config).await?;
    let mut out = std::io::stdout().lock();
    match args.action {
        Action::List { limit, format } => {
            let letters = queue.list(limit).await?;
            write_summaries(&mut out, &letters, chosen(format))?;
        }
        Action::Show { id, format } => match queue.show(&id).await? {
            Some(letter) => write_summaries(&mut out, &[letter], chosen(format))?,
            None => bail!("no dead letter with id {id:?} in the queue"),
        },
        Action::Replay(selection) => {
            let store = audit_store(&config).await?;
            let selection = selection.selection();
            let report = queue.replay(&selection).await?;
            audited(&store, audit::Action::Replay, &selection, &report).await?;
            finish(&mut out, "replayed", &report)?;
        }
        Action::Purge(selection) => {
            let store = audit_store(&config).await?;
            let selection = selection.selection();
            let report = queue.purge(&selection).await?;
            audited(&store, audit::Action::Purge, &selection, &report).await?;
            finish(&mut out, "purged", &report)?;
        }
    }
    out.flush().context("writing dead letters")
}

/// The database the audit log is in, reached before anything is done: an action
/// that could not be recorded is not taken.
async fn audit_store(config: &Config) -> anyhow::Result<Store> {
    let store = Store::open(&config.database(), 1).await?;
    store.migrate().await?;
    Ok(store)
}

/// Records what a replay or purge did (the broker has no transaction with the
/// log: the row says what was done, failures included).
async fn audited(
    store: &Store,
    action: audit::Action,
    selection: &Selection,
    report: &Report,
) -> anyhow::Result<()> {
    let target = selection.describe();
    let detail = report.audit_detail();
    audit::record(store.db(), &Actor::cli(), action, Some(&target), &detail).await?;
    Ok(())
}

fn chosen(format: Option<Format>) -> Format {
    format.unwrap_or(if std::io::stdout().is_terminal() {
        Format::Table
    } else {
        Format::Json
    })
}

/// One line per letter: aligned columns, or JSON Lines.
pub fn write_summaries(
    out: &mut impl Write,
    letters: &[Summary],
    format: Format,
) -> anyhow::Result<()> {
    match format {
        Format::Json => {
            for letter in letters {
                serde_json::to_writer(&mut *out, letter).context("writing JSON")?;
                writeln!(out)?;
            }
        }
        Format::Table => {
            let dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
            let rows: Vec<Vec<String>> = letters
                .iter()
                .map(|l| {
                    vec![
                        dash(&l.id),
                        dash(&l.reason),
                        dash(&l.job_id),
                        dash(&l.name_masked),
                        dash(&l.id_number_masked),
                        dash(&l.source_queue),
                        l.dead_lettered_at
                            .map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true))
                            .unwrap_or_else(|| "-".into()),
                        if l.sealed { "yes" } else { "no" }.into(),
                    ]
                })
                .collect();
            let header = [
                "id",
                "reason",
                "job_id",
                "name_masked",
                "id_number_masked",
                "source_queue",
                "dead_lettered_at",
                "sealed",
            ];
            out.write_all(table::render(&header, &rows).as_bytes())?;
        }
    }
    Ok(())
}

/// Prints what an action did; fails if any selected letter was left behind.
fn finish(out: &mut impl Write, verb: &str, report: &Report) -> anyhow::Result<()> {
    writeln!(
        out,
        "{verb} {} of {} selected",
        report.done, report.selected
    )?;
    for failure in &report.failed {
        let id = failure.id.as_deref().unwrap_or("-");
        writeln!(out, "left {id}: {}", failure.error)?;
    }
    if !report.failed.is_empty() {
        bail!(
            "{} selected dead letters were left in the queue",
            report.failed.len()
        );
    }
    Ok(())
}
