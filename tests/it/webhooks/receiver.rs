//! A real HTTP receiver of webhooks: every request is logged with what it carried and whether
//! its signature verifies with the official `standardwebhooks` library (the Standard Webhooks
//! project's Rust library) under each secret the test gave the path; how it answers is set
//! per path.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use rand::Rng;
use serde_json::Value;

/// How a path answers.
#[derive(Debug, Clone)]
pub(crate) enum Answer {
    Ok,
    Status(u16),
    /// 429 with a `Retry-After` of this many seconds.
    TooMany(u64),
    /// A 302 to elsewhere.
    Redirect,
    /// A 500 whose body is binary (NUL and control bytes around the word `broken`).
    Binary500,
    /// Half the requests fail: of those, half with a 500, half by answering after `slow`
    /// (past the dispatcher's timeout).
    Flaky {
        slow: Duration,
    },
}

#[derive(Debug, Clone)]
pub(crate) struct Received {
    pub path: String,
    pub webhook_id: String,
    pub body: Value,
    pub at: Instant,
    pub at_utc: chrono::DateTime<chrono::Utc>,
    /// The status the receiver answered (0: it answered too late to count).
    pub answered: u16,
    /// Indices of the path's secrets whose signature verified.
    pub verified: Vec<usize>,
    pub signatures: usize,
}

impl Received {
    pub(crate) fn delivered(&self) -> bool {
        (200..300).contains(&self.answered)
    }

    pub(crate) fn order_id(&self) -> Option<&str> {
        self.body["data"]["order_id"].as_str()
    }

    pub(crate) fn version(&self) -> Option<u64> {
        self.body["data"]["version"].as_u64()
    }
}

#[derive(Default)]
struct Shared {
    answers: HashMap<String, Answer>,
    secrets: HashMap<String, Vec<String>>,
    log: Vec<Received>,
}

#[derive(Clone)]
pub(crate) struct Receiver {
    pub addr: SocketAddr,
    shared: Arc<Mutex<Shared>>,
}

impl Receiver {
    pub(crate) async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        Self::serve(listener)
    }

    /// A receiver that starts listening on `addr` only after `delay` (connections are refused
    /// until then: an endpoint that is down).
    pub(crate) fn start_later(addr: SocketAddr, delay: Duration) -> Self {
        let receiver = Self {
            addr,
            shared: Arc::default(),
        };
        let later = receiver.clone();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
            later.spawn_server(listener);
        });
        receiver
    }

    fn serve(listener: tokio::net::TcpListener) -> Self {
        let receiver = Self {
            addr: listener.local_addr().unwrap(),
            shared: Arc::default(),
        };
        receiver.spawn_server(listener);
        receiver
    }

    fn spawn_server(&self, listener: tokio::net::TcpListener) {
        let shared = self.shared.clone();
        let app = axum::Router::new().fallback(move |uri: Uri, headers: HeaderMap, body: Bytes| {
            let shared = shared.clone();
            async move { handle(&shared, &uri, &headers, &body).await }
        });
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub(crate) fn answer(&self, path: &str, answer: Answer) {
        self.shared
            .lock()
            .unwrap()
            .answers
            .insert(path.to_owned(), answer);
    }

    /// The secrets a request to `path` is verified with, in this order.
    pub(crate) fn secrets(&self, path: &str, secrets: &[&str]) {
        self.shared.lock().unwrap().secrets.insert(
            path.to_owned(),
            secrets.iter().map(|s| (*s).to_owned()).collect(),
        );
    }

    pub(crate) fn log(&self) -> Vec<Received> {
        self.shared.lock().unwrap().log.clone()
    }

    pub(crate) fn log_of(&self, path: &str) -> Vec<Received> {
        self.log().into_iter().filter(|r| r.path == path).collect()
    }
}

async fn handle(shared: &Mutex<Shared>, uri: &Uri, headers: &HeaderMap, body: &Bytes) -> Response {
    let path = uri.path().to_owned();
    let (answer, secrets) = {
        let s = shared.lock().unwrap();
        (
            s.answers.get(&path).cloned().unwrap_or(Answer::Ok),
            s.secrets.get(&path).cloned().unwrap_or_default(),
        )
    };
    let verified = secrets
        .iter()
        .enumerate()
        .filter(|(_, secret)| {
            standardwebhooks::Webhook::new(secret)
                .and_then(|w| w.verify(body, headers))
                .is_ok()
        })
        .map(|(i, _)| i)
        .collect();
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let mut received = Received {
        path: path.clone(),
        webhook_id: header("webhook-id"),
        body: serde_json::from_slice(body).unwrap_or(Value::Null),
        at: Instant::now(),
        at_utc: chrono::Utc::now(),
        answered: 0,
        verified,
        signatures: header("webhook-signature")
            .split(' ')
            .filter(|s| !s.is_empty())
            .count(),
    };
    let response = match answer {
        Answer::Ok => StatusCode::NO_CONTENT.into_response(),
        Answer::Status(code) => StatusCode::from_u16(code).unwrap().into_response(),
        Answer::TooMany(seconds) => (
            StatusCode::TOO_MANY_REQUESTS,
            [("retry-after", seconds.to_string())],
        )
            .into_response(),
        Answer::Redirect => {
            (StatusCode::FOUND, [("location", "http://example.com/")]).into_response()
        }
        Answer::Binary500 => (
            StatusCode::INTERNAL_SERVER_ERROR,
            b"\0\x01\x02broken\0\xff".to_vec(),
        )
            .into_response(),
        Answer::Flaky { slow } => {
            let roll: f64 = rand::rng().random();
            if roll < 0.25 {
                StatusCode::INTERNAL_SERVER_ERROR.into_response()
            } else if roll < 0.5 {
                tokio::time::sleep(slow).await;
                // The dispatcher stopped waiting: this answer does not count.
                received.answered = 0;
                shared.lock().unwrap().log.push(received);
                return StatusCode::OK.into_response();
            } else {
                StatusCode::OK.into_response()
            }
        }
    };
    received.answered = response.status().as_u16();
    shared.lock().unwrap().log.push(received);
    response
}
