//! Which series a scrape gives: `--server-metric NAME{labels}` picks, or the node
//! exporter defaults; and how readings at second boundaries become one value per second
//! (gauges as read at the end of the second, counters as their rate over it).

use super::text::{Cursor, Exposition, Labels};

/// A `--server-metric` pick: a metric name and labels every picked sample must carry.
#[derive(Debug, Clone, PartialEq)]
pub struct Selector {
    name: String,
    labels: Labels,
    /// `rate(...)` asked for: a counter whatever its `# TYPE` says.
    force_rate: bool,
}

impl Selector {
    /// Parses `NAME`, `NAME{label="v",...}` or `rate(NAME{...})`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let t = text.trim();
        let (inner, force_rate) = match t.strip_prefix("rate(").and_then(|r| r.strip_suffix(')')) {
            Some(inner) => (inner, true),
            None => (t, false),
        };
        let mut c = Cursor { s: inner, at: 0 };
        let (name, labels) = c
            .series()
            .map_err(|(col, what)| format!("'{text}', column {}: {what}", col + 1))?;
        if !c.done() {
            return Err(format!(
                "'{text}', column {}: unexpected text after the series",
                c.at + 1
            ));
        }
        Ok(Selector {
            name,
            labels,
            force_rate,
        })
    }
}

/// How a series' value is made from readings.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    /// The reading at the end of the second.
    Gauge,
    /// (end − start) / seconds between the readings; null across a counter reset.
    Rate,
    /// 1 − Δidle / Δall over all CPUs (readings: idle, all).
    Busy,
}

/// One series family to produce from each scrape.
#[derive(Debug, Clone)]
pub(crate) struct Spec {
    pub(crate) name: String,
    pub(crate) derived: String,
    pub(crate) unit: Option<String>,
    kind: Kind,
    read: Read,
}

#[derive(Debug, Clone)]
enum Read {
    Pick(Selector),
    Cpu,
    /// A per-device network counter summed over the devices other than `lo` (`lo` only
    /// when it is the only one).
    Net(&'static str),
}

fn net_devices<'a>(e: &'a Exposition, metric: &'a str) -> Vec<(&'a str, f64)> {
    let all: Vec<(&str, f64)> = e
        .named(metric)
        .filter_map(|s| s.labels.get("device").map(|d| (d.as_str(), s.value)))
        .collect();
    let outside: Vec<(&str, f64)> = all.iter().copied().filter(|(d, _)| *d != "lo").collect();
    if outside.is_empty() {
        all
    } else {
        outside
    }
}

impl Spec {
    /// The node exporter defaults.
    pub(crate) fn defaults() -> Vec<Spec> {
        let spec = |name: &str, derived: &str, unit: &str, kind, read| Spec {
            name: name.into(),
            derived: derived.into(),
            unit: Some(unit.into()),
            kind,
            read,
        };
        let pick = |name: &str| Read::Pick(Selector::parse(name).expect("a valid default"));
        vec![
            spec(
                "cpu_busy",
                "1 - rate(node_cpu_seconds_total{mode=\"idle\"}) / rate(node_cpu_seconds_total), all CPUs",
                "ratio",
                Kind::Busy,
                Read::Cpu,
            ),
            spec(
                "memory_available",
                "node_memory_MemAvailable_bytes",
                "bytes",
                Kind::Gauge,
                pick("node_memory_MemAvailable_bytes"),
            ),
            spec(
                "network_received",
                "rate(node_network_receive_bytes_total), summed over devices other than lo",
                "bytes/s",
                Kind::Rate,
                Read::Net("node_network_receive_bytes_total"),
            ),
            spec(
                "network_sent",
                "rate(node_network_transmit_bytes_total), summed over devices other than lo",
                "bytes/s",
                Kind::Rate,
                Read::Net("node_network_transmit_bytes_total"),
            ),
            spec(
                "tcp_inuse",
                "node_sockstat_TCP_inuse",
                "sockets",
                Kind::Gauge,
                pick("node_sockstat_TCP_inuse"),
            ),
            spec(
                "tcp_retransmits",
                "rate(node_netstat_Tcp_RetransSegs)",
                "segments/s",
                Kind::Rate,
                pick("node_netstat_Tcp_RetransSegs"),
            ),
        ]
    }

    /// A `--server-metric` pick; counters (by `# TYPE`, a `_total` name or `rate(...)`)
    /// are rated, which is only known once a scrape says the type (see [`Spec::settle`]).
    pub(crate) fn picked(sel: Selector) -> Spec {
        Spec {
            name: sel.name.clone(),
            derived: String::new(),
            unit: None,
            kind: Kind::Gauge,
            read: Read::Pick(sel),
        }
    }

    /// Settles a pick's kind and unit from the first successful scrape.
    pub(crate) fn settle(&mut self, e: &Exposition) {
        let Read::Pick(sel) = &self.read else { return };
        if !self.derived.is_empty() {
            return;
        }
        let n = &sel.name;
        let counter = sel.force_rate
            || e.types.get(n).is_some_and(|t| t == "counter")
            || n.ends_with("_total");
        self.kind = if counter { Kind::Rate } else { Kind::Gauge };
        self.derived = if counter {
            format!("rate({n})")
        } else {
            "value".into()
        };
        let base = n.strip_suffix("_total").unwrap_or(n);
        let unit = ["bytes", "seconds"].into_iter().find(|u| base.ends_with(u));
        self.unit = unit.map(|u| if counter { format!("{u}/s") } else { u.into() });
    }

