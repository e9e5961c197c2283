//! Compiles arbitrary UTF-8 as a template; when it compiles, renders it with every variable
//! set and with none set. Nothing may panic, and errors must point inside the text.
#![no_main]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use libfuzzer_sys::fuzz_target;
use stampede_script::{RenderContext, Template, VarTable};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut vars = VarTable::new();
    let template = match Template::compile(text, &mut vars) {
        Ok(t) => t,
        Err(e) => {
            // Diagnostics slice the text at the error: it must be a valid range.
            let end = e.offset.checked_add(e.len).expect("offset + len overflows");
            assert!(end <= text.len(), "error past the end: {e:?}");
            assert!(text.is_char_boundary(e.offset) && text.is_char_boundary(end), "{e:?}");
            assert!(!e.message.is_empty());
            return;
        }
    };
    for (id, offset) in template.variables() {
        assert!(text[offset..].starts_with(vars.name(id)), "{id:?} at {offset}");
    }

    let seed = data.iter().fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(*b)));
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut counter = u64::MAX - 1; // exercises wrap-around
    let now = UNIX_EPOCH + Duration::from_millis(seed % (1 << 45));
    let all: Vec<Option<String>> = (0..vars.len())
        .map(|i| Some(text.chars().skip(i).take(8).collect()))
        .collect();

    let mut out = Vec::new();
    let mut ctx = RenderContext {
        vars: &all,
        rng: &mut rng,
        counter: &mut counter,
        vu: seed,
        iteration: u64::MAX,
        now,
    };
    template.render(&mut ctx, &mut out).expect("every variable is set");
    assert!(std::str::from_utf8(&out).is_ok(), "rendering is UTF-8");
    if let Some(literal) = template.literal() {
        assert_eq!(out, literal.as_bytes());
    }

    let none: Vec<Option<String>> = Vec::new();
    ctx.vars = &none;
    ctx.now = SystemTime::UNIX_EPOCH - Duration::from_secs(1);
    let rendered = template.render_string(&mut ctx);
    assert_eq!(rendered.is_err(), template.variables().next().is_some());
    if let Err(id) = rendered {
        assert!((id.0 as usize) < vars.len());
    }
});
