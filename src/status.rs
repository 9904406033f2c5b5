//! The seven final statuses of a job (the contract's table).

use std::fmt;
use std::str::FromStr;

use crate::upstream::Verdict;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Status {
    Match,
    Mismatch,
    NotFound,
    Invalid,
    Rejected,
    Failed,
    /// Its batch was cancelled before a (further) call (contract rev 2).
    Cancelled,
}

impl Status {
    pub const ALL: [Status; 7] = [
        Status::Match,
        Status::Mismatch,
        Status::NotFound,
        Status::Invalid,
        Status::Rejected,
        Status::Failed,
        Status::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Match => "match",
            Status::Mismatch => "mismatch",
            Status::NotFound => "not_found",
            Status::Invalid => "invalid",
            Status::Rejected => "rejected",
            Status::Failed => "failed",
            Status::Cancelled => "cancelled",
        }
    }
}

impl From<Verdict> for Status {
    fn from(v: Verdict) -> Self {
        match v {
            Verdict::Match => Status::Match,
            Verdict::Mismatch => Status::Mismatch,
            Verdict::NotFound => Status::NotFound,
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Status {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Status::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| format!("unknown status '{s}'"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_round_trips_through_its_name() {
        for s in Status::ALL {
            assert_eq!(s.as_str().parse::<Status>(), Ok(s));
        }
        assert!("matched".parse::<Status>().is_err());
    }
}
