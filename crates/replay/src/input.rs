//! Where a replay's records come from: the file opened (gzip detected by its magic
//! bytes), its format told, and its records read one at a time (a HAR is read whole).

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use flate2::bufread::MultiGzDecoder;

use crate::access::{parse_line, LogFlavor};
use crate::har::read_har;
use crate::notes::Notes;
use crate::record::Record;
use crate::{Format, ReplayError, ReplayOptions};

/// An opened file, read as records.
pub(crate) enum Input {
    Log {
        lines: Box<dyn BufRead + Send>,
        line: u64,
        flavor: LogFlavor,
    },
    Har(std::vec::IntoIter<Record>),
}

fn open(path: &Path) -> Result<Box<dyn BufRead + Send>, ReplayError> {
    let err = |e: std::io::Error| ReplayError::Open(path.display().to_string(), e.to_string());
    let mut file = BufReader::with_capacity(1 << 16, File::open(path).map_err(err)?);
    let gzip = file.fill_buf().map_err(err)?.starts_with(&[0x1f, 0x8b]);
    Ok(match gzip {
        true => Box::new(BufReader::with_capacity(1 << 16, MultiGzDecoder::new(file))),
        false => Box::new(file),
    })
}

impl Input {
    /// Opens the file of `options` and reads enough to know its format (a HAR whole,
    /// its bad entries counted in `notes`).
    pub(crate) fn open(options: &ReplayOptions, notes: &mut Notes) -> Result<Input, ReplayError> {
        let mut lines = open(&options.path)?;
        let format = match options.format {
            Format::Auto => {
                let head = lines.fill_buf().unwrap_or(&[]);
                match head.iter().find(|b| !b.is_ascii_whitespace()) {
                    Some(b'{') => Format::Har,
                    _ => Format::Nginx,
                }
            }
            f => f,
        };
        Ok(match format {
            Format::Har => {
                let (records, bad) = read_har(lines)
                    .map_err(|e| ReplayError::Har(options.path.display().to_string(), e))?;
                notes.har = true;
                for (i, why) in bad {
                    notes.malformed(i as u64, why);
                }
                let mut records = records;
                records.sort_by(|a, b| a.time.secs.total_cmp(&b.time.secs));
                Input::Har(records.into_iter())
            }
            Format::Apache | Format::Nginx | Format::Auto => Input::Log {
                lines,
                line: 0,
                flavor: match format {
                    Format::Apache => LogFlavor::Apache,
                    _ => LogFlavor::Nginx,
                },
            },
        })
    }

    /// The next record that parses; `None` at the end (or where the input broke off).
    /// With `count`, lines that do not parse and a broken input go into `notes`.
    pub(crate) fn next_record(&mut self, count: bool, notes: &mut Notes) -> Option<Record> {
        let (lines, line, flavor) = match self {
            Input::Har(it) => return it.next(),
            Input::Log {
                lines,
                line,
                flavor,
            } => (lines, line, *flavor),
        };
        loop {
            let mut buf = Vec::new();
            match lines.read_until(b'\n', &mut buf) {
                Ok(0) => return None,
                Ok(_) => *line += 1,
                Err(e) => {
                    if count {
                        notes.read_error = Some((*line, e.to_string()));
                    }
                    return None;
                }
            }
            let n = *line;
            let text = match std::str::from_utf8(&buf) {
                Ok(t) => t.trim_end_matches(['\n', '\r']),
                Err(_) => {
                    if count {
                        notes.malformed(n, "not UTF-8".into());
                    }
                    continue;
                }
            };
            if text.trim().is_empty() {
                continue;
            }
            match parse_line(text, flavor) {
                Ok(r) => return Some(r),
                Err(why) => {
                    if count {
                        notes.malformed(n, why);
                    }
                }
            }
        }
    }
}
