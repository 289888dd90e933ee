//! Is delivery stuck, why, and when does it flow again: what the sink tells an operator while
//! Kafka does not acknowledge.
//!
//! librdkafka waits silently in most outages: records to a topic that does not exist (and that
//! the brokers do not create) wait `topic.metadata.propagation.max.ms` (30 s) before they fail
//! with `UnknownTopicOrPartition`; records to a partition without a leader, or to brokers that
//! answer slowly, wait up to `message.timeout.ms` (120 s). Flume's Java producer is as quiet
//! (its `send()` blocks `max.block.ms`, 60 s, on a missing topic). The sink's events are safe
//! meanwhile — kept in librdkafka and the channel, committed only on acknowledgement — but the
//! operator should hear about it within seconds, with the cause:
//!
//! * once the oldest unacknowledged batch has waited [`CHECK_AFTER`] (or a batch failed), a
//!   short-lived thread asks the cluster for the metadata of that batch's topics — never on the
//!   sink's thread, which keeps serving delivery reports — and the answer becomes one ERROR
//!   line: "topic X does not exist", "not authorized to write to topic X", "partitions 0, 2 of
//!   X have no leader", or "no broker answered" with every configured broker and its problem;
//! * a batch held up [`CHECK_AFTER`] while a broker reported a problem is a failover in
//!   progress (librdkafka logs the broker's problem; no line of its own);
//! * a stall longer than [`STALL_WARNING`] with none of these causes is a WARN (a slow cluster);
//! * when no broker answered, the broker list is given to librdkafka again (once per outage:
//!   `brokers::add_listed_brokers` says why librdkafka may not do it itself);
//! * the first commit after any of that is one INFO line: "k1: delivering again to topic X,
//!   N events waited S s (cause)". The runner then does not add its own recovery line
//!   ([`crate::sink::Sink::reports_recovery`]).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rdkafka::error::RDKafkaErrorCode;
use rdkafka::producer::{BaseProducer, Producer};
use tracing::{error, info, warn};

use super::brokers::add_listed_brokers;
use super::delivery::SinkContext;
use super::ratelimit::KeyedRateLimit;

/// How long the oldest batch may wait for its acknowledgement before the cluster is asked why: a
/// healthy cluster acknowledges within milliseconds, a leader election takes about a second.
pub(super) const CHECK_AFTER: Duration = Duration::from_secs(1);
/// At most one metadata check per interval while delivery is stuck.
const CHECK_INTERVAL: Duration = Duration::from_secs(10);
/// How long a metadata check waits for an answer.
const METADATA_TIMEOUT: Duration = Duration::from_secs(5);
/// A stall this long is worth a warning even when the cluster's metadata looks fine.
pub(super) const STALL_WARNING: Duration = Duration::from_secs(10);
/// The same cause is logged again at most this often while it lasts.
const REPEAT_INTERVAL: Duration = Duration::from_secs(60);
/// Topics asked about per check (a batch remembers at most eight).
const MAX_CHECKED_TOPICS: usize = 4;
/// librdkafka says "all broker connections are down" when the last connection drops, before
/// it tries to reconnect; the brokers' own errors (connection refused, …) follow. The message
/// that names them waits this long, and is not written if delivery resumed meanwhile (a
/// failover to another listed broker takes about as long).
const ALL_DOWN_GRACE: Duration = Duration::from_secs(1);

type SinkProducer = BaseProducer<SinkContext>;

/// The watch over one sink's deliveries; driven from the sink's thread.
pub(super) struct Watch {
    sink: String,
    /// The running metadata check, and since when the batch that prompted it had waited.
    check: Option<(JoinHandle<Vec<Finding>>, Instant)>,
    last_check: Option<Instant>,
    trouble: Option<Trouble>,
    /// `SinkContext::all_brokers_down` already seen.
    all_down_seen: u64,
    /// When librdkafka last said that all broker connections are down, until that is logged.
    all_down_at: Option<Instant>,
    /// The broker list was given to librdkafka again in this episode (see
    /// `brokers::add_listed_brokers`).
    relisted: bool,
    /// When the last episode ended: a batch older than that does not open a new one.
    ended_at: Option<Instant>,
    repeats: KeyedRateLimit,
}

/// Delivery is impaired since `since`, for the reason `cause` (the first one found).
struct Trouble {
    since: Instant,
    cause: String,
}

