//! The Kafka source's `zookeeperConnect` (Flume 1.9 and 1.10): the broker list looked up in the
//! ZooKeeper of a ZooKeeper-based Kafka cluster, for a file that names no
//! `kafka.bootstrap.servers`.
//!
//! What Flume 1.9's `KafkaSource.lookupBootstrap` does, and so rflume: connect to the ZooKeeper
//! connect string as the Java client takes it (`host1:2181,host2:2181/chroot`, the chroot
//! prefixing every path), list `/brokers/ids`, read each broker's registration (Kafka's JSON:
//! `endpoints` of `LISTENER://host:port` for registrations of version 2 and later, `host` and
//! `port` for version 1) in broker-id order, and take from each the endpoint whose listener is
//! named after the consumer's `security.protocol` (`PLAINTEXT` unless `kafka.consumer.
//! security.protocol` says otherwise). A broker without such an endpoint fails the lookup, as
//! Kafka's `Broker.brokerEndPoint` throws; a broker that deregistered between the listing and
//! the read is skipped, as Kafka's `getAllBrokersInCluster` skips it. Flume waits up to 30 s for
//! the ZooKeeper session; so does rflume.
//!
//! Where rflume differs: Flume looks up while configuring, so an unreachable ZooKeeper removes
//! the source with a stack trace; rflume looks up when the source starts and fails that start
//! with one line naming the file, the line and the fix. Flume with no broker registered goes on
//! with an empty bootstrap list and its consumer fails to construct; rflume fails the start
//! saying that no broker is registered (and which chroot it looked in).
//!
//! The ZooKeeper protocol is the `zookeeper-client` crate's; nothing here speaks it by hand.

use std::time::Duration;

use serde::Deserialize;

use crate::shutdown::Shutdown;

/// Flume's `KafkaSource.ZK_SESSION_TIMEOUT` and `ZK_CONNECTION_TIMEOUT` (30 000 ms each).
const ZK_TIMEOUT: Duration = Duration::from_secs(30);
/// The whole lookup (session plus reads) gives up after this: a ZooKeeper that accepts the
/// session and then never answers must not hold the source's start for ever.
const LOOKUP_DEADLINE: Duration = Duration::from_secs(60);
/// Where Kafka registers its live brokers (under the chroot, if any).
const BROKER_IDS: &str = "/brokers/ids";
/// Kafka's `SecurityProtocol` names, which Flume passes to `SecurityProtocol.valueOf`.
pub const SECURITY_PROTOCOLS: [&str; 4] = ["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"];

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LookupError {
    #[error("cannot reach ZooKeeper at {connect}: {why}")]
    Unreachable { connect: String, why: String },
    #[error(
        "no Kafka broker is registered in ZooKeeper at {connect} (nothing under {path}{chroot})"
    )]
    NoBrokers {
        connect: String,
        path: String,
        chroot: String,
    },
    #[error("Kafka broker {id} has no {protocol} endpoint in its ZooKeeper registration (it has: {endpoints})")]
    NoEndpoint {
        id: String,
        protocol: String,
        endpoints: String,
    },
    #[error("the ZooKeeper registration of Kafka broker {id} is not Kafka's broker JSON: {why}")]
    BadRegistration { id: String, why: String },
    #[error("stopped while looking the Kafka brokers up in ZooKeeper")]
    Stopped,
}

/// Looks the brokers up: `host:port` entries in broker-id order, for `protocol` (one of
/// [`SECURITY_PROTOCOLS`]). Blocks the calling (source) thread; a stop ends it at once.
pub fn lookup_brokers(
    connect: &str,
    protocol: &str,
    shutdown: &Shutdown,
) -> Result<Vec<String>, LookupError> {
    let unreachable = |why: String| LookupError::Unreachable {
        connect: connect.to_string(),
        why,
    };
    // The source's thread is a plain thread; the client needs a runtime only for this lookup.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| unreachable(format!("cannot start the ZooKeeper client: {e}")))?;
    runtime.block_on(async {
        tokio::select! {
            r = tokio::time::timeout(LOOKUP_DEADLINE, lookup(connect, protocol)) => match r {
                Ok(r) => r,
                Err(_) => Err(unreachable(format!(
                    "no answer within {} s", LOOKUP_DEADLINE.as_secs()
                ))),
            },
            _ = shutdown.stopped() => Err(LookupError::Stopped),
        }
    })
}

