//! Request templates: text with `{{ expr }}` placeholders, compiled once and rendered per
//! request.
//!
//! # Syntax
//!
//! Literal text with placeholders `{{ expr }}`; whitespace inside the braces is optional.
//! A literal `{{` is written `{{ "{{" }}` (a lone `}}` in text is literal as it is).
//! `expr` is one of:
//!
//! * a variable: `name`, or dotted `feeder.column` / `name.part`. Names use the characters
//!   `[A-Za-z0-9_.-]`, start with a letter or `_`, and have no empty dotted part;
//! * a string literal `"..."` with the escapes `\"`, `\\` and `\n`;
//! * a function call:
//!   `uuid()` (random version 4 UUID),
//!   `rand_int(lo, hi)` (inclusive, `i64`),
//!   `rand_string(n)` (alphanumeric, `1 <= n <= 4096`),
//!   `rand_hex(n)` (lower-case hex digits, `1 <= n <= 4096`),
//!   `rand_email()` (such as `u8f3k2a9q@example.test`),
//!   `pick("a", "b", ...)` (one of the string literals, uniformly),
//!   `now_ms()`, `now_s()` (Unix time), `now_iso()` (RFC 3339 UTC with milliseconds),
//!   `counter()` (the virtual user's counter: incremented, then rendered, so 1, 2, 3, ...),
//!   `vu()` (virtual user id), `iteration()` (the virtual user's iteration number);
//!
//! optionally followed by filters, applied left to right: `| url` (percent-encodes all but
//! the unreserved characters `A-Z a-z 0-9 - . _ ~`), `| json` (escapes as the content of a
//! JSON string, without the quotes), `| base64` (standard alphabet, padded).
//!
//! ```
//! use stampede_script::template::{RenderContext, Template, VarTable};
//!
//! let mut vars = VarTable::new();
//! let t = Template::compile("/users/{{ user.id }}?q={{ q | url }}&n={{counter()}}", &mut vars)
//!     .unwrap();
//! let mut values = vec![None; vars.len()];
//! values[vars.get("user.id").unwrap().0 as usize] = Some("42".to_string());
//! values[vars.get("q").unwrap().0 as usize] = Some("a b&c".to_string());
//! let mut rng = fastrand::Rng::with_seed(7);
//! let mut counter = 0;
//! let mut ctx = RenderContext {
//!     vars: &values,
//!     rng: &mut rng,
//!     counter: &mut counter,
//!     vu: 1,
//!     iteration: 0,
//!     now: std::time::SystemTime::now(),
//! };
//! assert_eq!(t.render_string(&mut ctx).unwrap(), "/users/42?q=a%20b%26c&n=1");
//! ```
//!
//! # Performance
//!
//! Parsing, argument checks and constant folding (string literals and `pick` options with
//! their filters applied) happen in [`Template::compile`]. [`Template::render`] only appends
//! bytes to the caller's buffer: numbers are written with `itoa`, random text and hex by hand,
//! and filters work in place at the end of the buffer, so rendering into a reused `Vec`
//! allocates nothing beyond that buffer's growth.

use std::collections::HashMap;
use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

/// Identifies an interned variable name in a [`VarTable`]; indexes [`RenderContext::vars`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct VarId(pub u32);

/// Interns variable names so that templates refer to variables by a dense [`VarId`].
///
/// One table is shared by every template of a plan; the engine keeps one
/// `Vec<Option<String>>` of values per virtual user, indexed by `VarId.0`.
#[derive(Debug, Default, Clone)]
pub struct VarTable {
    names: Vec<String>,
    ids: HashMap<String, VarId>,
}

impl VarTable {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// The id of `name`, adding it if it is new: the same name always gets the same id.
    pub fn intern(&mut self, name: &str) -> VarId {
        if let Some(&id) = self.ids.get(name) {
            return id;
        }
        let id = VarId(u32::try_from(self.names.len()).expect("fewer than 2^32 variables"));
        self.names.push(name.to_string());
        self.ids.insert(name.to_string(), id);
        id
    }

    /// The id of `name`, if it was interned.
    pub fn get(&self, name: &str) -> Option<VarId> {
        self.ids.get(name).copied()
    }

    /// The name of `id`.
    ///
    /// # Panics
    ///
    /// When `id` was not made by this table.
    pub fn name(&self, id: VarId) -> &str {
        &self.names[id.0 as usize]
    }

    /// How many names are interned (ids are `0..len`).
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// Whether no name is interned.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
}

/// A template that does not compile: where (byte offset and length in the template text)
/// and what was expected.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct TemplateError {
    /// Byte offset of the bad part in the template text.
    pub offset: usize,
    /// Length in bytes of the bad part (0 at the end of the text).
    pub len: usize,
    /// What is wrong and what was expected.
    pub message: String,
}

impl TemplateError {
    fn new(offset: usize, len: usize, message: impl Into<String>) -> Self {
        Self {
            offset,
            len,
            message: message.into(),
        }
    }
}

/// What rendering needs from the virtual user that renders.
pub struct RenderContext<'a> {
    /// Variable values indexed by `VarId.0`; `None` (or an index past the end) means not set.
    pub vars: &'a [Option<String>],
    /// The virtual user's random number generator.
    pub rng: &'a mut fastrand::Rng,
    /// The virtual user's counter, for `counter()`.
    pub counter: &'a mut u64,
    /// The virtual user's id, for `vu()`.
    pub vu: u64,
    /// The virtual user's iteration number, for `iteration()`.
    pub iteration: u64,
    /// The time used by `now_ms()`, `now_s()` and `now_iso()`.
    pub now: SystemTime,
}

impl fmt::Debug for RenderContext<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RenderContext")
            .field("vars", &self.vars)
            .field("counter", &self.counter)
            .field("vu", &self.vu)
            .field("iteration", &self.iteration)
            .field("now", &self.now)
            .finish_non_exhaustive()
    }
}