/// What a metadata check found about the cluster.
#[derive(Debug, PartialEq, Eq)]
enum Finding {
    TopicMissing(String),
    NotAuthorized(String),
    NoLeader(String, Vec<i32>),
    /// No broker answered within the timeout (or the request failed): the brokers' problems say
    /// why.
    NoAnswer(String),
}

/// What the sink tells the watch about its oldest unacknowledged batch.
pub(super) struct Oldest<'a> {
    pub(super) started: Instant,
    pub(super) topics: &'a [Box<str>],
}

impl Watch {
    pub(super) fn new(sink: &str) -> Self {
        Watch {
            sink: sink.to_string(),
            check: None,
            last_check: None,
            trouble: None,
            all_down_seen: 0,
            all_down_at: None,
            relisted: false,
            ended_at: None,
            repeats: KeyedRateLimit::new(REPEAT_INTERVAL),
        }
    }

    /// One look, every `process` round: a clock read and a few comparisons unless delivery is
    /// stuck. `oldest` is the oldest batch not yet acknowledged (None when nothing is in
    /// flight), `failing` whether a batch has failed and is about to be rolled back,
    /// `in_flight` counts the events taken and not committed (only for a message).
    pub(super) fn tick(
        &mut self,
        producer: &Arc<SinkProducer>,
        oldest: Option<Oldest<'_>>,
        failing: bool,
        in_flight: impl Fn() -> usize,
    ) {
        let context = producer.context();
        let now = Instant::now();
        let stalled_since = oldest.as_ref().map_or(now, |o| o.started);
        let all_down = context.all_brokers_down.load(Ordering::Relaxed);
        if all_down != self.all_down_seen {
            self.all_down_seen = all_down;
            self.all_down_at = Some(now);
            self.begin(stalled_since, || {
                "no Kafka broker was reachable".to_string()
            });
        }
        if let Some(at) = self.all_down_at {
            if now.saturating_duration_since(at) >= ALL_DOWN_GRACE {
                self.all_down_at = None;
                if let Some(suppressed) = self.repeats.allow("all down") {
                    error!(
                        sink = self.sink.as_str(),
                        suppressed,
                        "{}: no Kafka broker is reachable ({} configured): {}; {} events are \
                         kept and sent as soon as one is back",
                        self.sink,
                        context.brokers.configured(),
                        context.brokers.describe(),
                        in_flight()
                    );
                }
            }
        }
        if failing {
            self.begin(stalled_since, || {
                "batches failed and were rolled back".to_string()
            });
        }
        self.collect(producer, oldest.as_ref().map(|o| o.started), &in_flight);
        let Some(oldest) = oldest else {
            return;
        };
        let waited = oldest.started.elapsed();
        if waited >= CHECK_AFTER && self.trouble.is_none() {
            // Held up while a broker failed: a failover, worth its "delivering again" line (once:
            // not again for batches already waiting when the last episode ended).
            let since = self
                .ended_at
                .map_or(oldest.started, |e| e.max(oldest.started));
            if let Some((address, problem)) = context.brokers.failed_since(since).into_iter().next()
            {
                self.begin(oldest.started, || format!("broker {address}: {problem}"));
            }
        }
        if (waited >= CHECK_AFTER || failing)
            && self.check.is_none()
            && self
                .last_check
                .is_none_or(|at| at.elapsed() >= CHECK_INTERVAL)
            && !oldest.topics.is_empty()
        {
            self.last_check = Some(Instant::now());
            let topics: Vec<String> = oldest
                .topics
                .iter()
                .take(MAX_CHECKED_TOPICS)
                .map(|t| t.to_string())
                .collect();
            let producer = producer.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("{}-metadata", self.sink))
                .spawn(move || check_topics(&producer, &topics, METADATA_TIMEOUT));
            // A thread that cannot be started only costs the diagnosis, never delivery.
            self.check = spawned.ok().map(|handle| (handle, oldest.started));
        }
        if waited >= STALL_WARNING && self.trouble.is_none() {
            let topics = topic_list(oldest.topics);
            warn!(
                sink = self.sink.as_str(),
                "{}: Kafka has not acknowledged {} events for {:.1} s ({topics}); they are \
                 kept and retried. Brokers: {}",
                self.sink,
                in_flight(),
                waited.as_secs_f64(),
                context.brokers.describe()
            );
            self.begin(oldest.started, || {
                format!("no acknowledgement for {} s", STALL_WARNING.as_secs())
            });
        }
    }

    /// A batch of `topics` was committed; `waiting` events (that batch's and those still in
    /// flight) had been held up. Ends a trouble episode with one line.
    pub(super) fn delivered(&mut self, context: &SinkContext, topics: &[Box<str>], waiting: usize) {
        let Some(trouble) = self.trouble.take() else {
            return;
        };
        self.all_down_at = None;
        self.relisted = false;
        self.ended_at = Some(Instant::now());
        // The next episode may ask the cluster at once.
        self.last_check = None;
        let failed = context.brokers.failed_since(trouble.since);
        let brokers = if failed.is_empty() {
            String::new()
        } else {
            let list: Vec<String> = failed.iter().map(|(a, p)| format!("{a}: {p}")).collect();
            format!("; brokers that failed meanwhile: {}", list.join(", "))
        };
        info!(
            sink = self.sink.as_str(),
            "{}: delivering again to {}, {waiting} events waited {:.1} s ({}{brokers})",
            self.sink,
            topic_list(topics),
            trouble.since.elapsed().as_secs_f64(),
            trouble.cause
        );
        self.repeats = KeyedRateLimit::new(REPEAT_INTERVAL);
    }

    /// Whether a trouble episode is open (a commit then ends it with a line).
    pub(super) fn in_trouble(&self) -> bool {
        self.trouble.is_some()
    }

    fn begin(&mut self, since: Instant, cause: impl FnOnce() -> String) {
        if self.trouble.is_none() {
            self.trouble = Some(Trouble {
                since,
                cause: cause(),
            });
        }
    }

    /// Logs what a finished metadata check found, unless the batch that prompted it has been
    /// acknowledged meanwhile (`oldest` started after it): then the answer is stale.
    fn collect(
        &mut self,
        producer: &SinkProducer,
        oldest: Option<Instant>,
        in_flight: &impl Fn() -> usize,
    ) {
        let context = producer.context();
        if !self.check.as_ref().is_some_and(|(c, _)| c.is_finished()) {
            return;
        }
        let Some((findings, since)) = self
            .check
            .take()
            .and_then(|(c, since)| Some((c.join().ok()?, since)))
        else {
            return;
        };
        if oldest.is_none_or(|started| started > since) {
            return;
        }
        let sink = self.sink.clone();
        let sink = sink.as_str();
        for finding in findings {
            let (key, cause) = match &finding {
                Finding::TopicMissing(t) => {
                    (format!("missing {t}"), format!("topic {t} did not exist"))
                }
                Finding::NotAuthorized(t) => (
                    format!("denied {t}"),
                    format!("not authorized to write to topic {t}"),
                ),
                Finding::NoLeader(t, _) => (
                    format!("leaderless {t}"),
                    format!("topic {t} had partitions without a leader"),
                ),
                // Said at most once with "no Kafka broker is reachable": the same list.
                Finding::NoAnswer(_) => (
                    "all down".to_string(),
                    "no Kafka broker answered".to_string(),
                ),
            };
            self.begin(since, || cause);
            if matches!(finding, Finding::NoAnswer(_)) && !self.relisted {
                self.relisted = true;
                let added = add_listed_brokers(producer.client(), context.brokers.listed());
                warn!(
                    sink,
                    "{sink}: no Kafka broker answered; connecting to the {added} listed brokers \
                     again ({})",
                    context.brokers.listed()
                );
            }
            let Some(suppressed) = self.repeats.allow(&key) else {
                continue;
            };
            let in_flight = in_flight();
            match finding {
                Finding::TopicMissing(t) => error!(
                    sink,
                    suppressed,
                    "{sink}: topic {t} does not exist and the brokers do not create it; \
                     {in_flight} events are kept and delivered once it exists: create it \
                     (kafka-topics.sh --create --topic {t} …) or fix the topic name"
                ),
                Finding::NotAuthorized(t) => error!(
                    sink,
                    suppressed,
                    "{sink}: not authorized to write to topic {t} \
                     (TOPIC_AUTHORIZATION_FAILED); {in_flight} events are kept: grant this \
                     principal WRITE on the topic"
                ),
                Finding::NoLeader(t, partitions) => error!(
                    sink,
                    suppressed,
                    "{sink}: partition(s) {partitions:?} of topic {t} have no leader; \
                     {in_flight} events are kept and delivered once a leader is elected. \
                     Brokers: {}",
                    context.brokers.describe()
                ),
                Finding::NoAnswer(why) => error!(
                    sink,
                    suppressed,
                    "{sink}: no Kafka broker answered a metadata request within {} s ({why}); \
                     {in_flight} events are kept. Brokers: {}",
                    METADATA_TIMEOUT.as_secs(),
                    context.brokers.describe()
                ),
            }
        }
    }
}

