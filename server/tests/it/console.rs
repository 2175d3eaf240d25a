//! The audit console (`GET /console`) in a real headless Chromium driven
//! through WebDriver, against `annal serve` as a process over loopback:
//! sign in, filter, page both ways, open a row, export, verify, sign out;
//! hostile event values render as text; another tenant's key sees none of
//! the first tenant's rows. And its headers, in-process.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use annal_testdata::browser::Browser;
use fantoccini::Locator;
use serde_json::Value;

use crate::common::*;

const WAIT: Duration = Duration::from_secs(20);

/// Events whose every displayed field is an attack on the page or on a
/// spreadsheet: if any of them ran, `window.__pwned` would be set.
const HOSTILE: &str = r#"{"action":"xss.test","actor":{"type":"user","id":"usr_evil","name":"<img src=x onerror=\"window.__pwned=1\">"},"target":{"type":"doc","id":"doc_1","name":"<script>window.__pwned=2</script>"},"user_agent":"<svg onload=\"window.__pwned=3\">","metadata":{"note":"=HYPERLINK(\"http://evil.example\",\"click\")","html":"</pre><b onclick=\"window.__pwned=4\">x</b>"},"diff":{"title":{"from":"<i>old</i>","to":"javascript:window.__pwned=5"}},"outcome":"success"}
"#;