    /// This family's readings in one scrape, by the series' labels.
    pub(crate) fn read(&self, e: &Exposition) -> Vec<(Labels, [f64; 2])> {
        match &self.read {
            Read::Pick(sel) => e
                .named(&sel.name)
                .filter(|s| sel.labels.iter().all(|(k, v)| s.labels.get(k) == Some(v)))
                .map(|s| (s.labels.clone(), [s.value, 0.0]))
                .collect(),
            Read::Cpu => {
                let mut idle = 0.0;
                let mut all = 0.0;
                let mut any = false;
                for s in e.named("node_cpu_seconds_total") {
                    any = true;
                    all += s.value;
                    if s.labels.get("mode").is_some_and(|m| m == "idle") {
                        idle += s.value;
                    }
                }
                if any {
                    vec![(Labels::new(), [idle, all])]
                } else {
                    Vec::new()
                }
            }
            Read::Net(metric) => {
                let devices = net_devices(e, metric);
                if devices.is_empty() {
                    return Vec::new();
                }
                let names: Vec<&str> = devices.iter().map(|(d, _)| *d).collect();
                let sum = devices.iter().map(|(_, v)| v).sum();
                let labels = Labels::from([("device".to_string(), names.join(","))]);
                vec![(labels, [sum, 0.0])]
            }
        }
    }

    /// When its values are measured: a gauge as read at the second's end, a rate or CPU
    /// share over the whole second.
    pub(crate) fn sampled(&self) -> stampede_result::Sampled {
        match self.kind {
            Kind::Gauge => stampede_result::Sampled::EndOfSecond,
            Kind::Rate | Kind::Busy => stampede_result::Sampled::OverSecond,
        }
    }

    /// The value of a second from the readings at its start and end, `dt` seconds apart.
    pub(crate) fn value(&self, start: Option<[f64; 2]>, end: [f64; 2], dt: f64) -> Option<f64> {
        let v = match self.kind {
            Kind::Gauge => end[0],
            Kind::Rate => {
                let d = end[0] - start?[0];
                if d < 0.0 || dt <= 0.0 {
                    return None;
                }
                d / dt
            }
            Kind::Busy => {
                let s = start?;
                let all = end[1] - s[1];
                if all <= 0.0 {
                    return None;
                }
                (1.0 - (end[0] - s[0]) / all).clamp(0.0, 1.0)
            }
        };
        v.is_finite().then_some(v)
    }
}

#[cfg(test)]
mod tests {
    use super::super::text::parse;
    use super::*;

    #[test]
    fn cpu_busy_is_one_minus_the_idle_share() {
        let a = parse(
            "node_cpu_seconds_total{cpu=\"0\",mode=\"idle\"} 10\nnode_cpu_seconds_total{cpu=\"0\",mode=\"user\"} 10\n\
             node_cpu_seconds_total{cpu=\"1\",mode=\"idle\"} 10\nnode_cpu_seconds_total{cpu=\"1\",mode=\"user\"} 10\n",
        )
        .unwrap();
        let b = parse(
            "node_cpu_seconds_total{cpu=\"0\",mode=\"idle\"} 10.25\nnode_cpu_seconds_total{cpu=\"0\",mode=\"user\"} 10.75\n\
             node_cpu_seconds_total{cpu=\"1\",mode=\"idle\"} 11\nnode_cpu_seconds_total{cpu=\"1\",mode=\"user\"} 10\n",
        )
        .unwrap();
        let cpu = &Spec::defaults()[0];
        let (ra, rb) = (cpu.read(&a)[0].1, cpu.read(&b)[0].1);
        // 2 CPU-seconds passed, 1.25 of them idle.
        assert_eq!(cpu.value(Some(ra), rb, 1.0), Some(0.375));
        assert_eq!(cpu.value(None, rb, 1.0), None);
    }

    #[test]
    fn network_leaves_loopback_out_unless_it_is_all_there_is() {
        let net = &Spec::defaults()[2];
        let both = parse(
            "node_network_receive_bytes_total{device=\"lo\"} 500\nnode_network_receive_bytes_total{device=\"eth0\"} 100\nnode_network_receive_bytes_total{device=\"eth1\"} 50\n",
        )
        .unwrap();
        let r = net.read(&both);
        assert_eq!(r[0].0["device"], "eth0,eth1");
        assert_eq!(r[0].1[0], 150.0);
        let lo = parse("node_network_receive_bytes_total{device=\"lo\"} 500\n").unwrap();
        assert_eq!(net.read(&lo)[0].0["device"], "lo");
        assert_eq!(
            net.value(Some([100.0, 0.0]), [400.0, 0.0], 2.0),
            Some(150.0)
        );
        assert_eq!(
            net.value(Some([400.0, 0.0]), [100.0, 0.0], 2.0),
            None,
            "reset"
        );
    }

    #[test]
    fn picks_match_labels_and_counters_become_rates() {
        let e = parse(
            "# TYPE http_requests counter\nhttp_requests{code=\"200\",path=\"/\"} 5\nhttp_requests{code=\"500\",path=\"/\"} 1\nqueue_depth 3\n",
        )
        .unwrap();
        let mut s = Spec::picked(Selector::parse("http_requests{code=\"500\"}").unwrap());
        s.settle(&e);
        assert_eq!(s.derived, "rate(http_requests)");
        assert_eq!(s.read(&e).len(), 1);
        let mut g = Spec::picked(Selector::parse("queue_depth").unwrap());
        g.settle(&e);
        assert_eq!(
            (g.derived.as_str(), g.value(None, [3.0, 0.0], 1.0)),
            ("value", Some(3.0))
        );
        let mut r = Spec::picked(Selector::parse("rate(queue_depth)").unwrap());
        r.settle(&e);
        assert_eq!(r.derived, "rate(queue_depth)");
        assert!(Selector::parse("x{a=1}").unwrap_err().contains("column 5"));
        assert!(Selector::parse("x y").is_err());
    }
}
