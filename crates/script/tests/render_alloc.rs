//! Rendering a compiled template into a reused buffer allocates nothing.
//!
//! Only allocations made by the test's own thread while counting is on are counted, so the
//! test harness's threads do not disturb the count.

// `GlobalAlloc` is an unsafe trait; implementing it is the only way to count allocations.
// The implementation forwards every call unchanged to `System`, upholding its contract.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::SystemTime;

use stampede_script::{RenderContext, Template, VarTable};

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
}

fn count() {
    if COUNTING.with(Cell::get) {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
    }
}

// SAFETY: every method forwards to `System` with the caller's arguments.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: forwarded unchanged; the caller upholds `alloc`'s contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by `System` with `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: forwarded unchanged; `ptr` was allocated by `System` with `layout`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn render_into_a_reused_buffer_does_not_allocate() {
    let mut vars = VarTable::new();
    let template = Template::compile(
        r#"{"user":"{{ user.name | json }}","id":{{ rand_int(1, 1000000) }},"req":"{{ uuid() }}","n":{{counter()}},"q":"{{ q | url | base64 }}","at":"{{now_iso()}}","tag":"{{ pick("a", "b") }}"}"#,
        &mut vars,
    )
    .unwrap();
    let mut values = vec![None; vars.len()];
    values[vars.get("user.name").unwrap().0 as usize] = Some("Zoë \"Z\"".to_string());
    values[vars.get("q").unwrap().0 as usize] = Some("a b&c".to_string());
    let mut rng = fastrand::Rng::with_seed(3);
    let mut counter = 0;
    let mut out = Vec::new();
    let mut ctx = RenderContext {
        vars: &values,
        rng: &mut rng,
        counter: &mut counter,
        vu: 1,
        iteration: 0,
        now: SystemTime::now(),
    };
    // Warm up: the buffer grows to its working size.
    template.render(&mut ctx, &mut out).unwrap();
    out.reserve(256);
    COUNTING.with(|c| c.set(true));
    for _ in 0..1000 {
        out.clear();
        template.render(&mut ctx, &mut out).unwrap();
    }
    COUNTING.with(|c| c.set(false));
    let allocations = ALLOCATIONS.load(Ordering::Relaxed);
    assert_eq!(allocations, 0, "rendering allocated");
    // The counter does count: a fresh String allocates.
    COUNTING.with(|c| c.set(true));
    let fresh = template.render_string(&mut ctx).unwrap();
    COUNTING.with(|c| c.set(false));
    assert!(ALLOCATIONS.load(Ordering::Relaxed) > 0);
    assert!(fresh.starts_with('{'));
    let body: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(body["user"], "Zoë \"Z\"");
    assert_eq!(body["n"], 1001);
}
