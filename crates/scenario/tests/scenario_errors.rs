//! Every class of scenario-file error names the exact line and column and says what was
//! expected.

use std::path::Path;

use stampede_scenario::{parse_str, ScenarioError};

/// A target and the start of one scenario; tests append steps.
const HEAD: &str = r#"[target]
base_url = "http://127.0.0.1:8080"

[[scenarios]]
name = "s"
"#;

fn err(text: &str) -> ScenarioError {
    match parse_str(Path::new("j.toml"), text) {
        Ok(_) => panic!("accepted:\n{text}"),
        Err(e) => e,
    }
}

fn err_in(dir: &Path, text: &str) -> ScenarioError {
    match parse_str(&dir.join("j.toml"), text) {
        Ok(_) => panic!("accepted:\n{text}"),
        Err(e) => e,
    }
}

/// Asserts position and that the message contains each of `needles`.
#[track_caller]
fn assert_at(e: &ScenarioError, line: usize, column: usize, needles: &[&str]) {
    assert_eq!(
        (e.line, e.column),
        (line, column),
        "wrong position for: {e}"
    );
    for n in needles {
        assert!(e.message.contains(n), "message lacks {n:?}: {e}");
    }
    let shown = e.to_string();
    assert!(
        shown.starts_with(&format!("{}:{line}:{column}: ", e.path.display())),
        "{shown}"
    );
}

fn with_step(step: &str) -> String {
    format!("{HEAD}  [[scenarios.steps]]\n{step}")
}

#[test]
fn syntax_error() {
    let e = err("[target\nbase_url = \"http://x\"\n");
    assert_at(&e, 1, 8, &["]"]);
}

#[test]
fn unknown_key_at_top_level() {
    let e = err(&format!(
        "{HEAD}  [[scenarios.steps]]\n  url = \"/\"\n[lod]\nrate = 1\n"
    ));
    assert_at(
        &e,
        8,
        2,
        &["unknown field `lod`", "expected one of", "`load`"],
    );
}

#[test]
fn unknown_key_in_a_step() {
    let e = err(&with_step("  url = \"/\"\n  bdy = \"x\"\n"));
    assert_at(&e, 8, 3, &["unknown field `bdy`", "`body`", "`method`"]);
}

#[test]
fn unknown_key_in_load() {
    let e = err(&format!(
        "[load]\nmodel = \"open\"\nrat = 5\n{HEAD}  [[scenarios.steps]]\n  url = \"/\"\n"
    ));
    assert_at(&e, 3, 1, &["unknown field `rat`", "`rate`"]);
}

#[test]
fn wrong_type() {
    let e = err(&format!(
        "[load]\nmodel = \"closed\"\nvus = \"ten\"\n{HEAD}  [[scenarios.steps]]\n  url = \"/\"\n"
    ));
    assert_at(&e, 3, 7, &["invalid type: string \"ten\", expected i64"]);
}

#[test]
fn unknown_enum_value() {
    let e = err(&format!(
        "[load]\nmodel = \"opn\"\nrate = 5\n{HEAD}  [[scenarios.steps]]\n  url = \"/\"\n"
    ));
    assert_at(&e, 2, 9, &["`opn`", "`open`", "`closed`"]);
}

#[test]
fn bad_duration() {
    let e = err(&with_step("  think = \"2 sec and\"\n"));
    assert_at(&e, 7, 11, &["bad think time '2 sec and'", "10s"]);
    let e = err(&format!(
        "[load]\nrate = 5\nduration = \"0s\"\n{HEAD}  [[scenarios.steps]]\n  url = \"/\"\n"
    ));
    assert_at(&e, 3, 12, &["duration must be positive"]);
    let e = err(&with_step("  think = { uniform = [\"1s\", \"3x\"] }\n"));
    assert_at(&e, 7, 30, &["bad think time '3x'"]);
}

#[test]
fn bad_template_unknown_function() {
    let e = err(&with_step("  url = \"/u/{{ rnd_int(1, 5) }}\"\n"));
    // The column of `rnd_int` inside the string.
    assert_at(
        &e,
        7,
        16,
        &["template:", "unknown function 'rnd_int'", "rand_int"],
    );
}

