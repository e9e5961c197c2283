//! TOML -> [`Journeys`]: every semantic check, with the position of the offending value.

use std::collections::{HashMap, HashSet};
use std::num::NonZeroUsize;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use toml::Spanned;

use super::raw::{
    Entries, RawArrival, RawChecks, RawExtract, RawFeederMode, RawFile, RawLoad, RawModel, RawStep,
    RawTarget, RawThink, RawWsExpect,
};
use super::ScenarioError;
use stampede_plan::check::{Check, StatusMatch};
use stampede_plan::extract::Extractor;
use stampede_plan::feeder::{Feeder, FeederMode};
use stampede_plan::scenario::{
    FeederUse, JourneyLoad, JourneyTarget, Journeys, RequestStep, Scenario, Step, ThinkTime,
    WsConnectStep, WsExpectStep, WsSendStep,
};
use stampede_plan::template::{Template, VarId, VarTable};
use stampede_plan::threshold::Threshold;
use stampede_plan::threshold::{ScopedThreshold, ThresholdScope};
use stampede_plan::{
    parse_duration, Arrival, HttpVersion, RateProfile, Stage, Target, TlsOptions, DEFAULT_DURATION,
};

type Result<T> = std::result::Result<T, ScenarioError>;

/// Journeys in flight at most in the open model, unless `max_vus` says otherwise.
const DEFAULT_MAX_VUS: usize = 10_000;

/// How a load model names its parts, for the checks and messages both models share.
struct ModelTerms {
    /// `open` or `closed`.
    name: &'static str,
    /// The key of a constant load.
    key: &'static str,
    /// What that key counts.
    unit: &'static str,
    /// The message for a constant that is not positive.
    invalid: &'static str,
    /// The message for a profile that never rises above 0.
    no_peak: &'static str,
}

const OPEN_TERMS: ModelTerms = ModelTerms {
    name: "open",
    key: "rate",
    unit: "journeys per second",
    invalid: "`rate` must be a positive number of journeys per second",
    no_peak: "the open model needs a rate above 0 somewhere",
};

const CLOSED_TERMS: ModelTerms = ModelTerms {
    name: "closed",
    key: "vus",
    unit: "virtual users",
    invalid: "`vus` must be a positive integer",
    no_peak: "the closed model needs at least one virtual user somewhere",
};
/// Per-request timeout unless `timeout` says otherwise.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// HTTP/2 streams per connection unless `streams` says otherwise.
const DEFAULT_STREAMS: usize = 100;

const STEP_KINDS: &str =
    "`url`, `think`, `ws_connect`, `ws_send`, `ws_expect`, `ws_close`, `steps`";

pub(super) fn parse(path: &Path, text: &str) -> Result<Journeys> {
    let raw = parse_raw(path, text)?;
    if let Some(m) = &raw.matrix {
        return Err(ScenarioError::at(
            path,
            text,
            m.span().start,
            "this file has a [matrix] table: run it with `stampede matrix FILE` (one run per cell), or remove the table",
        ));
    }
    validate(path, text, raw)
}

/// The file as TOML sees it, with a syntax error's position.
pub(super) fn parse_raw(path: &Path, text: &str) -> Result<RawFile> {
    toml::from_str(text).map_err(|e| {
        let offset = e.span().map_or(0, |s| s.start);
        ScenarioError::at(path, text, offset, e.message().trim_end())
    })
}

/// Every semantic check of a file read by [`parse_raw`] (and perhaps edited since, with
/// values whose spans are in the same `text`).
pub(super) fn validate(path: &Path, text: &str, raw: RawFile) -> Result<Journeys> {
    let mut cx = Cx {
        path,
        dir: path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from(".")),
        src: text,
        vars: VarTable::new(),
        keys: HashMap::new(),
        thresholds: Vec::new(),
        timeout: DEFAULT_TIMEOUT,
    };
    cx.file(raw)
}

/// Variables set at some point of a journey, in the order they were defined.
#[derive(Clone, Default)]
struct Scope {
    set: HashSet<VarId>,
    names: Vec<String>,
}

impl Scope {
    fn define(&mut self, id: VarId, name: &str) {
        if self.set.insert(id) {
            self.names.push(name.to_string());
        }
    }
}

struct Cx<'a> {
    path: &'a Path,
    dir: PathBuf,
    src: &'a str,
    vars: VarTable,
    /// Step keys seen so far, with the offset of their step (for duplicate messages).
    keys: HashMap<String, usize>,
    thresholds: Vec<ScopedThreshold>,
    timeout: Duration,
}

/// State while walking one scenario's steps.
struct Walk {
    scenario: String,
    scope: Scope,
    /// Offset of the last `ws_connect` while a WebSocket is open; of `ws_close` after.
    ws_open: Option<bool>,
    ws_close_at: usize,
}

impl<'a> Cx<'a> {
    fn err(&self, offset: usize, message: impl std::fmt::Display) -> ScenarioError {
        ScenarioError::at(self.path, self.src, offset, message)
    }

    fn err_at<T>(&self, span: &Spanned<T>, message: impl std::fmt::Display) -> ScenarioError {
        self.err(span.span().start, message)
    }

    fn line_of(&self, offset: usize) -> usize {
        super::line_column(self.src, offset).0
    }

