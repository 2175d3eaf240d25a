//! The `annal` binary end to end: real process, real store, real exit codes.

use std::io::BufRead;
use std::path::Path;
use std::process::{Output, Stdio};

use annal_engine::{Cf, RawStore};
use serde_json::Value;

use crate::common::*;

#[test]
fn ingest_then_verify_a_corpus() {
    let d = tempfile::tempdir().unwrap();
    let dir = data_dir(d.path());
    let file = d.path().join("acme.ndjson");
    std::fs::write(&file, corpus("ws_acme", 2500)).unwrap();
    let out = annal(&["ingest", "--data-dir", &dir, "--tenant", "ws_acme", "--batch-size", "300", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let summary = text(&out.stdout);
    assert!(summary.contains("events into ws_acme"), "{summary}");
    assert!(summary.contains("0 rejected"), "{summary}");

    // The same corpus from stdin into a second tenant.
    let out =
        annal_with_input(&["ingest", "--data-dir", &dir, "--tenant", "ws_globex", "-"], corpus("ws_globex", 700).as_bytes());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));

    let out = annal(&["verify", "--data-dir", &dir]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    let report = text(&out.stdout);
    assert!(report.contains("ws_acme: intact"), "{report}");
    assert!(report.contains("ws_globex: intact, 700 rows"), "{report}");
}

#[test]
fn bad_lines_are_reported_by_number_and_field_and_the_rest_is_appended() {
    let d = tempfile::tempdir().unwrap();
    let dir = data_dir(d.path());
    let input = concat!(
        "{\"action\":\"auth.login\",\"actor\":{\"type\":\"user\",\"id\":\"u1\"}}\n",
        "{\"action\":\"auth.login\",\"actor\":{\"type\":\"robot\",\"id\":\"secret@acme.com\"}}\n",
        "\n",
        "not json at all\n",
        "{\"action\":\"auth.login\",\"actor\":{\"type\":\"user\",\"id\":\"u2\"},\"ip\":\"999.1.1.1\"}\n",
        "{\"action\":\"auth.logout\",\"actor\":{\"type\":\"user\",\"id\":\"u1\"},\"idempotency_key\":\"k\"}\n",
        "{\"action\":\"auth.logout\",\"actor\":{\"type\":\"user\",\"id\":\"u9\"},\"idempotency_key\":\"k\"}\n",
    );
    let out = annal_with_input(&["ingest", "--data-dir", &dir, "--tenant", "t1"], input.as_bytes());
    assert_eq!(out.status.code(), Some(3), "rejects give exit 3: {}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(err.contains("line 2: rejected: actor.type"), "{err}");
    assert!(err.contains("line 4: rejected: malformed JSON"), "{err}");
    assert!(err.contains("line 5: rejected: ip"), "{err}");
    assert!(err.contains("line 7: rejected: idempotency_key"), "{err}");
    assert!(!err.contains("secret@acme.com"), "errors must not echo values: {err}");
    assert!(text(&out.stdout).contains("ingested 2 of 6 events"), "{}", text(&out.stdout));
}

#[test]
fn verify_names_the_first_bad_seq_and_fails() {
    let d = tempfile::tempdir().unwrap();
    let dir = data_dir(d.path());
    let out = annal_with_input(&["ingest", "--data-dir", &dir, "--tenant", "ws_x"], corpus("ws_x", 50).as_bytes());
    assert_eq!(out.status.code(), Some(0));
    {
        let raw = RawStore::open(Path::new(&dir)).unwrap();
        let (k, mut v) = raw.entries(Cf::Records).unwrap().into_iter().nth(16).unwrap();
        let last = v.len() - 10;
        v[last] ^= 0x40;
        raw.put(Cf::Records, &k, &v).unwrap();
    }
    let out = annal(&["verify", "--data-dir", &dir, "--tenant", "ws_x"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stdout).contains("ws_x: BROKEN at seq 17"), "{}", text(&out.stdout));
}

#[test]
fn operator_mistakes_get_clear_errors() {
    let d = tempfile::tempdir().unwrap();
    let missing = d.path().join("nowhere").display().to_string();
    let out = annal(&["verify", "--data-dir", &missing]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("no annal store in"), "{}", text(&out.stderr));
    assert!(!Path::new(&missing).exists(), "verify must not create a store");

    let dir = data_dir(d.path());
    let out = annal(&["ingest", "--data-dir", &dir, "--tenant", "bad tenant"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("invalid tenant id"), "{}", text(&out.stderr));

    let out = annal(&["ingest", "--data-dir", &dir, "--tenant", "t", "/no/such/file"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("cannot open /no/such/file"), "{}", text(&out.stderr));

    let out = annal(&["ingest", "--data-dir", &dir, "--tenant", "t", "--batch-size", "0"]);
    assert_eq!(out.status.code(), Some(2), "clap usage errors exit 2");

    let out = annal(&["verify", "--data-dir", &dir, "--tenant", "never_written"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("unknown tenant"), "{}", text(&out.stderr));
}

// ---- annal query ----

/// Ingests `n` corpus events of `tenant` in one run; returns them as given,
/// so event `i` is row `seq = i + 1`.
fn store_with(dir: &str, tenant: &str, n: usize) -> Vec<Value> {
    let events = annal_testdata::events_for_tenant(annal_testdata::DEFAULT_SEED, tenant, n);
    let input: String = events.iter().map(|v| v.to_string() + "\n").collect();
    let out = annal_with_input(&["ingest", "--data-dir", dir, "--tenant", tenant], input.as_bytes());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let summary = text(&out.stdout);
    assert!(summary.contains("0 rejected, 0 idempotent replays"), "seqs must follow input order: {summary}");
    events
}

/// `annal query --data-dir DIR --tenant TENANT ARGS…`
fn query(dir: &str, tenant: &str, args: &[&str]) -> Output {
    let mut all = vec!["query", "--data-dir", dir, "--tenant", tenant];
    all.extend_from_slice(args);
    annal(&all)
}

/// The seqs of the NDJSON rows printed; every line must be a JSON row.
fn seqs(stdout: &[u8]) -> Vec<u64> {
    text(stdout)
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"));
            v["seq"].as_u64().unwrap_or_else(|| panic!("no seq: {l}"))
        })
        .collect()
}

fn next_cursor(stderr: &[u8]) -> Option<String> {
    text(stderr).lines().find_map(|l| l.strip_prefix("next cursor: ").map(str::to_string))
}

/// Seqs (1-based) of the events that satisfy `keep`, in input order.
fn expected(events: &[Value], keep: impl Fn(&Value) -> bool) -> Vec<u64> {
    events.iter().enumerate().filter(|(_, e)| keep(e)).map(|(i, _)| i as u64 + 1).collect()
}

fn is_iam(e: &Value) -> bool {
    e["action"].as_str().is_some_and(|a| a == "iam" || a.starts_with("iam."))
}

#[test]
fn query_prints_exactly_the_matching_rows_as_ndjson() {
    let d = tempfile::tempdir().unwrap();
    let dir = data_dir(d.path());
    let events = store_with(&dir, "ws_acme", 1500);
    let want = expected(&events, |e| is_iam(e) && e["outcome"] == "success");
    assert!(!want.is_empty() && want.len() < 1000, "the corpus gives a usable filter: {}", want.len());

    let out = query(&dir, "ws_acme", &["--action-prefix", "iam", "--outcome", "success", "--limit", "1000"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stderr), "", "a complete page prints no cursor");
    // Byte for byte what the library gives for those rows.
    let expected_text: String = {
        let engine = annal_engine::Engine::open(Path::new(&dir)).unwrap();
        want.iter().map(|&s| engine.get("ws_acme", s).unwrap().unwrap().to_json().to_string() + "\n").collect()
    };
    assert_eq!(text(&out.stdout), expected_text);

    // `--action` and `--action-prefix` together: both must hold.
    let action = events[want[0] as usize - 1]["action"].as_str().unwrap().to_string();
    let out = query(&dir, "ws_acme", &["--action", &action, "--action-prefix", "iam", "--limit", "1000"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(seqs(&out.stdout), expected(&events, |e| e["action"] == action.as_str()));
    let out = query(&dir, "ws_acme", &["--action", &action, "--action-prefix", "auth"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(out.stdout.is_empty(), "{}", text(&out.stdout));
}

/// Follows `next cursor:` until a page prints none; returns every seq seen.
fn walk(dir: &str, tenant: &str, args: &[&str]) -> (Vec<u64>, usize) {
    let (mut seen, mut pages, mut cursor) = (Vec::new(), 0, None::<String>);
    loop {
        let mut a = args.to_vec();
        if let Some(c) = &cursor {
            a.extend_from_slice(&["--cursor", c]);
        }
        let out = query(dir, tenant, &a);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        pages += 1;
        seen.extend(seqs(&out.stdout));
        match next_cursor(&out.stderr) {
            Some(c) => cursor = Some(c),
            None => return (seen, pages),
        }
        assert!(pages < 1000, "the walk does not end");
    }
}

#[test]
fn pages_with_limit_and_cursor_cover_every_row_once() {
    let d = tempfile::tempdir().unwrap();
    let dir = data_dir(d.path());
    let events = store_with(&dir, "ws_acme", 1500);

    let iam = expected(&events, is_iam);
    let (seen, pages) = walk(&dir, "ws_acme", &["--action-prefix", "iam", "--limit", "7"]);
    assert_eq!(seen, iam);
    assert_eq!(pages, iam.len().div_ceil(7));

    // A window that is an exact multiple of the page: the last full page is
    // complete, so no cursor leads to an empty page.
    let (seen, pages) = walk(&dir, "ws_acme", &["--limit", "500"]);
    assert_eq!(seen, (1..=1500).collect::<Vec<u64>>());
    assert_eq!(pages, 3);

    let (seen, _) = walk(&dir, "ws_acme", &["--action-prefix", "iam", "--limit", "9", "--desc"]);
    assert_eq!(seen, iam.iter().rev().copied().collect::<Vec<u64>>());
}

#[test]
fn desc_prints_newest_first() {
    let d = tempfile::tempdir().unwrap();
    let dir = data_dir(d.path());
    let events = store_with(&dir, "ws_acme", 300);
    let out = query(&dir, "ws_acme", &["--desc", "--limit", "5"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(seqs(&out.stdout), [300, 299, 298, 297, 296]);
    assert!(next_cursor(&out.stderr).is_some());

    let out = query(&dir, "ws_acme", &["--desc", "--outcome", "failure", "--limit", "1000"]);
    let want: Vec<u64> = expected(&events, |e| e["outcome"] == "failure").into_iter().rev().collect();
    assert!(!want.is_empty());
    assert_eq!(seqs(&out.stdout), want);
}

#[test]
fn all_streams_the_whole_window() {
    let d = tempfile::tempdir().unwrap();
    let dir = data_dir(d.path());
    let events = store_with(&dir, "ws_acme", 1500);
    let out = query(&dir, "ws_acme", &["--all"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(seqs(&out.stdout), (1..=1500).collect::<Vec<u64>>());
    assert_eq!(text(&out.stderr), "", "a stream prints no cursor");

    let out = query(&dir, "ws_acme", &["--all", "--desc", "--action-prefix", "iam"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(seqs(&out.stdout), expected(&events, is_iam).into_iter().rev().collect::<Vec<u64>>());

    // A page size or a cursor means one page: asking for both is a mistake.
    for extra in [&["--limit", "5"][..], &["--cursor", "00"], &["--explain"]] {
        let mut args = vec!["--all"];
        args.extend_from_slice(extra);
        let out = query(&dir, "ws_acme", &args);
        assert_eq!(out.status.code(), Some(2), "{extra:?}: {}", text(&out.stderr));
        assert!(text(&out.stderr).contains("cannot be used with"), "{}", text(&out.stderr));
    }
}

#[test]
fn window_bounds_take_rfc3339_and_ns() {
    let d = tempfile::tempdir().unwrap();
    let dir = data_dir(d.path());
    store_with(&dir, "ws_acme", 100);
    let out = annal_with_input(&["ingest", "--data-dir", &dir, "--tenant", "ws_acme"], corpus("ws_globex", 50).as_bytes());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let out = query(&dir, "ws_acme", &["--all"]);
    let row: Value = serde_json::from_str(text(&out.stdout).lines().nth(100).unwrap()).unwrap();
    assert_eq!(row["seq"], 101);
    let ns = row["recorded_at_ns"].as_u64().unwrap().to_string();
    let rfc = row["recorded_at"].as_str().unwrap().to_string();

    for from in [&ns, &rfc] {
        let out = query(&dir, "ws_acme", &["--from", from, "--all"]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        assert_eq!(seqs(&out.stdout), (101..=150).collect::<Vec<u64>>(), "--from {from}");
    }
    let out = query(&dir, "ws_acme", &["--to", &rfc, "--limit", "1000"]);
    assert_eq!(seqs(&out.stdout), (1..=100).collect::<Vec<u64>>());
}

#[test]
fn explain_goes_to_stderr_as_json() {
    let d = tempfile::tempdir().unwrap();
    let dir = data_dir(d.path());
    store_with(&dir, "ws_acme", 1500);
    let out = query(&dir, "ws_acme", &["--action-prefix", "iam", "--limit", "3", "--explain"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(seqs(&out.stdout).len(), 3, "stdout holds rows only");
    let err = text(&out.stderr);
    let line = err.lines().find_map(|l| l.strip_prefix("explain: ")).unwrap_or_else(|| panic!("{err}"));
    let explain: Value = serde_json::from_str(line).unwrap();
    assert_eq!(explain["index"], "action_prefix", "{explain}");
    assert_eq!(explain["returned"], 3);
    assert_eq!(explain["seq_range"], serde_json::json!([1, 1501]));
    assert_eq!(explain["candidates"][0]["index"], "chain");
    assert!(explain["examined"].as_u64().unwrap() < 100, "the index, not the chain, was walked: {explain}");
    assert!(next_cursor(&out.stderr).is_some(), "{err}");
}

#[test]
fn bad_queries_get_errors_naming_the_problem() {
    let d = tempfile::tempdir().unwrap();
    let dir = data_dir(d.path());
    store_with(&dir, "ws_acme", 300);
    store_with(&dir, "ws_globex", 300);
    let fails = |tenant: &str, args: &[&str], code: i32, needle: &str| {
        let out = query(&dir, tenant, args);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {}", text(&out.stderr));
        assert!(text(&out.stderr).contains(needle), "{args:?}: {}", text(&out.stderr));
        assert!(out.stdout.is_empty(), "{args:?}: {}", text(&out.stdout));
    };
    fails("ws_acme", &["--from", "2026-02-01T00:00:00Z", "--to", "2026-01-01T00:00:00Z"], 1, "invalid query: to: must be later");
    fails("ws_acme", &["--from", "yesterday"], 1, "invalid query: from:");
    fails("ws_acme", &["--target", "user"], 1, "invalid query: target: expected `type:id`");
    fails("ws_acme", &["--outcome", "ok"], 1, "invalid query: outcome:");
    fails("ws_acme", &["--action-prefix", "iam..role"], 1, "invalid query: action_prefix:");
    fails("ws_acme", &["--limit", "0"], 1, "invalid query: limit: must be 1 to 1000");
    fails("ws_acme", &["--limit", "1001"], 1, "invalid query: limit");
    fails("ws_acme", &["--cursor", "not-a-cursor"], 1, "invalid cursor: malformed");
    fails("ws_acme", &["--colour", "red"], 2, "unexpected argument '--colour'");
    fails("ws_nobody", &[], 1, "unknown tenant ws_nobody");
    fails("bad tenant", &[], 1, "invalid tenant id");

    let first = query(&dir, "ws_acme", &["--action-prefix", "iam", "--limit", "2"]);
    let cursor = next_cursor(&first.stderr).unwrap_or_else(|| panic!("{}", text(&first.stderr)));
    fails(
        "ws_acme",
        &["--action-prefix", "auth", "--limit", "2", "--cursor", &cursor],
        1,
        "invalid cursor: belongs to another query",
    );
    fails("ws_acme", &["--action-prefix", "iam", "--desc", "--cursor", &cursor], 1, "invalid cursor: belongs to another query");
    fails("ws_globex", &["--action-prefix", "iam", "--cursor", &cursor], 1, "invalid cursor: belongs to another tenant");
    // The page size is not part of the query: a cursor resumes with any limit.
    let out = query(&dir, "ws_acme", &["--action-prefix", "iam", "--limit", "5", "--cursor", &cursor]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));

    let missing = d.path().join("nowhere").display().to_string();
    let out = query(&missing, "ws_acme", &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("no annal store in"), "{}", text(&out.stderr));
    assert!(!Path::new(&missing).exists(), "query must not create a store");
}

#[test]
fn a_reader_closing_the_pipe_ends_the_query_quietly() {
    let d = tempfile::tempdir().unwrap();
    let dir = data_dir(d.path());
    store_with(&dir, "ws_acme", 1500);
    // Far more than a pipe buffers, so the writes after the close fail.
    let mut child = annal_command()
        .args(["query", "--data-dir", &dir, "--tenant", "ws_acme", "--all"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut first).unwrap();
    assert!(first.starts_with('{'), "{first}");
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stderr), "", "no panic, no error, no cursor");
}

#[test]
fn serve_refuses_bad_settings_from_file_environment_and_flags_naming_them() {
    let d = tempfile::tempdir().unwrap();
    let dir = data_dir(d.path());
    let file = d.path().join("annal.toml");
    std::fs::write(&file, "listen = \"127.0.0.1:0\"\nmax_body_byte = 10\n").unwrap();
    let out = annal(&["serve", "--data-dir", &dir, "--config", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("max_body_byte"), "{}", text(&out.stderr));

    // The environment overrides the file; a flag overrides the environment.
    std::fs::write(&file, "listen = \"127.0.0.1:0\"\nmax_batch_events = 5\n").unwrap();
    let run = |env: &[(&str, &str)], extra: &[&str]| {
        let mut c = annal_command();
        c.args(["serve", "--data-dir", &dir, "--config", file.to_str().unwrap()]).args(extra);
        for (k, v) in env {
            c.env(k, v);
        }
        c.stdin(Stdio::null()).output().unwrap()
    };
    let out = run(&[("ANNAL_MAX_BATCH_EVENTS", "0")], &[]);
    assert!(text(&out.stderr).contains("max_batch_events must be at least 1"), "{}", text(&out.stderr));
    let out = run(&[("ANNAL_MAX_BATCH_EVENTS", "7")], &["--max-batch-events", "0"]);
    assert!(text(&out.stderr).contains("max_batch_events must be at least 1"), "{}", text(&out.stderr));
    let out = run(&[], &["--listen", "not-an-address"]);
    assert_eq!(out.status.code(), Some(2), "clap rejects a malformed flag: {}", text(&out.stderr));
}

#[test]
fn tenants_and_keys_are_managed_offline() {
    let d = tempfile::tempdir().unwrap();
    let dir = data_dir(d.path());
    let out = annal(&["keys", "create", "--data-dir", &dir, "--tenant", "ws_a", "--scope", "read"]);
    assert_eq!(out.status.code(), Some(1), "no store yet: {}", text(&out.stderr));
    assert_eq!(annal(&["tenants", "create", "--data-dir", &dir, "ws_a"]).status.code(), Some(0));
    let out = annal(&["tenants", "create", "--data-dir", &dir, "ws_a"]);
    assert_eq!(out.status.code(), Some(1), "exists already");
    assert_eq!(annal(&["tenants", "create", "--data-dir", &dir, "bad name"]).status.code(), Some(1));
    let out = annal(&["keys", "create", "--data-dir", &dir, "--tenant", "ws_b", "--scope", "read"]);
    assert!(text(&out.stderr).contains("annal tenants create ws_b"), "{}", text(&out.stderr));
    let out = annal(&["keys", "create", "--data-dir", &dir, "--tenant", "ws_a", "--scope", "read,root"]);
    assert!(text(&out.stderr).contains("--scope"), "{}", text(&out.stderr));
    let out = annal(&["keys", "create", "--data-dir", &dir, "--tenant", "ws_a", "--scope", "read", "--scope", "ingest"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let token = text(&out.stdout).trim().to_string();
    assert!(token.starts_with("ak_") && token.len() == 84, "{token}");
    let id = &token[3..19];
    let list = text(&annal(&["keys", "list", "--data-dir", &dir, "--tenant", "ws_a"]).stdout);
    let keys: Vec<Value> = list.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0]["scopes"], serde_json::json!(["ingest", "read"]));
    assert!(!list.contains(&token[20..]), "no secret listed");
    assert_eq!(annal(&["keys", "revoke", "--data-dir", &dir, "--tenant", "ws_a", id]).status.code(), Some(0));
    let list = text(&annal(&["keys", "list", "--data-dir", &dir, "--tenant", "ws_a"]).stdout);
    assert!(serde_json::from_str::<Value>(list.trim()).unwrap()["revoked_at"].is_string());
    assert_eq!(text(&annal(&["tenants", "list", "--data-dir", &dir]).stdout), "ws_a\n");
    let engine = annal_engine::Engine::open(&dir).unwrap();
    assert!(matches!(engine.authenticate(&token), Err(annal_engine::Error::InvalidApiKey)));
}

#[test]
fn keyring_commands_make_list_add_and_destroy_keys_and_never_put_a_keyring_in_a_store() {
    let d = tempfile::tempdir().unwrap();
    let ring = d.path().join("conf/keyring.json");
    let ring_arg = ring.to_str().unwrap();
    let first = annal_ok(&["keyring", "init", ring_arg]).trim().to_string();
    assert!(first.starts_with("kek-"), "{first}");
    let again = annal(&["keyring", "init", ring_arg]);
    assert!(!again.status.success() && text(&again.stderr).contains("never replaces a keyring"));
    let second = annal_ok(&["keyring", "add", "--keyring", ring_arg]).trim().to_string();
    let listed: Vec<serde_json::Value> =
        annal_ok(&["keyring", "list", "--keyring", ring_arg]).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(listed.len(), 2);
    assert_eq!((listed[0]["id"].as_str(), listed[0]["current"].as_bool()), (Some(first.as_str()), Some(false)));
    assert_eq!((listed[1]["id"].as_str(), listed[1]["current"].as_bool()), (Some(second.as_str()), Some(true)));
    assert!(!annal_ok(&["keyring", "list", "--keyring", ring_arg]).contains("material"));

    let unconfirmed = annal(&["keyring", "destroy", "--keyring", ring_arg, &first, "--confirm", &second]);
    assert!(!unconfirmed.status.success() && text(&unconfirmed.stderr).contains("--confirm must repeat"));
    // Through the environment variable, as a server's operator would give it.
    let out = annal_command()
        .env("ANNAL_KEYRING", ring_arg)
        .args(["keyring", "destroy", &first, "--confirm", &first])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let listed = annal_ok(&["keyring", "list", "--keyring", ring_arg]);
    assert!(listed.lines().next().unwrap().contains("destroyed_at"), "{listed}");

    // A store's data keys re-wrapped under the current KEK, and the old one
    // destroyed: every row still reads.
    let data = data_dir(d.path());
    annal_ok(&["tenants", "create", "--data-dir", &data, "--keyring", ring_arg, "ws_enc"]);
    let third = annal_ok(&["keyring", "add", "--keyring", ring_arg]).trim().to_string();
    let done = annal_ok(&["keyring", "rewrap", "--data-dir", &data, "--keyring", ring_arg]);
    assert_eq!(done.trim(), r#"{"data_keys_rewrapped":2,"tenant":"ws_enc"}"#);
    annal_ok(&["keyring", "destroy", "--keyring", ring_arg, &second, "--confirm", &second]);
    let rows = annal_ok(&["query", "--data-dir", &data, "--keyring", ring_arg, "--tenant", "ws_enc"]);
    assert_eq!(rows.lines().count(), 1, "the tenant's first row: {rows}");
    // A person erased from the command line: the row that named them stays, without them.
    let creator = format!("cli:{}", std::env::var("USER").ok().filter(|u| !u.is_empty()).unwrap_or_else(|| "unknown".into()));
    let erased = annal_ok(&["subjects", "erase", "--data-dir", &data, "--keyring", ring_arg, "--tenant", "ws_enc", &creator]);
    let erased: serde_json::Value = serde_json::from_str(erased.trim()).unwrap();
    assert_eq!(erased["rows_erased"], 1, "{erased}");
    let rows = annal_ok(&["query", "--data-dir", &data, "--keyring", ring_arg, "--tenant", "ws_enc"]);
    assert_eq!(rows.lines().count(), 2, "{rows}");
    assert!(rows.lines().next().unwrap().contains(r#""how":"erased""#), "{rows}");
    assert!(annal_ok(&["verify", "--data-dir", &data, "--keyring", ring_arg, "--tenant", "ws_enc"]).contains("intact"));
    assert_ne!(third, second);

    // Never inside a data directory, however deep.
    annal_ok(&["tenants", "create", "--data-dir", &data, "ws_a"]);
    let inside = format!("{data}/keys/keyring.json");
    let out = annal(&["keyring", "init", &inside]);
    assert!(!out.status.success() && text(&out.stderr).contains("inside the data directory"), "{}", text(&out.stderr));
    assert!(!std::path::Path::new(&inside).exists());
    let missing = annal(&["keyring", "list", "--keyring", "/nonexistent/keyring.json"]);
    assert!(!missing.status.success() && text(&missing.stderr).contains("cannot read"));
}
