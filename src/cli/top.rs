//! `rflume top`: a terminal view of a running agent for the person on the node (like `vector
//! top`). It reads the agent's monitoring server — `/metrics/prometheus` for the counters,
//! `/health` for the verdict — every `--interval` seconds and shows, per component, its state,
//! events per second, totals, channel fill, batches in flight and errors. `q` (or Esc, Ctrl-C)
//! quits. It shows nothing the endpoints do not, so no secret can reach it.

use std::collections::BTreeMap;
use std::io::Stdout;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use crossterm::event::{self, Event, KeyCode, KeyModifiers};
use ratatui::layout::{Constraint, Layout};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Block, Borders, Paragraph, Row, Table};
use ratatui::Terminal;

use super::TopArgs;

type Term = Terminal<ratatui::backend::CrosstermBackend<Stdout>>;

/// One sample: metric name → (labels → value).
type Samples = BTreeMap<String, Vec<(BTreeMap<String, String>, f64)>>;

pub(super) fn run(a: TopArgs) -> anyhow::Result<i32> {
    let base = a.url.trim_end_matches('/').to_string();
    let interval = Duration::from_secs_f64(a.interval.clamp(0.2, 3600.0));
    let mut terminal = ratatui::init();
    let result = event_loop(&mut terminal, &base, interval);
    ratatui::restore();
    result.map(|()| 0)
}

fn event_loop(terminal: &mut Term, base: &str, interval: Duration) -> anyhow::Result<()> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(2)))
        .http_status_as_error(false)
        .build()
        .into();
    let mut previous: Option<(Instant, Samples)> = None;
    loop {
        let view = fetch(&agent, base).map(|(samples, health)| {
            let now = Instant::now();
            let view = View::new(base, &samples, previous.as_ref(), now, &health);
            previous = Some((now, samples));
            view
        });
        terminal
            .draw(|f| match &view {
                Ok(v) => v.draw(f),
                Err(e) => draw_unreachable(f, base, e),
            })
            .context("drawing the terminal")?;
        let next = Instant::now() + interval;
        // Wait for a key or the next refresh; no timer wakes the process in between.
        while let Some(left) = next.checked_duration_since(Instant::now()) {
            if !event::poll(left).context("reading the terminal")? {
                break;
            }
            if let Event::Key(k) = event::read().context("reading the terminal")? {
                let ctrl_c =
                    k.code == KeyCode::Char('c') && k.modifiers.contains(KeyModifiers::CONTROL);
                if matches!(k.code, KeyCode::Char('q') | KeyCode::Esc) || ctrl_c {
                    return Ok(());
                }
            }
        }
    }
}

fn fetch(agent: &ureq::Agent, base: &str) -> anyhow::Result<(Samples, serde_json::Value)> {
    let text = agent
        .get(&format!("{base}/metrics/prometheus"))
        .call()
        .with_context(|| format!("{base}/metrics/prometheus"))?
        .body_mut()
        .read_to_string()
        .context("reading the metrics")?;
    let health_text = agent
        .get(&format!("{base}/health"))
        .call()
        .with_context(|| format!("{base}/health"))?
        .body_mut()
        .read_to_string()
        .context("reading /health")?;
    let health = serde_json::from_str(&health_text).unwrap_or(serde_json::Value::Null);
    Ok((parse(&text), health))
}

/// Reads rflume's own exposition text: `name{k="v",…} value` lines (comments skipped).
fn parse(text: &str) -> Samples {
    let mut out: Samples = BTreeMap::new();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let Some((head, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let Ok(value) = value.parse::<f64>() else {
            continue;
        };
        let (name, labels) = match head.split_once('{') {
            Some((n, rest)) => (n, parse_labels(rest.trim_end_matches('}'))),
            None => (head, BTreeMap::new()),
        };
        out.entry(name.to_string())
            .or_default()
            .push((labels, value));
    }
    out
}

fn parse_labels(s: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut rest = s;
    while let Some((key, after)) = rest.split_once("=\"") {
        let mut value = String::new();
        let mut chars = after.char_indices();
        let mut end = after.len();
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => {
                    if let Some((_, e)) = chars.next() {
                        value.push(if e == 'n' { '\n' } else { e });
                    }
                }
                '"' => {
                    end = i + 1;
                    break;
                }
                c => value.push(c),
            }
        }
        out.insert(key.trim_start_matches(',').to_string(), value);
        rest = &after[end..];
    }
    out
}

