//! A deterministic synthetic population (STUB: to be written).

use crate::upstream::Verdict;

/// The i-th synthetic person: a valid ID number, the name the mock holds for it, and
/// the verdict the mock gives for (that name, that number).
pub fn person(_i: u64) -> (String, String, Verdict) {
    todo!()
}
