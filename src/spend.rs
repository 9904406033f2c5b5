//! Money: what the billed calls cost (`ID2META_PRICE_PER_CALL`, `ID2META_CURRENCY`).
//!
//! Alibaba bills a successful `Id2MetaVerifyIntl` query whose BizCode is `1` or
//! `2`; `3` (no record) is free, and a reused verdict made no call. A billed call
//! is therefore a row with status `match` or `mismatch` that was not reused
//! ([`BILLED_ROWS`]), and a live one `id2meta_billed_calls_total`.
//!
//! Prices are kept in millionths of the currency unit, not in floating point, so
//! 257 calls at 0.03 are exactly 7.71, however many calls are summed.

use std::fmt;

/// The SQL condition that selects billed rows of `verification_results`, the one
/// definition every count of billed calls uses.
pub const BILLED_ROWS: &str = "(status IN ('match', 'mismatch') AND reused_from_job_id IS NULL)";

/// Millionths in one unit of the currency.
const MICROS: u64 = 1_000_000;

/// The price of one billed call, in millionths of the currency unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Price(u64);

/// Why a price is not one; the message echoes configuration, never personal data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{0}' is not a price: write a decimal number like 0.03, with at most 6 decimals")]
pub struct PriceError(String);

impl std::str::FromStr for Price {
    type Err = PriceError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let trimmed = text.trim();
        let error = || PriceError(trimmed.to_string());
        let (whole, fraction) = trimmed.split_once('.').unwrap_or((trimmed, ""));
        let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if (whole.is_empty() && fraction.is_empty())
            || !digits(whole)
            || !digits(fraction)
            || fraction.len() > 6
        {
            return Err(error());
        }
        let whole: u64 = if whole.is_empty() {
            0
        } else {
            whole.parse().map_err(|_| error())?
        };
        let fraction: u64 = format!("{fraction:0<6}").parse().map_err(|_| error())?;
        whole
            .checked_mul(MICROS)
            .and_then(|w| w.checked_add(fraction))
            .map(Price)
            .ok_or_else(error)
    }
}

impl Price {
    /// Alibaba's international list price for ID_2META: USD 0.03.
    pub const DEFAULT: Price = Price(30_000);

    /// `calls` billed calls at this price.
    pub fn times(self, calls: i64) -> Amount {
        let calls = u128::try_from(calls.max(0)).unwrap_or(0);
        Amount(u128::from(self.0) * calls)
    }
}

impl fmt::Display for Price {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        Amount(u128::from(self.0)).fmt(f)
    }
}

/// A sum of money in millionths of the currency unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Amount(u128);

impl Amount {
    /// As a number, for JSON (rounded to the millionth it is kept in).
    pub fn as_f64(self) -> f64 {
        self.0 as f64 / MICROS as f64
    }
}

impl fmt::Display for Amount {
    /// At least two decimals, more only where the price has them: `7.71`, `0.0315`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let whole = self.0 / u128::from(MICROS);
        let fraction = format!("{:06}", self.0 % u128::from(MICROS));
        let kept = fraction.trim_end_matches('0');
        let kept = if kept.len() < 2 { &fraction[..2] } else { kept };
        write!(f, "{whole}.{kept}")
    }
}

/// A price and its currency: what turns billed calls into spend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pricing {
    pub per_call: Price,
    /// `ID2META_CURRENCY`, e.g. `USD`.
    pub currency: String,
}

impl Default for Pricing {
    fn default() -> Self {
        Self {
            per_call: Price::DEFAULT,
            currency: "USD".into(),
        }
    }
}

impl Pricing {
    /// `USD 7.71` for `calls` billed calls.
    pub fn spend(&self, calls: i64) -> String {
        format!("{} {}", self.currency, self.per_call.times(calls))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices_are_read_exactly_and_sums_do_not_drift() {
        let price: Price = "0.03".parse().unwrap();
        assert_eq!(price, Price::DEFAULT);
        assert_eq!(price.times(257).to_string(), "7.71");
        assert_eq!(price.times(0).to_string(), "0.00");
        assert_eq!(price.times(1_000_000).to_string(), "30000.00");
        assert_eq!(
            "0.0315".parse::<Price>().unwrap().times(1).to_string(),
            "0.0315"
        );
        assert_eq!("2".parse::<Price>().unwrap().to_string(), "2.00");
        assert_eq!(".5".parse::<Price>().unwrap().to_string(), "0.50");
        assert_eq!(Pricing::default().spend(30), "USD 0.90");
    }

    #[test]
    fn anything_but_a_plain_decimal_is_refused() {
        for text in [
            "",
            ".",
            "-0.03",
            "+1",
            "1e-2",
            "0,03",
            "0.0000001",
            "abc",
            "1.2.3",
        ] {
            assert!(text.parse::<Price>().is_err(), "{text:?}");
        }
    }
}