/// A store of two tenants (ws_acme: 900 corpus events and the hostile one;
/// ws_globex: 200 of its own) served by `annal serve`; read keys of both.
struct Served {
    _dir: tempfile::TempDir,
    child: std::process::Child,
    http: HttpClient,
    base: String,
    acme: String,
    globex: String,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve_two_tenants() -> Served {
    let dir = tempfile::tempdir().unwrap();
    let data = data_dir(dir.path());
    let acme = tenant_with_key(&data, "ws_acme", "read");
    let globex = tenant_with_key(&data, "ws_globex", "read");
    let mut body = corpus("ws_acme", 900);
    body.push_str(HOSTILE);
    let out = annal_with_input(&["ingest", "--data-dir", &data, "--tenant", "ws_acme", "--batch-size", "100"], body.as_bytes());
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = annal_with_input(&["ingest", "--data-dir", &data, "--tenant", "ws_globex"], corpus("ws_globex", 200).as_bytes());
    assert!(out.status.success(), "{}", text(&out.stderr));
    let (child, addr) = spawn_server(&data, &["--retention-interval-secs", "0"]);
    Served { _dir: dir, child, http: HttpClient::new(addr), base: format!("http://{addr}"), acme, globex }
}

/// The seq of each row the table shows, in order.
async fn shown(b: &Browser) -> Vec<u64> {
    let v = b
        .client
        .execute("return [...document.querySelectorAll('#rows tr.row')].map(r => Number(r.dataset.seq))", vec![])
        .await
        .unwrap();
    serde_json::from_value(v).unwrap()
}

/// The seqs of one page of `/v1/events?{query}` for `token`.
async fn api_page(s: &Served, token: &str, query: &str) -> (Vec<u64>, Option<String>) {
    let uri = format!("/v1/events?{query}");
    let page = s.http.send(get(&uri, token)).await.unwrap().json();
    let seqs = page["records"].as_array().unwrap().iter().map(|r| r["seq"].as_u64().unwrap()).collect();
    (seqs, page["next_cursor"].as_str().map(str::to_string))
}

/// Waits for a page rendered after `before` (the `pageRenderedAt` mark the
/// console sets once a page of a new filter is in the table), then returns
/// the seqs shown.
async fn next_render(b: &Browser, before: &Value) -> Vec<u64> {
    let script = format!(
        "const m = document.body.dataset.pageRenderedAt; return (m !== undefined && m !== {}) ? m : null",
        serde_json::to_string(&before.as_str().unwrap_or("")).unwrap()
    );
    b.wait_for("a page rendered", WAIT, &script).await.unwrap();
    shown(b).await
}

async fn mark(b: &Browser) -> Value {
    b.client.execute("return document.body.dataset.pageRenderedAt || ''", vec![]).await.unwrap()
}

async fn text_of(b: &Browser, css: &str) -> String {
    b.client.find(Locator::Css(css)).await.unwrap().text().await.unwrap()
}

async fn sign_in(b: &Browser, s: &Served, token: &str) {
    b.client.goto(&format!("{}/console", s.base)).await.unwrap();
    b.wait_for("the sign-in form", WAIT, "return !document.getElementById('signin').hidden").await.unwrap();
    let before = mark(b).await;
    let key = b.client.find(Locator::Id("key")).await.unwrap();
    key.send_keys(token).await.unwrap();
    b.client.find(Locator::Id("signin-submit")).await.unwrap().click().await.unwrap();
    b.wait_for("the console", WAIT, "return !document.getElementById('app').hidden").await.unwrap();
    next_render(b, &before).await;
}

/// The actor and action prefix with the most rows together in ws_acme's
/// corpus events, and how many.
fn busiest_actor_and_prefix() -> (String, String, usize) {
    let mut n: BTreeMap<(String, String), usize> = BTreeMap::new();
    for e in annal_testdata::events_for_tenant(annal_testdata::DEFAULT_SEED, "ws_acme", 900) {
        let prefix = e["action"].as_str().unwrap().split('.').next().unwrap().to_string();
        *n.entry((e["actor"]["id"].as_str().unwrap().to_string(), prefix)).or_default() += 1;
    }
    let ((actor, prefix), count) = n.into_iter().max_by_key(|(_, c)| *c).unwrap();
    (actor, prefix, count)
}

async fn set_field(b: &Browser, id: &str, value: &str) {
    let e = b.client.find(Locator::Id(id)).await.unwrap();
    e.clear().await.unwrap();
    e.send_keys(value).await.unwrap();
}

async fn select(b: &Browser, id: &str, value: &str) {
    b.client.find(Locator::Id(id)).await.unwrap().select_by_value(value).await.unwrap();
}

/// The one file Chromium finished saving in `dir` (not a `.crdownload`).
async fn downloaded(dir: &Path, ext: &str) -> Vec<u8> {
    for _ in 0..400 {
        let done: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == ext))
            .collect();
        if let [one] = done.as_slice() {
            return std::fs::read(one).unwrap();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no .{ext} download in {}", dir.display());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compliance_staff_filter_page_read_export_verify_and_sign_out_in_a_real_browser() {
    let s = serve_two_tenants();
    let tmp = tempfile::tempdir().unwrap();
    let b = Browser::start(tmp.path(), 1280, 900).await.unwrap();

    // Signed out: only the sign-in form. Signed in: the newest rows first,
    // exactly the API's first page of the default window.
    sign_in(&b, &s, &s.acme).await;
    assert_eq!(text_of(&b, "#tenant").await, "ws_acme");
    let url = b.client.current_url().await.unwrap().to_string();
    assert!(!url.contains("ak_") && !url.contains(&s.acme), "the key is never in the URL: {url}");
    let stored: Value = b.client.execute("return sessionStorage.getItem('annal.console.key')", vec![]).await.unwrap();
    assert_eq!(stored, s.acme.as_str(), "kept for the tab only");
    let rows = shown(&b).await;
    assert!(rows.len() >= 25, "{}", rows.len());
    assert!(rows.windows(2).all(|w| w[0] > w[1]), "newest first");

    // Filter by actor and action prefix, 25 a page: each page is the API's.
    let (actor, prefix, count) = busiest_actor_and_prefix();
    assert!(count > 50, "the corpus has an actor with {count} `{prefix}` rows: at least three pages");
    set_field(&b, "f-actor", &actor).await;
    set_field(&b, "f-action", &prefix).await;
    select(&b, "f-action-mode", "prefix").await;
    select(&b, "f-limit", "25").await;
    let before = mark(&b).await;
    b.client.find(Locator::Id("f-apply")).await.unwrap().click().await.unwrap();
    let page1 = next_render(&b, &before).await;
    let url = b.client.current_url().await.unwrap();
    let pairs: BTreeMap<String, String> = url.query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
    assert_eq!(pairs.get("actor"), Some(&actor), "the filter is in the URL: {url}");
    assert_eq!(pairs.get("action"), Some(&prefix));
    let (from, to) = (pairs["from"].clone(), pairs["to"].clone());
    let q = format!("actor={actor}&action_prefix={prefix}&from={from}&to={to}&order=desc&limit=25");
    let (api1, c1) = api_page(&s, &s.acme, &q).await;
    assert_eq!(page1, api1, "page 1");
    let before = mark(&b).await;
    b.client.find(Locator::Id("page-older")).await.unwrap().click().await.unwrap();
    let page2 = next_render(&b, &before).await;
    let (api2, _) = api_page(&s, &s.acme, &format!("{q}&cursor={}", c1.unwrap())).await;
    assert_eq!(page2, api2, "page 2");
    let before = mark(&b).await;
    b.client.find(Locator::Id("page-newer")).await.unwrap().click().await.unwrap();
    assert_eq!(next_render(&b, &before).await, page1, "back to page 1, exactly");

    // A row opens its detail: every field, seq, leaf and head as stored.
    let row = s.http.send(get(&format!("/v1/events/{}", page1[0]), &s.acme)).await.unwrap().json();
    b.client.find(Locator::Css("#rows tr.row")).await.unwrap().click().await.unwrap();
    b.wait_for("the detail", WAIT, "return document.getElementById('detail').open").await.unwrap();
    assert_eq!(text_of(&b, "#detail [data-field='seq']").await, page1[0].to_string());
    assert_eq!(text_of(&b, "#detail [data-field='leaf']").await, row["leaf"].as_str().unwrap());
    assert_eq!(text_of(&b, "#detail [data-field='head']").await, row["head"].as_str().unwrap());
    assert_eq!(text_of(&b, "#detail [data-field='actor.id']").await, actor);
    b.client.find(Locator::Id("detail-close")).await.unwrap().click().await.unwrap();
    b.wait_for("the detail closed", WAIT, "return !document.getElementById('detail').open").await.unwrap();

    // Export the filtered window as CSV: the very bytes of /v1/export, and
    // the export is now a row of the tenant's own chain.
    b.client.find(Locator::Id("export-csv")).await.unwrap().click().await.unwrap();
    let csv = downloaded(b.downloads(), "csv").await;
    let q_export = format!("actor={actor}&action_prefix={prefix}&from={from}&to={to}&order=desc");
    let api_csv = s.http.send(get(&format!("/v1/export?format=csv&{q_export}"), &s.acme)).await.unwrap();
    assert_eq!(api_csv.status, 200);
    assert_eq!(String::from_utf8_lossy(&csv), String::from_utf8_lossy(&api_csv.body), "the console's CSV is the API's");
    assert_eq!(csv.iter().filter(|b| **b == b'\n').count(), count + 1, "every filtered row and the header");
    b.wait_for("the export's status", WAIT, "return /Saved/.test(document.getElementById('export-status').textContent)")
        .await
        .unwrap();
    let (logged, _) = api_page(&s, &s.acme, "action=annal.log.exported&limit=10").await;
    assert_eq!(logged.len(), 2, "the console's export and the API's, each recorded");
    let rec = s.http.send(get(&format!("/v1/events/{}", logged[0]), &s.acme)).await.unwrap().json();
    assert_eq!(rec["event"]["metadata"]["rows"], count as u64);
    assert_eq!(rec["event"]["metadata"]["filter"]["actor"], actor.as_str());
    assert_eq!(rec["event"]["metadata"]["complete"], true);

    // Verify now.
    b.client.find(Locator::Id("verify-now")).await.unwrap().click().await.unwrap();
    let status = b
        .wait_for(
            "verification",
            WAIT,
            "const t = document.getElementById('verify-status').textContent; return /Intact|BROKEN/.test(t) ? t : null",
        )
        .await
        .unwrap();
    assert!(status.as_str().unwrap().contains("Intact"), "{status}");

    // The hostile event: every payload shows as text, none runs.
    b.client.goto(&format!("{}/console?preset=30d&action=xss.test&action_mode=exact", s.base)).await.unwrap();
    b.wait_for("the hostile row", WAIT, "return document.querySelectorAll('#rows tr.row').length === 1").await.unwrap();
    let table = text_of(&b, "#rows").await;
    assert!(table.contains("<img src=x onerror=\"window.__pwned=1\">"), "{table}");
    b.client.find(Locator::Css("#rows tr.row")).await.unwrap().click().await.unwrap();
    b.wait_for("the detail", WAIT, "return document.getElementById('detail').open").await.unwrap();
    let detail = text_of(&b, "#detail").await;
    for payload in
        ["<script>window.__pwned=2</script>", "<svg onload=\"window.__pwned=3\">", "=HYPERLINK(", "javascript:window.__pwned=5"]
    {
        assert!(detail.contains(payload), "{payload} shown as text: {detail}");
    }
    let injected: Value = b
        .client
        .execute(
            "return [window.__pwned === undefined, document.querySelectorAll('#app script, #app img, #app svg, #app b[onclick], #detail [onclick]').length]",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(injected, serde_json::json!([true, 0]), "no payload became markup or ran");
    b.client.find(Locator::Id("detail-close")).await.unwrap().click().await.unwrap();

    // An AI agent is shown acting on behalf of its user.
    let ai = annal_testdata::events_for_tenant(annal_testdata::DEFAULT_SEED, "ws_acme", 900)
        .into_iter()
        .find(|e| e["actor"]["type"] == "ai" && e["actor"]["on_behalf_of"].is_string())
        .expect("the corpus has an AI agent acting for a user");
    let (agent, user) = (ai["actor"]["id"].as_str().unwrap(), ai["actor"]["on_behalf_of"].as_str().unwrap());
    b.client.goto(&format!("{}/console?preset=30d&actor={agent}&on_behalf_of={user}", s.base)).await.unwrap();
    b.wait_for("the agent's rows", WAIT, "return document.querySelectorAll('#rows tr.row').length > 0").await.unwrap();
    let cell = text_of(&b, "#rows tr.row td.c-actor").await;
    assert!(cell.contains("AI agent") && cell.contains(&format!("on behalf of {user}")), "{cell}");

    // Sign out: the key is forgotten; another tenant's key sees only its rows.
    b.client.find(Locator::Id("signout")).await.unwrap().click().await.unwrap();
    b.wait_for(
        "the sign-in form",
        WAIT,
        "return !document.getElementById('signin').hidden && document.getElementById('app').hidden",
    )
    .await
    .unwrap();
    let stored: Value = b.client.execute("return sessionStorage.getItem('annal.console.key')", vec![]).await.unwrap();
    assert_eq!(stored, Value::Null);
    sign_in(&b, &s, &s.globex).await;
    assert_eq!(text_of(&b, "#tenant").await, "ws_globex");
    let globex_rows = shown(&b).await;
    let url = b.client.current_url().await.unwrap();
    let pairs: BTreeMap<String, String> = url.query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
    let limit = pairs.get("limit").cloned().unwrap_or_else(|| "50".into());
    let (api_globex, _) =
        api_page(&s, &s.globex, &format!("from={}&to={}&order=desc&limit={limit}", pairs["from"], pairs["to"])).await;
    assert_eq!(globex_rows, api_globex);
    let leaves = |v: &Value| -> BTreeSet<String> {
        v["records"].as_array().unwrap().iter().map(|r| r["leaf"].as_str().unwrap().to_string()).collect()
    };
    let acme_all = leaves(&s.http.send(get("/v1/events?limit=1000", &s.acme)).await.unwrap().json());
    assert!(!globex_rows.is_empty());
    let globex_page = s.http.send(get(&format!("/v1/events?limit={limit}&order=desc"), &s.globex)).await.unwrap().json();
    assert!(leaves(&globex_page).is_disjoint(&acme_all), "no row of ws_acme reaches ws_globex's key");
    let table = text_of(&b, "#rows").await;
    assert!(!table.contains("xss.test") && !table.contains("usr_evil"), "ws_acme's rows are not in ws_globex's console");

    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_chart_narrows_the_window_and_the_page_works_on_a_narrow_screen_by_keyboard() {
    let s = serve_two_tenants();
    let tmp = tempfile::tempdir().unwrap();
    let b = Browser::start(tmp.path(), 360, 740).await.unwrap();
    sign_in(&b, &s, &s.acme).await;
    // The layout fits: nothing but the table's own scroller is wider than the screen.
    let overflow: Value =
        b.client.execute("return document.documentElement.scrollWidth <= window.innerWidth + 1", vec![]).await.unwrap();
    assert_eq!(overflow, Value::Bool(true), "no horizontal scroll of the page at 360 px");
    // The chart counts exactly what the histogram route counts, and a bar
    // narrows the window to its bucket.
    b.wait_for("the chart", WAIT, "return document.querySelectorAll('#chart .bar').length > 0").await.unwrap();
    let bars: Value = b
        .client
        .execute(
            "return [...document.querySelectorAll('#chart .bar')].filter(b => !/: 0 events/.test(b.getAttribute('aria-label'))).map(b => [b.dataset.start, b.dataset.end])",
            vec![],
        )
        .await
        .unwrap();
    let busy = bars.as_array().unwrap().last().unwrap().clone();
    let (start, end) = (busy[0].as_str().unwrap().to_string(), busy[1].as_str().unwrap().to_string());
    let before = mark(&b).await;
    // By keyboard: focus the bar and press Enter.
    let bar = b.client.find(Locator::Css(&format!("#chart .bar[data-start='{start}']"))).await.unwrap();
    bar.send_keys("\u{E007}").await.unwrap();
    let seqs = next_render(&b, &before).await;
    let url = b.client.current_url().await.unwrap();
    let pairs: BTreeMap<String, String> = url.query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
    assert_eq!(pairs.get("preset").map(String::as_str), Some("custom"));
    let (api, _) = api_page(&s, &s.acme, &format!("from={start}&to={end}&order=desc&limit={}", seqs.len().max(1))).await;
    assert_eq!(seqs, api, "the page of the bar's bucket");
    // Enter on a focused row opens it; Escape closes it.
    let row = b.client.find(Locator::Css("#rows tr.row")).await.unwrap();
    row.send_keys("\u{E007}").await.unwrap();
    b.wait_for("the detail", WAIT, "return document.getElementById('detail').open").await.unwrap();
    b.client.active_element().await.unwrap().send_keys("\u{E00C}").await.unwrap();
    b.wait_for("the detail closed", WAIT, "return !document.getElementById('detail').open").await.unwrap();
    b.stop().await;
}

#[tokio::test]
async fn the_console_is_served_with_a_strict_policy_and_can_be_turned_off() {
    let f = Fixture::new();
    for (path, media) in
        [("/console", "text/html"), ("/console/console.js", "text/javascript"), ("/console/console.css", "text/css")]
    {
        let res = f.call(Req { token: None, ..get(path, "") }).await;
        assert_eq!(res.status, 200, "{path}");
        let h = |name: &str| res.headers.get(name).map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
        assert!(h("content-type").starts_with(media), "{path}: {}", h("content-type"));
        let csp = h("content-security-policy");
        for directive in
            ["default-src 'self'", "script-src 'self'", "style-src 'self'", "frame-ancestors 'none'", "object-src 'none'"]
        {
            assert!(csp.contains(directive), "{path}: {csp}");
        }
        assert!(!csp.contains("unsafe"), "{csp}");
        assert_eq!(h("x-content-type-options"), "nosniff");
        assert_eq!(h("referrer-policy"), "no-referrer");
        assert_eq!(h("x-frame-options"), "DENY");
        assert_eq!(h("cache-control"), "no-cache");
        // Revalidation: the same file is a 304.
        let etag = h("etag");
        let again = f.call(Req { token: None, headers: &[("if-none-match", &etag)], ..get(path, "") }).await;
        assert_eq!(again.status, 304, "{path}");
    }
    // The page itself: no inline script or style for the policy to allow.
    let page = f.call(Req { token: None, ..get("/console", "") }).await;
    let html = String::from_utf8_lossy(&page.body).to_string();
    assert!(!html.contains("<script>") && !html.contains(" style=") && !html.contains(" onclick"), "{html}");
    assert!(html.contains("src=\"/console/console.js\""));
    // The script never writes markup from values.
    let js = f.call(Req { token: None, ..get("/console/console.js", "") }).await;
    let js = String::from_utf8_lossy(&js.body).to_string();
    for sink in ["innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function", "localStorage"] {
        assert!(!js.contains(sink), "console.js uses {sink}");
    }

    // Embedding allowed for one origin only; the console turned off.
    let f = Fixture::with(Config { console_frame_ancestors: "https://app.example.com".into(), ..config() });
    let res = f.call(Req { token: None, ..get("/console", "") }).await;
    let csp = res.headers["content-security-policy"].to_str().unwrap();
    assert!(csp.ends_with("frame-ancestors https://app.example.com"), "{csp}");
    assert!(res.headers.get("x-frame-options").is_none());
    let f = Fixture::with(Config { console: false, ..config() });
    f.call(Req { token: None, ..get("/console", "") }).await.problem(404, "not-found");
}

#[tokio::test]
async fn overview_actions_and_histogram_answer_a_reader_of_their_own_tenant_only() {
    let f = Fixture::new();
    let t = f.key("ws_a", &["ingest", "read"]);
    let admin = f.key("ws_a", &["admin"]);
    let other = f.key("ws_b", &["ingest", "read"]);
    let body = corpus("ws_a", 300);
    f.call(post("/v1/events", &t, "application/x-ndjson", body.as_bytes())).await;
    f.call(post("/v1/events", &other, "application/json", event("zzz.only.b", "u_b").as_bytes())).await;
    f.call(Req {
        method: axum::http::Method::PUT,
        content_type: Some("application/json"),
        body: br#"{"reason":"litigation 2026-17"}"#,
        ..get("/v1/legal-hold", &admin)
    })
    .await;
    f.call(Req { method: axum::http::Method::POST, ..get("/v1/checkpoints", &t) }).await;

    let o = f.call(get("/v1/overview", &t)).await.json();
    assert_eq!(o["tenant"], "ws_a");
    assert_eq!(o["key"]["scopes"], serde_json::json!(["ingest", "read"]));
    let head = f.engine.head("ws_a").unwrap();
    assert_eq!(o["head"]["seq"], head.seq);
    assert_eq!(o["head"]["head"], head.head.to_hex());
    assert_eq!(o["retention"]["tier"], "default");
    assert_eq!(o["retention"]["legal_hold"]["reason"], "litigation 2026-17");
    assert_eq!(o["checkpoint"]["seq"], f.engine.latest_checkpoint("ws_a").unwrap().unwrap().seq);
    assert!(o.get("token").is_none() && !o.to_string().contains(&t), "no secret in the overview");
    f.call(get("/v1/overview", &admin)).await.problem(403, "insufficient-scope");

    let a = f.call(get("/v1/actions", &t)).await.json();
    let names: Vec<&str> = a["actions"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    let mut want: Vec<String> = annal_testdata::events_for_tenant(annal_testdata::DEFAULT_SEED, "ws_a", 300)
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_string())
        .chain(["annal.tenant.created", "annal.key.created", "annal.retention.hold"].map(String::from))
        .collect();
    want.sort();
    want.dedup();
    assert_eq!(names, want);
    assert!(!names.contains(&"zzz.only.b"), "another tenant's actions");
    let two = f.call(get("/v1/actions?prefix=annal.&limit=2", &t)).await.json();
    assert_eq!(two["actions"].as_array().unwrap().len(), 2);
    assert_eq!(two["complete"], false);
    f.call(get("/v1/actions?limit=0", &t)).await.problem(400, "invalid-parameter");
    f.call(get("/v1/actions?tenant=ws_b", &t)).await.problem(400, "invalid-parameter");

    // Every row of the day, by outcome, as the pages count them.
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let (from, to) = (now - 86_400, now + 3_600);
    let q = format!("from={}&to={}", from * 1_000_000_000, to * 1_000_000_000);
    let h = f.call(get(&format!("/v1/histogram?{q}"), &t)).await.json();
    assert_eq!(h["bucket"], "hour");
    let buckets = h["buckets"].as_array().unwrap();
    assert_eq!(buckets.len(), 26);
    let sum = |k: &str| buckets.iter().map(|b| b[k].as_u64().unwrap()).sum::<u64>();
    let page = f.call(get(&format!("/v1/events?{q}&limit=1000"), &t)).await.json();
    let rows = page["records"].as_array().unwrap();
    assert_eq!(sum("total"), rows.len() as u64);
    assert_eq!(h["rows"], rows.len() as u64);
    assert_eq!(sum("failure"), rows.iter().filter(|r| r["event"]["outcome"] == "failure").count() as u64);
    assert_eq!(sum("none"), rows.iter().filter(|r| r["event"]["outcome"].is_null()).count() as u64);
    let failures = f.call(get(&format!("/v1/histogram?{q}&outcome=failure&bucket=day"), &t)).await.json();
    assert_eq!(failures["rows"], sum("failure"));
    let p = f.call(get("/v1/histogram?bucket=day", &t)).await.problem(400, "invalid-query");
    assert_eq!(p["errors"][0]["field"].as_str().or(p["field"].as_str()), Some("from"), "{p}");
    f.call(get(&format!("/v1/histogram?{q}&bucket=week"), &t)).await.problem(400, "invalid-query");
    let limited = Fixture::with(Config { histogram_max_rows: 10, ..config() });
    let lt = limited.key("ws_a", &["ingest", "read"]);
    limited.call(post("/v1/events", &lt, "application/x-ndjson", body.as_bytes())).await;
    let h = limited.call(get(&format!("/v1/histogram?{q}"), &lt)).await.json();
    assert_eq!((h["rows"].as_u64(), h["complete"].as_bool()), (Some(10), Some(false)));
}
