//! `ID2META_QUEUE_WEIGHTS` and `ID2META_QUEUE_CAPS`: the bulk job queues a
//! worker consumes, their weights in the fleet's split of the budget, and the
//! calls per second a queue may never exceed (see `docs/queues.md`).
//!
//! Both are `name=value` lists separated by commas. Read strictly: a typo in a
//! queue name would otherwise leave a pipeline's jobs unconsumed, or its cap
//! unapplied, without a word.

use anyhow::{bail, Context};

use super::limits::queue_name;

/// Heavier than this says nothing a ratio of smaller weights cannot say, and
/// keeps the scheduler's strides exact (see `pipeline::scheduler`).
pub const MAX_WEIGHT: u32 = 1000;

/// One bulk queue and its weight.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueWeight {
    pub queue: String,
    pub weight: u32,
}

/// One capped queue and its cap, in calls per second across the fleet.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueCap {
    pub queue: String,
    pub calls_per_second: f64,
}

/// `name=value` pairs of a list variable, each value parsed by `value`.
fn pairs<T>(
    variable: &str,
    raw: &str,
    value: impl Fn(&str) -> Option<T>,
    what: &str,
) -> anyhow::Result<Vec<(String, T)>> {
    let mut out: Vec<(String, T)> = Vec::new();
    for item in raw.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let (name, number) = item
            .rsplit_once('=')
            .with_context(|| format!("{variable} must be name=value pairs, got '{item}'"))?;
        let name = name.trim();
        queue_name(variable, name)?;
        if out.iter().any(|(seen, _)| seen == name) {
            bail!("{variable} names {name} twice");
        }
        let parsed = value(number.trim())
            .with_context(|| format!("{variable}: {name} must be {what}, got '{number}'"))?;
        out.push((name.to_string(), parsed));
    }
    Ok(out)
}

/// `ID2META_QUEUE_WEIGHTS`; empty when unset (the jobs queue alone, weight 1).
/// Set, it must name `jobs_queue`: producers, `enqueue` and replays put jobs
/// there, and a queue nobody consumes would keep them forever. The interactive
/// lane is not a bulk queue and cannot be weighted.
pub(super) fn weights(raw: Option<&str>, jobs_queue: &str) -> anyhow::Result<Vec<QueueWeight>> {
    const NAME: &str = "ID2META_QUEUE_WEIGHTS";
    let Some(raw) = raw else {
        return Ok(Vec::new());
    };
    let what = format!("a whole number from 1 to {MAX_WEIGHT}");
    let parsed = pairs(
        NAME,
        raw,
        |n| {
            n.parse::<u32>()
                .ok()
                .filter(|w| (1..=MAX_WEIGHT).contains(w))
        },
        &what,
    )?;
    if !parsed.iter().any(|(name, _)| name == jobs_queue) {
        bail!("{NAME} must name the jobs queue {jobs_queue} (ID2META_JOBS_QUEUE): jobs published there would never be consumed");
    }
    let lane = format!("{jobs_queue}.interactive");
    for (name, _) in &parsed {
        if *name == lane || name.starts_with(&format!("{jobs_queue}.dead")) {
            bail!("{NAME}: {name} is not a bulk job queue (the interactive lane and the dead letters are the worker's own)");
        }
    }
    Ok(parsed
        .into_iter()
        .map(|(queue, weight)| QueueWeight { queue, weight })
        .collect())
}

/// `ID2META_QUEUE_CAPS`; every queue it names must be one the worker consumes.
pub(super) fn caps(raw: Option<&str>, bulk: &[QueueWeight]) -> anyhow::Result<Vec<QueueCap>> {
    const NAME: &str = "ID2META_QUEUE_CAPS";
    let Some(raw) = raw else {
        return Ok(Vec::new());
    };
    let parsed = pairs(
        NAME,
        raw,
        |n| n.parse::<f64>().ok().filter(|c| c.is_finite() && *c > 0.0),
        "a positive number of calls per second",
    )?;
    for (name, _) in &parsed {
        if !bulk.iter().any(|w| w.queue == *name) {
            bail!("{NAME} caps {name}, which is not a bulk queue of this worker (ID2META_QUEUE_WEIGHTS, or ID2META_JOBS_QUEUE when that is unset)");
        }
    }
    Ok(parsed
        .into_iter()
        .map(|(queue, calls_per_second)| QueueCap {
            queue,
            calls_per_second,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jobs() -> Vec<QueueWeight> {
        vec![QueueWeight {
            queue: "id2meta.jobs".into(),
            weight: 1,
        }]
    }

    #[test]
    fn weights_are_read_in_order_with_spaces_allowed() {
        let w = weights(
            Some("id2meta.jobs=1, id2meta.jobs.web = 3,id2meta.jobs.backfill=1"),
            "id2meta.jobs",
        )
        .unwrap();
        let read: Vec<(&str, u32)> = w.iter().map(|w| (w.queue.as_str(), w.weight)).collect();
        assert_eq!(
            read,
            [
                ("id2meta.jobs", 1),
                ("id2meta.jobs.web", 3),
                ("id2meta.jobs.backfill", 1)
            ]
        );
        assert!(weights(None, "id2meta.jobs").unwrap().is_empty());
    }

    #[test]
    fn weights_refuse_what_would_strand_or_mislead() {
        let refused = |raw: &str| weights(Some(raw), "id2meta.jobs").unwrap_err().to_string();
        assert!(refused("id2meta.jobs.web=3").contains("must name the jobs queue"));
        assert!(refused("id2meta.jobs=0").contains("a whole number from 1 to 1000"));
        assert!(refused("id2meta.jobs=1.5").contains("got '1.5'"));
        assert!(refused("id2meta.jobs=1,id2meta.jobs=2").contains("twice"));
        assert!(refused("id2meta.jobs").contains("name=value"));
        assert!(refused("id2meta.jobs=1,id2meta.jobs.interactive=2").contains("not a bulk"));
        assert!(refused("id2meta.jobs=1,id2meta.jobs.dead=2").contains("not a bulk"));
        assert!(refused("id2meta.jobs=1,=2").contains("1 to 200 bytes"));
    }

    #[test]
    fn caps_name_consumed_queues_and_allow_fractions() {
        let c = caps(Some("id2meta.jobs=0.5"), &jobs()).unwrap();
        assert_eq!(c[0].calls_per_second, 0.5);
        let refused = |raw: &str| caps(Some(raw), &jobs()).unwrap_err().to_string();
        assert!(refused("id2meta.other=5").contains("not a bulk queue of this worker"));
        assert!(refused("id2meta.jobs=0").contains("positive"));
        assert!(refused("id2meta.jobs=inf").contains("positive"));
    }
}
