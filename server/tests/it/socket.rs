//! The server over a real socket on 127.0.0.1 with a real HTTP client.

use std::io::{Read, Write};
use std::net::SocketAddr;

use serde_json::Value;
use tokio::sync::oneshot;

use crate::common::*;

async fn start(f: &Fixture) -> (SocketAddr, oneshot::Sender<()>, tokio::task::JoinHandle<std::io::Result<()>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = oneshot::channel::<()>();
    let state = f.state.clone();
    let task = tokio::spawn(annal_server::serve(listener, state, async {
        let _ = rx.await;
    }));
    (addr, tx, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingest_query_export_and_verify_over_loopback() {
    let f = Fixture::new();
    let t = f.key("ws_acme", &["ingest", "read"]);
    let (addr, stop, task) = start(&f).await;
    let client = std::sync::Arc::new(HttpClient::new(addr));

    // Four connections at once, three NDJSON requests of 200 events each.
    let body = corpus("ws_acme", 2400);
    let lines: Vec<&str> = body.lines().collect();
    let chunks: Vec<String> = lines.chunks(200).map(|c| c.join("\n")).collect();
    let mut tasks = Vec::new();
    for part in chunks.chunks(3).map(|c| c.to_vec()) {
        let (client, t) = (client.clone(), t.clone());
        tasks.push(tokio::spawn(async move {
            let mut seqs = Vec::new();
            for chunk in part {
                let r = client.send(post("/v1/events", &t, "application/x-ndjson", chunk.as_bytes())).await.unwrap();
                assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
                seqs.extend(r.json()["receipts"].as_array().unwrap().iter().map(|x| x["seq"].as_u64().unwrap()));
            }
            seqs
        }));
    }
    let mut acked: Vec<u64> = Vec::new();
    for t in tasks {
        acked.extend(t.await.unwrap());
    }
    acked.sort_unstable();
    assert_eq!(acked, (3..=2402).collect::<Vec<_>>(), "every event got its own seq");

    // Walk the whole chain by cursor.
    let mut n = 0;
    let mut cursor = String::new();
    for _ in 0..10 {
        let uri = if cursor.is_empty() {
            "/v1/events?limit=1000".to_string()
        } else {
            format!("/v1/events?limit=1000&cursor={cursor}")
        };
        let page = client.send(get(&uri, &t)).await.unwrap().json();
        n += page["records"].as_array().unwrap().len();
        match page["next_cursor"].as_str() {
            Some(c) => cursor = c.to_string(),
            None => break,
        }
    }
    assert_eq!(n, 2402);

    let csv = client.send(get("/v1/export?format=csv", &t)).await.unwrap();
    assert_eq!(csv.status, 200);
    assert_eq!(csv::Reader::from_reader(&csv.body[..]).records().count(), 2402);
    let nd = client.send(get("/v1/export?format=ndjson&action_prefix=auth", &t)).await.unwrap();
    let rows: Vec<Value> = std::str::from_utf8(&nd.body).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(!rows.is_empty() && rows.iter().all(|r| r["event"]["action"].as_str().unwrap().starts_with("auth")));

    // The chain now also records the two exports.
    let v = client.send(get("/v1/verify", &t)).await.unwrap().json();
    assert_eq!((v["intact"].as_bool(), v["count"].as_u64()), (Some(true), Some(2404)));
    let logged = client.send(get("/v1/events?action=annal.log.exported", &t)).await.unwrap().json();
    let formats: Vec<&str> =
        logged["records"].as_array().unwrap().iter().map(|r| r["event"]["metadata"]["format"].as_str().unwrap()).collect();
    assert_eq!(formats, ["csv", "ndjson"]);
    let p = client.send(get("/v1/events", "ak_bad")).await.unwrap();
    p.problem(401, "unauthorized");

    stop.send(()).unwrap();
    task.await.unwrap().unwrap();
    assert!(std::net::TcpStream::connect(addr).is_err(), "the listener is closed");
}

/// Shutdown lets a request that is half sent finish: it is stored and
/// answered 201, and only then does the server stop.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_finishes_the_append_in_flight() {
    let f = Fixture::new();
    let t = f.key("ws_a", &["ingest"]);
    let (addr, stop, task) = start(&f).await;
    let body = corpus("ws_a", 500);
    let (half, rest) = body.as_bytes().split_at(body.len() / 2);
    let (half, rest) = (half.to_vec(), rest.to_vec());
    let (sent_half_tx, sent_half_rx) = std::sync::mpsc::channel::<()>();
    let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
    let client = std::thread::spawn(move || {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        let head = format!(
            "POST /v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {t}\r\nContent-Type: application/x-ndjson\r\nContent-Length: {}\r\n\r\n",
            half.len() + rest.len()
        );
        s.write_all(head.as_bytes()).unwrap();
        s.write_all(&half).unwrap();
        sent_half_tx.send(()).unwrap();
        go_rx.recv().unwrap();
        s.write_all(&rest).unwrap();
        let mut answer = String::new();
        s.read_to_string(&mut answer).unwrap();
        answer
    });
    sent_half_rx.recv().unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    stop.send(()).unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert!(f.state.draining.load(std::sync::atomic::Ordering::SeqCst));
    assert!(!task.is_finished(), "a request is in flight");
    go_tx.send(()).unwrap();
    let answer = tokio::task::spawn_blocking(move || client.join().unwrap()).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");
    task.await.unwrap().unwrap();
    assert_eq!(f.engine.head("ws_a").unwrap().seq, 502);
}

/// A client that never finishes its headers is cut off; one that never
/// finishes its body gets 408; the server goes on serving others.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_clients_time_out() {
    let f = Fixture::with(Config { header_read_timeout_ms: 200, request_timeout_ms: 300, ..config() });
    let t = f.key("ws_a", &["ingest"]);
    let (addr, stop, task) = start(&f).await;
    let answers = tokio::task::spawn_blocking(move || {
        let read_all = |s: &mut std::net::TcpStream| {
            s.set_read_timeout(Some(std::time::Duration::from_secs(5))).unwrap();
            let mut answer = String::new();
            let _ = s.read_to_string(&mut answer);
            answer
        };
        let mut headers_only = std::net::TcpStream::connect(addr).unwrap();
        headers_only.write_all(b"POST /v1/events HTTP/1.1\r\nHost: x\r\n").unwrap();
        let cut = read_all(&mut headers_only);
        let mut slow_body = std::net::TcpStream::connect(addr).unwrap();
        let head = format!(
            "POST /v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {t}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{"
        );
        slow_body.write_all(head.as_bytes()).unwrap();
        (cut, read_all(&mut slow_body))
    })
    .await
    .unwrap();
    assert!(!answers.0.starts_with("HTTP/1.1 2"), "{}", answers.0);
    assert!(answers.1.starts_with("HTTP/1.1 408"), "{}", answers.1);
    assert!(answers.1.contains("urn:annal:problem:request-timeout"), "{}", answers.1);
    let ok = HttpClient::new(addr).send(Req { token: None, ..get("/healthz", "") }).await.unwrap();
    assert_eq!(ok.status, 200);
    stop.send(()).unwrap();
    task.await.unwrap().unwrap();
}

