//! `stampede plan`: what a fleet of devices will do to a back end (crate
//! `stampede-forecast`), the scenario that verifies it, and `--check` of a run.

use stampede_forecast::scenario::{emit, Side};
use stampede_forecast::{check, forecast, Capacity, Prices};
use stampede_report::{render_check, render_forecast, render_forecast_html};

use crate::forecast_args::{EmitArg, PlanArgs};
use crate::outputs::{check_writable, write_atomically};
use crate::report_cmd::load;
use crate::{UsageError, EXIT_OK, EXIT_THRESHOLD};

/// The command line, quoted where a shell would need it, for the scenario's header.
fn command_line() -> String {
    let mut words = vec!["stampede".to_string()];
    for a in std::env::args().skip(1) {
        if a.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=%,@".contains(c))
        {
            words.push(a);
        } else {
            words.push(format!("'{}'", a.replace('\'', "'\\''")));
        }
    }
    words.join(" ")
}

pub(crate) fn run(a: PlanArgs) -> anyhow::Result<u8> {
    let fleet = a.fleet();
    if let Some(path) = &a.check {
        let result = load(path)?;
        let c = check::check(&fleet, &result)
            .map_err(|e| UsageError(format!("--check {}: {e}", path.display())))?;
        print!("{}", render_check(&c));
        return Ok(if c.agrees() { EXIT_OK } else { EXIT_THRESHOLD });
    }
    for (flag, path) in [
        ("--out", &a.out),
        ("--html", &a.html),
        ("--emit-scenario", &a.emit_scenario),
    ] {
        if let Some(p) = path {
            check_writable(flag, p)?;
        }
    }
    let capacity = match &a.capacity {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| UsageError(format!("--capacity {}: {e}", path.display())))?;
            let c = Capacity::from_json(&text).map_err(|e| {
                UsageError(format!(
                    "--capacity {}: not a `stampede capacity` result: {e}",
                    path.display()
                ))
            })?;
            Some((
                c,
                a.headroom
                    .unwrap_or_else(|| "30%".parse().expect("a valid headroom")),
            ))
        }
        None => None,
    };
    let prices = Prices {
        request: a.price_request,
        connection_minute: a.price_connection_minute,
        message: a.price_message,
    };
    let f = forecast(&fleet, &prices, capacity.as_ref().map(|(c, h)| (c, *h)));
    print!("{}", render_forecast(&f));
    if let Some(path) = &a.out {
        let json = serde_json::to_string_pretty(&f)?;
        write_atomically(path, &json)
            .map_err(|e| UsageError(format!("--out {}: {e}", path.display())))?;
    }
    if let Some(path) = &a.html {
        write_atomically(path, &render_forecast_html(&f))
            .map_err(|e| UsageError(format!("--html {}: {e}", path.display())))?;
    }
    if let Some(path) = &a.emit_scenario {
        let (side, url) = match a.emit {
            EmitArg::Poll => (Side::Poll, &a.url),
            EmitArg::Ws => (Side::WebSocket, &a.ws_url),
        };
        let text = emit(&fleet, side, url, a.duration, &command_line());
        write_atomically(path, &text)
            .map_err(|e| UsageError(format!("--emit-scenario {}: {e}", path.display())))?;
        println!(
            "wrote {}: stampede run {} -o result.json, then the same plan with --check result.json",
            path.display(),
            path.display()
        );
    }
    Ok(EXIT_OK)
}
