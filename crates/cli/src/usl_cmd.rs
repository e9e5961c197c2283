//! `stampede usl DATA.csv|scale.json`: fits the Universal Scalability Law to measured
//! points, prints the fit, and writes it as JSON (`--out`) and HTML (`--html`).

use std::path::Path;

use anyhow::Context;
use stampede_report::{render_usl_html, render_usl_text};
use stampede_usl::{fit, parse_csv, parse_scale_json, UslDocument};

use crate::args::UslArgs;
use crate::outputs::{check_writable, write_atomically};
use crate::{UsageError, EXIT_OK};

pub(crate) fn run(a: UslArgs) -> anyhow::Result<u8> {
    if let Some(path) = &a.out {
        check_writable("--out", path)?;
    }
    if let Some(path) = &a.html {
        check_writable("--html", path)?;
    }
    let points = read_points(&a.data)?;
    let source = a.data.display().to_string();
    let fitted =
        fit(&points).map_err(|e| UsageError(format!("{source}: cannot fit the USL: {e}")))?;
    let doc = UslDocument::new(&source, &points, fitted);
    print!("{}", render_usl_text(&doc));
    if let Some(path) = &a.out {
        let json = serde_json::to_string_pretty(&doc).context("serializing the fit")? + "\n";
        write_atomically(path, &json).with_context(|| format!("writing {}", path.display()))?;
    }
    if let Some(path) = &a.html {
        write_atomically(path, &render_usl_html(&doc))
            .with_context(|| format!("writing the HTML page {}", path.display()))?;
    }
    Ok(EXIT_OK)
}

/// The points of a CSV file, or of a `stampede scale` document; errors name the file,
/// line and column.
fn read_points(path: &Path) -> Result<Vec<(f64, f64)>, UsageError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| UsageError(format!("cannot read {}: {e}", path.display())))?;
    let json = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"))
        || text.trim_start().starts_with('{');
    let parsed = if json {
        parse_scale_json(&text)
    } else {
        parse_csv(&text)
    };
    parsed.map_err(|e| UsageError(format!("{}:{e}", path.display())))
}