/// A row that cannot be read mid-export ends the body without its final
/// chunk: the client sees a broken transfer, never a short file that looks
/// complete.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_row_mid_export_aborts_the_transfer() {
    let events: Vec<annal_engine::Event> = annal_testdata::events_for_tenant(annal_testdata::DEFAULT_SEED, "ws_a", 3000)
        .into_iter()
        .map(|v| annal_engine::Event::from_json_value(v).unwrap())
        .collect();
    let (f, token) = tampered(&events, 2499, |v| {
        let last = v.len() - 1;
        v[last] ^= 0xff; // breaks the CRC: undecodable
    });
    let (addr, stop, task) = start(&f).await;
    for format in ["ndjson", "csv"] {
        let uri = format!("/v1/export?format={format}");
        let res = HttpClient::new(addr).send(get(&uri, &token)).await;
        assert!(res.is_err(), "{format}: the transfer must fail, got {:?}", res.map(|r| r.body.len()));
    }
    stop.send(()).unwrap();
    task.await.unwrap().unwrap();
}

/// One tenant's exports that never read are bounded per tenant, refused
/// past the bound with 429, and ended after the stall timeout (their
/// bodies broken off, never ended as if whole, and their connections
/// reset by the server); meanwhile another tenant appends as usual.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_exports_are_bounded_ended_after_the_stall_timeout_and_stall_no_one_else() {
    let config = Config { max_exports_per_tenant: 2, export_stall_timeout_ms: 500, ..config() };
    let f = Fixture::with(config);
    let (reader, writer) = (f.key("ws_a", &["ingest", "read"]), f.key("ws_b", &["ingest"]));
    let (addr, stop, task) = start(&f).await;
    let client = HttpClient::new(addr);
    // About 18 MB of CSV: far more than the socket buffers hold.
    let body = corpus("ws_a", 30_000);
    let lines: Vec<&str> = body.lines().collect();
    for chunk in lines.chunks(3000) {
        let r = client.send(post("/v1/events", &reader, "application/x-ndjson", chunk.join("\n").as_bytes())).await.unwrap();
        assert_eq!(r.status, 201);
    }

    let before = open_connections(&client).await;
    // Two exports whose client never reads.
    let request = format!("GET /v1/export?format=csv HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {reader}\r\n\r\n");
    let stalled: Vec<std::net::TcpStream> = (0..2)
        .map(|_| {
            let mut s = std::net::TcpStream::connect(addr).unwrap();
            s.write_all(request.as_bytes()).unwrap();
            s
        })
        .collect();
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    // A third is refused at once, saying when to come back.
    let r = client.send(get("/v1/export?format=csv", &reader)).await.unwrap();
    r.problem(429, "concurrency-limited");
    assert_eq!(r.headers["retry-after"], "1");
    // Another tenant appends meanwhile.
    for i in 0..20 {
        let batch: String = (0..64).map(|j| event("auth.login", &format!("u{i}-{j}")) + "\n").collect();
        let r = client.send(post("/v1/events", &writer, "application/x-ndjson", batch.as_bytes())).await.unwrap();
        assert_eq!(r.status, 201, "{}", text(&r.body));
    }
    // After the stall timeout the slots are free again, and a reading
    // client gets the whole export.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let whole = loop {
        let r = client.send(get("/v1/export?format=csv", &reader)).await.unwrap();
        if r.status == 200 {
            break r;
        }
        r.problem(429, "concurrency-limited");
        assert!(std::time::Instant::now() < deadline, "the stalled exports were never ended");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    // The two stalled exports were recorded, as incomplete, before this one began.
    assert_eq!(text(&whole.body).lines().count(), 30_000 + 1 + 2 + 2, "header, two key rows, every event, two exports");
    let logged = client.send(get("/v1/events?action=annal.log.exported", &reader)).await.unwrap().json();
    let complete: Vec<bool> =
        logged["records"].as_array().unwrap().iter().map(|r| r["event"]["metadata"]["complete"].as_bool().unwrap()).collect();
    assert_eq!(complete[..2], [false, false], "{logged}");
    // Their connections were reset by the server, though their clients
    // still have not read a byte: nothing of them is left open.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while open_connections(&client).await > before {
        assert!(std::time::Instant::now() < deadline, "the stalled exports' connections were left open");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // A stalled body was broken off: whatever of it arrived, its chunked
    // encoding never ends.
    for mut s in stalled {
        s.set_read_timeout(Some(std::time::Duration::from_secs(10))).unwrap();
        let mut got = Vec::new();
        let read = s.read_to_end(&mut got);
        assert!(got.is_empty() || got.starts_with(b"HTTP/1.1 200"), "{}", String::from_utf8_lossy(&got[..got.len().min(200)]));
        // Reset, not closed: what the server had not sent yet was dropped
        // with the socket, not kept for a client that may never read it.
        assert_eq!(read.map_err(|e| e.kind()).err(), Some(std::io::ErrorKind::ConnectionReset), "{} bytes read", got.len());
        assert!(!got.ends_with(b"\r\n0\r\n\r\n"), "a stalled export must not end as if whole");
    }
    stop.send(()).unwrap();
    task.await.unwrap().unwrap();
}

