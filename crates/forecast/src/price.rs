//! Prices as given on the command line (`1.00/M`: per million) and what a day costs.
//! No vendor's price is built in.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A price per unit, in whatever currency the user gave it in.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Price {
    /// The amount as written (`1.00` of `1.00/M`).
    pub amount: f64,
    /// The units it buys (1,000,000 for `/M`, 1,000 for `/k`, 1 without a suffix).
    pub per: f64,
}

impl Price {
    /// The price of one unit.
    pub fn unit(self) -> f64 {
        self.amount / self.per
    }
}

impl fmt::Display for Price {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.per == 1e6 {
            write!(f, "{}/M", self.amount)
        } else if self.per == 1e3 {
            write!(f, "{}/k", self.amount)
        } else {
            write!(f, "{}", self.amount)
        }
    }
}

/// A price that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid price '{0}': expected an amount per unit, per thousand or per million, e.g. 0.000001, 1/k or 1.00/M")]
pub struct PriceError(String);

impl FromStr for Price {
    type Err = PriceError;

    /// `1.00/M` (per million), `3.5/k` (per thousand), `0.01` (per unit).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || PriceError(s.to_string());
        let (amount, per) = match s.trim().split_once('/') {
            Some((a, "M" | "m")) => (a, 1e6),
            Some((a, "k" | "K")) => (a, 1e3),
            Some(_) => return Err(err()),
            None => (s.trim(), 1.0),
        };
        let amount: f64 = amount.trim().parse().map_err(|_| err())?;
        if !(amount.is_finite() && amount >= 0.0) {
            return Err(err());
        }
        Ok(Price { amount, per })
    }
}

/// The prices given (any may be missing).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Prices {
    /// Per HTTP request: polls and WebSocket upgrades.
    pub request: Option<Price>,
    /// Per minute a WebSocket connection is open.
    pub connection_minute: Option<Price>,
    /// Per WebSocket message, either direction.
    pub message: Option<Price>,
}

impl Prices {
    /// The cost of a day: requests at the request price, and for WebSockets
    /// (`websocket`) messages and connection-minutes at theirs. `None` when none of the units the transport
    /// uses has a price (nothing to say, rather than a cost of zero).
    pub fn cost(
        &self,
        requests: f64,
        messages: f64,
        connection_minutes: f64,
        websocket: bool,
    ) -> Option<f64> {
        let mut parts = vec![self.request.map(|p| requests * p.unit())];
        if websocket {
            parts.push(self.message.map(|p| messages * p.unit()));
            parts.push(
                self.connection_minute
                    .map(|p| connection_minutes * p.unit()),
            );
        }
        parts
            .into_iter()
            .flatten()
            .fold(None, |sum, x| Some(sum.unwrap_or(0.0) + x))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices_parse_per_million_thousand_and_unit() {
        let p: Price = "1.00/M".parse().unwrap();
        assert_eq!(p.unit(), 1e-6);
        assert_eq!(p.to_string(), "1/M");
        assert_eq!("2/k".parse::<Price>().unwrap().unit(), 0.002);
        assert_eq!("0.5".parse::<Price>().unwrap().unit(), 0.5);
        for bad in ["", "x/M", "1/G", "-1/M", "NaN", "1/"] {
            let e = bad.parse::<Price>().unwrap_err().to_string();
            assert!(e.contains("per million"), "{bad}: {e}");
        }
    }

    #[test]
    fn cost_prices_each_unit_the_transport_uses() {
        let prices = Prices {
            request: Some("1.00/M".parse().unwrap()),
            connection_minute: Some("0.25/M".parse().unwrap()),
            message: Some("1.00/M".parse().unwrap()),
        };
        // 864,000 polls at 1.00/M.
        let poll = prices.cost(864_000.0, 0.0, 144_000.0, false);
        assert!((poll.unwrap() - 0.864).abs() < 1e-12);
        // Upgrades, messages and connection-minutes for WebSockets.
        let ws = prices.cost(14_400.0, 1_728_000.0, 144_000.0, true);
        assert!((ws.unwrap() - (0.0144 + 1.728 + 0.036)).abs() < 1e-12);
        // No price for anything polling uses: no cost, rather than zero.
        let only_messages = Prices {
            message: prices.message,
            ..Prices::default()
        };
        assert_eq!(only_messages.cost(1e6, 0.0, 0.0, false), None);
    }
}
