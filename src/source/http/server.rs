//! The HTTP source at run time: a hyper HTTP/1.1 server on its own thread, and the source's
//! thread putting each request's events into the channel (see the module doc in `mod.rs`).

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};
use tracing::{info, warn};

use super::handler::{Handler, Rejected};
use super::{HttpSettings, MAX_BODY};
use crate::event::Event;
use crate::metrics::SourceCounter;
use crate::shutdown::Shutdown;
use crate::source::listener::accept_loop;
use crate::source::net::bind_addrs;
use crate::source::runtime::runtime;
use crate::source::{ChannelProcessor, SourceError};

/// Requests waiting for the put thread at most (each holds its events in memory).
const QUEUE: usize = 16;

/// What the put thread says about a request's events.
enum Stored {
    Ok,
    Full(String),
    TooMany { events: usize, max: usize },
}

type Job = (Vec<Event>, oneshot::Sender<Stored>);

pub fn run(
    name: &str,
    s: &HttpSettings,
    mut processor: ChannelProcessor,
    shutdown: &Shutdown,
) -> Result<(), SourceError> {
    let fail = |message: String| SourceError::Failed {
        source_name: name.to_string(),
        message,
    };
    let rt = runtime(name)?;
    let acceptor = match &s.tls {
        Some(t) => Some(t.acceptor().map_err(fail)?),
        None => None,
    };
    let mut last = String::new();
    let mut listener = None;
    for addr in bind_addrs(Some(&s.bind), s.port) {
        match rt.block_on(TcpListener::bind(&addr)) {
            Ok(l) => {
                info!(source = %name, "HTTP source listening on {}://{addr}", if acceptor.is_some() { "https" } else { "http" });
                listener = Some(l);
                break;
            }
            Err(e) => last = format!("cannot listen on {addr}: {e}"),
        }
    }
    let listener = listener.ok_or_else(|| fail(last))?;
    let (tx, mut rx) = mpsc::channel::<Job>(QUEUE);
    let handler = Arc::new(s.handler.clone());
    let counter = processor.counter().clone();
    let stop = shutdown.clone();
    let source = name.to_string();
    let server = std::thread::spawn(move || {
        rt.block_on(async {
            let connection = |stream, peer| {
                let (tx, handler, counter, source) =
                    (tx.clone(), handler.clone(), counter.clone(), source.clone());
                let acceptor = acceptor.clone();
                async move {
                    let service = service_fn(move |req| {
                        respond(req, handler.clone(), tx.clone(), counter.clone())
                    });
                    let http = hyper::server::conn::http1::Builder::new();
                    let result = match acceptor {
                        Some(a) => match a.accept(stream).await {
                            Ok(tls) => http
                                .serve_connection(TokioIo::new(tls), service)
                                .await
                                .map_err(|e| e.to_string()),
                            Err(e) => Err(format!("TLS handshake: {e}")),
                        },
                        None => http
                            .serve_connection(TokioIo::new(stream), service)
                            .await
                            .map_err(|e| e.to_string()),
                    };
                    if let Err(e) = result {
                        tracing::debug!(source = %source, "connection from {peer}: {e}");
                    }
                }
            };
            // Flume's HTTPSource reports no OpenConnectionCount. Its connections (hyper's) wait
            // for the client, not for the stop: dropping what is left ends them at once, and the
            // put thread answers each request it already took before it returns.
            drop(accept_loop(&source, listener, &stop, None, |_| true, connection).await);
        });
        // The runtime is dropped here: open connections end, their senders with them.
    });
    // The put thread: one request's events at a time, each in one transaction.
    let max = processor.max_batch().max(1);
    while let Some((events, reply)) = rx.blocking_recv() {
        let stored = if events.len() > max {
            Stored::TooMany {
                events: events.len(),
                max,
            }
        } else {
            match processor.put_once(events) {
                Ok(()) => Stored::Ok,
                Err(e) => {
                    warn!(source = %name, "Error appending event to channel. Channel might be full. Consider increasing the channel capacity or make sure the sinks perform faster. ({e}; the client was told 503 to retry)");
                    Stored::Full(e.to_string())
                }
            }
        };
        let _ = reply.send(stored);
    }
    let _ = server.join();
    Ok(())
}

fn text(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r
}

async fn respond(
    req: Request<Incoming>,
    handler: Arc<Handler>,
    tx: mpsc::Sender<Job>,
    counter: Arc<SourceCounter>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let content_type = req
        .headers()
        .get(hyper::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let query = req.uri().query().map(str::to_string);
    let body = match Limited::new(req.into_body(), MAX_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => {
            counter.event_read_fail.inc();
            return Ok(text(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("Request body not read: {e} (at most {MAX_BODY} bytes)\n"),
            ));
        }
    };
    let events = match handler.events(&body, content_type.as_deref(), query.as_deref()) {
        Ok(e) => e,
        Err(Rejected::BadRequest(m)) => {
            counter.event_read_fail.inc();
            return Ok(text(
                StatusCode::BAD_REQUEST,
                format!("Bad request from client. {m}\n"),
            ));
        }
        Err(Rejected::Failed(m)) => {
            counter.event_read_fail.inc();
            return Ok(text(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("Deserializer threw unexpected exception. {m}\n"),
            ));
        }
    };
    let (reply, answer) = oneshot::channel();
    if tx.send((events, reply)).await.is_err() {
        return Ok(text(
            StatusCode::SERVICE_UNAVAILABLE,
            "The source is stopping\n".into(),
        ));
    }
    Ok(match answer.await {
        Ok(Stored::Ok) => text(StatusCode::OK, String::new()),
        Ok(Stored::Full(e)) => text(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("Error appending event to channel. Channel might be full.{e}\n"),
        ),
        Ok(Stored::TooMany { events, max }) => text(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("{events} events in one request, but the channel's transactionCapacity is {max}: send at most {max} per request\n"),
        ),
        Err(_) => text(
            StatusCode::SERVICE_UNAVAILABLE,
            "The source is stopping\n".into(),
        ),
    })
}
