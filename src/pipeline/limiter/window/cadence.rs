//! The cadence inside the window's count: `governor`'s GCRA, one send every
//! `1.002 · W / allowance`, with a tolerance for sends woken late.
//!
//! governor fixes its quota per `RateLimiter`, and the budget changes the allowance
//! at run time, so the limiter is rebuilt whenever the allowance changes. Its state
//! (the GCRA's theoretical arrival time, one number) lives in [`Tat`], a store of
//! ours that every rebuilt limiter shares: the rhythm carries over a change instead
//! of restarting with a free send. The count of sends is not governor's; the window
//! keeps it (it is what makes whole-call allowances add up across replicas).
//!
//! Why governor's clock is the window's tick ([`TickClock`]), not one of its own
//! clocks: the window is free of clocks (its caller passes the tick, read from
//! tokio's clock, which the limiter's tests pause), so governor must see the same
//! time as the count. For the same reason the waiting is not governor's
//! `until_ready` (a timer of its own, blind to allowance changes and to interactive
//! arrivals): governor answers when, the limiter sleeps on tokio until then.
//!
//! Why a send weighs two cells of half a spacing: governor's tolerance (how late a
//! send may be and still keep the rhythm) is `burst − 1` cells, so with one cell
//! per spacing it comes in whole spacings: burst 1 has none, and every timer's
//! late wake-up is budget lost for good (a millisecond on a 20 ms spacing is 5 %);
//! burst 2 lets a send a whole spacing late be followed at once by the next. Half
//! spacings give the tolerance the window was measured with: half a spacing, or
//! 10 ms if that is longer (at hundreds of calls per second a timer's millisecond is
//! several spacings), so a late send keeps the rhythm, and a long idle restarts it
//! half a spacing on from the send.
//!
//! Why 0.2 % slower than `W / allowance`: under a backlog the count binds too, and a
//! send woken late pushes the one a window later by as much; with an exact cadence
//! that lateness never drained (gaps of 80-90 ms on a 59 ms spacing, interactive
//! p99 206 ms in `bench --only 7`). The slack drains 2 ms of lateness per window for
//! 0.2 % of the budget.

use std::num::{NonZeroU32, NonZeroU64};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use governor::clock::Clock;
use governor::middleware::NoOpMiddleware;
use governor::nanos::Nanos;
use governor::state::{NotKeyed, StateStore};
use governor::{Quota, RateLimiter};

/// The cadence is this much slower than `window / allowance` (in thousandths).
const SLACK_PER_MILLE: u128 = 2;

/// A send later than its slot by up to this (or half a spacing, if longer) keeps
/// the rhythm: a timer wakes up to a millisecond late, which at hundreds of calls
/// per second is several spacings.
const CATCH_UP: Duration = Duration::from_millis(10);

/// One send, in cells of half a spacing.
const SEND: NonZeroU32 = NonZeroU32::MIN.saturating_add(1);

/// governor's limiter for one allowance.
#[derive(Debug)]
struct Pacer {
    allowance: u32,
    /// How late a send may be and keep the rhythm, in nanoseconds.
    tolerance: u64,
    limiter: Gcra,
}

type Gcra = RateLimiter<NotKeyed, Tat, TickClock, NoOpMiddleware<Nanos>>;

/// governor's clock: the window's current tick, in nanoseconds since its epoch.
#[derive(Debug, Default)]
struct TickClock(AtomicU64);

impl Clock for TickClock {
    type Instant = Nanos;

    fn now(&self) -> Nanos {
        self.0.load(Ordering::Relaxed).into()
    }
}

/// governor's state, kept by us: the theoretical arrival time in nanoseconds since
/// the window's epoch (0: none yet, as governor's own store has it).
#[derive(Debug, Clone, Default)]
struct Tat(Arc<AtomicU64>);

impl Tat {
    fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }

    fn set(&self, tat: u64) {
        self.0.store(tat, Ordering::Relaxed);
    }
}

impl StateStore for Tat {
    type Key = NotKeyed;

    fn measure_and_replace<T, F, E>(&self, _key: &NotKeyed, f: F) -> Result<T, E>
    where
        F: Fn(Option<Nanos>) -> Result<(T, Nanos), E>,
    {
        // Only ever used under the window's lock: no race to retry.
        let (decision, tat) = f(NonZeroU64::new(self.get()).map(|tat| tat.get().into()))?;
        self.set(tat.as_u64());
        Ok(decision)
    }
}