/// A compiled template. See the [module docs](self) for the syntax.
#[derive(Debug, Clone)]
pub struct Template {
    /// All literal text (after constant folding), referenced by [`Part::Literal`].
    text: String,
    parts: Vec<Part>,
    /// Variable uses in source order: (id, byte offset in the source text).
    uses: Vec<(VarId, usize)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Filter {
    Url,
    Json,
    Base64,
}

const FILTERS: &[(&str, Filter)] = &[
    ("url", Filter::Url),
    ("json", Filter::Json),
    ("base64", Filter::Base64),
];

#[derive(Debug, Clone)]
enum Part {
    /// `text[start..end]`.
    Literal {
        start: usize,
        end: usize,
    },
    Var {
        id: VarId,
        filters: Vec<Filter>,
    },
    Func {
        func: Func,
        filters: Vec<Filter>,
    },
}

#[derive(Debug, Clone)]
enum Func {
    Uuid,
    RandInt {
        lo: i64,
        hi: i64,
    },
    RandString(usize),
    RandHex(usize),
    RandEmail,
    /// Options with their filters already applied.
    Pick(Vec<String>),
    NowMs,
    NowS,
    NowIso,
    Counter,
    Vu,
    Iteration,
}

const FUNCTIONS: &str =
    "uuid, rand_int, rand_string, rand_hex, rand_email, pick, now_ms, now_s, now_iso, counter, vu, iteration";

/// Most characters `rand_string(n)` and `rand_hex(n)` may produce.
pub const MAX_RANDOM_LEN: usize = 4096;

impl Template {
    /// Compiles `text`, interning its variable names in `vars`.
    pub fn compile(text: &str, vars: &mut VarTable) -> Result<Template, TemplateError> {
        let mut out = Template {
            text: String::new(),
            parts: Vec::new(),
            uses: Vec::new(),
        };
        let mut pos = 0;
        while pos < text.len() {
            let Some(rel) = text[pos..].find("{{") else {
                out.push_literal(&text[pos..]);
                break;
            };
            out.push_literal(&text[pos..pos + rel]);
            let open = pos + rel;
            let mut p = Parser {
                src: text,
                pos: open + 2,
                open,
            };
            let (expr, filters) = p.placeholder()?;
            pos = p.pos;
            match expr {
                Expr::Str(s) => {
                    let mut buf = s.into_bytes();
                    apply_filters(&filters, &mut buf, 0);
                    out.push_literal(&bytes_to_string(buf));
                }
                Expr::Var { name, offset } => {
                    let id = vars.intern(name);
                    out.uses.push((id, offset));
                    out.parts.push(Part::Var { id, filters });
                }
                Expr::Func(Func::Pick(options)) => {
                    let options = options
                        .into_iter()
                        .map(|o| {
                            let mut buf = o.into_bytes();
                            apply_filters(&filters, &mut buf, 0);
                            bytes_to_string(buf)
                        })
                        .collect();
                    out.parts.push(Part::Func {
                        func: Func::Pick(options),
                        filters: Vec::new(),
                    });
                }
                Expr::Func(func) => out.parts.push(Part::Func { func, filters }),
            }
        }
        out.text.shrink_to_fit();
        Ok(out)
    }

    fn push_literal(&mut self, s: &str) {
        if s.is_empty() {
            return;
        }
        let start = self.text.len();
        self.text.push_str(s);
        let end = self.text.len();
        if let Some(Part::Literal { end: last_end, .. }) = self.parts.last_mut() {
            if *last_end == start {
                *last_end = end;
                return;
            }
        }
        self.parts.push(Part::Literal { start, end });
    }

    /// `Some(text)` when rendering needs nothing from the context: no variable and no
    /// function call. Placeholders holding only string literals (`{{ "{{" }}`) are folded in.
    pub fn literal(&self) -> Option<&str> {
        match self.parts.as_slice() {
            [] => Some(""),
            [Part::Literal { start, end }] => Some(&self.text[*start..*end]),
            _ => None,
        }
    }

    /// The variables used, in source order, each with the byte offset of its name in the
    /// template text (a variable used twice appears twice).
    pub fn variables(&self) -> impl Iterator<Item = (VarId, usize)> + '_ {
        self.uses.iter().copied()
    }

    /// Appends the rendering to `out`. `Err(var)` when a variable is not set; `out` then
    /// holds a partial rendering past its original length.
    pub fn render(&self, ctx: &mut RenderContext<'_>, out: &mut Vec<u8>) -> Result<(), VarId> {
        for part in &self.parts {
            match part {
                Part::Literal { start, end } => {
                    out.extend_from_slice(&self.text.as_bytes()[*start..*end]);
                }
                Part::Var { id, filters } => {
                    let value = ctx
                        .vars
                        .get(id.0 as usize)
                        .and_then(Option::as_deref)
                        .ok_or(*id)?;
                    match filters.as_slice() {
                        [] => out.extend_from_slice(value.as_bytes()),
                        [first, rest @ ..] => {
                            let start = out.len();
                            encode(*first, value.as_bytes(), out);
                            apply_filters(rest, out, start);
                        }
                    }
                }
                Part::Func { func, filters } => {
                    let start = out.len();
                    render_func(func, ctx, out);
                    apply_filters(filters, out, start);
                }
            }
        }
        Ok(())
    }

    /// Renders into a new `String`. `Err(var)` when a variable is not set.
    pub fn render_string(&self, ctx: &mut RenderContext<'_>) -> Result<String, VarId> {
        let mut out = Vec::new();
        self.render(ctx, &mut out)?;
        Ok(bytes_to_string(out))
    }
}

/// Every input is UTF-8 and every filter keeps it so; this only guards against surprises.
fn bytes_to_string(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

// ---------------------------------------------------------------------------------------------
// Parsing

enum Expr<'s> {
    Str(String),
    Var { name: &'s str, offset: usize },
    Func(Func),
}

enum Arg {
    Int(i64),
    Str(String),
}

struct Parser<'s> {
    src: &'s str,
    pos: usize,
    /// Offset of the `{{` that opened the placeholder being parsed.
    open: usize,
}

fn is_name_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_'
}

fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-')
}

