//! The job's `priority` field (contract rev 2): `interactive` overtakes a
//! `bulk` backlog. Only parsed and validated here; the lanes that honour it
//! are the consumer's two queues and the limiter's order (docs/priorities.md).
//!
//! An unknown value, or one of another JSON type, makes the job `invalid`
//! rather than silently `bulk`: a producer who misspells `interactive` must
//! learn it, not wait behind the backlog it meant to overtake.

use serde_json::Value;

/// [`super::Job::field_problem`] for a `priority` that is neither `interactive` nor `bulk`.
pub const PRIORITY_INVALID: &str = "priority_invalid";

/// How urgently a job wants its share of the QPS budget.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Priority {
    /// Waits for no more than the next free share of the budget.
    Interactive,
    /// The default: served in arrival order behind interactive jobs.
    #[default]
    Bulk,
}

impl Priority {
    /// The contract's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Interactive => "interactive",
            Self::Bulk => "bulk",
        }
    }

    /// The contract's spelling, exactly (no case folding, no trimming: one
    /// spelling keeps every producer and consumer in agreement).
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "interactive" => Some(Self::Interactive),
            "bulk" => Some(Self::Bulk),
            _ => None,
        }
    }

    /// The body's field: absent or `null` is `bulk`; anything unknown is a problem.
    pub(super) fn from_field(value: Option<Value>) -> (Self, Option<&'static str>) {
        match value {
            None | Some(Value::Null) => (Self::Bulk, None),
            Some(Value::String(name)) => match Self::from_name(&name) {
                Some(priority) => (priority, None),
                None => (Self::Bulk, Some(PRIORITY_INVALID)),
            },
            Some(_) => (Self::Bulk, Some(PRIORITY_INVALID)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn each_priority_value_meets_its_fate() {
        let table = [
            (None, Priority::Bulk, None),
            (Some(Value::Null), Priority::Bulk, None),
            (Some(json!("bulk")), Priority::Bulk, None),
            (Some(json!("interactive")), Priority::Interactive, None),
            (
                Some(json!("Interactive")),
                Priority::Bulk,
                Some(PRIORITY_INVALID),
            ),
            (Some(json!(" bulk")), Priority::Bulk, Some(PRIORITY_INVALID)),
            (
                Some(json!("urgent")),
                Priority::Bulk,
                Some(PRIORITY_INVALID),
            ),
            (Some(json!("")), Priority::Bulk, Some(PRIORITY_INVALID)),
            (Some(json!(1)), Priority::Bulk, Some(PRIORITY_INVALID)),
            (Some(json!(true)), Priority::Bulk, Some(PRIORITY_INVALID)),
            (
                Some(json!(["interactive"])),
                Priority::Bulk,
                Some(PRIORITY_INVALID),
            ),
            (
                Some(json!({"p": "bulk"})),
                Priority::Bulk,
                Some(PRIORITY_INVALID),
            ),
        ];
        for (value, priority, problem) in table {
            let shown = format!("{value:?}");
            assert_eq!(Priority::from_field(value), (priority, problem), "{shown}");
        }
    }

    #[test]
    fn the_spelling_round_trips() {
        for priority in [Priority::Interactive, Priority::Bulk] {
            assert_eq!(Priority::from_name(priority.as_str()), Some(priority));
        }
    }
}