/// The server's `annal_open_connections` gauge.
async fn open_connections(client: &HttpClient) -> u64 {
    let m = text(&client.send(Req { token: None, ..get("/metrics", "") }).await.unwrap().body);
    let line = m.lines().find(|l| l.starts_with("annal_open_connections ")).expect("the gauge");
    line["annal_open_connections ".len()..].parse().unwrap()
}

/// Bodies are counted against the budget of bytes in flight at their
/// `Content-Length` before a byte is read: past the tenant's share a
/// request is refused with 503 at once while another tenant's goes
/// through, and the budget comes back when the holders go.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_in_flight_are_bounded_before_they_are_read() {
    let config = Config {
        max_body_bytes: 1 << 20,
        max_body_bytes_in_flight: 3 << 20,
        max_body_bytes_in_flight_per_tenant: 2 << 20,
        ..config()
    };
    let f = Fixture::with(config);
    let t = f.key("ws_a", &["ingest"]);
    let other = f.key("ws_b", &["ingest"]);
    let (addr, stop, task) = start(&f).await;
    let client = HttpClient::new(addr);
    // Two clients announce a whole MiB each and send only a little of it.
    let head = format!(
        "POST /v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {t}\r\nContent-Type: application/x-ndjson\r\nContent-Length: {}\r\n\r\n",
        1 << 20
    );
    let slow: Vec<std::net::TcpStream> = (0..2)
        .map(|_| {
            let mut s = std::net::TcpStream::connect(addr).unwrap();
            s.write_all(head.as_bytes()).unwrap();
            s.write_all(b"{\"action\":\"a.b\"").unwrap();
            s
        })
        .collect();
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let small = event("auth.login", "u1");
    // A third waits for the tenant's share, and is refused when it does
    // not come back within the wait.
    let started = std::time::Instant::now();
    let r = client.send(post("/v1/events", &t, "application/json", small.as_bytes())).await.unwrap();
    r.problem(503, "unavailable");
    assert_eq!(r.headers["retry-after"], "1");
    assert!(started.elapsed() >= std::time::Duration::from_millis(900), "refused without waiting: {:?}", started.elapsed());
    // Another tenant's share is its own.
    let r = client.send(post("/v1/events", &other, "application/json", small.as_bytes())).await.unwrap();
    assert_eq!(r.status, 201, "{}", text(&r.body));
    // A body announced larger than the limit is refused before it is read.
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    let big = head.replace(&format!("Content-Length: {}", 1 << 20), &format!("Content-Length: {}", (1 << 20) + 1));
    s.write_all(big.as_bytes()).unwrap();
    let mut answer = [0u8; 12];
    s.read_exact(&mut answer).unwrap();
    assert_eq!(&answer, b"HTTP/1.1 413");
    // One that is waiting when the holders go is served.
    let waiting = {
        let (client, t, small) = (HttpClient::new(addr), t.clone(), small.clone());
        tokio::spawn(async move { client.send(post("/v1/events", &t, "application/json", small.as_bytes())).await.unwrap() })
    };
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    drop(slow);
    let r = waiting.await.unwrap();
    assert_eq!(r.status, 201, "{}", text(&r.body));
    stop.send(()).unwrap();
    task.await.unwrap().unwrap();
}