impl<'s> Parser<'s> {
    fn peek(&self) -> Option<u8> {
        self.src.as_bytes().get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    fn unclosed(&self) -> TemplateError {
        TemplateError::new(self.open, 2, "unclosed '{{'; expected '}}'")
    }

    /// An error about the character at the cursor (or the end of the text).
    fn unexpected(&self, expected: &str) -> TemplateError {
        match self.src[self.pos..].chars().next() {
            None => self.unclosed(),
            Some(c) => TemplateError::new(
                self.pos,
                c.len_utf8(),
                format!("unexpected {c:?}; expected {expected}"),
            ),
        }
    }

    fn placeholder(&mut self) -> Result<(Expr<'s>, Vec<Filter>), TemplateError> {
        self.skip_ws();
        let expr = self.expr()?;
        let mut filters = Vec::new();
        loop {
            self.skip_ws();
            if self.src[self.pos..].starts_with("}}") {
                self.pos += 2;
                return Ok((expr, filters));
            }
            match self.peek() {
                Some(b'|') => {
                    self.pos += 1;
                    self.skip_ws();
                    filters.push(self.filter()?);
                }
                _ => return Err(self.unexpected("'|' (a filter) or '}}'")),
            }
        }
    }

    fn name(&mut self) -> &'s str {
        let start = self.pos;
        while self.peek().is_some_and(is_name_byte) {
            self.pos += 1;
        }
        &self.src[start..self.pos]
    }

    fn filter(&mut self) -> Result<Filter, TemplateError> {
        if !self.peek().is_some_and(is_name_start) {
            return Err(self.unexpected("a filter name (url, json, base64)"));
        }
        let start = self.pos;
        let name = self.name();
        FILTERS
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, f)| *f)
            .ok_or_else(|| {
                TemplateError::new(
                    start,
                    name.len(),
                    format!("unknown filter '{name}'; expected one of: url, json, base64"),
                )
            })
    }

    fn expr(&mut self) -> Result<Expr<'s>, TemplateError> {
        match self.peek() {
            Some(b'"') => Ok(Expr::Str(self.string()?)),
            Some(b) if is_name_start(b) => {
                let start = self.pos;
                let name = self.name();
                let after_name = self.pos;
                self.skip_ws();
                if self.peek() == Some(b'(') {
                    self.pos += 1;
                    let args = self.args()?;
                    let call = (start, self.pos - start);
                    return self.call(name, start, args, call).map(Expr::Func);
                }
                self.pos = after_name;
                check_var_name(name, start)?;
                Ok(Expr::Var {
                    name,
                    offset: start,
                })
            }
            Some(b'}') if self.src[self.pos..].starts_with("}}") => Err(TemplateError::new(
                self.pos,
                2,
                "empty placeholder; expected a variable, a string literal or a function call",
            )),
            _ => Err(self.unexpected("a variable, a string literal or a function call")),
        }
    }

    /// A string literal at the cursor (which is on the opening quote).
    fn string(&mut self) -> Result<String, TemplateError> {
        let open = self.pos;
        self.pos += 1;
        let mut s = String::new();
        loop {
            let rest = &self.src[self.pos..];
            let Some(i) = rest.find(['"', '\\']) else {
                return Err(TemplateError::new(
                    open,
                    1,
                    "unterminated string literal; expected a closing '\"'",
                ));
            };
            s.push_str(&rest[..i]);
            self.pos += i;
            if rest.as_bytes()[i] == b'"' {
                self.pos += 1;
                return Ok(s);
            }
            let esc = self.src[self.pos + 1..].chars().next();
            match esc {
                Some('"') => s.push('"'),
                Some('\\') => s.push('\\'),
                Some('n') => s.push('\n'),
                Some(c) => {
                    return Err(TemplateError::new(
                        self.pos,
                        1 + c.len_utf8(),
                        format!("unknown escape '\\{c}'; expected one of: \\\" \\\\ \\n"),
                    ))
                }
                None => {
                    return Err(TemplateError::new(
                        open,
                        1,
                        "unterminated string literal; expected a closing '\"'",
                    ))
                }
            }
            self.pos += 2;
        }
    }

    /// Arguments after `(` up to and including `)`: each with its byte offset and length.
    fn args(&mut self) -> Result<Vec<(Arg, usize, usize)>, TemplateError> {
        let mut args = Vec::new();
        self.skip_ws();
        if self.peek() == Some(b')') {
            self.pos += 1;
            return Ok(args);
        }
        loop {
            self.skip_ws();
            let start = self.pos;
            let arg = match self.peek() {
                Some(b'"') => Arg::Str(self.string()?),
                Some(b'-' | b'0'..=b'9') => {
                    self.pos += 1;
                    while self.peek().is_some_and(|b| b.is_ascii_digit()) {
                        self.pos += 1;
                    }
                    let digits = &self.src[start..self.pos];
                    let n = digits.parse::<i64>().map_err(|_| {
                        TemplateError::new(
                            start,
                            digits.len(),
                            format!(
                                "bad integer '{digits}'; expected a whole number from {} to {}",
                                i64::MIN,
                                i64::MAX
                            ),
                        )
                    })?;
                    Arg::Int(n)
                }
                _ => return Err(self.unexpected("an argument (an integer or a string literal)")),
            };
            args.push((arg, start, self.pos - start));
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b')') => {
                    self.pos += 1;
                    return Ok(args);
                }
                _ => return Err(self.unexpected("',' or ')'")),
            }
        }
    }

    fn call(
        &self,
        name: &str,
        name_offset: usize,
        args: Vec<(Arg, usize, usize)>,
        (call_offset, call_len): (usize, usize),
    ) -> Result<Func, TemplateError> {
        let arity = |n: usize, shape: &str| -> Result<(), TemplateError> {
            if args.len() == n {
                Ok(())
            } else {
                Err(TemplateError::new(
                    call_offset,
                    call_len,
                    format!(
                        "{name} takes {n} argument{} ({shape}), got {}",
                        if n == 1 { "" } else { "s" },
                        args.len()
                    ),
                ))
            }
        };
        let int = |i: usize, what: &str| -> Result<i64, TemplateError> {
            match &args[i] {
                (Arg::Int(n), _, _) => Ok(*n),
                (Arg::Str(_), off, len) => Err(TemplateError::new(
                    *off,
                    *len,
                    format!("{name}: {what} must be an integer, not a string"),
                )),
            }
        };
        let length = |what: &str| -> Result<usize, TemplateError> {
            arity(1, what)?;
            let n = int(0, what)?;
            let (_, off, len) = args[0];
            usize::try_from(n)
                .ok()
                .filter(|n| (1..=MAX_RANDOM_LEN).contains(n))
                .ok_or_else(|| {
                    TemplateError::new(
                        off,
                        len,
                        format!(
                            "{name}: {what} {n} is out of range; expected 1 to {MAX_RANDOM_LEN}"
                        ),
                    )
                })
        };
        let func =
            match name {
                "uuid" => arity(0, "none").map(|_| Func::Uuid)?,
                "rand_int" => {
                    arity(2, "lo, hi")?;
                    let lo = int(0, "lo")?;
                    let hi = int(1, "hi")?;
                    if lo > hi {
                        return Err(TemplateError::new(
                            call_offset,
                            call_len,
                            format!("rand_int: lo {lo} > hi {hi}"),
                        ));
                    }
                    Func::RandInt { lo, hi }
                }
                "rand_string" => Func::RandString(length("n")?),
                "rand_hex" => Func::RandHex(length("n")?),
                "rand_email" => arity(0, "none").map(|_| Func::RandEmail)?,
                "pick" => {
                    if args.is_empty() {
                        return Err(TemplateError::new(
                            call_offset,
                            call_len,
                            "pick takes at least 1 argument (string literals), got 0",
                        ));
                    }
                    let mut options = Vec::with_capacity(args.len());
                    for (arg, off, len) in args {
                        match arg {
                            Arg::Str(s) => options.push(s),
                            Arg::Int(_) => return Err(TemplateError::new(
                                off,
                                len,
                                "pick: arguments must be string literals, e.g. pick(\"a\", \"b\")",
                            )),
                        }
                    }
                    Func::Pick(options)
                }
                "now_ms" => arity(0, "none").map(|_| Func::NowMs)?,
                "now_s" => arity(0, "none").map(|_| Func::NowS)?,
                "now_iso" => arity(0, "none").map(|_| Func::NowIso)?,
                "counter" => arity(0, "none").map(|_| Func::Counter)?,
                "vu" => arity(0, "none").map(|_| Func::Vu)?,
                "iteration" => arity(0, "none").map(|_| Func::Iteration)?,
                _ => {
                    return Err(TemplateError::new(
                        name_offset,
                        name.len(),
                        format!("unknown function '{name}'; expected one of: {FUNCTIONS}"),
                    ))
                }
            };
        Ok(func)
    }
}