/// governor's pacing, rebuilt for each allowance, on the window's clock.
#[derive(Debug)]
pub struct Cadence {
    /// The counted span (the window in whole ticks) and one tick, in nanoseconds.
    span_ns: u128,
    tick_ns: u64,
    tat: Tat,
    /// The limiter for the allowance last asked about.
    pacer: Option<Pacer>,
}

impl Cadence {
    /// A cadence sharing `ticks` ticks of `tick_ns` evenly among the allowance.
    pub fn new(ticks: u64, tick_ns: u64) -> Self {
        Self {
            span_ns: u128::from(ticks) * u128::from(tick_ns),
            tick_ns,
            tat: Tat::default(),
            pacer: None,
        }
    }

    /// The tick from which the next send may go at tick `now` under `allowance`
    /// (`now` or earlier: at once), without taking it.
    pub fn due(&mut self, now: u64, allowance: u32) -> u64 {
        self.ask(now, allowance, false)
    }

    /// Takes the send at tick `now` (after [`Cadence::due`] said it may go): the
    /// next slot moves one spacing on. A send the cadence did not allow (only a
    /// caller ignoring [`Cadence::due`]) leaves it as it was.
    pub fn take(&mut self, now: u64, allowance: u32) {
        self.ask(now, allowance, true);
    }

    /// governor's decision at tick `now`: `now` if the send may go (taken only if
    /// `take`: governor has no dry run, so its state is put back), else the tick it
    /// may go at.
    fn ask(&mut self, now: u64, allowance: u32, take: bool) -> u64 {
        let tick_ns = self.tick_ns;
        let tat = self.tat.clone();
        let pacer = self.pacer(allowance);
        let before = tat.get();
        pacer
            .clock()
            .0
            .store(now.saturating_mul(tick_ns), Ordering::Relaxed);
        match pacer.check_n(SEND) {
            Ok(Ok(())) => {
                if !take {
                    tat.set(before);
                }
                now
            }
            Ok(Err(not_until)) => not_until.earliest_possible().as_u64().div_ceil(tick_ns),
            // The burst holds at least two cells (see `quota`): unreachable; the
            // window's count is the bound either way.
            Err(_) => now,
        }
    }

    /// The limiter for `allowance`, rebuilt if it was built for another.
    fn pacer(&mut self, allowance: u32) -> &Gcra {
        let built = match self.pacer.take() {
            Some(built) if built.allowance == allowance => built,
            before => {
                let (quota, tolerance) = self.quota(allowance);
                // governor lets a send go from `tat − tolerance` on. That slot is
                // kept across the change, so the new quota takes over the rhythm
                // where it stands: no free send, no restart. Before any send it is
                // the epoch: nothing was sent before it, so a first send within
                // the tolerance of it takes no head start on the rhythm (a head
                // start comes back as a hole wherever the count binds).
                let slot = self
                    .tat
                    .get()
                    .saturating_sub(before.map_or(0, |before| before.tolerance));
                self.tat.set(slot.saturating_add(tolerance));
                // Built while its clock reads 0, so its start is the window's epoch
                // and the shared state means the same to every rebuilt limiter.
                let limiter = RateLimiter::new(quota, self.tat.clone(), TickClock::default());
                Pacer {
                    allowance,
                    tolerance,
                    limiter,
                }
            }
        };
        &self.pacer.insert(built).limiter
    }

    /// Cells of half a spacing, a send weighing two, and a burst of those two plus
    /// the tolerance: half a spacing, or [`CATCH_UP`] rounded up to half spacings.
    /// Returns the quota and the tolerance in nanoseconds.
    fn quota(&self, allowance: u32) -> (Quota, u64) {
        let spacing =
            self.span_ns * (1000 + SLACK_PER_MILLE) / (1000 * u128::from(allowance.max(1)));
        let half = u64::try_from(spacing / 2).unwrap_or(u64::MAX).max(1);
        let late = u64::try_from(CATCH_UP.as_nanos()).unwrap_or(u64::MAX);
        let halves = u32::try_from(late.div_ceil(half).max(1)).unwrap_or(u32::MAX - SEND.get());
        let burst = NonZeroU32::new(halves + SEND.get()).unwrap_or(SEND);
        // `None` only for a zero period, and a half spacing is at least 1 ns.
        let quota = Quota::with_period(Duration::from_nanos(half))
            .unwrap_or(Quota::per_second(NonZeroU32::MAX))
            .allow_burst(burst);
        (quota, half.saturating_mul(u64::from(halves)))
    }
}