#[test]
fn bad_template_unclosed_braces() {
    let e = err(&with_step(
        "  url = \"/u\"\n  body = '{\"a\": \"{{ uuid() \"}'\n",
    ));
    // `{{ uuid() "` : the quote where `}}` should be.
    assert_at(&e, 8, 28, &["template:", "expected '|' (a filter) or '}}'"]);
    let e = err(&with_step("  url = \"/u/{{ uuid()\"\n"));
    assert_at(&e, 7, 13, &["template:", "unclosed '{{'", "expected '}}'"]);
}

#[test]
fn bad_template_in_a_multiline_string() {
    let e = err(&with_step(
        "  url = \"/u\"\n  body = '''\n{\n  \"a\": \"{{ nope() }}\"\n}'''\n",
    ));
    assert_at(&e, 10, 12, &["unknown function 'nope'"]);
}

#[test]
fn undefined_variable() {
    let e = err(&format!(
        "[vars]\nplan = \"free\"\n{HEAD}  [[scenarios.steps]]\n  url = \"/u?p={{{{ plan }}}}&t={{{{ token }}}}\"\n"
    ));
    assert_at(
        &e,
        9,
        31,
        &["undefined variable 'token'", "defined here: plan"],
    );
}

#[test]
fn extracted_variables_are_defined_only_after_their_step() {
    let text = with_step(
        "  url = \"/me?t={{ token }}\"\n  [[scenarios.steps]]\n  url = \"/login\"\n  extract = { token = { json = \"$.token\" } }\n",
    );
    let e = err(&text);
    assert_at(&e, 7, 19, &["undefined variable 'token'"]);
    // In the right order it is fine, inside groups too.
    let ok = with_step(
        "  url = \"/login\"\n  extract = { token = { json = \"$.token\" } }\n  [[scenarios.steps]]\n  steps = [{ url = \"/a?t={{ token }}\", extract = { b = { header = \"x-b\" } } }, { url = \"/b/{{ b }}\" }]\n",
    );
    parse_str(Path::new("j.toml"), &ok).unwrap();
    // Another scenario does not see them.
    let other = format!(
        "{ok}[[scenarios]]\nname = \"t\"\n  [[scenarios.steps]]\n  url = \"/x/{{{{ token }}}}\"\n"
    );
    let e = err(&other);
    assert_at(&e, 14, 16, &["undefined variable 'token'"]);
}

#[test]
fn missing_csv_file() {
    let dir = tempfile::tempdir().unwrap();
    let e = err_in(
        dir.path(),
        &format!(
            "[feeders.users]\nfile = \"nope.csv\"\n{HEAD}  [[scenarios.steps]]\n  url = \"/\"\n"
        ),
    );
    assert_at(&e, 2, 8, &["feeder 'users'", "nope.csv"]);
}

#[test]
fn ragged_csv_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("u.csv"), "email,name\na@x,A\nb@x\n").unwrap();
    let e = err_in(
        dir.path(),
        &format!("[feeders.users]\nfile = \"u.csv\"\n{HEAD}  [[scenarios.steps]]\n  url = \"/\"\n"),
    );
    assert_at(&e, 2, 8, &["feeder 'users'", "u.csv:3"]);
}

#[test]
fn feeder_columns_are_variables() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("u.csv"), "email,name\na@x,A\n").unwrap();
    let text = format!(
        "[feeders.users]\nfile = \"u.csv\"\nmode = \"unique\"\n{HEAD}  [[scenarios.steps]]\n  url = \"/{{{{ users.email }}}}/{{{{ users.nme }}}}\"\n"
    );
    let e = err_in(dir.path(), &text);
    assert_at(
        &e,
        10,
        32,
        &["undefined variable 'users.nme'", "users.email, users.name"],
    );
}

#[test]
fn bad_jsonpath() {
    let e = err(&with_step(
        "  url = \"/\"\n  extract = { t = { json = \"$.[\" } }\n",
    ));
    assert_at(&e, 8, 28, &["bad JSONPath '$.['"]);
    let e = err(&with_step(
        "  url = \"/\"\n  checks = { json = { \"token\" = { exists = true } } }\n",
    ));
    assert_at(&e, 8, 23, &["bad JSONPath 'token'"]);
}