fn check_var_name(name: &str, offset: usize) -> Result<(), TemplateError> {
    if name.split('.').any(str::is_empty) {
        return Err(TemplateError::new(
            offset,
            name.len(),
            format!(
                "bad variable name '{name}'; expected parts separated by single dots, e.g. user.id"
            ),
        ));
    }
    if let Some(part) = name.split('.').find(|p| !is_name_start(p.as_bytes()[0])) {
        let at = offset + (part.as_ptr() as usize - name.as_ptr() as usize);
        return Err(TemplateError::new(
            at,
            part.len(),
            format!("bad variable name '{name}'; each dotted part must start with a letter or '_'"),
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Rendering

const HEX: &[u8; 16] = b"0123456789abcdef";
const BASE36: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
const ALNUM: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

fn push_int(out: &mut Vec<u8>, n: impl itoa::Integer) {
    let mut buf = itoa::Buffer::new();
    out.extend_from_slice(buf.format(n).as_bytes());
}

fn render_func(func: &Func, ctx: &mut RenderContext<'_>, out: &mut Vec<u8>) {
    match func {
        Func::Uuid => push_uuid(ctx.rng.u128(..), out),
        Func::RandInt { lo, hi } => push_int(out, ctx.rng.i64(*lo..=*hi)),
        Func::RandString(n) => {
            out.reserve(*n);
            for _ in 0..*n {
                out.push(ALNUM[ctx.rng.usize(..ALNUM.len())]);
            }
        }
        Func::RandHex(n) => {
            out.reserve(*n);
            for _ in 0..*n {
                out.push(HEX[ctx.rng.usize(..16)]);
            }
        }
        Func::RandEmail => {
            out.push(b'u');
            for _ in 0..9 {
                out.push(BASE36[ctx.rng.usize(..BASE36.len())]);
            }
            out.extend_from_slice(b"@example.test");
        }
        Func::Pick(options) => {
            out.extend_from_slice(options[ctx.rng.usize(..options.len())].as_bytes());
        }
        Func::NowMs => push_int(out, unix(ctx.now).as_millis() as u64),
        Func::NowS => push_int(out, unix(ctx.now).as_secs()),
        Func::NowIso => push_iso(ctx.now, out),
        Func::Counter => {
            *ctx.counter = ctx.counter.wrapping_add(1);
            push_int(out, *ctx.counter);
        }
        Func::Vu => push_int(out, ctx.vu),
        Func::Iteration => push_int(out, ctx.iteration),
    }
}

fn unix(now: SystemTime) -> std::time::Duration {
    now.duration_since(UNIX_EPOCH).unwrap_or_default()
}

fn push_uuid(random: u128, out: &mut Vec<u8>) {
    // Version 4 (bits 76..80 = 0100) and the RFC 9562 variant (bits 62..64 = 10).
    let v = (random & !(0xf << 76) & !(0x3 << 62)) | (0x4 << 76) | (0x2 << 62);
    let mut buf = [b'-'; 36];
    let mut j = 0;
    for (i, byte) in v.to_be_bytes().into_iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            j += 1;
        }
        buf[j] = HEX[usize::from(byte >> 4)];
        buf[j + 1] = HEX[usize::from(byte & 0xf)];
        j += 2;
    }
    out.extend_from_slice(&buf);
}

fn push_2(out: &mut Vec<u8>, n: u64) {
    out.push(b'0' + (n / 10 % 10) as u8);
    out.push(b'0' + (n % 10) as u8);
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ`.
fn push_iso(now: SystemTime, out: &mut Vec<u8>) {
    let d = unix(now);
    let secs = d.as_secs();
    let (year, month, day) = civil_from_days((secs / 86_400) as i64);
    let rem = secs % 86_400;
    if (0..10_000).contains(&year) {
        let y = year as u64;
        push_2(out, y / 100);
        push_2(out, y % 100);
    } else {
        push_int(out, year);
    }
    out.push(b'-');
    push_2(out, month);
    out.push(b'-');
    push_2(out, day);
    out.push(b'T');
    push_2(out, rem / 3600);
    out.push(b':');
    push_2(out, rem / 60 % 60);
    out.push(b':');
    push_2(out, rem % 60);
    out.push(b'.');
    let ms = u64::from(d.subsec_millis());
    out.push(b'0' + (ms / 100) as u8);
    push_2(out, ms % 100);
    out.push(b'Z');
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar
/// (Howard Hinnant's `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, u64, u64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u64;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u64;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Applies `filters` in order to `out[start..]`, in place: each filter appends the encoding
/// of the raw bytes after them, and the result is moved down over the raw bytes.
fn apply_filters(filters: &[Filter], out: &mut Vec<u8>, start: usize) {
    for &filter in filters {
        let raw_end = out.len();
        match filter {
            Filter::Url => {
                for i in start..raw_end {
                    let b = out[i];
                    url_byte(b, out);
                }
            }
            Filter::Json => {
                for i in start..raw_end {
                    let b = out[i];
                    json_byte(b, out);
                }
            }
            Filter::Base64 => base64_tail(out, start, raw_end),
        }
        out.copy_within(raw_end.., start);
        out.truncate(out.len() - (raw_end - start));
    }
}

/// Appends `filter(input)` to `out`.
fn encode(filter: Filter, input: &[u8], out: &mut Vec<u8>) {
    match filter {
        Filter::Url => input.iter().for_each(|&b| url_byte(b, out)),
        Filter::Json => input.iter().for_each(|&b| json_byte(b, out)),
        Filter::Base64 => {
            out.reserve(input.len().div_ceil(3) * 4);
            let mut chunks = input.chunks_exact(3);
            for c in &mut chunks {
                base64_group(c[0], c[1], c[2], 3, out);
            }
            match *chunks.remainder() {
                [a] => base64_group(a, 0, 0, 1, out),
                [a, b] => base64_group(a, b, 0, 2, out),
                _ => {}
            }
        }
    }
}

/// Base64 of `out[start..raw_end]`, appended to `out`.
fn base64_tail(out: &mut Vec<u8>, start: usize, raw_end: usize) {
    let n = raw_end - start;
    out.reserve(n.div_ceil(3) * 4);
    let mut i = start;
    while i + 3 <= raw_end {
        let (a, b, c) = (out[i], out[i + 1], out[i + 2]);
        base64_group(a, b, c, 3, out);
        i += 3;
    }
    match raw_end - i {
        1 => {
            let a = out[i];
            base64_group(a, 0, 0, 1, out);
        }
        2 => {
            let (a, b) = (out[i], out[i + 1]);
            base64_group(a, b, 0, 2, out);
        }
        _ => {}
    }
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn base64_group(a: u8, b: u8, c: u8, n: usize, out: &mut Vec<u8>) {
    let v = u32::from(a) << 16 | u32::from(b) << 8 | u32::from(c);
    out.push(B64[(v >> 18) as usize & 63]);
    out.push(B64[(v >> 12) as usize & 63]);
    out.push(if n > 1 {
        B64[(v >> 6) as usize & 63]
    } else {
        b'='
    });
    out.push(if n > 2 { B64[v as usize & 63] } else { b'=' });
}

fn url_byte(b: u8, out: &mut Vec<u8>) {
    if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
        out.push(b);
    } else {
        out.extend_from_slice(&[
            b'%',
            HEX_UPPER[(b >> 4) as usize],
            HEX_UPPER[(b & 0xf) as usize],
        ]);
    }
}

const HEX_UPPER: &[u8; 16] = b"0123456789ABCDEF";

fn json_byte(b: u8, out: &mut Vec<u8>) {
    match b {
        b'"' => out.extend_from_slice(b"\\\""),
        b'\\' => out.extend_from_slice(b"\\\\"),
        b'\n' => out.extend_from_slice(b"\\n"),
        b'\r' => out.extend_from_slice(b"\\r"),
        b'\t' => out.extend_from_slice(b"\\t"),
        0x08 => out.extend_from_slice(b"\\b"),
        0x0c => out.extend_from_slice(b"\\f"),
        0..=0x1f => out.extend_from_slice(&[
            b'\\',
            b'u',
            b'0',
            b'0',
            HEX[(b >> 4) as usize],
            HEX[(b & 0xf) as usize],
        ]),
        _ => out.push(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    struct Vu {
        values: Vec<Option<String>>,
        rng: fastrand::Rng,
        counter: u64,
        now: SystemTime,
    }

    impl Vu {
        fn new() -> Self {
            Vu {
                values: Vec::new(),
                rng: fastrand::Rng::with_seed(42),
                counter: 0,
                now: UNIX_EPOCH + Duration::from_millis(1_795_588_800_123),
            }
        }

        fn set(&mut self, vars: &VarTable, name: &str, value: &str) {
            let id = vars.get(name).expect("interned").0 as usize;
            if self.values.len() <= id {
                self.values.resize(id + 1, None);
            }
            self.values[id] = Some(value.to_string());
        }

        fn render(&mut self, t: &Template) -> Result<String, VarId> {
            let mut ctx = RenderContext {
                vars: &self.values,
                rng: &mut self.rng,
                counter: &mut self.counter,
                vu: 7,
                iteration: 3,
                now: self.now,
            };
            t.render_string(&mut ctx)
        }
    }

    fn compile(text: &str) -> Template {
        Template::compile(text, &mut VarTable::new()).unwrap_or_else(|e| panic!("{text}: {e:?}"))
    }

    fn render(text: &str) -> String {
        Vu::new().render(&compile(text)).unwrap()
    }

    fn error(text: &str) -> TemplateError {
        Template::compile(text, &mut VarTable::new()).expect_err(text)
    }

    /// The error's offset, length and the bad part of the text.
    fn error_at(text: &str) -> (usize, usize, &str, String) {
        let e = error(text);
        (
            e.offset,
            e.len,
            &text[e.offset..e.offset + e.len],
            e.message,
        )
    }

    #[test]
    fn var_table_interns() {
        let mut t = VarTable::new();
        assert!(t.is_empty());
        let a = t.intern("a");
        let b = t.intern("user.id");
        assert_eq!(t.intern("a"), a);
        assert_ne!(a, b);
        assert_eq!(t.get("user.id"), Some(b));
        assert_eq!(t.get("nope"), None);
        assert_eq!(t.name(b), "user.id");
        assert_eq!(t.len(), 2);
        assert_eq!((a, b), (VarId(0), VarId(1)));
    }

    #[test]
    fn literal_text() {
        let t = compile("GET /hello }} world");
        assert_eq!(t.literal(), Some("GET /hello }} world"));
        assert_eq!(compile("").literal(), Some(""));
        assert_eq!(render("a }} b"), "a }} b");
    }

    #[test]
    fn escaped_braces_and_string_literals() {
        let t = compile(r#"{{ "{{" }} x }}"#);
        assert_eq!(t.literal(), Some("{{ x }}"));
        assert_eq!(render(r#"{{"a\"b\\c\nd"}}"#), "a\"b\\c\nd");
        assert_eq!(render(r#"{{ "}}" }}"#), "}}");
        assert_eq!(render(r#"{{ "é | x" }}"#), "é | x");
        assert_eq!(
            compile(r#"{"a": {{ "{{" }}}"#).literal(),
            Some(r#"{"a": {{}"#)
        );
    }

    #[test]
    fn variables_render_and_report_offsets() {
        let mut vars = VarTable::new();
        vars.intern("zero");
        let text = "/u/{{user.id}}/{{ token }}?again={{  user.id  }}";
        let t = Template::compile(text, &mut vars).unwrap();
        assert_eq!(t.literal(), None);
        let uses: Vec<_> = t.variables().collect();
        let id = vars.get("user.id").unwrap();
        let token = vars.get("token").unwrap();
        assert_eq!(uses, vec![(id, 5), (token, 18), (id, 37)]);
        for (v, off) in uses {
            assert!(text[off..].starts_with(vars.name(v)));
        }
        let mut vu = Vu::new();
        vu.set(&vars, "user.id", "42");
        vu.set(&vars, "token", "t-1");
        assert_eq!(vu.render(&t).unwrap(), "/u/42/t-1?again=42");
    }

    #[test]
    fn variable_names() {
        let mut vars = VarTable::new();
        let t = Template::compile("{{_a-b.c_9}}{{\n\tx\r\n}}", &mut vars).unwrap();
        assert_eq!(t.variables().count(), 2);
        assert!(vars.get("_a-b.c_9").is_some());
        assert!(vars.get("x").is_some());
    }

    #[test]
    fn missing_variable_is_an_error_naming_it() {
        let mut vars = VarTable::new();
        let t = Template::compile("{{a}}{{b}}", &mut vars).unwrap();
        let b = vars.get("b").unwrap();
        let mut vu = Vu::new();
        vu.set(&vars, "a", "1");
        // `b` is past the end of the values slice.
        assert_eq!(vu.render(&t), Err(b));
        vu.values.push(None);
        assert_eq!(vu.render(&t), Err(b));
        vu.set(&vars, "b", "2");
        assert_eq!(vu.render(&t).unwrap(), "12");
        let none: Vec<Option<String>> = Vec::new();
        vu.values = none;
        assert_eq!(vu.render(&t), Err(vars.get("a").unwrap()));
    }

    #[test]
    fn rand_int_stays_in_range() {
        let mut vu = Vu::new();
        let t = compile("{{ rand_int(-3, 3) }}");
        let mut seen = [false; 7];
        for _ in 0..10_000 {
            let n: i64 = vu.render(&t).unwrap().parse().unwrap();
            assert!((-3..=3).contains(&n), "{n}");
            seen[(n + 3) as usize] = true;
        }
        assert!(seen.iter().all(|s| *s), "every value drawn: {seen:?}");
        assert_eq!(render("{{rand_int(5,5)}}"), "5");
        let t = compile(&format!("{{{{rand_int({}, {})}}}}", i64::MIN, i64::MAX));
        for _ in 0..100 {
            vu.render(&t).unwrap().parse::<i64>().unwrap();
        }
    }

    fn is_uuid_v4(s: &str) -> bool {
        let b = s.as_bytes();
        b.len() == 36
            && b.iter().enumerate().all(|(i, c)| {
                if matches!(i, 8 | 13 | 18 | 23) {
                    *c == b'-'
                } else {
                    c.is_ascii_hexdigit() && !c.is_ascii_uppercase()
                }
            })
            && b[14] == b'4'
            && b"89ab".contains(&b[19])
    }

    #[test]
    fn uuid_is_v4_and_random() {
        let mut vu = Vu::new();
        let t = compile("{{uuid()}}");
        let mut seen = std::collections::HashSet::new();
        for _ in 0..1000 {
            let u = vu.render(&t).unwrap();
            assert!(is_uuid_v4(&u), "{u}");
            assert!(seen.insert(u));
        }
        assert_eq!(push_uuid_string(0), "00000000-0000-4000-8000-000000000000");
        assert_eq!(
            push_uuid_string(u128::MAX),
            "ffffffff-ffff-4fff-bfff-ffffffffffff"
        );
    }

    fn push_uuid_string(v: u128) -> String {
        let mut out = Vec::new();
        push_uuid(v, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn random_text() {
        let mut vu = Vu::new();
        let s = vu.render(&compile("{{rand_string(4096)}}")).unwrap();
        assert_eq!(s.len(), 4096);
        assert!(s.bytes().all(|b| b.is_ascii_alphanumeric()));
        for class in [
            u8::is_ascii_uppercase,
            u8::is_ascii_lowercase,
            u8::is_ascii_digit,
        ] {
            assert!(s.bytes().any(|b| class(&b)));
        }
        let h = vu.render(&compile("{{ rand_hex(33) }}")).unwrap();
        assert_eq!(h.len(), 33);
        assert!(h.bytes().all(|b| b"0123456789abcdef".contains(&b)), "{h}");
        let t = compile("{{rand_email()}}");
        let e = vu.render(&t).unwrap();
        let (local, domain) = e.split_once('@').unwrap();
        assert_eq!(domain, "example.test");
        assert_eq!(local.len(), 10);
        assert!(local.starts_with('u'));
        assert!(local
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()));
        assert_ne!(vu.render(&t).unwrap(), e);
    }

    #[test]
    fn pick_is_uniform_over_its_options() {
        let mut vu = Vu::new();
        let t = compile(r#"{{ pick("a", "b c", "d") | url }}"#);
        let mut counts = std::collections::HashMap::new();
        for _ in 0..3000 {
            *counts.entry(vu.render(&t).unwrap()).or_insert(0) += 1;
        }
        assert_eq!(counts.len(), 3, "{counts:?}");
        for option in ["a", "b%20c", "d"] {
            assert!((800..1200).contains(&counts[option]), "{counts:?}");
        }
        assert_eq!(render(r#"{{pick("only")}}"#), "only");
    }

    #[test]
    fn time_functions() {
        assert_eq!(render("{{now_ms()}}"), "1795588800123");
        assert_eq!(render("{{now_s()}}"), "1795588800");
        assert_eq!(render("{{now_iso()}}"), "2026-11-25T06:40:00.123Z");
        let iso = |ms: u64| {
            let mut out = Vec::new();
            push_iso(UNIX_EPOCH + Duration::from_millis(ms), &mut out);
            String::from_utf8(out).unwrap()
        };
        assert_eq!(iso(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso(1_709_251_199_009), "2024-02-29T23:59:59.009Z");
        assert_eq!(iso(951_868_800_000), "2000-03-01T00:00:00.000Z");
        let mut out = Vec::new();
        push_iso(UNIX_EPOCH - Duration::from_secs(5), &mut out);
        assert_eq!(
            out, b"1970-01-01T00:00:00.000Z",
            "before the epoch clamps to it"
        );
    }

    #[test]
    fn counter_vu_and_iteration() {
        let mut vu = Vu::new();
        let t = compile("{{counter()}},{{ counter() }}");
        assert_eq!(vu.render(&t).unwrap(), "1,2");
        assert_eq!(vu.render(&t).unwrap(), "3,4");
        assert_eq!(vu.counter, 4);
        assert_eq!(
            vu.render(&compile("{{vu()}}/{{iteration()}}")).unwrap(),
            "7/3"
        );
    }

    #[test]
    fn url_filter() {
        let mut vars = VarTable::new();
        let t = Template::compile("{{q|url}}", &mut vars).unwrap();
        let mut vu = Vu::new();
        vu.set(&vars, "q", "a b&c=d/é~-._?#%+");
        assert_eq!(
            vu.render(&t).unwrap(),
            "a%20b%26c%3Dd%2F%C3%A9~-._%3F%23%25%2B"
        );
    }

    #[test]
    fn json_filter() {
        let mut vars = VarTable::new();
        let t = Template::compile(r#"{"name":"{{ name | json }}"}"#, &mut vars).unwrap();
        let mut vu = Vu::new();
        let nasty = "q\"b\\s\nr\rt\tb\u{8}f\u{c}u\u{1}é\u{7f}";
        vu.set(&vars, "name", nasty);
        let body = vu.render(&t).unwrap();
        assert_eq!(
            body,
            "{\"name\":\"q\\\"b\\\\s\\nr\\rt\\tb\\bf\\fu\\u0001é\u{7f}\"}"
        );
        let parsed: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(parsed["name"], nasty);
    }

    #[test]
    fn base64_filter() {
        let cases = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
            ("é?>", "w6k/Pg=="),
        ];
        let mut vars = VarTable::new();
        // Direct from a variable, and in place (after a first filter, and on a literal).
        let direct = Template::compile("{{v|base64}}", &mut vars).unwrap();
        let in_place = Template::compile("{{ v | url | base64 }}", &mut vars).unwrap();
        for (raw, b64) in cases {
            let mut vu = Vu::new();
            vu.set(&vars, "v", raw);
            assert_eq!(vu.render(&direct).unwrap(), b64, "{raw}");
            if !raw.contains(['é', '?', '>']) {
                assert_eq!(vu.render(&in_place).unwrap(), b64, "{raw}");
            }
            let lit = compile(&format!("{{{{ \"{raw}\" | base64 }}}}"));
            assert_eq!(lit.literal(), Some(b64));
        }
    }

    #[test]
    fn filters_chain_left_to_right() {
        assert_eq!(render(r#"{{ "a b" | base64 | url }}"#), "YSBi");
        assert_eq!(render(r#"{{ "?" | base64 | url }}"#), "Pw%3D%3D");
        assert_eq!(render(r#"{{ "a\"b" | json | url }}"#), "a%5C%22b");
        assert_eq!(render(r#"{{ "a\"b" | url | json }}"#), "a%22b");
        // Filters on function results work in place, after preceding text.
        let s = render("x={{ uuid() | base64 }}");
        let b64 = s.strip_prefix("x=").unwrap();
        assert_eq!(b64.len(), 48);
        let n = render("{{ rand_int(1000, 1000) | base64 | base64 }}");
        assert_eq!(n, "TVRBd01BPT0="); // base64(base64("1000")) = base64("MTAwMA==")
    }

    #[test]
    fn error_unclosed() {
        let (off, len, part, msg) = error_at("abc {{ name ");
        assert_eq!((off, len, part), (4, 2, "{{"));
        assert_eq!(msg, "unclosed '{{'; expected '}}'");
        assert_eq!(error_at("{{").0, 0);
        assert_eq!(error_at("x{{ a |").2, "{{");
        assert_eq!(error_at("x{{ rand_int(1,").2, "{{");
        assert_eq!(error_at("x{{ a }").2, "}");
    }

    #[test]
    fn error_unknown_function() {
        let (off, len, part, msg) = error_at("id={{ rnd_int(1, 2) }}");
        assert_eq!((off, len, part), (6, 7, "rnd_int"));
        assert_eq!(
            msg,
            "unknown function 'rnd_int'; expected one of: uuid, rand_int, rand_string, rand_hex, \
             rand_email, pick, now_ms, now_s, now_iso, counter, vu, iteration"
        );
        assert_eq!(error_at("{{ user.id() }}").2, "user.id");
    }

    #[test]
    fn error_bad_arguments() {
        let (_, _, part, msg) = error_at("{{ rand_int(5, 1) }}");
        assert_eq!(part, "rand_int(5, 1)");
        assert_eq!(msg, "rand_int: lo 5 > hi 1");
        let (_, _, part, msg) = error_at("{{ rand_int(5) }}");
        assert_eq!(part, "rand_int(5)");
        assert_eq!(msg, "rand_int takes 2 arguments (lo, hi), got 1");
        let (_, _, part, msg) = error_at(r#"{{ rand_int("1", 2) }}"#);
        assert_eq!(part, "\"1\"");
        assert_eq!(msg, "rand_int: lo must be an integer, not a string");
        let (_, _, part, msg) = error_at("{{ uuid(1) }}");
        assert_eq!(
            (part, msg.as_str()),
            ("uuid(1)", "uuid takes 0 arguments (none), got 1")
        );
        for (text, bad) in [
            ("{{rand_string(0)}}", "0"),
            ("{{rand_string(4097)}}", "4097"),
            ("{{rand_hex(-1)}}", "-1"),
        ] {
            let (_, _, part, msg) = error_at(text);
            assert_eq!(part, bad, "{text}");
            assert!(
                msg.ends_with("is out of range; expected 1 to 4096"),
                "{msg}"
            );
        }
        let (_, _, part, msg) = error_at("{{ pick() }}");
        assert_eq!(part, "pick()");
        assert!(msg.starts_with("pick takes at least 1 argument"), "{msg}");
        let (_, _, part, msg) = error_at(r#"{{ pick("a", 2) }}"#);
        assert_eq!(part, "2");
        assert!(msg.contains("string literals"), "{msg}");
        let (_, _, part, msg) = error_at("{{ rand_int(1, 99999999999999999999) }}");
        assert_eq!(part, "99999999999999999999");
        assert!(msg.starts_with("bad integer"), "{msg}");
        let (_, _, part, msg) = error_at("{{ rand_int(1 2) }}");
        assert_eq!(part, "2");
        assert_eq!(msg, "unexpected '2'; expected ',' or ')'");
        let (_, _, part, _) = error_at("{{ rand_int(x) }}");
        assert_eq!(part, "x");
        assert_eq!(error_at("{{ rand_int(-) }}").2, "-");
    }

    #[test]
    fn error_filters_and_syntax() {
        let (_, _, part, msg) = error_at("{{ a | urlencode }}");
        assert_eq!(part, "urlencode");
        assert_eq!(
            msg,
            "unknown filter 'urlencode'; expected one of: url, json, base64"
        );
        let (_, _, part, msg) = error_at("{{ a | }}");
        assert_eq!(part, "}");
        assert!(msg.contains("expected a filter name"), "{msg}");
        let (_, _, part, msg) = error_at("x {{ }}");
        assert_eq!(part, "}}");
        assert!(msg.starts_with("empty placeholder"), "{msg}");
        let (_, _, part, msg) = error_at("{{ a b }}");
        assert_eq!(part, "b");
        assert_eq!(msg, "unexpected 'b'; expected '|' (a filter) or '}}'");
        let (_, _, part, _) = error_at("{{ 1 }}");
        assert_eq!(part, "1");
        let (_, _, part, _) = error_at("{{ é }}");
        assert_eq!(part, "é");
        assert_eq!(error_at("{{{ a }}").2, "{");
    }

    #[test]
    fn error_strings() {
        let (_, _, part, msg) = error_at(r#"x{{ "abc }}"#);
        assert_eq!(part, "\"");
        assert!(msg.starts_with("unterminated string literal"), "{msg}");
        let (_, _, part, msg) = error_at(r#"{{ "a\tb" }}"#);
        assert_eq!(part, "\\t");
        assert_eq!(msg, "unknown escape '\\t'; expected one of: \\\" \\\\ \\n");
        assert_eq!(error_at(r#"{{ "a\é" }}"#).2, "\\é");
        assert_eq!(error_at("{{ \"a\\").2, "\"");
    }

    #[test]
    fn error_variable_names() {
        let (_, _, part, msg) = error_at("{{ a..b }}");
        assert_eq!(part, "a..b");
        assert!(msg.starts_with("bad variable name 'a..b'"), "{msg}");
        assert_eq!(error_at("{{ a. }}").2, "a.");
        let (_, _, part, msg) = error_at("{{ a.1b }}");
        assert_eq!(part, "1b");
        assert!(msg.contains("must start with a letter"), "{msg}");
    }

    #[test]
    fn error_display_is_the_message() {
        let e = error("{{ x");
        assert_eq!(e.to_string(), e.message);
    }

    #[test]
    fn render_appends_and_reuses_the_buffer() {
        let mut vars = VarTable::new();
        let t = Template::compile("a={{a}}", &mut vars).unwrap();
        let mut vu = Vu::new();
        vu.set(&vars, "a", "1");
        let mut out = b"prefix ".to_vec();
        let mut ctx = RenderContext {
            vars: &vu.values,
            rng: &mut vu.rng,
            counter: &mut vu.counter,
            vu: 0,
            iteration: 0,
            now: vu.now,
        };
        t.render(&mut ctx, &mut out).unwrap();
        assert_eq!(out, b"prefix a=1");
        assert!(format!("{ctx:?}").contains("RenderContext"));
    }
}