/// A tenant's bodies are read at `tenant_body_bytes_per_sec` after a burst
/// of `max_body_bytes`: sending faster makes its requests slower, never
/// refused, and another tenant's burst is its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenants_bodies_are_read_at_its_pace() {
    let config = Config { max_body_bytes: 256 << 10, tenant_body_bytes_per_sec: 1 << 20, ..config() };
    let f = Fixture::with(config);
    let (t, other) = (f.key("ws_a", &["ingest"]), f.key("ws_b", &["ingest"]));
    let (addr, stop, task) = start(&f).await;
    let client = HttpClient::new(addr);
    let body = corpus("ws_a", 500);
    assert!((200 << 10..256 << 10).contains(&body.len()), "{}", body.len());
    let started = std::time::Instant::now();
    for _ in 0..3 {
        let r = client.send(post("/v1/events", &t, "application/x-ndjson", body.as_bytes())).await.unwrap();
        assert_eq!(r.status, 201, "{}", text(&r.body));
    }
    // The first fits the burst; the next two are read at 1 MiB a second.
    let least = std::time::Duration::from_secs_f64(2.0 * body.len() as f64 / f64::from(1 << 20) * 0.9);
    assert!(started.elapsed() >= least, "{:?} < {least:?}: not paced", started.elapsed());
    let r = client.send(post("/v1/events", &other, "application/x-ndjson", corpus("ws_b", 500).as_bytes())).await.unwrap();
    assert_eq!(r.status, 201, "{}", text(&r.body));
    stop.send(()).unwrap();
    task.await.unwrap().unwrap();
}