async fn lookup(connect: &str, protocol: &str) -> Result<Vec<String>, LookupError> {
    let unreachable = |why: String| LookupError::Unreachable {
        connect: connect.to_string(),
        why,
    };
    let client = zookeeper_client::Client::connector()
        .with_session_timeout(ZK_TIMEOUT)
        .with_connection_timeout(ZK_TIMEOUT)
        .connect(connect)
        .await
        .map_err(|e| match e {
            zookeeper_client::Error::Timeout => unreachable(format!(
                "no session within {} s (is ZooKeeper running there?)",
                ZK_TIMEOUT.as_secs()
            )),
            e => unreachable(e.to_string()),
        })?;
    let ids = match client.list_children(BROKER_IDS).await {
        Ok(ids) => ids,
        Err(zookeeper_client::Error::NoNode) => Vec::new(),
        Err(e) => return Err(unreachable(format!("cannot list {BROKER_IDS}: {e}"))),
    };
    let mut ids: Vec<(i64, String)> = ids
        .into_iter()
        .map(|id| (id.parse::<i64>().unwrap_or(i64::MAX), id))
        .collect();
    // Kafka's getSortedBrokerList: by numeric id.
    ids.sort();
    let mut brokers = Vec::with_capacity(ids.len());
    for (_, id) in &ids {
        let path = format!("{BROKER_IDS}/{id}");
        match client.get_data(&path).await {
            Ok((data, _)) => brokers.push(endpoint_for(id, &data, protocol)?),
            // Deregistered since the listing: Kafka's getAllBrokersInCluster skips it too.
            Err(zookeeper_client::Error::NoNode) => {}
            Err(e) => return Err(unreachable(format!("cannot read {path}: {e}"))),
        }
    }
    if brokers.is_empty() {
        let chroot = client.path();
        return Err(LookupError::NoBrokers {
            connect: connect.to_string(),
            path: BROKER_IDS.to_string(),
            chroot: if chroot.is_empty() || chroot == "/" {
                String::new()
            } else {
                format!(" in the chroot {chroot}")
            },
        });
    }
    Ok(brokers)
}

/// The fields of Kafka's `BrokerIdZNode` JSON that the lookup reads.
#[derive(Deserialize)]
struct Registration {
    version: i64,
    host: Option<String>,
    port: Option<i64>,
    #[serde(default)]
    endpoints: Vec<String>,
}