/// "topic HelloKafka", "topics a, b".
fn topic_list(topics: &[Box<str>]) -> String {
    match topics {
        [] => "Kafka".to_string(),
        [one] => format!("topic {one}"),
        many => format!(
            "topics {}",
            many.iter().map(|t| &**t).collect::<Vec<_>>().join(", ")
        ),
    }
}

/// Asks the cluster about `topics` (on a thread of its own: this blocks up to
/// [`METADATA_TIMEOUT`]). The request goes through the sink's own producer, with its settings
/// (TLS, SASL) and connections; whether it may create a missing topic is the producer's
/// `allow.auto.create.topics`, as for its own requests.
fn check_topics(producer: &SinkProducer, topics: &[String], timeout: Duration) -> Vec<Finding> {
    let mut findings = Vec::new();
    for topic in topics {
        let metadata = match producer.client().fetch_metadata(Some(topic), timeout) {
            Ok(m) => m,
            Err(e) => {
                findings.push(Finding::NoAnswer(e.to_string()));
                // The same brokers would not answer about the next topic either.
                break;
            }
        };
        let Some(t) = metadata.topics().iter().find(|t| t.name() == topic) else {
            findings.push(Finding::TopicMissing(topic.clone()));
            continue;
        };
        let error = t.error().map(RDKafkaErrorCode::from);
        match error {
            Some(RDKafkaErrorCode::UnknownTopicOrPartition | RDKafkaErrorCode::UnknownTopic) => {
                findings.push(Finding::TopicMissing(topic.clone()));
            }
            Some(RDKafkaErrorCode::TopicAuthorizationFailed) => {
                findings.push(Finding::NotAuthorized(topic.clone()));
            }
            _ if t.partitions().is_empty() => findings.push(Finding::TopicMissing(topic.clone())),
            _ => {
                let leaderless: Vec<i32> = t
                    .partitions()
                    .iter()
                    .filter(|p| p.leader() < 0)
                    .map(|p| p.id())
                    .collect();
                if !leaderless.is_empty() {
                    findings.push(Finding::NoLeader(topic.clone(), leaderless));
                }
            }
        }
    }
    findings
}