    fn resolve(&self, file: &str) -> PathBuf {
        let p = Path::new(file);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.dir.join(p)
        }
    }

    /// A file that must exist (certificates, bodies); relative to the scenario file.
    fn existing_file(&self, file: &Spanned<String>, what: &str) -> Result<PathBuf> {
        let p = self.resolve(file.get_ref());
        if !p.is_file() {
            return Err(self.err_at(file, format!("{what} file '{}' not found", p.display())));
        }
        Ok(p)
    }

    /// Where character `offset` of the decoded string value at `span` is in the source;
    /// the start of the value when escapes make that uncertain.
    fn string_offset(&self, span: Range<usize>, offset: usize) -> usize {
        let Some(raw) = self.src.get(span.clone()) else {
            return span.start;
        };
        let (delim, literal) = if raw.starts_with("'''") {
            (3, true)
        } else if raw.starts_with("\"\"\"") {
            (3, false)
        } else if raw.starts_with('\'') {
            (1, true)
        } else if raw.starts_with('"') {
            (1, false)
        } else {
            // A bare key.
            return span.start + offset.min(raw.len());
        };
        let mut start = span.start + delim;
        if delim == 3 {
            // A newline right after the opening delimiter is not part of the string.
            if self.src[start..].starts_with("\r\n") {
                start += 2;
            } else if self.src[start..].starts_with('\n') {
                start += 1;
            }
        }
        let at = start + offset;
        if at > span.end || !self.src.is_char_boundary(at) {
            return span.start;
        }
        let before = &self.src[start..at];
        if (!literal && before.contains('\\')) || before.contains('\r') {
            return span.start;
        }
        at
    }

    /// Compiles a template and checks that every variable it uses is in `scope`.
    fn template(&mut self, value: &Spanned<String>, scope: &Scope) -> Result<Template> {
        let span = value.span();
        let t = Template::compile(value.get_ref(), &mut self.vars).map_err(|e| {
            let at = self.string_offset(span.clone(), e.offset);
            self.err(at, format!("template: {}", e.message))
        })?;
        for (id, offset) in t.variables() {
            if !scope.set.contains(&id) {
                let at = self.string_offset(span.clone(), offset);
                let defined = if scope.names.is_empty() {
                    "no variables are defined here".to_string()
                } else {
                    format!("defined here: {}", scope.names.join(", "))
                };
                return Err(self.err(
                    at,
                    format!(
                        "undefined variable '{}'; {defined} (variables come from [vars], a feeder column `feeder.column`, or an `extract` of an earlier step)",
                        self.vars.name(id)
                    ),
                ));
            }
        }
        Ok(t)
    }

    fn duration(&self, value: &Spanned<String>, what: &str) -> Result<Duration> {
        let d = parse_duration(value.get_ref()).map_err(|e| {
            let reason = match e {
                stampede_plan::PlanError::Value { reason, .. } => reason,
                other => other.to_string(),
            };
            self.err_at(value, format!("bad {what} '{}': {reason}", value.get_ref()))
        })?;
        if d.is_zero() {
            return Err(self.err_at(value, format!("{what} must be positive")));
        }
        Ok(d)
    }

    fn threshold(&self, value: &Spanned<String>) -> Result<Threshold> {
        Threshold::parse(value.get_ref())
            .map_err(|e| self.err_at(value, format!("bad threshold: {e}")))
    }

    /// Checks that a header name is an HTTP token.
    fn header_name(&self, name: &Spanned<String>) -> Result<()> {
        if is_token(name.get_ref()) {
            return Ok(());
        }
        let message = format!(
            "bad header name '{}'; expected an HTTP token such as content-type",
            name.get_ref()
        );
        Err(self.err_at(name, message))
    }

    fn headers(
        &mut self,
        entries: &Entries<Spanned<String>>,
        scope: &Scope,
    ) -> Result<Vec<(String, Template)>> {
        let mut out = Vec::with_capacity(entries.0.len());
        for (name, value) in &entries.0 {
            self.header_name(name)?;
            if value.get_ref().contains(['\r', '\n']) {
                return Err(self.err_at(value, "header values must not contain line breaks"));
            }
            out.push((name.get_ref().clone(), self.template(value, scope)?));
        }
        Ok(out)
    }

    fn file(&mut self, raw: RawFile) -> Result<Journeys> {
        // Load first: it sets the default timeout of `ws_expect`.
        let (load, duration, timeout) = match &raw.load {
            Some(l) => self.load(l, true)?,
            None => (
                JourneyLoad::Closed {
                    profile: RateProfile::constant(1.0),
                },
                None,
                None,
            ),
        };
        self.timeout = timeout.unwrap_or(DEFAULT_TIMEOUT);

        // Feeders, then vars (which may use feeder columns and vars above them).
        let mut globals = Scope::default();
        let mut feeders = Vec::new();
        let mut feeder_names = HashSet::new();
        for (name, f) in raw.feeders.iter().flat_map(|e| &e.0) {
            check_name(self, name, "feeder")?;
            feeder_names.insert(name.get_ref().clone());
            let f = f.get_ref();
            let mode = match f.mode {
                None | Some(RawFeederMode::Sequential) => FeederMode::Sequential,
                Some(RawFeederMode::Random) => FeederMode::Random,
                Some(RawFeederMode::Unique) => FeederMode::Unique,
            };
            // Only regular files: a FIFO or a device would make `check` hang.
            let path = self.existing_file(&f.file, &format!("feeder '{}':", name.get_ref()))?;
            let feeder = Feeder::load(name.get_ref(), &path, mode)
                .map_err(|e| self.err_at(&f.file, format!("feeder '{}': {e}", name.get_ref())))?;
            let mut columns = Vec::new();
            for c in feeder.columns() {
                let var = format!("{}.{c}", name.get_ref());
                let id = self.vars.intern(&var);
                globals.define(id, &var);
                columns.push(id);
            }
            feeders.push(FeederUse {
                feeder: Arc::new(feeder),
                columns,
            });
        }
        let mut initial = Vec::new();
        for (name, value) in raw.vars.iter().flat_map(|e| &e.0) {
            check_name(self, name, "variable")?;
            if let Some((prefix, _)) = name.get_ref().split_once('.') {
                if feeder_names.contains(prefix) {
                    return Err(self.err_at(
                        name,
                        format!("variable '{}' would hide feeder '{prefix}'", name.get_ref()),
                    ));
                }
            }
            let t = self.template(value, &globals)?;
            let id = self.vars.intern(name.get_ref());
            globals.define(id, name.get_ref());
            initial.push((id, t));
        }

        let targets = self.targets(&raw, &globals)?;

        for t in raw.thresholds.iter().flatten() {
            let threshold = self.threshold(t)?;
            self.thresholds.push(ScopedThreshold {
                scope: ThresholdScope::Total,
                threshold,
            });
        }

        let Some(raw_scenarios) = raw.scenarios.as_ref().filter(|s| !s.is_empty()) else {
            return Err(self.err(
                self.src.len(),
                "no scenarios; add one: [[scenarios]] with a name and [[scenarios.steps]]",
            ));
        };
        let mut scenarios = Vec::new();
        let mut names: HashMap<String, usize> = HashMap::new();
        let mut longest = match &load {
            JourneyLoad::Open { profile, .. } | JourneyLoad::Closed { profile } => {
                profile.stages_duration()
            }
        };
        for s in raw_scenarios {
            let s_ref = s.get_ref();
            let name = s_ref.name.get_ref().trim();
            if name.is_empty() {
                return Err(self.err_at(&s_ref.name, "a scenario name must not be empty"));
            }
            if let Some(&other) = names.get(name) {
                return Err(self.err_at(
                    &s_ref.name,
                    format!(
                        "duplicate scenario name '{name}' (also on line {})",
                        self.line_of(other)
                    ),
                ));
            }
            names.insert(name.to_string(), s_ref.name.span().start);
            let weight = match &s_ref.weight {
                Some(w) if !(w.get_ref().is_finite() && *w.get_ref() > 0.0) => {
                    return Err(self.err_at(w, "weight must be a positive number"));
                }
                Some(w) => *w.get_ref(),
                None => 1.0,
            };
            let own_load = match &s_ref.load {
                Some(l) => {
                    let (load, _, _) = self.load(l, false)?;
                    let (JourneyLoad::Open { profile, .. } | JourneyLoad::Closed { profile }) =
                        &load;
                    longest = longest.max(profile.stages_duration());
                    Some(load)
                }
                None => None,
            };
            let Some(raw_steps) = s_ref.steps.as_ref().filter(|v| !v.is_empty()) else {
                return Err(self.err(
                    s.span().start,
                    format!(
                        "scenario '{name}' has no steps; add [[scenarios.steps]] with one of {STEP_KINDS}"
                    ),
                ));
            };
            let mut walk = Walk {
                scenario: name.to_string(),
                scope: globals.clone(),
                ws_open: None,
                ws_close_at: 0,
            };
            let steps = self.steps(raw_steps, &targets, &mut walk)?;
            scenarios.push(Scenario {
                name: name.to_string(),
                weight,
                load: own_load,
                steps,
            });
        }

        let duration = duration.unwrap_or(if longest.is_zero() {
            DEFAULT_DURATION
        } else {
            longest
        });

        Ok(Journeys {
            path: self.path.to_path_buf(),
            targets,
            vars: std::mem::take(&mut self.vars),
            initial,
            feeders,
            scenarios,
            load,
            duration,
            timeout: self.timeout,
            cookies: raw.options.as_ref().and_then(|o| o.cookies).unwrap_or(true),
            thresholds: std::mem::take(&mut self.thresholds),
        })
    }

    fn targets(&mut self, raw: &RawFile, globals: &Scope) -> Result<Vec<JourneyTarget>> {
        let mut list: Vec<(String, usize, &Spanned<RawTarget>)> = Vec::new();
        if let Some(t) = &raw.target {
            list.push(("default".into(), t.span().start, t));
        }
        for (name, t) in raw.targets.iter().flat_map(|e| &e.0) {
            check_name(self, name, "target")?;
            if let Some((_, first, _)) = list.iter().find(|(n, _, _)| n == name.get_ref()) {
                return Err(self.err_at(
                    name,
                    format!(
                        "target '{}' is defined twice (also on line {}; a lone [target] is named \"default\")",
                        name.get_ref(),
                        self.line_of(*first)
                    ),
                ));
            }
            list.push((name.get_ref().clone(), name.span().start, t));
        }
        // Index 0 is the default: [target], else [targets.default], else the first.
        if let Some(i) = list.iter().position(|(n, _, _)| n == "default") {
            let d = list.remove(i);
            list.insert(0, d);
        }
        if list.is_empty() {
            return Err(self.err(
                0,
                "no target; add [target] with base_url = \"http://host:port\" (or [targets.NAME])",
            ));
        }
        let mut out = Vec::new();
        for (name, _, t) in list {
            let t = t.get_ref();
            let base = Target::parse(t.base_url.get_ref())
                .map_err(|e| self.err_at(&t.base_url, format!("bad base_url: {e}")))?;
            let headers = match &t.headers {
                Some(h) => self.headers(h, globals)?,
                None => Vec::new(),
            };
            let ca_file = match &t.cacert {
                Some(f) => Some(self.existing_file(f, "cacert")?),
                None => None,
            };
            let client_cert = match (&t.cert, &t.key) {
                (Some(c), Some(k)) => Some((
                    self.existing_file(c, "cert")?,
                    self.existing_file(k, "key")?,
                )),
                (Some(c), None) => {
                    return Err(self.err_at(c, "`cert` needs `key` (the client private key)"))
                }
                (None, Some(k)) => {
                    return Err(self.err_at(k, "`key` needs `cert` (the client certificate)"))
                }
                (None, None) => None,
            };
            let http = match (t.http2.unwrap_or(false), &t.streams) {
                (true, streams) => {
                    let n = match streams {
                        Some(s) => usize::try_from(*s.get_ref())
                            .ok()
                            .and_then(NonZeroUsize::new)
                            .ok_or_else(|| self.err_at(s, "streams must be a positive integer"))?,
                        None => NonZeroUsize::new(DEFAULT_STREAMS).expect("positive"),
                    };
                    if base.scheme.is_websocket() {
                        return Err(self.err_at(
                            &t.base_url,
                            "WebSocket targets use HTTP/1.1 upgrades; drop http2",
                        ));
                    }
                    HttpVersion::Http2 { streams: n }
                }
                (false, Some(s)) => {
                    return Err(self.err_at(s, "`streams` needs `http2 = true`"));
                }
                (false, None) => HttpVersion::Http1,
            };
            out.push(JourneyTarget {
                name,
                base,
                headers,
                tls: TlsOptions {
                    insecure: t.insecure.unwrap_or(false),
                    ca_file,
                    client_cert,
                    no_resume: false,
                },
                http,
            });
        }
        Ok(out)
    }

    /// A `[load]` table (`top`) or a scenario's `load`; also its `duration` and `timeout`.
    fn load(
        &self,
        l: &Spanned<RawLoad>,
        top: bool,
    ) -> Result<(JourneyLoad, Option<Duration>, Option<Duration>)> {
        let at = l.span().start;
        let l = l.get_ref();
        let shapeless = l.model.is_none()
            && l.vus.is_none()
            && l.rate.is_none()
            && l.start.is_none()
            && l.stages.is_none()
            && l.max_vus.is_none()
            && l.arrival.is_none();
        let model = match &l.model {
            Some(m) => *m.get_ref(),
            None if l.vus.is_some() => RawModel::Closed,
            None => RawModel::Open,
        };
        if !top {
            for (key, v) in [("duration", &l.duration), ("timeout", &l.timeout)] {
                if let Some(v) = v {
                    return Err(self.err_at(
                        v,
                        format!("`{key}` applies to the whole run; set it in the file's [load]"),
                    ));
                }
            }
        }
        let duration = l
            .duration
            .as_ref()
            .map(|d| self.duration(d, "duration"))
            .transpose()?;
        let timeout = l
            .timeout
            .as_ref()
            .map(|d| self.duration(d, "timeout"))
            .transpose()?;
        let mut stages = Vec::new();
        for s in l.stages.iter().flatten() {
            let s = s.get_ref();
            let duration = self.duration(&s.duration, "stage duration")?;
            let target = *s.target.get_ref();
            if !target.is_finite() || target < 0.0 {
                return Err(self.err_at(&s.target, "a stage target must be a number >= 0"));
            }
            if model == RawModel::Closed && target.fract() != 0.0 {
                return Err(self.err_at(
                    &s.target,
                    "the closed model's stage targets are virtual users: a whole number",
                ));
            }
            stages.push(Stage {
                duration,
                target_rate: target,
            });
        }
        if top && shapeless {
            // Only `duration`/`timeout`: the default load (every scenario may have its own).
            let load = JourneyLoad::Closed {
                profile: RateProfile::constant(1.0),
            };
            return Ok((load, duration, timeout));
        }
        let ramp = l.start.is_some() || l.stages.is_some();
        let start = match &l.start {
            Some(s) if !s.get_ref().is_finite() || *s.get_ref() < 0.0 => {
                return Err(self.err_at(s, "`start` must be a number >= 0"));
            }
            Some(s) if model == RawModel::Closed && s.get_ref().fract() != 0.0 => {
                return Err(self.err_at(
                    s,
                    "the closed model's `start` is virtual users: a whole number",
                ));
            }
            Some(s) => *s.get_ref(),
            None => 0.0,
        };
        let (terms, foreign, constant) = match model {
            RawModel::Open => (
                &OPEN_TERMS,
                vec![(
                    l.vus.as_ref().map(|v| v.span().start),
                    "`vus` is for the closed model; the open model takes `rate` (journeys per second) or `start`/`stages` (set model = \"closed\" for virtual users)",
                )],
                l.rate.as_ref().map(|r| {
                    let v = *r.get_ref();
                    (r.span().start, (v.is_finite() && v > 0.0).then_some(v))
                }),
            ),
            RawModel::Closed => (
                &CLOSED_TERMS,
                vec![
                    (
                        l.rate.as_ref().map(|r| r.span().start),
                        "`rate` is for the open model; the closed model takes `vus` (virtual users) or `start`/`stages`",
                    ),
                    (
                        l.max_vus.as_ref().map(|m| m.span().start),
                        "`max_vus` is for the open model; in the closed model `vus` is the number of virtual users",
                    ),
                    (
                        l.arrival.as_ref().map(|a| a.span().start),
                        "`arrival` is for the open model; closed-model users start the next iteration when one ends",
                    ),
                ],
                l.vus.as_ref().map(|v| {
                    let n = *v.get_ref();
                    (v.span().start, (n > 0).then_some(n as f64))
                }),
            ),
        };
        if let Some((offset, message)) = foreign.iter().find_map(|(o, m)| o.map(|o| (o, *m))) {
            return Err(self.err(offset, message));
        }
        let key = terms.key;
        let profile = match (constant, ramp) {
            (Some((offset, _)), true) => {
                return Err(self.err(
                    offset,
                    format!("give either `{key}` (constant) or `start`/`stages` (ramps), not both"),
                ));
            }
            (Some((offset, None)), false) => return Err(self.err(offset, terms.invalid)),
            (Some((_, Some(value))), false) => RateProfile::constant(value),
            (None, true) => RateProfile {
                start_rate: start,
                stages,
            },
            (None, false) => {
                let (name, unit) = (terms.name, terms.unit);
                return Err(self.err(
                    at,
                    format!("the {name} model needs `{key} = N` ({unit}) or `start`/`stages`"),
                ));
            }
        };
        if profile.peak_rate() <= 0.0 {
            return Err(self.err(at, terms.no_peak));
        }
        let load = match model {
            RawModel::Open => JourneyLoad::Open {
                profile,
                arrival: match l.arrival.as_ref().map(|a| *a.get_ref()) {
                    None | Some(RawArrival::Uniform) => Arrival::Uniform,
                    Some(RawArrival::Poisson) => Arrival::Poisson,
                },
                max_vus: match &l.max_vus {
                    Some(m) => usize::try_from(*m.get_ref())
                        .ok()
                        .filter(|&n| n > 0)
                        .ok_or_else(|| self.err_at(m, "`max_vus` must be a positive integer"))?,
                    None => DEFAULT_MAX_VUS,
                },
            },
            RawModel::Closed => JourneyLoad::Closed { profile },
        };
        Ok((load, duration, timeout))
    }

    fn steps(
        &mut self,
        raw: &[Spanned<RawStep>],
        targets: &[JourneyTarget],
        walk: &mut Walk,
    ) -> Result<Vec<Step>> {
        let mut out = Vec::with_capacity(raw.len());
        for s in raw {
            out.push(self.step(s, targets, walk)?);
        }
        Ok(out)
    }

    fn step(
        &mut self,
        s: &Spanned<RawStep>,
        targets: &[JourneyTarget],
        walk: &mut Walk,
    ) -> Result<Step> {
        let at = s.span().start;
        let r = s.get_ref();
        let kinds: Vec<&str> = [
            ("url", r.url.is_some()),
            ("think", r.think.is_some()),
            ("ws_connect", r.ws_connect.is_some()),
            ("ws_send", r.ws_send.is_some()),
            ("ws_expect", r.ws_expect.is_some()),
            ("ws_close", r.ws_close.is_some()),
            ("steps", r.steps.is_some()),
        ]
        .into_iter()
        .filter_map(|(k, present)| present.then_some(k))
        .collect();
        let kind = match kinds.as_slice() {
            [k] => *k,
            [] => {
                return Err(self.err(
                    at,
                    format!("a step needs exactly one of {STEP_KINDS}; this one has none"),
                ))
            }
            many => {
                return Err(self.err(
                    at,
                    format!(
                        "a step needs exactly one of {STEP_KINDS}; this one has {}",
                        many.iter()
                            .map(|k| format!("`{k}`"))
                            .collect::<Vec<_>>()
                            .join(" and ")
                    ),
                ))
            }
        };
        self.allowed_keys(r, kind)?;
        match kind {
            "url" => self.request(r, targets, walk),
            "think" => self.think(r.think.as_ref().expect("kind")),
            "ws_connect" => {
                let url = r.ws_connect.as_ref().expect("kind");
                let target = self.step_target(r, targets)?;
                if !url.get_ref().starts_with('/') {
                    return Err(self.err_at(
                        url,
                        "ws_connect takes a path such as \"/ws\", appended to the target's base_url",
                    ));
                }
                let path = self.template(url, &walk.scope)?;
                let headers = match &r.headers {
                    Some(h) => self.headers(h.get_ref(), &walk.scope)?,
                    None => Vec::new(),
                };
                let name = step_name(r, || format!("WS {}", url.get_ref()));
                let key = self.key(walk, &name, at)?;
                self.step_thresholds(r, &key)?;
                walk.ws_open = Some(true);
                Ok(Step::WsConnect(Box::new(WsConnectStep {
                    key,
                    target,
                    path,
                    headers,
                })))
            }
            "ws_send" => {
                let msg = r.ws_send.as_ref().expect("kind");
                self.need_ws(walk, at, "ws_send")?;
                let message = self.template(msg, &walk.scope)?;
                Ok(Step::WsSend(WsSendStep { message }))
            }
            "ws_expect" => {
                let e = r.ws_expect.as_ref().expect("kind");
                self.need_ws(walk, at, "ws_expect")?;
                self.ws_expect(r, e, walk, at)
            }
            "ws_close" => {
                let c = r.ws_close.as_ref().expect("kind");
                if !*c.get_ref() {
                    return Err(self.err_at(
                        c,
                        "ws_close takes `true`; leave the step out to keep the WebSocket open",
                    ));
                }
                self.need_ws(walk, at, "ws_close")?;
                walk.ws_open = Some(false);
                walk.ws_close_at = at;
                Ok(Step::WsClose)
            }
            _ => {
                let inner = r.steps.as_ref().expect("kind");
                if inner.get_ref().is_empty() {
                    return Err(self.err_at(inner, "a group needs at least one step"));
                }
                let repeat = match &r.repeat {
                    Some(n) => u32::try_from(*n.get_ref())
                        .ok()
                        .filter(|&n| n > 0)
                        .ok_or_else(|| self.err_at(n, "repeat must be a positive integer"))?,
                    None => 1,
                };
                let name = r
                    .name
                    .as_ref()
                    .map_or_else(|| "group".to_string(), |n| n.get_ref().clone());
                let steps = self.steps(inner.get_ref(), targets, walk)?;
                Ok(Step::Group {
                    name,
                    repeat,
                    steps,
                })
            }
        }
    }

    /// Rejects keys that belong to another kind of step.
    fn allowed_keys(&self, r: &RawStep, kind: &str) -> Result<()> {
        let allowed: &[&str] = match kind {
            "url" => &[
                "url",
                "name",
                "method",
                "headers",
                "body",
                "body_file",
                "target",
                "extract",
                "checks",
                "thresholds",
            ],
            "think" => &["think"],
            "ws_connect" => &["ws_connect", "name", "target", "headers", "thresholds"],
            "ws_send" => &["ws_send"],
            "ws_expect" => &["ws_expect", "name", "extract", "thresholds"],
            "ws_close" => &["ws_close"],
            _ => &["steps", "name", "repeat"],
        };
        let present: [(&str, Option<usize>); 17] = [
            ("name", r.name.as_ref().map(|v| v.span().start)),
            ("method", r.method.as_ref().map(|v| v.span().start)),
            ("url", r.url.as_ref().map(|v| v.span().start)),
            ("headers", r.headers.as_ref().map(|v| v.span().start)),
            ("body", r.body.as_ref().map(|v| v.span().start)),
            ("body_file", r.body_file.as_ref().map(|v| v.span().start)),
            ("target", r.target.as_ref().map(|v| v.span().start)),
            ("extract", r.extract.as_ref().map(|v| v.span().start)),
            ("checks", r.checks.as_ref().map(|v| v.span().start)),
            ("thresholds", r.thresholds.as_ref().map(|v| v.span().start)),
            ("think", r.think.as_ref().map(|v| v.span().start)),
            ("ws_connect", r.ws_connect.as_ref().map(|v| v.span().start)),
            ("ws_send", r.ws_send.as_ref().map(|v| v.span().start)),
            ("ws_expect", r.ws_expect.as_ref().map(|v| v.span().start)),
            ("ws_close", r.ws_close.as_ref().map(|v| v.span().start)),
            ("steps", r.steps.as_ref().map(|v| v.span().start)),
            ("repeat", r.repeat.as_ref().map(|v| v.span().start)),
        ];
        for (key, at) in present {
            if let Some(at) = at {
                if !allowed.contains(&key) {
                    let what = if kind == "url" { "request" } else { kind };
                    return Err(self.err(
                        at,
                        format!(
                            "`{key}` does not apply to a {what} step; it takes {}",
                            allowed
                                .iter()
                                .map(|k| format!("`{k}`"))
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    fn need_ws(&self, walk: &Walk, at: usize, what: &str) -> Result<()> {
        match walk.ws_open {
            Some(true) => Ok(()),
            Some(false) => Err(self.err(
                at,
                format!(
                    "{what} needs an open WebSocket, but the one of this scenario was closed on line {}; add a ws_connect step before it",
                    self.line_of(walk.ws_close_at)
                ),
            )),
            None => Err(self.err(
                at,
                format!(
                    "{what} needs an open WebSocket; add a ws_connect step before it in scenario '{}'",
                    walk.scenario
                ),
            )),
        }
    }

    fn step_target(&self, r: &RawStep, targets: &[JourneyTarget]) -> Result<usize> {
        match &r.target {
            None => Ok(0),
            Some(t) => targets
                .iter()
                .position(|x| &x.name == t.get_ref())
                .ok_or_else(|| {
                    self.err_at(
                        t,
                        format!(
                            "unknown target '{}'; defined targets: {}",
                            t.get_ref(),
                            targets
                                .iter()
                                .map(|x| x.name.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    )
                }),
        }
    }

    /// Registers the key `scenario / name`, which must be unique in the file.
    fn key(&mut self, walk: &Walk, name: &Spanned<String>, step_at: usize) -> Result<String> {
        let at = if name.span().is_empty() {
            step_at
        } else {
            name.span().start
        };
        if name.get_ref().trim().is_empty() {
            return Err(self.err(at, "a step name must not be empty"));
        }
        let key = format!("{} / {}", walk.scenario, name.get_ref());
        if let Some(&other) = self.keys.get(&key) {
            return Err(self.err(
                at,
                format!(
                    "duplicate step name '{key}' (also on line {}); give one of them a different `name`",
                    self.line_of(other)
                ),
            ));
        }
        self.keys.insert(key.clone(), at);
        Ok(key)
    }

    fn step_thresholds(&mut self, r: &RawStep, key: &str) -> Result<()> {
        for t in r.thresholds.iter().flat_map(|t| t.get_ref()) {
            let threshold = self.threshold(t)?;
            self.thresholds.push(ScopedThreshold {
                scope: ThresholdScope::Group(key.to_string()),
                threshold,
            });
        }
        Ok(())
    }

    fn request(&mut self, r: &RawStep, targets: &[JourneyTarget], walk: &mut Walk) -> Result<Step> {
        let url = r.url.as_ref().expect("kind");
        let target = self.step_target(r, targets)?;
        if targets[target].base.scheme.is_websocket() {
            return Err(self.err_at(
                r.target.as_ref().unwrap_or(url),
                format!(
                    "target '{}' is a WebSocket URL; HTTP requests need an http:// or https:// target",
                    targets[target].name
                ),
            ));
        }
        if url.get_ref().contains("://") {
            return Err(self.err_at(
                url,
                "a step's url is a path appended to the target's base_url; for another host add a [targets.NAME] and set `target`",
            ));
        }
        let method = match &r.method {
            Some(m) if !is_token(m.get_ref()) => {
                return Err(self.err_at(
                    m,
                    format!(
                        "bad method '{}'; expected an HTTP method such as GET or POST",
                        m.get_ref()
                    ),
                ));
            }
            Some(m) => m.get_ref().to_ascii_uppercase(),
            None => "GET".to_string(),
        };
        let path = self.template(url, &walk.scope)?;
        let headers = match &r.headers {
            Some(h) => self.headers(h.get_ref(), &walk.scope)?,
            None => Vec::new(),
        };
        let body = match (&r.body, &r.body_file) {
            (Some(_), Some(f)) => {
                return Err(self.err_at(f, "give either `body` or `body_file`, not both"));
            }
            (Some(b), None) => Some(self.template(b, &walk.scope)?),
            (None, Some(f)) => Some(self.body_file(f, &walk.scope)?),
            (None, None) => None,
        };
        let checks = match &r.checks {
            Some(c) => self.checks(c.get_ref())?,
            None => Vec::new(),
        };
        let name = step_name(r, || format!("{method} {}", url.get_ref()));
        let key = self.key(walk, &name, url.span().start)?;
        self.step_thresholds(r, &key)?;
        // Extracted values are defined for the steps after this one.
        let extract = self.extract(r, walk)?;
        Ok(Step::Request(Box::new(RequestStep {
            key,
            target,
            method,
            path,
            headers,
            body,
            extract,
            checks,
        })))
    }

    fn body_file(&mut self, f: &Spanned<String>, scope: &Scope) -> Result<Template> {
        let p = self.existing_file(f, "body_file")?;
        let text = std::fs::read_to_string(&p).map_err(|e| {
            self.err_at(
                f,
                format!("cannot read body_file '{}' as UTF-8 text: {e}", p.display()),
            )
        })?;
        let t = Template::compile(&text, &mut self.vars).map_err(|e| {
            let (line, col) = super::line_column(&text, e.offset);
            self.err_at(
                f,
                format!("template in {}:{line}:{col}: {}", p.display(), e.message),
            )
        })?;
        for (id, offset) in t.variables() {
            if !scope.set.contains(&id) {
                let (line, col) = super::line_column(&text, offset);
                return Err(self.err_at(
                    f,
                    format!(
                        "undefined variable '{}' in {}:{line}:{col}; defined here: {}",
                        self.vars.name(id),
                        p.display(),
                        scope.names.join(", ")
                    ),
                ));
            }
        }
        Ok(t)
    }

    fn extract(&mut self, r: &RawStep, walk: &mut Walk) -> Result<Vec<(VarId, Extractor)>> {
        let Some(e) = &r.extract else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        let mut new = Vec::new();
        for (name, spec) in &e.get_ref().0 {
            check_name(self, name, "variable")?;
            let x = self.extractor(spec)?;
            let id = self.vars.intern(name.get_ref());
            out.push((id, x));
            new.push((id, name.get_ref().clone()));
        }
        for (id, name) in new {
            walk.scope.define(id, &name);
        }
        Ok(out)
    }

    fn extractor(&self, spec: &Spanned<RawExtract>) -> Result<Extractor> {
        let s = spec.get_ref();
        let kinds = [
            s.json.is_some(),
            s.regex.is_some(),
            s.header.is_some(),
            s.status.is_some(),
        ]
        .iter()
        .filter(|&&b| b)
        .count();
        if kinds != 1 {
            return Err(self.err_at(
                spec,
                "an extraction needs exactly one of { json = \"$.path\" }, { regex = \"...\", group = N }, { header = \"name\" }, { status = true }",
            ));
        }
        if let Some(g) = &s.group {
            if s.regex.is_none() {
                return Err(self.err_at(g, "`group` goes with `regex`"));
            }
        }
        if let Some(j) = &s.json {
            return Extractor::json_path(j.get_ref())
                .map_err(|e| self.err_at(j, format!("bad JSONPath '{}': {e}", j.get_ref())));
        }
        if let Some(re) = &s.regex {
            let group = match &s.group {
                Some(g) => Some(
                    usize::try_from(*g.get_ref())
                        .map_err(|_| self.err_at(g, "group must be a number >= 0"))?,
                ),
                None => None,
            };
            return Extractor::regex(re.get_ref(), group).map_err(|e| {
                let at = match &s.group {
                    Some(g) if e.starts_with("capture group") => g.span().start,
                    _ => re.span().start,
                };
                self.err(at, format!("bad regex: {}", one_line(&e)))
            });
        }
        if let Some(h) = &s.header {
            return Extractor::header(h.get_ref()).map_err(|e| self.err_at(h, e));
        }
        let st = s.status.as_ref().expect("counted");
        if !*st.get_ref() {
            return Err(self.err_at(st, "use { status = true } to extract the status code"));
        }
        Ok(Extractor::status())
    }

    fn checks(&self, c: &RawChecks) -> Result<Vec<Check>> {
        let mut out = Vec::new();
        if let Some(s) = &c.status {
            out.push(Check::Status(self.status(s)?));
        }
        if let Some(b) = &c.body_contains {
            out.push(Check::BodyContains(b.get_ref().clone()));
        }
        if let Some(j) = &c.json {
            self.json_checks(j, &mut out)?;
        }
        if let Some(l) = &c.latency {
            out.push(Check::LatencyUnder(self.duration(l, "latency")?));
        }
        for (name, value) in c.header.iter().flat_map(|h| &h.0) {
            self.header_name(name)?;
            out.push(Check::HeaderContains {
                name: name.get_ref().to_ascii_lowercase(),
                value: value.get_ref().clone(),
            });
        }
        Ok(out)
    }

    fn status(&self, s: &Spanned<toml::Value>) -> Result<StatusMatch> {
        const EXPECTED: &str =
            "expected a status code such as 200, a list such as [200, 304], or a class such as \"2xx\"";
        let one = |v: &toml::Value| -> std::result::Result<StatusMatch, String> {
            match v {
                toml::Value::Integer(n) if (100..=999).contains(n) => {
                    Ok(StatusMatch::code(*n as u16))
                }
                toml::Value::String(t) => StatusMatch::parse(t),
                _ => Err(EXPECTED.to_string()),
            }
        };
        let m = match s.get_ref() {
            toml::Value::Array(items) if !items.is_empty() => items
                .iter()
                .map(one)
                .collect::<std::result::Result<Vec<_>, _>>()
                .map(StatusMatch::any_of),
            toml::Value::Array(_) => Err(EXPECTED.to_string()),
            v => one(v),
        };
        m.map_err(|e| self.err_at(s, format!("bad status check: {e}")))
    }

    fn json_checks(&self, j: &Entries<Spanned<toml::Value>>, out: &mut Vec<Check>) -> Result<()> {
        for (path, value) in &j.0 {
            let check =
                match value.get_ref() {
                    toml::Value::Table(t) if t.len() == 1 && t.contains_key("exists") => {
                        match t.get("exists") {
                            Some(toml::Value::Boolean(true)) => Check::json_exists(path.get_ref()),
                            _ => return Err(self.err_at(
                                value,
                                "use { exists = true } to check that the path selects something",
                            )),
                        }
                    }
                    v => {
                        let expected = toml_to_json(v).map_err(|e| self.err_at(value, e))?;
                        Check::json_equals(path.get_ref(), expected)
                    }
                };
            out.push(check.map_err(|e| {
                self.err_at(path, format!("bad JSONPath '{}': {e}", path.get_ref()))
            })?);
        }
        Ok(())
    }

    fn think(&self, t: &Spanned<RawThink>) -> Result<Step> {
        let fixed = |text: &str| Spanned::new(t.span(), text.to_string());
        let time = match t.get_ref() {
            RawThink::Fixed(d) => ThinkTime::Fixed(self.duration(&fixed(d), "think time")?),
            RawThink::Table(table) => match (&table.uniform, &table.exponential) {
                (Some(u), None) => match u.get_ref().as_slice() {
                    [lo, hi] => {
                        let (a, b) = (
                            self.think_bound(lo)?,
                            self.think_bound(hi)?,
                        );
                        if b < a {
                            return Err(self.err_at(hi, "the upper bound must not be below the lower bound"));
                        }
                        ThinkTime::Uniform(a, b)
                    }
                    _ => {
                        return Err(self.err_at(
                            u,
                            "uniform takes two durations: { uniform = [\"1s\", \"3s\"] }",
                        ))
                    }
                },
                (None, Some(m)) => ThinkTime::Exponential(self.duration(m, "mean think time")?),
                _ => {
                    return Err(self.err_at(
                        t,
                        "think takes a duration such as \"1s\", { uniform = [\"1s\", \"3s\"] } or { exponential = \"2s\" }",
                    ))
                }
            },
        };
        Ok(Step::Think(time))
    }

    /// A uniform bound may be zero.
    fn think_bound(&self, v: &Spanned<String>) -> Result<Duration> {
        parse_duration(v.get_ref()).map_err(|e| {
            let reason = match e {
                stampede_plan::PlanError::Value { reason, .. } => reason,
                other => other.to_string(),
            };
            self.err_at(v, format!("bad think time '{}': {reason}", v.get_ref()))
        })
    }

    fn ws_expect(
        &mut self,
        r: &RawStep,
        e: &Spanned<RawWsExpect>,
        walk: &mut Walk,
        at: usize,
    ) -> Result<Step> {
        let x = e.get_ref();
        let timeout = match &x.timeout {
            Some(t) => self.duration(t, "timeout")?,
            None => self.timeout,
        };
        let mut matches = Vec::new();
        if let Some(c) = &x.contains {
            matches.push(Check::BodyContains(c.get_ref().clone()));
        }
        if let Some(j) = &x.json {
            self.json_checks(j, &mut matches)?;
        }
        let name = step_name(r, || "ws_expect".to_string());
        let key = self.key(walk, &name, at)?;
        self.step_thresholds(r, &key)?;
        let extract = self.extract(r, walk)?;
        Ok(Step::WsExpect(WsExpectStep {
            key,
            timeout,
            matches,
            extract,
        }))
    }
}

/// The step's `name`, or a default (with an empty span: it is not in the file).
fn step_name(r: &RawStep, default: impl FnOnce() -> String) -> Spanned<String> {
    match &r.name {
        Some(n) => n.clone(),
        None => Spanned::new(0..0, default()),
    }
}

/// Names of variables, feeders and targets: a letter or `_`, then letters, digits, `_`, `-`.
fn check_name(cx: &Cx<'_>, name: &Spanned<String>, what: &str) -> Result<()> {
    let n = name.get_ref();
    let ok = n
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && n.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if ok {
        Ok(())
    } else {
        Err(cx.err_at(
            name,
            format!(
                "bad {what} name '{n}'; expected a letter or '_' followed by letters, digits, '_' or '-'"
            ),
        ))
    }
}

/// An HTTP token (RFC 9110): method and header names.
fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn toml_to_json(v: &toml::Value) -> std::result::Result<serde_json::Value, String> {
    use serde_json::Value as J;
    Ok(match v {
        toml::Value::String(s) => J::String(s.clone()),
        toml::Value::Integer(n) => J::from(*n),
        toml::Value::Float(f) => serde_json::Number::from_f64(*f)
            .map(J::Number)
            .ok_or("NaN and infinity are not JSON values")?,
        toml::Value::Boolean(b) => J::Bool(*b),
        toml::Value::Datetime(d) => J::String(d.to_string()),
        toml::Value::Array(a) => J::Array(
            a.iter()
                .map(toml_to_json)
                .collect::<std::result::Result<_, _>>()?,
        ),
        toml::Value::Table(t) => J::Object(
            t.iter()
                .map(|(k, v)| Ok((k.clone(), toml_to_json(v)?)))
                .collect::<std::result::Result<_, String>>()?,
        ),
    })
}