#[test]
fn bad_regex() {
    let e = err(&with_step(
        "  url = \"/\"\n  extract = { t = { regex = \"id=(\\\\d+\" } }\n",
    ));
    assert_at(&e, 8, 29, &["bad regex", "unclosed group"]);
    let e = err(&with_step(
        "  url = \"/\"\n  extract = { t = { regex = \"id=(\\\\d+)\", group = 2 } }\n",
    ));
    assert_at(&e, 8, 50, &["capture group 2"]);
}

#[test]
fn duplicate_step_name() {
    let e = err(&with_step(
        "  name = \"a\"\n  url = \"/1\"\n  [[scenarios.steps]]\n  name = \"a\"\n  url = \"/2\"\n",
    ));
    assert_at(&e, 10, 10, &["duplicate step name 's / a'", "line 7"]);
    // Default names are `METHOD url`.
    let e = err(&with_step(
        "  url = \"/1\"\n  [[scenarios.steps]]\n  steps = [{ url = \"/1\" }]\n",
    ));
    assert_at(&e, 9, 20, &["duplicate step name 's / GET /1'", "`name`"]);
}

#[test]
fn unknown_target() {
    let e = err(&with_step("  url = \"/\"\n  target = \"cdn\"\n"));
    assert_at(
        &e,
        8,
        12,
        &["unknown target 'cdn'", "defined targets: default"],
    );
}

#[test]
fn step_with_no_kind() {
    let e = err(&with_step("  name = \"x\"\n"));
    // At the step's table.
    assert_at(&e, 6, 3, &["exactly one of `url`, `think`", "has none"]);
}

#[test]
fn step_with_two_kinds() {
    let e = err(&with_step("  url = \"/\"\n  think = \"1s\"\n"));
    assert_at(&e, 6, 3, &["exactly one of", "`url` and `think`"]);
    let e = err(&with_step("  steps = [{ url = \"/\", ws_close = true }]\n"));
    assert_at(&e, 7, 12, &["exactly one of", "`url` and `ws_close`"]);
}

#[test]
fn key_of_another_step_kind() {
    let e = err(&with_step("  think = \"1s\"\n  method = \"POST\"\n"));
    assert_at(&e, 8, 12, &["`method` does not apply to a think step"]);
}

#[test]
fn bad_threshold() {
    let e = err(&format!(
        "thresholds = [\"p99 < 1s\", \"p99 <\"]\n{HEAD}  [[scenarios.steps]]\n  url = \"/\"\n"
    ));
    assert_at(&e, 1, 27, &["bad threshold"]);
    let e = err(&with_step(
        "  url = \"/\"\n  thresholds = [\"p99 < fast\"]\n",
    ));
    assert_at(&e, 8, 17, &["bad threshold"]);
}

#[test]
fn ws_send_without_ws_connect() {
    let e = err(&with_step("  ws_send = \"hi\"\n"));
    assert_at(&e, 6, 3, &["ws_send needs an open WebSocket", "ws_connect"]);
    let e = err(&with_step(
        "  ws_connect = \"/ws\"\n  [[scenarios.steps]]\n  ws_close = true\n  [[scenarios.steps]]\n  name = \"e\"\n  ws_expect = { contains = \"x\" }\n",
    ));
    assert_at(
        &e,
        10,
        3,
        &["ws_expect needs an open WebSocket", "closed on line 8"],
    );
}

#[test]
fn bad_load_combination() {
    let step = "  [[scenarios.steps]]\n  url = \"/\"\n";
    let e = err(&format!(
        "[load]\nmodel = \"closed\"\nrate = 5\n{HEAD}{step}"
    ));
    assert_at(&e, 3, 8, &["`rate` is for the open model", "`vus`"]);
    let e = err(&format!("[load]\nmodel = \"open\"\nvus = 5\n{HEAD}{step}"));
    assert_at(&e, 3, 7, &["`vus` is for the closed model", "`rate`"]);
    let e = err(&format!("[load]\nvus = 5\nmax_vus = 10\n{HEAD}{step}"));
    assert_at(&e, 3, 11, &["`max_vus` is for the open model"]);
    let e = err(&format!(
        "[load]\nrate = 5\nstages = [{{ duration = \"1s\", target = 2 }}]\n{HEAD}{step}"
    ));
    assert_at(&e, 2, 8, &["either `rate`", "not both"]);
    let e = err(&format!("[load]\nmodel = \"open\"\n{HEAD}{step}"));
    assert_at(&e, 1, 1, &["the open model needs `rate = N`"]);
    let e = err(&format!(
        "{HEAD}load = {{ model = \"open\", rate = 2, duration = \"5s\" }}\n{step}"
    ));
    assert_at(&e, 6, 47, &["`duration` applies to the whole run"]);
}

