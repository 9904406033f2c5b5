//! How many calls per window each replica may make: the one rule that keeps the
//! fleet's sum within the budget, as a pure function the heartbeat applies under
//! a database lock (see [`super::membership`]).
//!
//! Every replica's row holds a **claim**: the most calls per window it may be
//! making. A claim is raised in the database *before* the replica uses it, and
//! lowered only *after* the replica applied the lower allowance, and then the old
//! value is still **held** for one more window (the calls made under it are still
//! in windows that end later). A replica may raise only into what the others'
//! claims leave free. So the claims of every row sum to at most the budget at any
//! moment, and a replica's claim is never below what it may have sent in the last
//! window: no window sees more than the budget (the proof is in `docs/qps-budget.md`).

use uuid::Uuid;

/// Another replica's row, as the heartbeat read it (only rows still counting).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Claim {
    pub replica: Uuid,
    /// Its claim; `None` for a row written by a worker from before whole-call
    /// claims, which paces at `budget / live` by itself (see [`legacy_claim`]).
    pub calls: Option<u32>,
    /// A higher claim still held after a lowering (0 once the window passed).
    pub held: u32,
    /// It has left: its held claim still counts, but it no longer takes a share.
    pub leaving: bool,
}

/// What this replica may do after one heartbeat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Allotment {
    /// Replicas taking a share, this one included.
    pub live: u32,
    /// This replica's fair share of the budget in whole calls per window.
    pub target: u32,
    /// What it may use from now on: its target, as far as the others leave room.
    pub allowed: u32,
}

/// The claim to count for a row of an older worker: its share `budget / live`
/// rounded up, plus the one call a GCRA bucket of burst 1 may add to a window.
pub fn legacy_claim(budget: u32, live: u32) -> u32 {
    (budget.div_ceil(live.max(1)) + 1).min(budget)
}

impl Claim {
    fn counted(&self, budget: u32, live: u32) -> u32 {
        self.calls
            .unwrap_or_else(|| legacy_claim(budget, live))
            .max(self.held)
    }
}

/// The allotment of replica `me` given the other rows. Targets split `budget`
/// into whole calls by the replicas' ids (the first `budget % live` get one
/// more), so every replica computes the same split from the same rows.
pub fn allot(budget: u32, me: Uuid, others: &[Claim]) -> Allotment {
    let sharing: Vec<&Claim> = others.iter().filter(|c| !c.leaving).collect();
    let live = sharing.len() as u32 + 1;
    let rank = sharing.iter().filter(|c| c.replica < me).count() as u32;
    let target = budget / live + u32::from(rank < budget % live);
    let taken: u32 = others
        .iter()
        .map(|c| c.counted(budget, live))
        .fold(0u32, u32::saturating_add);
    let allowed = target.min(budget.saturating_sub(taken));
    Allotment {
        live,
        target,
        allowed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    fn claim(n: u128, calls: u32) -> Claim {
        Claim {
            replica: id(n),
            calls: Some(calls),
            held: 0,
            leaving: false,
        }
    }

    #[test]
    fn a_lone_replica_may_use_the_whole_budget() {
        let a = allot(20, id(1), &[]);
        assert_eq!((a.live, a.target, a.allowed), (1, 20, 20));
    }

    #[test]
    fn targets_split_the_budget_into_whole_calls_that_add_up_to_it() {
        let ids = [id(3), id(1), id(2)];
        let mut sum = 0;
        for me in ids {
            let others: Vec<Claim> = ids
                .iter()
                .filter(|&&o| o != me)
                .map(|o| claim(o.as_u128(), 0))
                .collect();
            let a = allot(20, me, &others);
            assert_eq!(a.live, 3);
            sum += a.target;
        }
        assert_eq!(sum, 20, "7 + 7 + 6");
    }

    #[test]
    fn a_newcomer_gets_only_what_the_others_claims_leave_free() {
        assert_eq!(allot(20, id(2), &[claim(1, 20)]).allowed, 0);
        assert_eq!(allot(20, id(2), &[claim(1, 14)]).allowed, 6);
        let held = Claim {
            held: 20,
            ..claim(1, 10)
        };
        assert_eq!(allot(20, id(2), &[held]).allowed, 0, "a held claim counts");
        assert_eq!(allot(20, id(2), &[claim(1, 10)]).allowed, 10);
    }

    #[test]
    fn a_replica_above_its_target_is_lowered_to_it() {
        // Someone joined: the old replica's target halves whatever it holds.
        let a = allot(20, id(1), &[claim(2, 0)]);
        assert_eq!((a.target, a.allowed), (10, 10));
    }

    #[test]
    fn a_leaving_replica_takes_no_share_but_its_claim_still_counts() {
        let leaving = Claim {
            leaving: true,
            held: 10,
            ..claim(2, 0)
        };
        let a = allot(20, id(1), &[leaving]);
        assert_eq!((a.live, a.target, a.allowed), (1, 20, 10));
    }

    #[test]
    fn an_older_workers_row_is_counted_at_its_rounded_up_share_and_one_more() {
        let old = Claim {
            calls: None,
            ..claim(2, 0)
        };
        let a = allot(20, id(1), &[old]);
        assert_eq!((a.target, a.allowed), (10, 9));
        assert_eq!(legacy_claim(5, 1), 5);
    }

    #[test]
    fn more_replicas_than_calls_leave_some_with_nothing() {
        let others: Vec<Claim> = (2..=5).map(|n| claim(n, 0)).collect();
        let a = allot(3, id(9), &others[..3]);
        assert_eq!((a.live, a.target), (4, 0));
    }
}