#[cfg(test)]
mod tests {
    use rdkafka::mocking::MockCluster;
    use rdkafka::ClientConfig;

    use super::*;

    fn producer(bootstrap: &str) -> SinkProducer {
        ClientConfig::new()
            .set("bootstrap.servers", bootstrap)
            // A broker that does not create topics on request (the mock does by default).
            .set("allow.auto.create.topics", "false")
            .create_with_context(SinkContext::new(
                "k1",
                1,
                false,
                Default::default(),
                None,
                &[bootstrap.to_string()],
                Default::default(),
            ))
            .expect("producer")
    }

    #[test]
    fn the_metadata_check_names_missing_topics_leaderless_partitions_and_silent_brokers() {
        let cluster = MockCluster::new(1).expect("mock cluster");
        cluster.create_topic("fine", 2, 1).expect("topic");
        cluster.create_topic("headless", 3, 1).expect("topic");
        cluster
            .partition_leader("headless", 1, None)
            .expect("no leader");
        let p = producer(&cluster.bootstrap_servers());
        let topics = ["fine", "nosuch", "headless"].map(String::from);
        assert_eq!(
            check_topics(&p, &topics, Duration::from_secs(5)),
            [
                Finding::TopicMissing("nosuch".into()),
                Finding::NoLeader("headless".into(), vec![1]),
            ]
        );
        cluster.broker_down(-1).expect("down");
        let findings = check_topics(&p, &topics, Duration::from_millis(300));
        assert!(
            matches!(findings.as_slice(), [Finding::NoAnswer(_)]),
            "{findings:?}"
        );
    }

    #[test]
    fn topic_lists_read_as_prose() {
        assert_eq!(topic_list(&[]), "Kafka");
        assert_eq!(topic_list(&["a".into()]), "topic a");
        assert_eq!(topic_list(&["a".into(), "b".into()]), "topics a, b");
    }
}