/// Each load error of either model, at the key that causes it (the open and the closed
/// model share one checking path).
#[test]
fn every_load_error_of_both_models() {
    let step = "  [[scenarios.steps]]\n  url = \"/\"\n";
    let cases: &[(&str, (usize, usize), &[&str])] = &[
        (
            "vus = 2\narrival = \"poisson\"",
            (3, 11),
            &["`arrival` is for the open model"],
        ),
        (
            "vus = 2\nstages = [{ duration = \"1s\", target = 2 }]",
            (2, 7),
            &["either `vus`", "not both"],
        ),
        ("rate = 0", (2, 8), &["`rate` must be a positive number"]),
        ("rate = -1.5", (2, 8), &["`rate` must be a positive number"]),
        ("vus = 0", (2, 7), &["`vus` must be a positive integer"]),
        (
            "model = \"closed\"",
            (1, 1),
            &["the closed model needs `vus = N` (virtual users)"],
        ),
        (
            "start = 0\nstages = [{ duration = \"1s\", target = 0 }]",
            (1, 1),
            &["the open model needs a rate above 0 somewhere"],
        ),
        (
            "model = \"closed\"\nstages = [{ duration = \"1s\", target = 0 }]",
            (1, 1),
            &["the closed model needs at least one virtual user"],
        ),
        (
            "model = \"closed\"\nstart = 1.5",
            (3, 9),
            &["`start` is virtual users: a whole number"],
        ),
        (
            "rate = 2\nmax_vus = 0",
            (3, 11),
            &["`max_vus` must be a positive"],
        ),
    ];
    for (load, (line, column), needles) in cases {
        let e = err(&format!("[load]\n{load}\n{HEAD}{step}"));
        assert_at(&e, *line, *column, needles);
    }
}

#[test]
fn body_and_body_file_are_exclusive() {
    let e = err(&with_step(
        "  url = \"/\"\n  body = \"x\"\n  body_file = \"b.json\"\n",
    ));
    assert_at(&e, 9, 15, &["either `body` or `body_file`"]);
}

#[test]
fn bad_method_and_header_name() {
    let e = err(&with_step("  url = \"/\"\n  method = \"GE T\"\n"));
    assert_at(&e, 8, 12, &["bad method 'GE T'", "GET"]);
    let e = err(&with_step(
        "  url = \"/\"\n  headers = { \"x y\" = \"1\" }\n",
    ));
    assert_at(&e, 8, 15, &["bad header name 'x y'", "token"]);
    // A check on a response header names it the same way.
    let e = err(&with_step(
        "  url = \"/\"\n  checks = { header = { \"x y\" = \"1\" } }\n",
    ));
    assert_at(&e, 8, 25, &["bad header name 'x y'", "token"]);
}

#[test]
fn bad_weight_and_missing_target() {
    let e = err(&format!(
        "{HEAD}weight = 0\n  [[scenarios.steps]]\n  url = \"/\"\n"
    ));
    assert_at(&e, 6, 10, &["weight must be a positive number"]);
    let e = err("[[scenarios]]\nname = \"s\"\n  [[scenarios.steps]]\n  url = \"/\"\n");
    assert_at(&e, 1, 1, &["no target", "base_url"]);
    let e = err("[target]\nbase_url = \"ftp://x\"\n");
    assert_at(&e, 2, 12, &["bad base_url", "ftp"]);
}

#[test]
fn missing_required_field() {
    let e = err(
        "[target]\nbase_url = \"http://x\"\n[[scenarios]]\n  [[scenarios.steps]]\n  url = \"/\"\n",
    );
    assert_at(&e, 3, 1, &["missing field `name`"]);
}