fn value(samples: &Samples, metric: &str, label: &str, name: &str) -> Option<f64> {
    samples
        .get(metric)?
        .iter()
        .find(|(l, _)| l.get(label).map(String::as_str) == Some(name))
        .map(|(_, v)| *v)
}

/// One table row.
struct RowView {
    component: String,
    kind: String,
    state: String,
    rate: String,
    total: String,
    fill: String,
    in_flight: String,
    errors: String,
}

struct View {
    title: String,
    status: String,
    healthy: bool,
    reasons: Vec<String>,
    rows: Vec<RowView>,
}

impl View {
    fn new(
        base: &str,
        now_samples: &Samples,
        previous: Option<&(Instant, Samples)>,
        now: Instant,
        health: &serde_json::Value,
    ) -> View {
        let rate = |metric: &str, label: &str, name: &str| -> String {
            let Some(current) = value(now_samples, metric, label, name) else {
                return "-".into();
            };
            match previous {
                Some((then, old)) => {
                    let secs = now.duration_since(*then).as_secs_f64();
                    let before = value(old, metric, label, name).unwrap_or(current);
                    if secs > 0.0 && current >= before {
                        format!("{:.1}", (current - before) / secs)
                    } else {
                        "0.0".into()
                    }
                }
                None => "…".into(),
            }
        };
        let int = |metric: &str, label: &str, name: &str| {
            value(now_samples, metric, label, name)
                .map(|v| format!("{v:.0}"))
                .unwrap_or_else(|| "-".into())
        };
        let state = |key: &str| {
            health["components"][key]["state"]
                .as_str()
                .unwrap_or("running")
                .to_string()
        };
        let mut rows = Vec::new();
        for (labels, _) in now_samples
            .get("rflume_component_info")
            .into_iter()
            .flatten()
        {
            let (Some(kind), Some(name)) = (labels.get("kind"), labels.get("name")) else {
                continue;
            };
            let flume_type = labels.get("type").cloned().unwrap_or_default();
            let key = format!("{}.{name}", kind.to_uppercase());
            let row = match kind.as_str() {
                "source" => RowView {
                    component: key.clone(),
                    kind: flume_type,
                    state: state(&key),
                    rate: rate("rflume_source_events_accepted_total", "source", name),
                    total: int("rflume_source_events_accepted_total", "source", name),
                    fill: String::new(),
                    in_flight: String::new(),
                    errors: format!(
                        "{:.0}",
                        value(
                            now_samples,
                            "rflume_source_event_read_failures_total",
                            "source",
                            name
                        )
                        .unwrap_or(0.0)
                            + value(
                                now_samples,
                                "rflume_source_channel_write_failures_total",
                                "source",
                                name
                            )
                            .unwrap_or(0.0)
                    ),
                },
                "channel" => RowView {
                    component: key.clone(),
                    kind: flume_type,
                    state: String::new(),
                    rate: rate("rflume_channel_events_put_total", "channel", name),
                    total: format!(
                        "{} / {}",
                        int("rflume_channel_events", "channel", name),
                        int("rflume_channel_capacity_events", "channel", name)
                    ),
                    fill: value(now_samples, "rflume_channel_fill_ratio", "channel", name)
                        .map(|r| format!("{:.1}%", r * 100.0))
                        .unwrap_or_else(|| "-".into()),
                    in_flight: String::new(),
                    errors: String::new(),
                },
                _ => RowView {
                    component: key.clone(),
                    kind: flume_type,
                    state: state(&key),
                    rate: rate("rflume_sink_events_drained_total", "sink", name),
                    total: int("rflume_sink_events_drained_total", "sink", name),
                    fill: String::new(),
                    in_flight: int("rflume_sink_batches_in_flight", "sink", name),
                    errors: format!(
                        "{:.0}",
                        value(now_samples, "rflume_sink_rollbacks_total", "sink", name)
                            .unwrap_or(0.0)
                    ),
                },
            };
            rows.push(row);
        }
        let healthy = health["status"].as_str() == Some("UP");
        let reasons = health["reasons"]
            .as_array()
            .map(|r| {
                r.iter()
                    .filter_map(|v| v.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        View {
            title: format!(" rflume top — {base} "),
            status: health["status"].as_str().unwrap_or("unknown").to_string(),
            healthy,
            reasons,
            rows,
        }
    }

    fn draw(&self, f: &mut ratatui::Frame<'_>) {
        let reasons = self.reasons.len().min(5) as u16;
        let [head, body, foot] = Layout::vertical([
            Constraint::Length(3 + reasons),
            Constraint::Min(3),
            Constraint::Length(1),
        ])
        .areas(f.area());
        let colour = if self.healthy {
            Color::Green
        } else {
            Color::Red
        };
        let mut lines = vec![Line::styled(
            format!("health: {}", self.status),
            Style::default().fg(colour).add_modifier(Modifier::BOLD),
        )];
        for r in self.reasons.iter().take(5) {
            lines.push(Line::raw(format!("  {r}")));
        }
        f.render_widget(
            Paragraph::new(lines).block(
                Block::default()
                    .borders(Borders::ALL)
                    .title(self.title.as_str()),
            ),
            head,
        );
        let header = Row::new([
            "COMPONENT",
            "TYPE",
            "STATE",
            "EVENTS/S",
            "TOTAL",
            "FILL",
            "IN FLIGHT",
            "ERRORS",
        ])
        .style(Style::default().add_modifier(Modifier::BOLD));
        let rows = self.rows.iter().map(|r| {
            Row::new([
                r.component.clone(),
                r.kind.clone(),
                r.state.clone(),
                r.rate.clone(),
                r.total.clone(),
                r.fill.clone(),
                r.in_flight.clone(),
                r.errors.clone(),
            ])
        });
        let widths = [
            Constraint::Min(16),
            Constraint::Length(10),
            Constraint::Length(9),
            Constraint::Length(10),
            Constraint::Length(18),
            Constraint::Length(7),
            Constraint::Length(10),
            Constraint::Length(7),
        ];
        f.render_widget(
            Table::new(rows, widths)
                .header(header)
                .block(Block::default().borders(Borders::ALL).title(" components ")),
            body,
        );
        f.render_widget(Paragraph::new("q: quit"), foot);
    }
}

fn draw_unreachable(f: &mut ratatui::Frame<'_>, base: &str, e: &anyhow::Error) {
    let text = vec![
        Line::styled(
            format!("cannot reach the agent at {base}: {e:#}"),
            Style::default().fg(Color::Red),
        ),
        Line::raw("start the agent with -Dflume.monitoring.type=http (and -Dflume.monitoring.port=P), or give --url; retrying…"),
        Line::raw("q: quit"),
    ];
    f.render_widget(
        Paragraph::new(text).block(Block::default().borders(Borders::ALL).title(" rflume top ")),
        f.area(),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_its_own_exposition_lines() {
        let s = parse(
            "# HELP x y\n# TYPE x gauge\nrflume_channel_events{channel=\"c\\\"1\"} 3\nrflume_healthy 1\n",
        );
        assert_eq!(
            value(&s, "rflume_channel_events", "channel", "c\"1"),
            Some(3.0)
        );
        assert_eq!(s["rflume_healthy"][0].1, 1.0);
    }
}