/// The `host:port` of broker `id`'s endpoint for `protocol`, from its registration `data`, as
/// Kafka's `BrokerIdZNode.decode` and `Broker.brokerEndPoint(ListenerName.forSecurityProtocol)`
/// find it: the listener whose (upper-cased) name is the protocol's name.
pub(crate) fn endpoint_for(id: &str, data: &[u8], protocol: &str) -> Result<String, LookupError> {
    let bad = |why: String| LookupError::BadRegistration {
        id: id.to_string(),
        why,
    };
    let reg: Registration = serde_json::from_slice(data).map_err(|e| bad(e.to_string()))?;
    if reg.version < 1 {
        return Err(bad(format!("unsupported version {}", reg.version)));
    }
    if reg.version == 1 {
        // Version 1 knows one PLAINTEXT endpoint, in host and port.
        let (Some(host), Some(port)) = (reg.host, reg.port) else {
            return Err(bad("version 1 without host and port".into()));
        };
        if protocol != "PLAINTEXT" {
            return Err(LookupError::NoEndpoint {
                id: id.to_string(),
                protocol: protocol.to_string(),
                endpoints: format!("PLAINTEXT://{host}:{port}"),
            });
        }
        return address(id, &host, &port.to_string());
    }
    // Chosen by listener name, as Flume asks for `ListenerName.forSecurityProtocol`: a listener
    // named `INTERNAL` is not found even when `listener_security_protocol_map` maps it to the
    // protocol (Flume 1.9 fails such a lookup too).
    for endpoint in &reg.endpoints {
        let Some((listener, hostport)) = endpoint.split_once("://") else {
            return Err(bad(format!(
                "endpoint '{endpoint}' is not LISTENER://host:port"
            )));
        };
        if !listener.eq_ignore_ascii_case(protocol) {
            continue;
        }
        let Some((host, port)) = hostport.rsplit_once(':') else {
            return Err(bad(format!("endpoint '{endpoint}' has no port")));
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        return address(id, host, port);
    }
    Err(LookupError::NoEndpoint {
        id: id.to_string(),
        protocol: protocol.to_string(),
        endpoints: if reg.endpoints.is_empty() {
            "none".to_string()
        } else {
            reg.endpoints.join(", ")
        },
    })
}

/// Kafka's `Utils.formatAddress`: an IPv6 host in brackets.
fn address(id: &str, host: &str, port: &str) -> Result<String, LookupError> {
    let port: u16 = match port.parse() {
        Ok(p) if p > 0 => p,
        _ => {
            return Err(LookupError::BadRegistration {
                id: id.to_string(),
                why: format!("'{port}' is not a port number"),
            })
        }
    };
    if host.is_empty() {
        return Err(LookupError::BadRegistration {
            id: id.to_string(),
            why: "an endpoint without a host (a listener bound to every interface without advertised.listeners)".into(),
        });
    }
    Ok(if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    // Registrations as Kafka 2.3.1 (version 4) and 0.8 (version 1) write them.
    const V4: &str = r#"{"listener_security_protocol_map":{"PLAINTEXT":"PLAINTEXT","SSL":"SSL"},"endpoints":["PLAINTEXT://10.0.0.1:9092","SSL://10.0.0.1:9093"],"jmx_port":-1,"host":"10.0.0.1","timestamp":"1","port":9092,"version":4}"#;
    const V1: &str = r#"{"jmx_port":-1,"timestamp":"1","host":"old","version":1,"port":9092}"#;

    #[test]
    fn endpoint_by_security_protocol_and_version_one_fallback() {
        assert_eq!(
            endpoint_for("1", V4.as_bytes(), "PLAINTEXT").as_deref(),
            Ok("10.0.0.1:9092")
        );
        assert_eq!(
            endpoint_for("1", V4.as_bytes(), "SSL").as_deref(),
            Ok("10.0.0.1:9093")
        );
        assert_eq!(
            endpoint_for("2", V1.as_bytes(), "PLAINTEXT").as_deref(),
            Ok("old:9092")
        );
        let ipv6 = r#"{"endpoints":["PLAINTEXT://[::1]:9092"],"version":4}"#;
        assert_eq!(
            endpoint_for("3", ipv6.as_bytes(), "PLAINTEXT").as_deref(),
            Ok("[::1]:9092")
        );
    }

    #[test]
    fn missing_endpoint_and_bad_json_are_named() {
        let e = endpoint_for("1", V4.as_bytes(), "SASL_SSL").unwrap_err();
        assert!(
            matches!(&e, LookupError::NoEndpoint { id, endpoints, .. } if id == "1" && endpoints.contains("SSL://10.0.0.1:9093")),
            "{e}"
        );
        assert!(matches!(
            endpoint_for("2", V1.as_bytes(), "SSL"),
            Err(LookupError::NoEndpoint { .. })
        ));
        for bad in [
            "not json",
            r#"{"version":0}"#,
            r#"{"version":1}"#,
            r#"{"version":4,"endpoints":["PLAINTEXT://h:99999"]}"#,
            r#"{"version":4,"endpoints":["PLAINTEXT://:9092"]}"#,
            r#"{"version":4,"endpoints":["nonsense"]}"#,
        ] {
            assert!(
                matches!(
                    endpoint_for("7", bad.as_bytes(), "PLAINTEXT"),
                    Err(LookupError::BadRegistration { .. })
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_silent_zookeeper_is_waited_on_until_a_stop_ends_the_wait() {
        // A listener held by the test that accepts the connection and never answers: the lookup
        // waits for a session like Flume (30 s), and the port cannot be taken by anyone else
        // meanwhile. The stop is triggered once the client is known to be waiting (its
        // connection was accepted), not after a guessed sleep; it must end the wait at once.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a loopback listener");
        let port = listener.local_addr().expect("its address").port();
        let shutdown = Shutdown::new();
        let stopper = shutdown.clone();
        let t = std::thread::spawn(move || {
            let held = listener.accept();
            stopper.trigger(std::time::Instant::now());
            // Keep the accepted connection open (and silent) until the lookup has returned.
            held
        });
        let started = std::time::Instant::now();
        let r = lookup_brokers(&format!("127.0.0.1:{port}"), "PLAINTEXT", &shutdown);
        assert_eq!(r, Err(LookupError::Stopped));
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the stop ended the wait, not the 30 s session timeout: {:?}",
            started.elapsed()
        );
        assert!(
            t.join().expect("the acceptor").is_ok(),
            "the client connected"
        );
    }
}
