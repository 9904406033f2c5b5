//! The mock's shared state and the decision of what to answer one call.
//!
//! Everything a call can change (the nonce window, the bucket, scripts, the rng,
//! the counts) sits behind one `std::sync::Mutex`, held only while deciding and
//! never across an `.await`: the mock's own work is microseconds, its latency is
//! slept outside the lock.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rand::{rngs::StdRng, SeedableRng};

use super::faults::{self, ScriptStep};
use super::issued::Issuer;
use super::keys::Keys;
use super::nonce::NonceWindow;
use super::request::{Admitted, Answer, Call, Params};
use super::settings::{Settings, SettingsError, SettingsPatch};
use super::stats::{Counters, Stats};
use super::throttle::Throttle;
use super::{clock, gate, population};
use crate::secret::Secret;

/// What to send back for one call, and after how long.
#[derive(Debug)]
pub struct Decision {
    pub answer: Answer,
    pub delay: Duration,
}

/// The state one mock shares between its handlers and its [`super::MockHandle`].
pub struct Shared {
    keys: Keys,
    state: Mutex<State>,
}

struct State {
    settings: Settings,
    bucket: Option<Throttle>,
    nonces: NonceWindow,
    /// Scripted answers by ID number; an entry is removed once consumed.
    scripts: HashMap<String, VecDeque<ScriptStep>>,
    rng: StdRng,
    counters: Counters,
    /// The STS / metadata / URI stand-ins' session tokens and counts (the issued
    /// keys themselves are in [`Keys`], the one lookup both schemes use).
    issuer: Issuer,
}

impl Shared {
    pub fn new(
        access_key_id: String,
        access_key_secret: Secret,
        settings: Settings,
        seed: u64,
    ) -> Self {
        let bucket = settings
            .qps_limit
            .map(|q| Throttle::new(q, settings.qps_window, Instant::now()));
        let keys = Keys::new(access_key_id, access_key_secret);
        keys.set_sts_only(settings.sts_only);
        Self {
            keys,
            state: Mutex::new(State {
                settings,
                bucket,
                nonces: NonceWindow::default(),
                scripts: HashMap::new(),
                rng: StdRng::seed_from_u64(seed),
                counters: Counters::default(),
                issuer: Issuer::default(),
            }),
        }
    }

    /// Decides the answer to one API call and counts it. A call is counted when it
    /// is decided, so one the client gives up on during the latency still counts,
    /// as Alibaba would still bill it.
    pub fn decide(&self, call: &Call) -> Decision {
        let (accepted, offset) = {
            let state = self.lock();
            let settings = &state.settings;
            (
                settings.accept_signatures.clone(),
                settings.clock_offset_secs,
            )
        };
        let auth = gate::authenticate(call, &self.keys, &accepted, clock::now(offset));
        let mut state = self.lock();
        let now = Instant::now();
        let (decision, throttled) = match &auth {
            Err(answer) => (state.delayed(answer.clone(), None), false),
            Ok(admitted) if !state.nonces.admit(admitted.nonce, now) => {
                (state.delayed(gate::nonce_used(), None), false)
            }
            Ok(admitted) => state.after_authentication(admitted, &call.params, now),
        };
        if let Some(region) = gate::business(&call.params)
            .ok()
            .and_then(|b| b.id_number.get(0..6))
        {
            state.counters.record_region(region, now);
        }
        state.counters.record(
            &decision.answer.code,
            decision.answer.is_billed(),
            throttled,
            gate::scheme_of(call),
            unix_second(),
            now,
        );
        decision
    }

    /// Runs `f` on the issuing side under the state lock (never held across an await).
    pub fn with_issuer<R>(&self, f: impl FnOnce(&mut Issuer, &Settings, &Keys) -> R) -> R {
        let mut state = self.lock();
        let state = &mut *state;
        f(&mut state.issuer, &state.settings, &self.keys)
    }

    pub fn stats(&self) -> Stats {
        let state = self.lock();
        let mut stats = state.counters.snapshot();
        let issued = state.issuer.counts;
        stats.sts_calls = issued.sts_calls;
        stats.credential_calls = issued.credential_calls;
        stats.oidc_tokens_seen = issued.oidc_tokens_seen;
        stats.expired_credential_calls = self.keys.expired_calls();
        stats
    }

    pub fn settings(&self) -> Settings {
        self.lock().settings.clone()
    }

    /// Zeroes the counts and forgets every script.
    pub fn reset(&self) {
        let mut state = self.lock();
        state.counters.reset();
        state.scripts.clear();
        state.issuer.reset_counts();
        self.keys.reset_counts();
    }

    /// Queues answers for the next calls carrying `id_number`.
    pub fn script(&self, id_number: &str, steps: impl IntoIterator<Item = ScriptStep>) {
        let mut state = self.lock();
        state
            .scripts
            .entry(id_number.to_string())
            .or_default()
            .extend(steps);
    }

    pub fn update(&self, patch: SettingsPatch) -> Result<Settings, SettingsError> {
        let mut state = self.lock();
        let next = state.settings.patched(patch)?;
        if (next.qps_limit, next.qps_window)
            != (state.settings.qps_limit, state.settings.qps_window)
        {
            state.bucket = next
                .qps_limit
                .map(|q| Throttle::new(q, next.qps_window, Instant::now()));
        }
        self.keys.set_sts_only(next.sts_only);
        state.settings = next.clone();
        Ok(next)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves counts, not invariants: keep serving.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl State {
    /// Operation, QPS limit, account refusal, business input, script, injection, verdict.
    /// The bool says whether the call was throttled.
    fn after_authentication(
        &mut self,
        admitted: &Admitted<'_>,
        params: &Params,
        now: Instant,
    ) -> (Decision, bool) {
        if let Err(answer) = gate::operation(admitted) {
            return (self.delayed(answer, None), false);
        }
        if let Some(bucket) = &mut self.bucket {
            if !bucket.try_take(now) {
                let answer = faults::error_answer("Throttling.User", 400);
                return (
                    Decision {
                        answer,
                        delay: Duration::ZERO,
                    },
                    true,
                );
            }
        }
        if let Some(code) = self.settings.account_denied.clone() {
            return (self.delayed(faults::error_answer(&code, 403), None), false);
        }
        let business = match gate::business(params) {
            Ok(business) => business,
            Err(answer) => return (self.delayed(answer, None), false),
        };
        let biz_code = population::verdict_for(business.name, business.id_number).biz_code();
        if let Some(step) = self.next_step(business.id_number) {
            return (self.delayed(step.answer(biz_code), step.latency_ms), false);
        }
        let answer = match faults::pick_injected(&self.settings.error_rates, &mut self.rng) {
            Some(code) => faults::error_answer(code, 500),
            None => Answer::verdict(biz_code),
        };
        (self.delayed(answer, None), false)
    }

    fn next_step(&mut self, id_number: &str) -> Option<ScriptStep> {
        let queue = self.scripts.get_mut(id_number)?;
        let step = queue.pop_front();
        if queue.is_empty() {
            self.scripts.remove(id_number);
        }
        step
    }

    /// `answer` after the configured latency with jitter, or after `latency_ms` if given.
    fn delayed(&mut self, answer: Answer, latency_ms: Option<u64>) -> Decision {
        let delay = match latency_ms {
            Some(ms) => Duration::from_millis(ms),
            None => faults::jittered(
                self.settings.latency(),
                self.settings.jitter(),
                &mut self.rng,
            ),
        };
        Decision { answer, delay }
    }
}

fn unix_second() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}
