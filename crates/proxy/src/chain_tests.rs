use super::*;

fn toxic(spec: &str) -> Toxic {
    Toxic::parse_spec(spec).unwrap().remove(0)
}

fn chain(specs: &[&str], now: Instant) -> Chain {
    let toxics: Vec<Toxic> = specs.iter().map(|s| toxic(s)).collect();
    let mut c = Chain::new(Stream::Downstream);
    assert_eq!(c.rebuild(&toxics, now, || 0.0), None);
    c
}

fn push(c: &mut Chain, data: &[u8], at: Instant) -> Vec<Piece> {
    let mut out = VecDeque::new();
    c.push(Some(Bytes::copy_from_slice(data)), at, |n| n / 2, &mut out);
    out.into()
}

fn eof(c: &mut Chain, at: Instant) -> Vec<Piece> {
    let mut out = VecDeque::new();
    c.push(None, at, |n| n / 2, &mut out);
    out.into()
}

#[test]
fn latency_delays_from_read_time_and_keeps_order() {
    let t0 = Instant::now();
    let mut c = chain(&["latency=100ms"], t0);
    assert_eq!(push(&mut c, b"a", t0)[0].due, t0 + ms(100));
    assert_eq!(push(&mut c, b"b", t0 + ms(10))[0].due, t0 + ms(110));
    // jitter: latency + rand(2*jitter) - jitter, here rand gives the middle
    let mut c = chain(&["latency=100ms,jitter=10ms"], t0);
    assert_eq!(push(&mut c, b"a", t0)[0].due, t0 + ms(100));
    let mut out = VecDeque::new();
    c.push(
        Some(Bytes::from_static(b"x")),
        t0 + ms(200),
        |_| 0,
        &mut out,
    );
    assert_eq!(out[0].due, t0 + ms(290));
}

#[test]
fn bandwidth_paces_a_megabyte_over_ten_seconds() {
    let t0 = Instant::now();
    let mut c = chain(&["bandwidth=100KB"], t0);
    let body = vec![7u8; 1_000_000];
    let pieces = push(&mut c, &body, t0);
    assert!(pieces.iter().all(|p| p.data.len() <= 10_000));
    assert_eq!(
        pieces.iter().map(|p| p.data.len()).sum::<usize>(),
        1_000_000
    );
    assert_eq!(pieces.last().unwrap().due, t0 + Duration::from_secs(10));
    // the first 100 ms worth leaves after 100 ms
    assert_eq!(pieces[0].due, t0 + ms(100));
}

#[test]
fn limit_data_truncates_and_closes() {
    let t0 = Instant::now();
    let mut c = chain(&["limit_data=10B"], t0);
    assert_eq!(push(&mut c, b"123456", t0)[0].data.len(), 6);
    assert_eq!(c.ending(), None);
    let p = push(&mut c, b"789abc", t0 + ms(5));
    assert_eq!(&p[0].data[..], b"789a");
    assert_eq!(c.ending(), Some((t0 + ms(5), End::Close)));
    assert!(push(&mut c, b"more", t0 + ms(6)).is_empty());
}

#[test]
fn reset_peer_swallows_data_and_resets_after_its_timeout() {
    let t0 = Instant::now();
    let mut c = chain(&["reset_peer=50ms"], t0);
    assert_eq!(c.ending(), None, "nothing happens before data arrives");
    assert!(push(&mut c, b"req", t0 + ms(5)).is_empty());
    assert_eq!(c.ending(), Some((t0 + ms(55), End::Reset)));
}

#[test]
fn timeout_swallows_data_closes_after_timeout_and_on_removal() {
    let t0 = Instant::now();
    let mut c = chain(&["timeout=1s"], t0);
    assert!(push(&mut c, b"data", t0).is_empty());
    assert_eq!(c.ending(), Some((t0 + ms(1000), End::Close)));
    let mut c = chain(&["timeout=0s"], t0);
    assert_eq!(c.ending(), None, "timeout 0 holds the connection forever");
    assert_eq!(c.rebuild(&[], t0 + ms(5), || 0.0), Some(End::Close));
}

#[test]
fn slow_close_delays_the_end_of_stream_only() {
    let t0 = Instant::now();
    let mut c = chain(&["slow_close=300ms"], t0);
    assert_eq!(push(&mut c, b"x", t0)[0].due, t0);
    let e = eof(&mut c, t0 + ms(10));
    assert!(e[0].eof);
    assert_eq!(e[0].due, t0 + ms(310));
}

#[test]
fn slicer_cuts_pieces_with_delays() {
    let t0 = Instant::now();
    let mut c = chain(&["slicer=100B,delay=1ms"], t0);
    let p = push(&mut c, &[1u8; 400], t0);
    assert_eq!(p.len(), 4);
    assert!(p.iter().all(|p| p.data.len() == 100));
    assert_eq!(p[3].due, t0 + ms(3));
    // the next chunk waits for the delay after the last piece
    assert_eq!(push(&mut c, &[1u8; 10], t0)[0].due, t0 + ms(4));
}

#[test]
fn toxicity_is_rolled_once_per_connection_and_again_on_update() {
    let t0 = Instant::now();
    let half = toxic("latency=100ms,toxicity=0.5");
    let mut c = Chain::new(Stream::Downstream);
    c.rebuild(std::slice::from_ref(&half), t0, || 0.7);
    assert!(c.is_empty(), "0.7 >= 0.5: this connection is spared");
    // a rebuild for another reason keeps the roll
    c.rebuild(std::slice::from_ref(&half), t0, || 0.1);
    assert!(c.is_empty());
    let mut updated = half.clone();
    updated.kind = ToxicKind::Latency {
        latency_ms: 200,
        jitter_ms: 0,
    };
    c.rebuild(&[updated], t0, || 0.1);
    assert!(!c.is_empty(), "an updated toxic is rolled again");
}

#[test]
fn toxics_apply_in_order_and_only_to_their_stream() {
    let t0 = Instant::now();
    let mut up = toxic("latency=1s,stream=upstream");
    up.name = "up".into();
    let mut c = Chain::new(Stream::Downstream);
    c.rebuild(
        &[up, toxic("latency=100ms"), toxic("bandwidth=1KB")],
        t0,
        || 0.0,
    );
    // latency first (100 ms), then 1 KB/s: 500 bytes take 500 ms more
    let p = push(&mut c, &[0u8; 500], t0);
    assert_eq!(p.last().unwrap().due, t0 + ms(600));
}
