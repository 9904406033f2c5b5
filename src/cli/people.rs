//! `id2meta forget` and `id2meta lookup`: a person's deletion request and the
//! question "was this person verified?", both from standard input only (an
//! argument would rest in the shell's history and in `ps`).

use std::collections::BTreeSet;
use std::io::{IsTerminal, Read, Write};

use anyhow::{bail, Context};
use chrono::SecondsFormat;

use super::dead_letters::Format;
use super::table;
use crate::audit::Actor;
use crate::config::Config;
use crate::lifecycle::lookup::Found;
use crate::lifecycle::{forget, lookup, people};
use crate::queue::dead_letters::DeadLetterQueue;
use crate::store::Store;

/// Forget people: scrub every row, claim and dead letter of each identity
///
/// Reads `name,id_number` from standard input, one person a line: CSV (a
/// `name,id_number` header is skipped) or JSON Lines of objects with `name` and
/// `id_number`. Never from arguments. Each person is found by the keyed digest
/// the worker stores: their rows are scrubbed (masks, digest and metadata to
/// NULL, `scrubbed_at` set; status and times stay), their settled claims and
/// sealed dead letters deleted. No verdict of theirs is reused afterwards: a new
/// job of the person is called again. A job still in a queue or in flight is
/// processed normally. Prints counts only and writes one audit row.
/// Reads DATABASE_URL, AMQP_URL, ID2META_JOBS_QUEUE and ID2META_PII_KEY (the
/// worker's key: without the same key no digest matches).
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct ForgetArgs {}

/// Look a person up: the masked rows of one identity
///
/// Reads one `name,id_number` from standard input (CSV or a JSON object),
/// never from arguments, and prints the rows of that identity: job_id,
/// batch_id, queue, status, completed_at, reused_from_job_id. The identity is
/// never logged or stored; the audit log records the lookup with its masks and
/// the number of rows found. Scrubbed rows are not found.
/// Reads DATABASE_URL and ID2META_PII_KEY.
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct LookupArgs {
    /// Output format (default: table on a terminal, else json, one object a line).
    #[arg(long, value_enum)]
    pub format: Option<Format>,
}

/// Standard input, read whole; refused from a terminal (nothing to read there
/// but what would be typed on screen).
fn read_people(command: &str) -> anyhow::Result<Vec<people::Person>> {
    let mut stdin = std::io::stdin();
    if stdin.is_terminal() {
        bail!("{command} reads name,id_number from standard input: pipe a file into it (`{command} < people.csv`)");
    }
    let mut text = String::new();
    stdin
        .read_to_string(&mut text)
        .context("reading standard input (UTF-8 text)")?;
    let people = people::parse(&text)?;
    if people.is_empty() {
        bail!("no name,id_number on standard input");
    }
    Ok(people)
}

pub async fn run_forget(_args: ForgetArgs) -> anyhow::Result<()> {
    let config = Config::from_env()?;
    let key = config.require_pii_key()?.clone();
    let digests: BTreeSet<String> = read_people("id2meta forget")?
        .iter()
        .map(|person| person.pseudonyms(&key).digest)
        .collect();
    let store = Store::open(&config.database(), 1).await?;
    store.migrate().await?;
    let letters = DeadLetterQueue::from_config(&config).await?;
    let done = forget::forget(&store, &letters, &digests, &Actor::cli()).await?;
    println!(
        "forgot {} identities: {} rows scrubbed, {} claims and {} dead letters deleted",
        done.identities, done.rows, done.claims, done.dead_letters
    );
    Ok(())
}

pub async fn run_lookup(args: LookupArgs) -> anyhow::Result<()> {
    let config = Config::from_env()?;
    let key = config.require_pii_key()?.clone();
    let people = read_people("id2meta lookup")?;
    let [person] = people.as_slice() else {
        bail!(
            "id2meta lookup reads exactly one name,id_number; got {}",
            people.len()
        );
    };
    let who = person.pseudonyms(&key);
    let store = Store::open(&config.database(), 1).await?;
    store.migrate().await?;
    let found = lookup::lookup(&store, &who, &Actor::cli()).await?;
    let format = args.format.unwrap_or(if std::io::stdout().is_terminal() {
        Format::Table
    } else {
        Format::Json
    });
    let mut out = std::io::stdout().lock();
    write_found(&mut out, &found, format)?;
    if found.is_empty() && format == Format::Table {
        writeln!(
            out,
            "no rows for {} {}",
            who.name_masked, who.id_number_masked
        )?;
    }
    out.flush().context("writing the rows")
}

/// The rows found, as aligned columns or JSON Lines.
pub fn write_found(out: &mut impl Write, found: &[Found], format: Format) -> anyhow::Result<()> {
    match format {
        Format::Json => {
            for row in found {
                serde_json::to_writer(&mut *out, row).context("writing JSON")?;
                writeln!(out)?;
            }
        }
        Format::Table if found.is_empty() => {}
        Format::Table => {
            let dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
            let rows: Vec<Vec<String>> = found
                .iter()
                .map(|r| {
                    vec![
                        r.job_id.clone(),
                        dash(&r.batch_id),
                        dash(&r.queue),
                        r.status.clone(),
                        r.completed_at.to_rfc3339_opts(SecondsFormat::Secs, true),
                        dash(&r.reused_from_job_id),
                    ]
                })
                .collect();
            let header = [
                "job_id",
                "batch_id",
                "queue",
                "status",
                "completed_at",
                "reused_from_job_id",
            ];
            out.write_all(table::render(&header, &rows).as_bytes())?;
        }
    }
    Ok(())
}