/// One connection over `max_connections` is answered 503 and closed; the
/// others are served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_over_the_cap_are_answered_503_and_closed() {
    let f = Fixture::with(Config { max_connections: 2, ..config() });
    let t = f.key("ws_a", &["read"]);
    let (addr, stop, task) = start(&f).await;
    let open: Vec<std::net::TcpStream> = (0..2).map(|_| std::net::TcpStream::connect(addr).unwrap()).collect();
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let mut third = std::net::TcpStream::connect(addr).unwrap();
    third.set_read_timeout(Some(std::time::Duration::from_secs(5))).unwrap();
    let mut got = String::new();
    let _ = third.read_to_string(&mut got);
    assert!(got.starts_with("HTTP/1.1 503"), "{got}");
    assert!(got.contains("urn:annal:problem:unavailable") && got.contains("retry-after: 1"), "{got}");
    // A held connection still works.
    let mut first = open.into_iter().next().unwrap();
    first
        .write_all(format!("GET /v1/events?limit=1 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {t}\r\n\r\n").as_bytes())
        .unwrap();
    let mut answer = [0u8; 12];
    first.read_exact(&mut answer).unwrap();
    assert_eq!(&answer, b"HTTP/1.1 200");
    stop.send(()).unwrap();
    drop(first);
    task.await.unwrap().unwrap();
}

/// Failed authentications are counted per client address: past the limit
/// every request from it gets 429 before its token is looked at, a valid
/// token too (checking it would tell a guesser it was right).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_address_that_keeps_failing_to_authenticate_is_throttled() {
    let f = Fixture::with(Config { auth_failures_per_minute: 3, ..config() });
    let good = f.key("ws_a", &["read"]);
    let (addr, stop, task) = start(&f).await;
    let client = HttpClient::new(addr);
    let last = if good.ends_with('0') { '1' } else { '0' };
    let wrong = format!("{}{last}", &good[..good.len() - 1]);
    assert_eq!(client.send(get("/v1/events", &good)).await.unwrap().status, 200);
    for _ in 0..3 {
        client.send(get("/v1/events", &wrong)).await.unwrap().problem(401, "unauthorized");
    }
    for token in [&wrong, &good] {
        let r = client.send(get("/v1/events", token)).await.unwrap();
        let body = r.problem(429, "rate-limited");
        assert!(body["detail"].as_str().unwrap().contains("failed authentications"), "{body}");
        assert!(r.headers["retry-after"].to_str().unwrap().parse::<u64>().unwrap() >= 1);
    }
    stop.send(()).unwrap();
    task.await.unwrap().unwrap();
}
