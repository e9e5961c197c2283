//! An instance outage (`down-at`, `up-at`): refused connects and closed connections while
//! down, the same address serving again after.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use stampede_testserver::{FaultProfile, TargetConfig, TargetHandle};

/// One `GET /` on a new connection: `Ok(served_by)` or the I/O error.
fn get(addr: SocketAddr) -> std::io::Result<String> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    stream.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")?;
    let mut text = String::new();
    stream.read_to_string(&mut text)?;
    text.lines()
        .find_map(|l| l.strip_prefix("x-served-by: ").map(str::to_owned))
        .ok_or_else(|| std::io::Error::other(format!("no answer: {text:?}")))
}

fn sleep_until(at: Instant) {
    std::thread::sleep(at.saturating_duration_since(Instant::now()));
}

#[test]
fn instance_goes_down_and_comes_back_on_the_same_address() {
    let mut config = TargetConfig::new("127.0.0.1:0".parse().unwrap());
    config.instances = 2;
    let outage = FaultProfile::default()
        .parse_overrides("down-at=400ms,up-at=1200ms")
        .unwrap();
    config.instance_profiles.insert(2, outage);
    let started = Instant::now();
    let target = TargetHandle::start(config).unwrap();
    let (one, two) = (target.addrs()[0], target.addrs()[1]);

    assert_eq!(get(two).unwrap(), "target-2");
    // A keep-alive connection opened before the outage is closed by it.
    let mut open = TcpStream::connect(two).unwrap();
    open.set_read_timeout(Some(Duration::from_secs(3))).unwrap();

    sleep_until(started + Duration::from_millis(600));
    let refused = get(two).unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::ConnectionRefused, "{refused}");
    assert_eq!(
        get(one).unwrap(),
        "target-1",
        "the other instance serves on"
    );
    let mut buf = [0u8; 16];
    match open.read(&mut buf) {
        Ok(0) => {}
        Err(e) if e.kind() == ErrorKind::ConnectionReset => {}
        other => panic!("the open connection was not closed by the outage: {other:?}"),
    }

    sleep_until(started + Duration::from_millis(1400));
    assert_eq!(get(two).unwrap(), "target-2", "back at up-at, same address");
    // The outage as it happened: down, then up, on instance 2's address, on time.
    let events = target.outage_events();
    let seen: Vec<_> = events
        .iter()
        .map(|e| (e.instance.as_str(), e.addr, e.down))
        .collect();
    assert_eq!(seen, [("target-2", two, true), ("target-2", two, false)]);
    for (e, want) in events.iter().zip([400, 1200]) {
        let late = e.since_start.as_millis() as i64 - want;
        assert!((0..100).contains(&late), "{e:?} is {late} ms late");
    }
    let wall = events[1].at.duration_since(events[0].at).unwrap();
    assert!(
        wall.abs_diff(Duration::from_millis(800)) < Duration::from_millis(100),
        "{wall:?}"
    );
    target.shutdown();
}

#[test]
fn outage_specs_are_checked() {
    let p = FaultProfile::default();
    let err = p.parse_overrides("up-at=2s").unwrap_err().to_string();
    assert!(err.contains("needs down-at"), "{err}");
    let err = p
        .parse_overrides("down-at=5s,up-at=2s")
        .unwrap_err()
        .to_string();
    assert!(err.contains("later than down-at"), "{err}");
    let err = p.parse_overrides("down-at=soon").unwrap_err().to_string();
    assert!(
        err.contains("down-at") && err.contains("not a duration"),
        "{err}"
    );
    let ok = p.parse_overrides("down-at=10s").unwrap();
    assert_eq!(ok.down_at, Some(Duration::from_secs(10)));
    assert_eq!(ok.up_at, None);
}
