//! Seeded, reproducible generator of realistic audit events.
//!
//! `annal-testdata` produces the audit events that annal's tests, benchmarks
//! and demo feed into the engine. Events are `serde_json::Value`s shaped
//! exactly as the engine's ingest path accepts them (no unknown fields), and
//! they look like a real multi-tenant SaaS audit trail:
//!
//! * every tenant (workspace) has a stable population of users with names
//!   and emails at the tenant's domain, a few AI agents acting on behalf of
//!   users (with input/output hashes), system jobs, API keys and services;
//! * user activity comes in sessions (login, a handful of actions sharing one
//!   `session_id`, usually a logout), interleaved with agent runs, job runs,
//!   API-key traffic and credential-stuffing bursts;
//! * users, documents and actions follow skewed (Zipf-like) distributions,
//!   some API keys are used only a handful of times, roughly one event in ten
//!   carries an `idempotency_key`, and some outcomes are `failure` or
//!   `denied`;
//! * state is tracked, so diffs are consistent: a role grant goes from the
//!   target's current role, candidates advance stage by stage, settings
//!   change from their current value;
//! * `occurred_at` starts at 2026-01-01T00:00:00Z and is non-decreasing per
//!   tenant, busier in each tenant's local business hours than at night or
//!   on weekends;
//! * some free-text fields carry personal data (phone numbers, emails, IPs,
//!   names); [`seeded_pii`] lists every such value so redaction tests can
//!   check that none of it reaches disk.
//!
//! # Determinism and pinning
//!
//! Output depends only on the seed and the tenant ids. The crate carries its
//! own PRNG ([`SplitMix64`]), uses no clock, no environment, no hash-map
//! iteration order and no floating point, and emits objects with sorted keys.
//! The bytes of the default corpus ([`corpus`] with [`DEFAULT_SEED`] and
//! [`DEFAULT_CORPUS_SIZE`], serialized as NDJSON) are pinned by a test that
//! compares their FNV-1a 64 checksum with a recorded constant: any change to
//! the generator's output fails that test, so it must be a deliberate,
//! reviewed change that updates the constant in the same commit.
//!
//! Each tenant's stream depends only on `(seed, tenant)`:
//! [`events_for_tenant`] returns the same events, in the same order, as the
//! ones a [`Generator`] emits for that tenant.

#![warn(missing_docs)]

#[cfg(feature = "browser")]
pub mod browser;
pub mod imports;

use serde_json::{json, Map, Value};
use std::collections::BTreeSet;
use std::net::{Ipv4Addr, Ipv6Addr};

/// Seed of the default corpus (`"annal"` in ASCII, then `0001`).
pub const DEFAULT_SEED: u64 = 0x616e_6e61_6c00_0001;

/// The six workspace (tenant) ids of the default corpus.
pub const DEFAULT_TENANTS: &[&str] = &["ws_acme", "ws_globex", "ws_initech", "ws_umbrella", "ws_hooli", "ws_stark"];

/// Number of events in the default corpus.
pub const DEFAULT_CORPUS_SIZE: usize = 12_000;

/// 2026-01-01T00:00:00Z in milliseconds since the Unix epoch: no generated
/// event is older than this.
pub const START_UNIX_MS: i64 = 1_767_225_600_000;

// ---------------------------------------------------------------------------
// PRNG
// ---------------------------------------------------------------------------

/// SplitMix64, a tiny, fast, well-mixed 64-bit PRNG.
///
/// Kept in-crate (rather than using the `rand` crate) so that the generated
/// data can never change because of a dependency upgrade.
#[derive(Debug, Clone)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    /// Creates a generator from a seed; every seed (including 0) is fine.
    pub const fn new(seed: u64) -> Self {
        SplitMix64 { state: seed }
    }

    /// Returns the next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Returns a value in `0..n` (multiply-shift reduction).
    ///
    /// # Panics
    ///
    /// Panics if `n` is 0.
    pub fn below(&mut self, n: u64) -> u64 {
        assert!(n > 0, "SplitMix64::below(0)");
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }
}

/// FNV-1a, 64-bit. Used to derive per-tenant seeds (and by the pin test).
fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

// ---------------------------------------------------------------------------
// Time
// ---------------------------------------------------------------------------

/// Formats milliseconds since the Unix epoch as RFC 3339 UTC with
/// milliseconds, e.g. `2026-03-04T10:11:12.345Z` (the `occurred_at` format).
pub fn format_rfc3339_millis(unix_ms: i64) -> String {
    let days = unix_ms.div_euclid(86_400_000);
    let ms_of_day = unix_ms.rem_euclid(86_400_000);
    let (y, m, d) = civil_from_days(days);
    let secs = ms_of_day / 1000;
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z", secs / 3600, secs / 60 % 60, secs % 60, ms_of_day % 1000)
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian
/// calendar (H. Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11]
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32; // [1, 31]
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32; // [1, 12]
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

// ---------------------------------------------------------------------------
// Static vocabularies
// ---------------------------------------------------------------------------

/// Users' first names: (display, ASCII for the email local part).
const USER_FIRST: &[(&str, &str)] = &[
    ("Sam", "sam"),
    ("Alex", "alex"),
    ("Jordan", "jordan"),
    ("Taylor", "taylor"),
    ("Priya", "priya"),
    ("Wei", "wei"),
    ("Maria", "maria"),
    ("José", "jose"),
    ("Fatima", "fatima"),
    ("Liam", "liam"),
    ("Olivia", "olivia"),
    ("Noah", "noah"),
    ("Emma", "emma"),
    ("Aisha", "aisha"),
    ("Kenji", "kenji"),
    ("Zoë", "zoe"),
    ("Søren", "soren"),
    ("Łukasz", "lukasz"),
    ("Chloé", "chloe"),
    ("Mateo", "mateo"),
    ("Amara", "amara"),
    ("Ravi", "ravi"),
    ("Hannah", "hannah"),
    ("Diego", "diego"),
    ("Ingrid", "ingrid"),
    ("Tomás", "tomas"),
    ("Yuki", "yuki"),
    ("Omar", "omar"),
    ("Grace", "grace"),
    ("Ethan", "ethan"),
    ("Leila", "leila"),
    ("Nikhil", "nikhil"),
    ("Sofia", "sofia"),
    ("Jonas", "jonas"),
    ("Mei", "mei"),
    ("Kwame", "kwame"),
    ("Elena", "elena"),
    ("Marcus", "marcus"),
    ("Ana", "ana"),
    ("Felix", "felix"),
];

/// Users' last names: (display, ASCII).
const USER_LAST: &[(&str, &str)] = &[
    ("Lee", "lee"),
    ("Patel", "patel"),
    ("Chen", "chen"),
    ("García", "garcia"),
    ("Müller", "muller"),
    ("Okafor", "okafor"),
    ("Nguyen", "nguyen"),
    ("Smith", "smith"),
    ("Johnson", "johnson"),
    ("Kim", "kim"),
    ("Rossi", "rossi"),
    ("Novak", "novak"),
    ("Haddad", "haddad"),
    ("Nakamura", "nakamura"),
    ("O'Brien", "obrien"),
    ("Silva", "silva"),
    ("Kowalski", "kowalski"),
    ("Andersen", "andersen"),
    ("Dubois", "dubois"),
    ("Schmidt", "schmidt"),
    ("Martin", "martin"),
    ("Ivanova", "ivanova"),
    ("Brown", "brown"),
    ("Singh", "singh"),
    ("Tanaka", "tanaka"),
    ("Larsen", "larsen"),
    ("Costa", "costa"),
    ("Mensah", "mensah"),
    ("Fischer", "fischer"),
    ("Reyes", "reyes"),
];

/// First names of outside people (candidates' references, customers,
/// counsel...) that only ever appear inside free text. Disjoint from
/// [`USER_FIRST`], so a free-text name never equals a structured name.
const EXT_FIRST: &[(&str, &str)] = &[
    ("Dana", "dana"),
    ("Morgan", "morgan"),
    ("Casey", "casey"),
    ("Riley", "riley"),
    ("Quinn", "quinn"),
    ("Avery", "avery"),
    ("Harper", "harper"),
    ("Rowan", "rowan"),
    ("Elliot", "elliot"),
    ("Skyler", "skyler"),
    ("Reese", "reese"),
    ("Blake", "blake"),
    ("Finley", "finley"),
    ("Imogen", "imogen"),
    ("Bartholomew", "bartholomew"),
    ("Ngozi", "ngozi"),
    ("Anaïs", "anais"),
    ("Bjørn", "bjorn"),
    ("Tiago", "tiago"),
    ("Hiroshi", "hiroshi"),
    ("Saoirse", "saoirse"),
    ("Valentina", "valentina"),
];

/// Last names of outside people (free text only).
const EXT_LAST: &[(&str, &str)] = &[
    ("Whitfield", "whitfield"),
    ("Abernathy", "abernathy"),
    ("Castellanos", "castellanos"),
    ("Delacroix", "delacroix"),
    ("Eriksen", "eriksen"),
    ("Fairbanks", "fairbanks"),
    ("Gallagher", "gallagher"),
    ("Holloway", "holloway"),
    ("Iwu", "iwu"),
    ("Jablonski", "jablonski"),
    ("Kaur", "kaur"),
    ("Lindqvist", "lindqvist"),
    ("Moreau", "moreau"),
    ("Oyelaran", "oyelaran"),
    ("Pemberton", "pemberton"),
    ("Quintero", "quintero"),
    ("Ramaswamy", "ramaswamy"),
    ("Stavros", "stavros"),
    ("Thorne", "thorne"),
    ("Valdés", "valdes"),
];

/// Domains of outside people's email addresses.
const EXT_DOMAINS: &[&str] = &["example.org", "example.net", "mail.example", "candidates.example", "lawfirm.example"];

const ROLES: &[&str] = &["viewer", "editor", "recruiter", "billing", "admin"];

const BROWSER_UAS: &[&str] = &[
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14.2; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0",
];

const BOT_UAS: &[&str] = &[
    "python-requests/2.31.0",
    "curl/8.5.0",
    "Go-http-client/1.1",
    "Mozilla/5.0 (compatible; MSIE 9.0; Windows NT 6.1; Trident/5.0)",
    "okhttp/4.12.0",
];

const DOC_NAMES: &[&str] = &[
    "Q1 2026 Board Deck",
    "Offer Letter Template",
    "Security Policy v3",
    "Onboarding Checklist",
    "Pricing Sheet 2026",
    "Incident Postmortem: SSO outage",
    "Engineering Ladder",
    "Vendor Contract - Contoso Cloud",
    "Interview Rubric: Backend",
    "Interview Rubric: Product Design",
    "Benefits Overview 2026",
    "Travel & Expense Policy",
    "Roadmap H1",
    "Customer Escalation Playbook",
    "SOC 2 Evidence Index",
    "Data Retention Schedule",
    "Quarterly Access Review",
    "Sales Compensation Plan",
    "Hiring Plan 2026",
    "Brand Guidelines",
    "API Changelog",
    "Disaster Recovery Runbook",
    "All-hands Notes",
    "Budget FY26",
    "DPA Template",
    "Release Checklist",
];

const REQ_TITLES: &[&str] = &[
    "Senior Backend Engineer",
    "Product Designer",
    "Account Executive",
    "Data Analyst",
    "Site Reliability Engineer",
    "Recruiting Coordinator",
    "Staff Frontend Engineer",
    "Customer Success Manager",
    "Security Engineer",
    "Finance Manager",
];

const STAGES: &[&str] = &["applied", "screen", "interview", "onsite", "offer", "hired"];

const VENDORS: &[&str] = &[
    "Northwind Traders",
    "Contoso Cloud",
    "Blue Bottle Catering",
    "Vandelay Industries",
    "Pied Piper Hosting",
    "Dunder Mifflin Paper",
    "Wayne Logistics",
    "Soylent Facilities",
];

/// (setting id, possible values).
const SETTINGS: &[(&str, &[&str])] = &[
    ("security.mfa_required", &["false", "true"]),
    ("security.session_timeout_minutes", &["30", "60", "120", "480"]),
    ("sso.enforced", &["false", "true"]),
    ("retention.days", &["365", "730", "2555"]),
    ("notifications.digest", &["daily", "weekly", "off"]),
    ("ai.agents_enabled", &["true", "false"]),
    ("sharing.external_links", &["allowed", "admins_only", "disabled"]),
];

const REPORTS: &[(&str, &str)] = &[
    ("rpt_headcount", "Headcount by department"),
    ("rpt_payroll", "Payroll summary"),
    ("rpt_pipeline", "Hiring pipeline"),
    ("rpt_spend", "Vendor spend"),
    ("rpt_access", "Access review export"),
];

const DEPARTMENTS: &[&str] = &["Engineering", "Sales", "Finance", "People", "Legal", "Marketing", "Support"];

const MODELS: &[&str] = &["model-large-2026-01", "model-small-2025-11", "model-medium-2025-12"];

/// (user-action name, weight). Skewed: reads dominate, IAM changes are rare.
const USER_ACTIONS: &[(&str, u64)] = &[
    ("docs.document.view", 300),
    ("docs.document.edit", 140),
    ("recruitment.candidate.advance", 80),
    ("docs.document.share", 70),
    ("reports.export.download", 40),
    ("settings.update", 28),
    ("recruitment.offer.send", 30),
    ("billing.invoice.pay", 30),
    ("iam.role.grant", 18),
    ("iam.user.invite", 20),
    ("iam.role.revoke", 12),
    ("auth.password.change", 10),
    ("iam.user.revokeSessions", 10),
    ("api.key.create", 5),
    ("api.key.revoke", 4),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AgentKind {
    Recruiter,
    Support,
    Finance,
    Docs,
    SecOps,
}

const AGENTS: &[(&str, &str, AgentKind)] = &[
    ("agent_recruiter", "Recruiting Assistant", AgentKind::Recruiter),
    ("agent_support", "Support Copilot", AgentKind::Support),
    ("agent_finance", "Accounts Payable Agent", AgentKind::Finance),
    ("agent_docs", "Docs Assistant", AgentKind::Docs),
    ("agent_secops", "Security Triage Agent", AgentKind::SecOps),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum JobKind {
    NightlySync,
    SessionReaper,
    InvoiceRun,
    RetentionSweep,
    AccessReview,
}

const JOBS: &[(&str, &str, JobKind)] = &[
    ("job_nightly_sync", "Nightly HRIS sync", JobKind::NightlySync),
    ("job_session_reaper", "Session reaper", JobKind::SessionReaper),
    ("job_invoice_run", "Invoice run", JobKind::InvoiceRun),
    ("job_retention_sweep", "Retention sweep", JobKind::RetentionSweep),
    ("job_access_review", "Access review", JobKind::AccessReview),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyKind {
    Ci,
    Ats,
    Zapier,
    Warehouse,
    Terraform,
    Slack,
    Legacy,
    Mobile,
}

const KEYS: &[(&str, KeyKind, &str)] = &[
    ("CI deploy key", KeyKind::Ci, "acme-ci/2.3 (github-actions)"),
    ("Greenhouse sync", KeyKind::Ats, "greenhouse-connector/1.8.2"),
    ("Zapier integration", KeyKind::Zapier, "Zapier"),
    ("Data warehouse export", KeyKind::Warehouse, "fivetran/3.1"),
    ("Terraform provider", KeyKind::Terraform, "terraform-provider-annal/0.4.1"),
    ("Slack bot", KeyKind::Slack, "slack-bot/1.0 (+node-fetch)"),
    ("Legacy importer", KeyKind::Legacy, "python-requests/2.31.0"),
    ("Mobile backend", KeyKind::Mobile, "okhttp/4.12.0"),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ServiceKind {
    Notifier,
    Search,
    Billing,
    Scim,
    Webhooks,
}

const SERVICES: &[(&str, &str, ServiceKind)] = &[
    ("svc_notifier", "Notification service", ServiceKind::Notifier),
    ("svc_search", "Search indexer", ServiceKind::Search),
    ("svc_billing", "Billing service", ServiceKind::Billing),
    ("svc_scim", "SCIM connector", ServiceKind::Scim),
    ("svc_webhooks", "Webhook dispatcher", ServiceKind::Webhooks),
];

// ---------------------------------------------------------------------------
// Per-tenant population and state
// ---------------------------------------------------------------------------

#[derive(Debug, Clone)]
struct User {
    id: String,
    name: String,
    email: String,
    role: &'static str,
    department: &'static str,
    home_ip: String,
    ua: &'static str,
}

#[derive(Debug, Clone)]
struct Agent {
    id: &'static str,
    name: &'static str,
    kind: AgentKind,
    principal: usize,
}

#[derive(Debug, Clone)]
struct Job {
    id: &'static str,
    name: &'static str,
    kind: JobKind,
}

#[derive(Debug, Clone)]
struct ApiKey {
    id: String,
    name: &'static str,
    kind: KeyKind,
    ip: String,
    ua: &'static str,
}

#[derive(Debug, Clone)]
struct Service {
    id: &'static str,
    name: &'static str,
    kind: ServiceKind,
}

#[derive(Debug, Clone)]
struct Doc {
    id: String,
    name: &'static str,
    revision: u64,
}

#[derive(Debug, Clone)]
struct Candidate {
    id: String,
    req: usize,
    stage: usize,
}

#[derive(Debug, Clone, Copy)]
enum RunActor {
    User(usize),
    Attacker(usize),
    Agent(usize),
    Job(usize),
    Key(usize),
    Service(usize),
}

#[derive(Debug, Clone, Copy)]
enum Step {
    LoginFail(&'static str),
    LoginLocked(u64),
    LoginOk,
    Logout,
    Action,
}

#[derive(Debug, Clone)]
struct Run {
    actor: RunActor,
    session: Option<String>,
    ip: Option<String>,
    ua: Option<&'static str>,
    run_id: String,
    /// Remaining steps, the next one last.
    steps: Vec<Step>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Business,
    Evening,
    Night,
}

/// The event stream of one tenant: depends only on `(seed, tenant)`.
#[derive(Debug, Clone)]
struct TenantStream {
    tenant: String,
    rng: SplitMix64,
    domain: String,
    tz_offset_h: i64,
    currency: &'static str,
    base_gap_ms: u64,
    /// Timestamp of the next event.
    clock_ms: i64,
    users: Vec<User>,
    agents: Vec<Agent>,
    jobs: Vec<Job>,
    keys: Vec<ApiKey>,
    services: Vec<Service>,
    docs: Vec<Doc>,
    reqs: Vec<(String, &'static str)>,
    candidates: Vec<Candidate>,
    settings: Vec<usize>,
    open_invoices: Vec<(String, u64, &'static str)>,
    next_invoice: u64,
    next_ticket: u64,
    runs: Vec<Run>,
    pii: Option<BTreeSet<String>>,
}

fn put(m: &mut Map<String, Value>, k: &str, v: impl Into<Value>) {
    m.insert(k.to_owned(), v.into());
}

/// Rebuilds every object with its keys inserted in sorted order, so the
/// serialized bytes are the same whether or not serde_json's
/// `preserve_order` feature is enabled somewhere in the build.
fn canonical(v: Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut entries: Vec<(String, Value)> = m.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            let mut out = Map::new();
            for (k, v) in entries {
                out.insert(k, canonical(v));
            }
            Value::Object(out)
        }
        Value::Array(a) => Value::Array(a.into_iter().map(canonical).collect()),
        other => other,
    }
}

fn tenant_domain(tenant: &str) -> String {
    let base = tenant.strip_prefix("ws_").unwrap_or(tenant);
    let mut d: String = base
        .chars()
        .filter_map(|c| {
            if c.is_ascii_alphanumeric() {
                Some(c.to_ascii_lowercase())
            } else if c == '-' || c == '_' {
                Some('-')
            } else {
                None
            }
        })
        .collect();
    let trimmed = d.trim_matches('-').to_owned();
    d = if trimmed.is_empty() { "tenant".to_owned() } else { trimmed };
    format!("{d}.com")
}

fn permitted(role: &str, action: &str) -> bool {
    if role == "admin" {
        return true;
    }
    match action {
        "docs.document.view" | "auth.password.change" | "iam.user.revokeSessions" => true,
        "docs.document.edit" | "docs.document.share" => role != "viewer",
        "recruitment.candidate.advance" | "recruitment.offer.send" => role == "recruiter",
        "billing.invoice.pay" => role == "billing",
        "reports.export.download" => role == "billing" || role == "editor",
        _ => false,
    }
}

impl TenantStream {
    fn new(seed: u64, tenant: &str, track_pii: bool) -> Self {
        let mut mixer = SplitMix64::new(seed ^ fnv1a64(tenant.as_bytes()));
        let rng = SplitMix64::new(mixer.next_u64());
        let mut s = TenantStream {
            tenant: tenant.to_owned(),
            rng,
            domain: tenant_domain(tenant),
            tz_offset_h: 0,
            currency: "USD",
            base_gap_ms: 0,
            clock_ms: START_UNIX_MS,
            users: Vec::new(),
            agents: Vec::new(),
            jobs: Vec::new(),
            keys: Vec::new(),
            services: Vec::new(),
            docs: Vec::new(),
            reqs: Vec::new(),
            candidates: Vec::new(),
            settings: Vec::new(),
            open_invoices: Vec::new(),
            next_invoice: 1,
            next_ticket: 0,
            runs: Vec::new(),
            pii: track_pii.then(BTreeSet::new),
        };
        s.populate();
        s
    }

    // -- randomness helpers -------------------------------------------------

    fn below(&mut self, n: u64) -> u64 {
        self.rng.below(n)
    }

    fn range(&mut self, lo: u64, hi_inclusive: u64) -> u64 {
        lo + self.rng.below(hi_inclusive - lo + 1)
    }

    fn idx(&mut self, n: usize) -> usize {
        self.rng.below(n as u64) as usize
    }

    /// True with probability `per_mille / 1000`.
    fn chance(&mut self, per_mille: u64) -> bool {
        self.rng.below(1000) < per_mille
    }

    fn pick<T: Copy>(&mut self, xs: &[T]) -> T {
        xs[self.idx(xs.len())]
    }

    fn weighted(&mut self, weights: &[u64]) -> usize {
        let total: u64 = weights.iter().sum();
        let mut r = self.below(total);
        for (i, &w) in weights.iter().enumerate() {
            if r < w {
                return i;
            }
            r -= w;
        }
        weights.len() - 1
    }

    /// Zipf-like index in `0..n`: weight `1/(i+1)` or, if `steep`,
    /// `1/(i+1)^2`.
    fn zipf(&mut self, n: usize, steep: bool) -> usize {
        let weights: Vec<u64> = (1..=n as u64).map(|k| if steep { 1_000_000 / (k * k) } else { 1_000_000 / k }).collect();
        self.weighted(&weights)
    }

    fn token(&mut self, len: usize) -> String {
        const ALPHABET: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
        (0..len).map(|_| char::from(ALPHABET[self.idx(ALPHABET.len())])).collect()
    }

    fn hex(&mut self, len: usize) -> String {
        let mut out = String::with_capacity(len + 16);
        while out.len() < len {
            out.push_str(&format!("{:016x}", self.rng.next_u64()));
        }
        out.truncate(len);
        out
    }

    fn sha256_ref(&mut self) -> String {
        format!("sha256:{}", self.hex(64))
    }

    fn uuid(&mut self) -> String {
        let h = self.hex(32);
        format!("{}-{}-4{}-{}{}-{}", &h[0..8], &h[8..12], &h[13..16], ["8", "9", "a", "b"][self.idx(4)], &h[17..20], &h[20..32])
    }

    fn session_id(&mut self) -> String {
        format!("sess_{}", self.token(20))
    }

    fn public_ipv4(&mut self) -> String {
        loop {
            let a = self.range(1, 223) as u8;
            let b = self.below(256) as u8;
            let reserved = a == 10
                || a == 127
                || (a == 100 && (64..128).contains(&b))
                || (a == 169 && b == 254)
                || (a == 172 && (16..32).contains(&b))
                || (a == 192 && (b == 168 || b == 0))
                || (a == 198 && (b == 18 || b == 19 || b == 51))
                || (a == 203 && b == 0);
            if reserved {
                continue;
            }
            let c = self.below(256) as u8;
            let d = self.range(1, 254) as u8;
            return Ipv4Addr::new(a, b, c, d).to_string();
        }
    }

    fn public_ipv6(&mut self) -> String {
        let p = self.pick(&[0x2001u16, 0x2400, 0x2600, 0x2a00, 0x2a02, 0x2c0f]);
        let mut seg = [0u16; 8];
        seg[0] = p;
        for s in seg.iter_mut().skip(1) {
            *s = self.below(0x1_0000) as u16;
        }
        if self.chance(600) {
            // Typical SLAAC-less allocations: zero runs in the middle.
            seg[4] = 0;
            seg[5] = 0;
            seg[6] = 0;
        }
        Ipv6Addr::new(seg[0], seg[1], seg[2], seg[3], seg[4], seg[5], seg[6], seg[7]).to_string()
    }

    fn public_ip(&mut self) -> String {
        if self.chance(150) {
            self.public_ipv6()
        } else {
            self.public_ipv4()
        }
    }

    // -- personal data ------------------------------------------------------

    /// Records `s` as emitted personal data (if tracking) and returns it.
    fn track(&mut self, s: String) -> String {
        if let Some(set) = &mut self.pii {
            set.insert(s.clone());
        }
        s
    }

    /// An outside person: (display name, ASCII "first.last").
    fn ext_person(&mut self) -> (String, String) {
        let (f, fa) = self.pick(EXT_FIRST);
        let (l, la) = self.pick(EXT_LAST);
        (format!("{f} {l}"), format!("{fa}.{la}"))
    }

    fn ext_email(&mut self, local: &str) -> String {
        let domain = self.pick(EXT_DOMAINS);
        let local = match self.below(4) {
            0 => local.replace('.', "_"),
            1 => format!("{}{}", local, self.range(1, 99)),
            _ => local.to_owned(),
        };
        format!("{local}@{domain}")
    }

    fn phone(&mut self) -> String {
        match self.below(5) {
            0 | 1 => {
                let area = self.pick(&[415u16, 212, 646, 312, 206, 617, 512, 303]);
                format!("+1 {area} 555 01{:02}", self.below(100))
            }
            2 => {
                let area = self.pick(&[415u16, 212, 646, 312, 206, 617, 512, 303]);
                format!("({area}) 555-01{:02}", self.below(100))
            }
            3 => format!("+44 20 7946 0{:03}", self.below(1000)),
            _ => format!("+49 30 {:04} {:04}", self.range(1000, 9999), self.below(10_000)),
        }
    }

    fn tracked_phone(&mut self) -> String {
        let p = self.phone();
        self.track(p)
    }

    fn tracked_ext_name(&mut self) -> String {
        let (n, _) = self.ext_person();
        self.track(n)
    }

    fn tracked_ext_email(&mut self) -> String {
        let (_, local) = self.ext_person();
        let e = self.ext_email(&local);
        self.track(e)
    }

    fn tracked_ip(&mut self) -> String {
        let ip = self.public_ip();
        self.track(ip)
    }

    /// Free text about a candidate, with personal data in it.
    fn recruiting_note(&mut self) -> String {
        match self.below(6) {
            0 => {
                let p = self.tracked_phone();
                let e = self.tracked_ext_email();
                format!("Called {p} about the offer, cc {e}")
            }
            1 => {
                let n = self.tracked_ext_name();
                let p = self.tracked_phone();
                format!("Reference check with {n} done, reachable at {p}")
            }
            2 => {
                let p = self.tracked_phone();
                format!("Candidate asked to be contacted at {p} after 5pm")
            }
            3 => {
                let (n, local) = self.ext_person();
                let e = self.ext_email(&local);
                let n = self.track(n);
                let e = self.track(e);
                format!("Forwarded to {n} <{e}> for the written reference")
            }
            4 => {
                let n = self.tracked_ext_name();
                format!("Strong panel feedback; {n} (former manager) vouched for leadership")
            }
            _ => {
                let e = self.tracked_ext_email();
                format!("Candidate prefers email: {e}. Relocation needed.")
            }
        }
    }

    /// Free text from a customer ticket, with personal data in it.
    fn support_note(&mut self) -> String {
        match self.below(4) {
            0 => {
                let (n, local) = self.ext_person();
                let e = self.ext_email(&local);
                let n = self.track(n);
                let e = self.track(e);
                format!("Customer {n} wrote from {e} asking for an invoice copy")
            }
            1 => {
                let n = self.tracked_ext_name();
                let p = self.tracked_phone();
                format!("Callback requested by {n} on {p}")
            }
            2 => {
                let ip = self.tracked_ip();
                format!("User reports lockout; last seen from {ip}")
            }
            _ => {
                let e = self.tracked_ext_email();
                format!("Escalated: billing dispute, contact {e}")
            }
        }
    }

    // -- population ---------------------------------------------------------

    fn populate(&mut self) {
        self.tz_offset_h = self.pick(&[-8i64, -5, -5, 0, 1, 1, 2, 5, 9]);
        self.currency = self.pick(&["USD", "USD", "USD", "EUR", "GBP"]);
        self.base_gap_ms = self.range(60_000, 180_000);
        self.clock_ms = START_UNIX_MS + self.below(self.base_gap_ms) as i64;

        let n_users = self.range(18, 60) as usize;
        let mut emails = BTreeSet::new();
        for i in 0..n_users {
            let (f, fa) = self.pick(USER_FIRST);
            let (l, la) = self.pick(USER_LAST);
            let mut local = format!("{fa}.{la}");
            let mut k = 2;
            while emails.contains(&local) {
                local = format!("{fa}.{la}{k}");
                k += 1;
            }
            emails.insert(local.clone());
            let role = if i == 0 { "admin" } else { ROLES[self.weighted(&[40, 30, 12, 8, 10])] };
            let department = self.pick(DEPARTMENTS);
            let home_ip = if self.chance(180) { self.public_ipv6() } else { self.public_ipv4() };
            let ua = self.pick(BROWSER_UAS);
            let id = format!("usr_{}", self.token(10));
            self.users.push(User {
                id,
                name: format!("{f} {l}"),
                email: format!("{local}@{}", self.domain),
                role,
                department,
                home_ip,
                ua,
            });
        }

        let n_agents = self.range(2, 4) as usize;
        let mut agent_ix: Vec<usize> = (0..AGENTS.len()).collect();
        for k in 0..n_agents {
            let j = k + self.idx(agent_ix.len() - k);
            agent_ix.swap(k, j);
            let (id, name, kind) = AGENTS[agent_ix[k]];
            let wanted = match kind {
                AgentKind::Recruiter => "recruiter",
                AgentKind::Finance => "billing",
                AgentKind::SecOps => "admin",
                AgentKind::Support | AgentKind::Docs => "editor",
            };
            let candidates: Vec<usize> = (0..self.users.len()).filter(|&u| self.users[u].role == wanted).collect();
            let principal = if candidates.is_empty() { 0 } else { candidates[self.idx(candidates.len())] };
            self.agents.push(Agent { id, name, kind, principal });
        }
        self.agents.sort_by_key(|a| a.id);

        for &(id, name, kind) in JOBS {
            if kind == JobKind::NightlySync || self.chance(700) {
                self.jobs.push(Job { id, name, kind });
            }
        }

        let n_keys = self.range(4, 8) as usize;
        let mut key_ix: Vec<usize> = (0..KEYS.len()).collect();
        for k in 0..n_keys {
            let j = k + self.idx(key_ix.len() - k);
            key_ix.swap(k, j);
            let (name, kind, ua) = KEYS[key_ix[k]];
            let id = format!("key_{}", self.hex(6));
            let ip = self.public_ipv4();
            self.keys.push(ApiKey { id, name, kind, ip, ua });
        }

        for &(id, name, kind) in SERVICES {
            if kind == ServiceKind::Notifier || self.chance(600) {
                self.services.push(Service { id, name, kind });
            }
        }

        let n_docs = self.range(25, 70) as usize;
        for _ in 0..n_docs {
            let id = format!("doc_{}", self.token(8));
            let name = self.pick(DOC_NAMES);
            let revision = self.range(1, 40);
            self.docs.push(Doc { id, name, revision });
        }

        let n_reqs = self.range(3, 7) as usize;
        for _ in 0..n_reqs {
            let id = format!("req_{}", self.range(1000, 1999));
            let title = self.pick(REQ_TITLES);
            self.reqs.push((id, title));
        }
        let n_cands = self.range(30, 80) as usize;
        for _ in 0..n_cands {
            self.new_candidate();
        }

        for &(_, values) in SETTINGS {
            let v = self.idx(values.len());
            self.settings.push(v);
        }
    }

    fn new_candidate(&mut self) -> usize {
        let id = format!("cand_{}", self.token(8));
        let req = self.idx(self.reqs.len());
        let stage = self.weighted(&[50, 25, 15, 10]);
        self.candidates.push(Candidate { id, req, stage });
        self.candidates.len() - 1
    }

    /// A candidate that can still advance (creates one if none can).
    fn active_candidate(&mut self) -> usize {
        if self.candidates.len() > 512 {
            // Hired candidates are never touched again; dropping them keeps
            // long streams fast and does not change which one is picked.
            self.candidates.retain(|c| c.stage < 5);
        }
        let active: Vec<usize> = (0..self.candidates.len()).filter(|&c| self.candidates[c].stage < 5).collect();
        if active.is_empty() || self.chance(40) {
            self.new_candidate()
        } else {
            // Recent candidates are the busiest.
            let k = self.zipf(active.len(), false);
            active[active.len() - 1 - k]
        }
    }

    // -- time ---------------------------------------------------------------

    fn phase_at(&self, ts: i64) -> Phase {
        let local = ts + self.tz_offset_h * 3_600_000;
        let hour = local.div_euclid(3_600_000).rem_euclid(24);
        let weekday = (local.div_euclid(86_400_000) + 3).rem_euclid(7); // 0 = Monday
        let phase = match hour {
            8..=17 => Phase::Business,
            18..=22 | 7 => Phase::Evening,
            _ => Phase::Night,
        };
        if weekday >= 5 {
            match phase {
                Phase::Business => Phase::Evening,
                _ => Phase::Night,
            }
        } else {
            phase
        }
    }

    fn advance_clock(&mut self) {
        let factor = match self.phase_at(self.clock_ms) {
            Phase::Business => 1,
            Phase::Evening => 4,
            Phase::Night => 12,
        };
        let mut gap = if self.chance(300) { self.range(120, 6_000) } else { 1 + self.below(2 * self.base_gap_ms * factor) };
        if self.chance(10) {
            gap += self.range(300_000, 1_800_000);
        }
        self.clock_ms += gap as i64;
    }

    // -- runs ---------------------------------------------------------------

    fn new_run(&mut self, phase: Phase) -> Run {
        let weights: [u64; 6] = match phase {
            Phase::Business => [620, 25, 130, 30, 105, 90],
            Phase::Evening => [350, 50, 100, 150, 200, 150],
            Phase::Night => [130, 80, 50, 300, 270, 170],
        };
        let run_id = format!("run_{}", self.token(12));
        let mut run = Run { actor: RunActor::User(0), session: None, ip: None, ua: None, run_id, steps: Vec::new() };
        match self.weighted(&weights) {
            0 => {
                let u = self.zipf(self.users.len(), false);
                run.actor = RunActor::User(u);
                run.session = Some(self.session_id());
                run.ip = Some(if self.chance(850) { self.users[u].home_ip.clone() } else { self.public_ip() });
                run.ua = Some(self.users[u].ua);
                if self.chance(550) {
                    run.steps.push(Step::Logout);
                }
                let n = 1 + self.below(4) + self.below(7);
                for _ in 0..n {
                    run.steps.push(Step::Action);
                }
                run.steps.push(Step::LoginOk);
                if self.chance(80) {
                    run.steps.push(Step::LoginFail("bad_password"));
                }
                if self.chance(15) {
                    run.steps.push(Step::LoginFail("mfa_failed"));
                }
            }
            1 => {
                let u = self.idx(self.users.len());
                run.actor = RunActor::Attacker(u);
                run.ip = Some(self.public_ip());
                run.ua = Some(self.pick(BOT_UAS));
                let n = self.range(2, 7);
                let mut fails = n;
                if n >= 5 {
                    // The n-th attempt locks the account.
                    run.steps.push(Step::LoginLocked(n));
                    fails -= 1;
                }
                for _ in 0..fails {
                    run.steps.push(Step::LoginFail("bad_password"));
                }
            }
            2 => {
                let a = self.idx(self.agents.len());
                run.actor = RunActor::Agent(a);
                run.session = Some(self.session_id());
                for _ in 0..self.range(1, 6) {
                    run.steps.push(Step::Action);
                }
            }
            3 => {
                let j = self.idx(self.jobs.len());
                run.actor = RunActor::Job(j);
                for _ in 0..self.range(1, 8) {
                    run.steps.push(Step::Action);
                }
            }
            4 => {
                let k = self.zipf(self.keys.len(), true);
                run.actor = RunActor::Key(k);
                run.ip = Some(self.keys[k].ip.clone());
                run.ua = Some(self.keys[k].ua);
                for _ in 0..self.range(1, 4) {
                    run.steps.push(Step::Action);
                }
            }
            _ => {
                let s = self.idx(self.services.len());
                run.actor = RunActor::Service(s);
                for _ in 0..self.range(1, 4) {
                    run.steps.push(Step::Action);
                }
            }
        }
        run
    }

    fn next_event(&mut self) -> Value {
        let ts = self.clock_ms;
        let phase = self.phase_at(ts);
        let target_open = match phase {
            Phase::Business => 5,
            Phase::Evening => 2,
            Phase::Night => 1,
        };
        if self.runs.is_empty() || (self.runs.len() < target_open && self.chance(350)) {
            let run = self.new_run(phase);
            self.runs.push(run);
        }
        let i = self.idx(self.runs.len());
        let step = self.runs[i].steps.pop().expect("runs are never empty");
        let ctx = Run { steps: Vec::new(), ..self.runs[i].clone() };
        if self.runs[i].steps.is_empty() {
            self.runs.remove(i);
        }
        let mut ev = Map::new();
        put(&mut ev, "occurred_at", format_rfc3339_millis(ts));
        match ctx.actor {
            RunActor::User(u) => self.user_step(&mut ev, &ctx, u, step),
            RunActor::Attacker(u) => self.attacker_step(&mut ev, &ctx, u, step),
            RunActor::Agent(a) => self.agent_step(&mut ev, &ctx, a),
            RunActor::Job(j) => self.job_step(&mut ev, &ctx, j),
            RunActor::Key(k) => self.key_step(&mut ev, &ctx, k),
            RunActor::Service(s) => self.service_step(&mut ev, s),
        }
        self.advance_clock();
        canonical(Value::Object(ev))
    }

    // -- actors and targets -------------------------------------------------

    fn user_actor(&mut self, u: usize) -> Value {
        let email = self.users[u].email.clone();
        let email = self.track(email);
        json!({
            "type": "user",
            "id": self.users[u].id,
            "name": self.users[u].name,
            "email": email,
        })
    }

    fn user_target(&self, u: usize) -> Value {
        json!({"type": "user", "id": self.users[u].id, "name": self.users[u].name})
    }

    fn doc_target(&mut self) -> (usize, Value) {
        let d = self.zipf(self.docs.len(), false);
        let doc = &self.docs[d];
        (d, json!({"type": "document", "id": doc.id, "name": doc.name}))
    }

    fn candidate_target(&self, c: usize) -> Value {
        json!({"type": "candidate", "id": self.candidates[c].id})
    }

    fn other_user(&mut self, not: usize) -> usize {
        if self.users.len() < 2 {
            return not;
        }
        loop {
            let u = self.zipf(self.users.len(), false);
            if u != not {
                return u;
            }
        }
    }

    fn amount_cents(&mut self) -> u64 {
        match self.weighted(&[50, 35, 15]) {
            0 => self.range(5_000, 50_000),
            1 => self.range(50_000, 500_000),
            _ => self.range(500_000, 5_000_000),
        }
    }

    fn invoice_to_pay(&mut self) -> (String, u64, &'static str) {
        if !self.open_invoices.is_empty() && self.chance(700) {
            let i = self.idx(self.open_invoices.len());
            self.open_invoices.swap_remove(i)
        } else {
            let id = format!("inv_2026_{:05}", self.next_invoice);
            self.next_invoice += 1;
            let amount = self.amount_cents();
            let vendor = self.pick(VENDORS);
            (id, amount, vendor)
        }
    }

    fn idempotency(&mut self, ev: &mut Map<String, Value>, per_mille: u64) {
        if self.chance(per_mille) {
            let k = self.uuid();
            put(ev, "idempotency_key", k);
        }
    }

    // -- users --------------------------------------------------------------

    fn user_step(&mut self, ev: &mut Map<String, Value>, ctx: &Run, u: usize, step: Step) {
        let actor = self.user_actor(u);
        put(ev, "actor", actor);
        if let Some(ip) = &ctx.ip {
            let ip = self.track(ip.clone());
            put(ev, "ip", ip);
        }
        if let Some(ua) = ctx.ua {
            put(ev, "user_agent", ua);
        }
        match step {
            Step::LoginFail(_) | Step::LoginLocked(_) => {
                let reason = match step {
                    Step::LoginFail(reason) => reason,
                    _ => "account_locked",
                };
                put(ev, "action", "auth.login");
                put(ev, "outcome", "failure");
                put(ev, "metadata", json!({"reason": reason, "method": "password"}));
            }
            Step::LoginOk => {
                put(ev, "action", "auth.login");
                put(ev, "outcome", "success");
                if let Some(s) = &ctx.session {
                    put(ev, "session_id", s.clone());
                }
                let method = self.pick(&["password+totp", "sso", "sso", "passkey", "password"]);
                put(ev, "metadata", json!({"method": method, "mfa": method != "password"}));
            }
            Step::Logout => {
                put(ev, "action", "auth.logout");
                put(ev, "outcome", "success");
                if let Some(s) = &ctx.session {
                    put(ev, "session_id", s.clone());
                }
                let reason = self.pick(&["user", "user", "user", "idle_timeout"]);
                put(ev, "metadata", json!({"reason": reason}));
            }
            Step::Action => {
                if let Some(s) = &ctx.session {
                    put(ev, "session_id", s.clone());
                }
                self.user_action(ev, u);
            }
        }
    }

    fn user_action(&mut self, ev: &mut Map<String, Value>, u: usize) {
        let weights: Vec<u64> = USER_ACTIONS.iter().map(|a| a.1).collect();
        let mut action = USER_ACTIONS[self.weighted(&weights)].0;
        let role = self.users[u].role;
        if !permitted(role, action) && !self.chance(100) {
            // Most people stick to what their role lets them do.
            action = match role {
                "recruiter" => self.pick(&[
                    "recruitment.candidate.advance",
                    "recruitment.candidate.advance",
                    "recruitment.offer.send",
                    "docs.document.view",
                ]),
                "billing" => {
                    self.pick(&["billing.invoice.pay", "billing.invoice.pay", "reports.export.download", "docs.document.view"])
                }
                "editor" => self.pick(&["docs.document.view", "docs.document.edit", "docs.document.share"]),
                _ => "docs.document.view",
            };
        }
        put(ev, "action", action);
        if !permitted(role, action) {
            let (target, required) = match action {
                a if a.starts_with("recruitment.") => {
                    let c = self.active_candidate();
                    (self.candidate_target(c), "recruiter")
                }
                a if a.starts_with("billing.") => {
                    let (id, _, vendor) = self.invoice_to_pay();
                    (json!({"type": "invoice", "id": id, "name": vendor}), "billing")
                }
                a if a.starts_with("docs.") => (self.doc_target().1, "editor"),
                "settings.update" => {
                    let s = self.idx(SETTINGS.len());
                    (json!({"type": "setting", "id": SETTINGS[s].0}), "admin")
                }
                "reports.export.download" => {
                    let (id, name) = self.pick(REPORTS);
                    (json!({"type": "report", "id": id, "name": name}), "billing")
                }
                _ => {
                    let o = self.other_user(u);
                    (self.user_target(o), "admin")
                }
            };
            put(ev, "target", target);
            put(ev, "outcome", "denied");
            put(ev, "metadata", json!({"reason": "insufficient_role", "role": role, "required_role": required}));
            return;
        }
        let mut outcome = "success";
        match action {
            "docs.document.view" => {
                let (_, t) = self.doc_target();
                put(ev, "target", t);
                let via = self.pick(&["web", "web", "web", "mobile", "shared_link"]);
                put(ev, "metadata", json!({"via": via}));
            }
            "docs.document.edit" => {
                let (d, t) = self.doc_target();
                put(ev, "target", t);
                let from = self.docs[d].revision;
                self.docs[d].revision += 1;
                put(ev, "diff", json!({"revision": {"from": from, "to": from + 1}}));
                let chars = self.range(1, 4000);
                put(ev, "metadata", json!({"chars_changed": chars}));
            }
            "docs.document.share" => {
                let (_, t) = self.doc_target();
                put(ev, "target", t);
                let external = self.chance(400);
                let with = if external {
                    self.tracked_ext_email()
                } else {
                    let o = self.other_user(u);
                    let e = self.users[o].email.clone();
                    self.track(e)
                };
                let permission = self.pick(&["view", "view", "comment", "edit"]);
                let mut md = Map::new();
                put(&mut md, "shared_with", with);
                put(&mut md, "permission", permission);
                put(&mut md, "external", external);
                if external && self.chance(300) {
                    let n = self.tracked_ext_name();
                    let p = self.tracked_phone();
                    put(&mut md, "note", format!("Shared at {n}'s request, questions to {p}"));
                }
                put(ev, "metadata", md);
            }
            "recruitment.candidate.advance" => {
                let c = self.active_candidate();
                put(ev, "target", self.candidate_target(c));
                let from = self.candidates[c].stage;
                let to = (from + 1).min(5);
                self.candidates[c].stage = to;
                put(ev, "diff", json!({"stage": {"from": STAGES[from], "to": STAGES[to]}}));
                let mut md = Map::new();
                put(&mut md, "requisition", self.reqs[self.candidates[c].req].0.clone());
                if self.chance(200) {
                    let note = self.recruiting_note();
                    put(&mut md, "note", note);
                }
                put(ev, "metadata", md);
            }
            "recruitment.offer.send" => {
                let c = self.active_candidate();
                put(ev, "target", self.candidate_target(c));
                let from = self.candidates[c].stage;
                self.candidates[c].stage = 4;
                put(ev, "diff", json!({"stage": {"from": STAGES[from], "to": "offer"}}));
                let (req, title) = self.reqs[self.candidates[c].req].clone();
                let mut md = Map::new();
                put(&mut md, "requisition", req);
                put(&mut md, "title", title);
                put(&mut md, "base_salary", self.range(60, 260) * 1000);
                put(&mut md, "currency", self.currency);
                let day = self.range(2, 28);
                put(&mut md, "start_date", format!("2026-04-{day:02}"));
                if self.chance(500) {
                    let note = self.recruiting_note();
                    put(&mut md, "note", note);
                }
                put(ev, "metadata", md);
            }
            "billing.invoice.pay" => {
                let (id, amount, vendor) = self.invoice_to_pay();
                put(ev, "target", json!({"type": "invoice", "id": id, "name": vendor}));
                let method = self.pick(&["card", "ach", "ach", "wire"]);
                let mut md = Map::new();
                put(&mut md, "amount_cents", amount);
                put(&mut md, "currency", self.currency);
                put(&mut md, "method", method);
                if self.chance(60) {
                    outcome = "failure";
                    put(&mut md, "error", "card_declined");
                }
                put(ev, "metadata", md);
            }
            "reports.export.download" => {
                let (id, name) = self.pick(REPORTS);
                put(ev, "target", json!({"type": "report", "id": id, "name": name}));
                let format = self.pick(&["csv", "csv", "xlsx", "pdf"]);
                let rows = self.range(10, 20_000);
                put(ev, "metadata", json!({"format": format, "rows": rows}));
            }
            "settings.update" => {
                let s = self.idx(SETTINGS.len());
                let (key, values) = SETTINGS[s];
                let from = self.settings[s];
                let to = (from + 1 + self.idx(values.len() - 1)) % values.len();
                self.settings[s] = to;
                put(ev, "target", json!({"type": "setting", "id": key}));
                put(ev, "diff", json!({"value": {"from": values[from], "to": values[to]}}));
            }
            "iam.role.grant" => {
                let o = self.other_user(u);
                put(ev, "target", self.user_target(o));
                let from = self.users[o].role;
                // Grants only raise a role (ROLES is in ascending order).
                let higher = &ROLES[ROLES.iter().position(|r| *r == from).unwrap_or(0) + 1..];
                if higher.is_empty() {
                    outcome = "failure";
                    put(ev, "metadata", json!({"reason": "role_already_granted"}));
                } else {
                    let to = self.pick(higher);
                    self.users[o].role = to;
                    put(ev, "diff", json!({"role": {"from": from, "to": to}}));
                }
            }
            "iam.role.revoke" => {
                let o = self.other_user(u);
                put(ev, "target", self.user_target(o));
                let from = self.users[o].role;
                if o == 0 || from == "viewer" {
                    outcome = "failure";
                    let reason = if o == 0 { "cannot_demote_owner" } else { "no_role_to_revoke" };
                    put(ev, "metadata", json!({"reason": reason}));
                } else {
                    self.users[o].role = "viewer";
                    put(ev, "diff", json!({"role": {"from": from, "to": "viewer"}}));
                }
            }
            "iam.user.invite" => {
                let (_, local) = self.ext_person();
                let invitee = if self.chance(700) { format!("{local}@{}", self.domain) } else { self.ext_email(&local) };
                let invitee = self.track(invitee);
                let id = format!("inv_{}", self.token(10));
                put(ev, "target", json!({"type": "invitation", "id": id}));
                let role = ROLES[self.weighted(&[50, 30, 8, 7, 5])];
                put(ev, "metadata", json!({"invitee": invitee, "role": role}));
            }
            "iam.user.revokeSessions" => {
                let o = if self.users[u].role != "admin" || self.chance(400) { u } else { self.other_user(u) };
                put(ev, "target", self.user_target(o));
                let reason = self.pick(&["lost_device", "offboarding", "suspicious_activity", "password_reset"]);
                let n = self.range(1, 6);
                put(ev, "metadata", json!({"reason": reason, "sessions_revoked": n}));
            }
            "auth.password.change" => {
                put(ev, "target", self.user_target(u));
                if self.chance(40) {
                    outcome = "failure";
                    put(ev, "metadata", json!({"reason": "password_reuse"}));
                }
            }
            "api.key.create" => {
                let id = format!("key_{}", self.hex(6));
                let name = self.pick(&["Local testing", "Analytics sandbox", "Partner trial"]);
                put(ev, "target", json!({"type": "api_key", "id": id, "name": name}));
                put(ev, "key_ref", id);
                let scopes = self.pick(&[&["docs:read"][..], &["docs:read", "docs:write"][..], &["reports:read"][..]]);
                put(ev, "metadata", json!({"scopes": scopes, "expires_days": 90}));
            }
            _ => {
                // api.key.revoke: rotate one of the tenant's keys.
                let k = self.idx(self.keys.len());
                let old = self.keys[k].id.clone();
                let new = format!("key_{}", self.hex(6));
                self.keys[k].id = new.clone();
                put(ev, "target", json!({"type": "api_key", "id": old, "name": self.keys[k].name}));
                put(ev, "key_ref", old);
                put(ev, "metadata", json!({"reason": "rotation", "replaced_by": new}));
            }
        }
        put(ev, "outcome", outcome);
        // Client retries of writes carry an idempotency key; reads never do.
        let idem = match action {
            "docs.document.view" | "reports.export.download" => 0,
            "billing.invoice.pay" | "recruitment.offer.send" => 400,
            _ => 200,
        };
        self.idempotency(ev, idem);
    }

    fn attacker_step(&mut self, ev: &mut Map<String, Value>, ctx: &Run, u: usize, step: Step) {
        // The actor is the account being attacked, identified by the email
        // typed into the login form.
        let email = self.users[u].email.clone();
        let email = self.track(email);
        put(ev, "actor", json!({"type": "user", "id": self.users[u].id, "email": email}));
        put(ev, "action", "auth.login");
        put(ev, "outcome", "failure");
        let ip = ctx.ip.clone().unwrap_or_default();
        let ip = self.track(ip);
        put(ev, "ip", ip.clone());
        if let Some(ua) = ctx.ua {
            put(ev, "user_agent", ua);
        }
        match step {
            Step::LoginLocked(n) => put(
                ev,
                "metadata",
                json!({
                    "reason": "account_locked",
                    "note": format!("Locked after {n} failed attempts from {ip} within 10 minutes"),
                }),
            ),
            _ => put(ev, "metadata", json!({"reason": "bad_password", "method": "password"})),
        }
    }

    // -- agents -------------------------------------------------------------

    fn agent_step(&mut self, ev: &mut Map<String, Value>, ctx: &Run, a: usize) {
        let agent = self.agents[a].clone();
        let principal = if self.chance(800) { agent.principal } else { self.zipf(self.users.len(), false) };
        put(
            ev,
            "actor",
            json!({
                "type": "ai",
                "id": agent.id,
                "name": agent.name,
                "on_behalf_of": self.users[principal].id,
            }),
        );
        if let Some(s) = &ctx.session {
            put(ev, "session_id", s.clone());
        }
        let input = self.sha256_ref();
        let output = self.sha256_ref();
        put(ev, "input_hash", input);
        put(ev, "output_hash", output);
        let mut md = Map::new();
        put(&mut md, "model", self.pick(MODELS));
        put(&mut md, "tokens_in", self.range(200, 12_000));
        put(&mut md, "tokens_out", self.range(20, 2_000));
        let mut outcome = "success";
        let action = match agent.kind {
            AgentKind::Recruiter => match self.weighted(&[40, 30, 20, 10]) {
                0 => {
                    let c = self.active_candidate();
                    put(ev, "target", self.candidate_target(c));
                    put(&mut md, "score", self.range(1, 5));
                    put(&mut md, "tool", "ats.read_resume");
                    "recruitment.candidate.screen"
                }
                1 => {
                    let c = self.active_candidate();
                    put(ev, "target", self.candidate_target(c));
                    let from = self.candidates[c].stage;
                    let to = (from + 1).min(5);
                    self.candidates[c].stage = to;
                    put(ev, "diff", json!({"stage": {"from": STAGES[from], "to": STAGES[to]}}));
                    put(&mut md, "tool", "ats.update_stage");
                    "recruitment.candidate.advance"
                }
                2 => {
                    let c = self.active_candidate();
                    put(ev, "target", self.candidate_target(c));
                    let note = self.recruiting_note();
                    put(&mut md, "note", note);
                    put(&mut md, "tool", "ats.add_note");
                    "recruitment.candidate.note"
                }
                _ => {
                    let c = self.active_candidate();
                    put(ev, "target", self.candidate_target(c));
                    put(&mut md, "tool", "ats.send_offer");
                    if self.chance(600) {
                        outcome = "denied";
                        put(&mut md, "reason", "requires_human_approval");
                    } else {
                        let from = self.candidates[c].stage;
                        self.candidates[c].stage = 4;
                        put(ev, "diff", json!({"stage": {"from": STAGES[from], "to": "offer"}}));
                        let note = self.recruiting_note();
                        put(&mut md, "note", note);
                    }
                    "recruitment.offer.send"
                }
            },
            AgentKind::Support => {
                self.next_ticket += 1;
                let t = format!("tkt_{}", 40_000 + self.next_ticket * 7 + self.below(7));
                put(ev, "target", json!({"type": "ticket", "id": t}));
                match self.weighted(&[45, 35, 20]) {
                    0 => {
                        let note = self.support_note();
                        put(&mut md, "note", note);
                        put(&mut md, "tool", "helpdesk.reply");
                        "support.ticket.reply"
                    }
                    1 => {
                        put(&mut md, "tool", "helpdesk.summarize");
                        "support.ticket.summarize"
                    }
                    _ => {
                        let p = self.pick(&["low", "normal", "high", "urgent"]);
                        put(ev, "diff", json!({"priority": {"from": "normal", "to": p}}));
                        put(&mut md, "tool", "helpdesk.triage");
                        "support.ticket.triage"
                    }
                }
            }
            AgentKind::Finance => {
                let (id, amount, vendor) = self.invoice_to_pay();
                put(ev, "target", json!({"type": "invoice", "id": id, "name": vendor}));
                put(&mut md, "amount_cents", amount);
                put(&mut md, "currency", self.currency);
                match self.weighted(&[40, 45, 15]) {
                    0 => {
                        put(&mut md, "tool", "erp.pay_invoice");
                        self.idempotency(ev, 600);
                        if amount > 1_000_000 {
                            outcome = "denied";
                            put(&mut md, "reason", "above_agent_limit");
                        }
                        "billing.invoice.pay"
                    }
                    1 => {
                        put(&mut md, "tool", "erp.match_po");
                        self.open_invoices.push((id, amount, vendor));
                        "billing.invoice.reconcile"
                    }
                    _ => {
                        let e = self.tracked_ext_email();
                        put(&mut md, "note", format!("Duplicate of an earlier bill? Asked {e} to confirm"));
                        put(&mut md, "tool", "erp.flag");
                        self.open_invoices.push((id, amount, vendor));
                        "billing.invoice.flag"
                    }
                }
            }
            AgentKind::Docs => {
                let (d, t) = self.doc_target();
                put(ev, "target", t);
                match self.weighted(&[50, 35, 15]) {
                    0 => {
                        put(&mut md, "tool", "docs.read");
                        "docs.document.summarize"
                    }
                    1 => {
                        let from = self.docs[d].revision;
                        self.docs[d].revision += 1;
                        put(ev, "diff", json!({"revision": {"from": from, "to": from + 1}}));
                        put(&mut md, "tool", "docs.write");
                        "docs.document.edit"
                    }
                    _ => {
                        let e = self.tracked_ext_email();
                        put(&mut md, "shared_with", e);
                        put(&mut md, "tool", "docs.share");
                        outcome = "denied";
                        put(&mut md, "reason", "external_sharing_requires_approval");
                        "docs.document.share"
                    }
                }
            }
            AgentKind::SecOps => match self.weighted(&[55, 30, 15]) {
                0 => {
                    let o = self.zipf(self.users.len(), false);
                    put(ev, "target", self.user_target(o));
                    let ip = self.tracked_ip();
                    let verdict = self.pick(&["benign", "benign", "suspicious"]);
                    put(&mut md, "verdict", verdict);
                    put(&mut md, "note", format!("Login from {ip} flagged: impossible travel"));
                    put(&mut md, "tool", "siem.query");
                    "auth.session.review"
                }
                1 => {
                    let o = self.zipf(self.users.len(), false);
                    put(ev, "target", self.user_target(o));
                    put(&mut md, "reason", "suspicious_activity");
                    put(&mut md, "sessions_revoked", self.range(1, 4));
                    put(&mut md, "tool", "iam.revoke_sessions");
                    "iam.user.revokeSessions"
                }
                _ => {
                    let o = self.zipf(self.users.len(), false);
                    put(ev, "target", self.user_target(o));
                    outcome = "denied";
                    put(&mut md, "reason", "agent_policy");
                    put(&mut md, "tool", "iam.set_role");
                    "iam.role.revoke"
                }
            },
        };
        if !ev.contains_key("idempotency_key") {
            self.idempotency(ev, 150);
        }
        put(ev, "action", action);
        put(ev, "outcome", outcome);
        put(ev, "metadata", md);
    }

    // -- system jobs ----------------------------------------------------------

    fn job_step(&mut self, ev: &mut Map<String, Value>, ctx: &Run, j: usize) {
        let job = self.jobs[j].clone();
        put(ev, "actor", json!({"type": "system", "id": job.id, "name": job.name}));
        let mut md = Map::new();
        put(&mut md, "run_id", ctx.run_id.clone());
        let mut outcome = "success";
        let action = match job.kind {
            JobKind::NightlySync => {
                let u = self.idx(self.users.len());
                put(ev, "target", self.user_target(u));
                let from = self.users[u].department;
                if self.chance(300) {
                    let to = self.pick(DEPARTMENTS);
                    self.users[u].department = to;
                    put(ev, "diff", json!({"department": {"from": from, "to": to}}));
                }
                put(&mut md, "source", "workday");
                if self.chance(30) {
                    outcome = "failure";
                    put(&mut md, "error", "upstream_timeout");
                }
                "hris.employee.sync"
            }
            JobKind::SessionReaper => {
                let s = self.session_id();
                put(ev, "target", json!({"type": "session", "id": s}));
                put(&mut md, "idle_minutes", self.range(30, 1440));
                "auth.session.expire"
            }
            JobKind::InvoiceRun => {
                let id = format!("inv_2026_{:05}", self.next_invoice);
                self.next_invoice += 1;
                let amount = self.amount_cents();
                let vendor = self.pick(VENDORS);
                put(ev, "target", json!({"type": "invoice", "id": id, "name": vendor}));
                self.open_invoices.push((id, amount, vendor));
                put(&mut md, "amount_cents", amount);
                put(&mut md, "currency", self.currency);
                self.idempotency(ev, 500);
                "billing.invoice.issue"
            }
            JobKind::RetentionSweep => {
                let c = self.pick(&["docs_trash", "exports", "session_logs", "tmp_uploads"]);
                put(ev, "target", json!({"type": "collection", "id": c}));
                put(&mut md, "purged", self.range(0, 5000));
                put(&mut md, "older_than_days", self.pick(&[30u64, 90, 365]));
                "data.retention.sweep"
            }
            JobKind::AccessReview => {
                let u = self.idx(self.users.len());
                put(ev, "target", self.user_target(u));
                let decision = if self.users[u].role == "admin" && self.chance(300) { "flag" } else { "keep" };
                put(&mut md, "role", self.users[u].role);
                put(&mut md, "decision", decision);
                "iam.access.review"
            }
        };
        put(ev, "action", action);
        put(ev, "outcome", outcome);
        put(ev, "metadata", md);
    }

    // -- API keys -------------------------------------------------------------

    fn key_step(&mut self, ev: &mut Map<String, Value>, ctx: &Run, k: usize) {
        let key = self.keys[k].clone();
        put(ev, "actor", json!({"type": "api_key", "id": key.id, "name": key.name}));
        put(ev, "key_ref", key.id.clone());
        if let Some(ip) = &ctx.ip {
            let ip = self.track(ip.clone());
            put(ev, "ip", ip);
        }
        if let Some(ua) = ctx.ua {
            put(ev, "user_agent", ua);
        }
        let status: u64 = match self.weighted(&[900, 30, 25, 25, 20]) {
            0 => 200,
            1 => 401,
            2 => 403,
            3 => 422,
            _ => 503,
        };
        let outcome = match status {
            200 => "success",
            401 | 403 => "denied",
            _ => "failure",
        };
        let write = self.chance(450);
        let (action, method, endpoint) = if !write {
            let endpoint = match key.kind {
                KeyKind::Warehouse => "/v1/exports",
                KeyKind::Ats => "/v1/candidates",
                KeyKind::Terraform => "/v1/settings",
                _ => "/v1/documents",
            };
            ("api.key.use", "GET", endpoint)
        } else {
            match key.kind {
                KeyKind::Ats => {
                    if self.chance(500) {
                        let c = self.new_candidate();
                        put(ev, "target", self.candidate_target(c));
                        let source = self.pick(&["careers_page", "referral", "linkedin", "agency"]);
                        let e = self.tracked_ext_email();
                        put(
                            ev,
                            "metadata",
                            json!({"source": source, "candidate_email": e, "requisition": self.reqs[self.candidates[c].req].0}),
                        );
                        ("recruitment.candidate.create", "POST", "/v1/candidates")
                    } else {
                        let c = self.active_candidate();
                        put(ev, "target", self.candidate_target(c));
                        let from = self.candidates[c].stage;
                        if outcome == "success" {
                            let to = (from + 1).min(5);
                            self.candidates[c].stage = to;
                            put(ev, "diff", json!({"stage": {"from": STAGES[from], "to": STAGES[to]}}));
                        }
                        ("recruitment.candidate.advance", "PATCH", "/v1/candidates")
                    }
                }
                KeyKind::Warehouse => {
                    let (id, name) = self.pick(REPORTS);
                    put(ev, "target", json!({"type": "report", "id": id, "name": name}));
                    let rows = self.range(1_000, 500_000);
                    put(ev, "metadata", json!({"format": "parquet", "rows": rows}));
                    ("reports.export.download", "POST", "/v1/exports")
                }
                KeyKind::Terraform => {
                    let s = self.idx(SETTINGS.len());
                    let (sk, values) = SETTINGS[s];
                    put(ev, "target", json!({"type": "setting", "id": sk}));
                    if outcome == "success" {
                        let from = self.settings[s];
                        let to = (from + 1 + self.idx(values.len() - 1)) % values.len();
                        self.settings[s] = to;
                        put(ev, "diff", json!({"value": {"from": values[from], "to": values[to]}}));
                    }
                    ("settings.update", "PUT", "/v1/settings")
                }
                KeyKind::Slack => {
                    let ch = self.pick(&["#general", "#hiring", "#finance-alerts", "#security"]);
                    put(ev, "metadata", json!({"channel": ch}));
                    ("notification.message.post", "POST", "/v1/messages")
                }
                _ => {
                    let (d, t) = self.doc_target();
                    put(ev, "target", t);
                    if outcome == "success" {
                        let from = self.docs[d].revision;
                        self.docs[d].revision += 1;
                        put(ev, "diff", json!({"revision": {"from": from, "to": from + 1}}));
                    }
                    ("docs.document.edit", "PUT", "/v1/documents")
                }
            }
        };
        put(ev, "action", action);
        put(ev, "outcome", outcome);
        let latency = self.range(8, 900);
        if let Value::Object(md) = ev.entry("metadata").or_insert_with(|| Value::Object(Map::new())) {
            put(md, "method", method);
            put(md, "endpoint", endpoint);
            put(md, "status", status);
            put(md, "latency_ms", latency);
        }
        self.idempotency(ev, if write { 550 } else { 80 });
    }

    // -- services -------------------------------------------------------------

    fn service_step(&mut self, ev: &mut Map<String, Value>, s: usize) {
        let svc = self.services[s].clone();
        let behalf = if self.chance(350) { Some(self.zipf(self.users.len(), false)) } else { None };
        let mut actor = json!({"type": "service", "id": svc.id, "name": svc.name});
        if let Some(u) = behalf {
            actor["on_behalf_of"] = Value::from(self.users[u].id.clone());
        }
        put(ev, "actor", actor);
        let mut md = Map::new();
        let mut outcome = "success";
        let action = match svc.kind {
            ServiceKind::Notifier => {
                let u = behalf.unwrap_or_else(|| self.idx(self.users.len()));
                put(ev, "target", self.user_target(u));
                let e = self.users[u].email.clone();
                let e = self.track(e);
                put(&mut md, "recipient", e);
                let template = self.pick(&["weekly_digest", "offer_approved", "invoice_due", "new_login", "password_changed"]);
                put(&mut md, "template", template);
                if self.chance(40) {
                    outcome = "failure";
                    put(&mut md, "error", "smtp_bounce");
                }
                self.idempotency(ev, 250);
                "notification.email.send"
            }
            ServiceKind::Search => {
                let (_, t) = self.doc_target();
                put(ev, "target", t);
                put(&mut md, "tokens", self.range(100, 90_000));
                "docs.document.index"
            }
            ServiceKind::Billing => {
                let (id, amount, vendor) = self.invoice_to_pay();
                put(ev, "target", json!({"type": "invoice", "id": id, "name": vendor}));
                put(&mut md, "amount_cents", amount);
                put(&mut md, "currency", self.currency);
                self.idempotency(ev, 700);
                if self.chance(120) {
                    outcome = "failure";
                    put(&mut md, "error", "insufficient_funds");
                    self.open_invoices.push((id, amount, vendor));
                    "billing.charge.retry"
                } else {
                    "billing.invoice.pay"
                }
            }
            ServiceKind::Scim => {
                if self.chance(700) {
                    let (_, local) = self.ext_person();
                    let email = format!("{local}@{}", self.domain);
                    let email = self.track(email);
                    let id = format!("usr_{}", self.token(10));
                    put(ev, "target", json!({"type": "user", "id": id}));
                    put(&mut md, "email", email);
                    put(&mut md, "source", "okta");
                    self.idempotency(ev, 300);
                    "iam.user.provision"
                } else {
                    let u = self.idx(self.users.len());
                    put(ev, "target", self.user_target(u));
                    put(&mut md, "source", "okta");
                    outcome = if u == 0 { "denied" } else { "success" };
                    if u == 0 {
                        put(&mut md, "reason", "cannot_deprovision_owner");
                    }
                    "iam.user.deprovision"
                }
            }
            ServiceKind::Webhooks => {
                let id = format!("wh_{}", self.token(8));
                put(ev, "target", json!({"type": "webhook", "id": id}));
                let status: u64 = self.pick(&[200, 200, 200, 200, 204, 410, 500, 502]);
                if status >= 400 {
                    outcome = "failure";
                }
                put(&mut md, "status", status);
                put(&mut md, "attempt", self.range(1, 3));
                put(&mut md, "url", format!("https://hooks.{}/annal/{}", self.pick(EXT_DOMAINS), self.token(6)));
                "webhook.delivery.attempt"
            }
        };
        put(ev, "action", action);
        put(ev, "outcome", outcome);
        put(ev, "metadata", md);
    }
}

// ---------------------------------------------------------------------------
// Public API
// ---------------------------------------------------------------------------

/// A deterministic, endless stream of audit events across several tenants.
///
/// Each tenant has its own independent stream (depending only on the seed
/// and the tenant id) with its own clock; the generator merges them in
/// `occurred_at` order (ties go to the tenant listed first), so the whole
/// output is non-decreasing in time and each tenant's subsequence equals
/// [`events_for_tenant`] for that tenant.
///
/// Also an [`Iterator`] that never ends; use `.take(n)`.
#[derive(Debug, Clone)]
pub struct Generator {
    streams: Vec<TenantStream>,
}

impl Generator {
    /// Creates a generator over `tenants` (duplicates are ignored).
    ///
    /// # Panics
    ///
    /// Panics if `tenants` is empty.
    pub fn new(seed: u64, tenants: &[&str]) -> Self {
        Self::build(seed, tenants, false)
    }

    fn build(seed: u64, tenants: &[&str], track_pii: bool) -> Self {
        assert!(!tenants.is_empty(), "Generator needs at least one tenant");
        let mut streams: Vec<TenantStream> = Vec::new();
        for &t in tenants {
            if !streams.iter().any(|s| s.tenant == t) {
                streams.push(TenantStream::new(seed, t, track_pii));
            }
        }
        Generator { streams }
    }

    /// Returns the next `(tenant id, event)`.
    pub fn next_event(&mut self) -> (String, Value) {
        let mut best = 0;
        for (i, s) in self.streams.iter().enumerate() {
            if s.clock_ms < self.streams[best].clock_ms {
                best = i;
            }
        }
        let stream = &mut self.streams[best];
        let ev = stream.next_event();
        (stream.tenant.clone(), ev)
    }

    fn take_pii(&mut self) -> BTreeSet<String> {
        let mut all = BTreeSet::new();
        for s in &mut self.streams {
            if let Some(set) = s.pii.take() {
                all.extend(set);
            }
        }
        all
    }
}

impl Iterator for Generator {
    type Item = (String, Value);

    fn next(&mut self) -> Option<Self::Item> {
        Some(self.next_event())
    }
}

/// The first `n` events of one tenant's stream; depends only on
/// `(seed, tenant)` and equals that tenant's events in any [`Generator`]
/// (or [`corpus`]) built with the same seed.
pub fn events_for_tenant(seed: u64, tenant: &str, n: usize) -> Vec<Value> {
    let mut s = TenantStream::new(seed, tenant, false);
    (0..n).map(|_| s.next_event()).collect()
}

/// The first `n` events of a [`Generator`] over [`DEFAULT_TENANTS`], as
/// `(tenant id, event)` pairs. `corpus(DEFAULT_SEED, DEFAULT_CORPUS_SIZE)`
/// is the default corpus, whose bytes are pinned by a test.
pub fn corpus(seed: u64, n: usize) -> Vec<(String, Value)> {
    Generator::new(seed, DEFAULT_TENANTS).take(n).collect()
}

/// Every raw personal-data value that [`corpus`]`(seed, n)` emits,
/// deduplicated and sorted.
///
/// Covered: every email address (`actor.email`, metadata fields, free text),
/// every IP address (the `ip` field and IPs inside free text), every phone
/// number, and every person's name placed inside free text. Display names in
/// the structured `actor.name` / `target.name` fields are not included;
/// names in free text come from a separate pool, so they never coincide
/// with those.
pub fn seeded_pii(seed: u64, n: usize) -> Vec<String> {
    let mut g = Generator::build(seed, DEFAULT_TENANTS, true);
    for _ in 0..n {
        g.next_event();
    }
    g.take_pii().into_iter().collect()
}

/// Every file under `dir`, at any depth: the tests that search every byte
/// a store or a backup directory holds, or damage one of its files.
pub fn files_under(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{BTreeMap, BTreeSet};
    use std::net::IpAddr;
    use std::sync::OnceLock;

    /// FNV-1a 64 of the default corpus as NDJSON. Changing the generator
    /// changes this value: update it deliberately, in the same change.
    const PINNED_CORPUS_FNV1A64: u64 = 0x1603_bdbc_2ba1_7282;

    const TOP_LEVEL: &[&str] = &[
        "action",
        "actor",
        "occurred_at",
        "session_id",
        "target",
        "outcome",
        "ip",
        "user_agent",
        "input_hash",
        "output_hash",
        "key_ref",
        "diff",
        "metadata",
        "idempotency_key",
    ];
    const ACTOR_KEYS: &[&str] = &["type", "id", "name", "email", "on_behalf_of"];
    const ACTOR_TYPES: &[&str] = &["user", "ai", "system", "api_key", "service"];
    const TARGET_KEYS: &[&str] = &["type", "id", "name"];
    const OUTCOMES: &[&str] = &["success", "failure", "denied"];

    fn default_corpus() -> &'static [(String, Value)] {
        static CORPUS: OnceLock<Vec<(String, Value)>> = OnceLock::new();
        CORPUS.get_or_init(|| corpus(DEFAULT_SEED, DEFAULT_CORPUS_SIZE))
    }

    fn ndjson(events: &[(String, Value)]) -> String {
        let mut out = String::new();
        for (_, ev) in events {
            out.push_str(&serde_json::to_string(ev).unwrap());
            out.push('\n');
        }
        out
    }

    fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
        let y = if m <= 2 { y - 1 } else { y };
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let mp = (m + 9) % 12;
        let doy = (153 * mp + 2) / 5 + d - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        era * 146_097 + doe - 719_468
    }

    /// Parses exactly `YYYY-MM-DDTHH:MM:SS.mmmZ`.
    fn parse_ts(s: &str) -> Option<i64> {
        let b = s.as_bytes();
        if b.len() != 24 {
            return None;
        }
        for (i, &c) in b.iter().enumerate() {
            let ok = match i {
                4 | 7 => c == b'-',
                10 => c == b'T',
                13 | 16 => c == b':',
                19 => c == b'.',
                23 => c == b'Z',
                _ => c.is_ascii_digit(),
            };
            if !ok {
                return None;
            }
        }
        let n = |r: std::ops::Range<usize>| s[r].parse::<i64>().unwrap();
        let (mo, d, h, mi, se) = (n(5..7), n(8..10), n(11..13), n(14..16), n(17..19));
        if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 59 {
            return None;
        }
        let days = days_from_civil(n(0..4), mo, d);
        let ms = days * 86_400_000 + ((h * 60 + mi) * 60 + se) * 1000 + n(20..23);
        // Rejects impossible dates such as 02-30.
        (format_rfc3339_millis(ms) == s).then_some(ms)
    }

    fn string_at<'a>(v: &'a Value, field: &str, max: usize) -> Result<&'a str, String> {
        let s = v.as_str().ok_or_else(|| format!("{field} is not a string"))?;
        if s.is_empty() || s.len() > max {
            return Err(format!("{field} has bad length {}", s.len()));
        }
        Ok(s)
    }

    fn check_keys(obj: &Map<String, Value>, allowed: &[&str], what: &str) -> Result<(), String> {
        for k in obj.keys() {
            if !allowed.contains(&k.as_str()) {
                return Err(format!("unknown {what} field {k:?}"));
            }
        }
        Ok(())
    }

    fn check_hash(v: &Value, field: &str) -> Result<(), String> {
        let s = string_at(v, field, 256)?;
        let hex = s.strip_prefix("sha256:").ok_or_else(|| format!("{field} lacks sha256: prefix"))?;
        if hex.len() != 64 || !hex.bytes().all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c)) {
            return Err(format!("{field} is not 64 lowercase hex"));
        }
        Ok(())
    }

    /// What the engine's ingest path enforces, plus this crate's own
    /// promises about the shape of events.
    fn check_event(ev: &Value) -> Result<(), String> {
        let size = serde_json::to_string(ev).unwrap().len();
        if size >= 64 * 1024 {
            return Err(format!("event is {size} bytes"));
        }
        let obj = ev.as_object().ok_or("event is not an object")?;
        check_keys(obj, TOP_LEVEL, "event")?;

        let action = string_at(obj.get("action").ok_or("missing action")?, "action", 128)?;
        let segments: Vec<&str> = action.split('.').collect();
        if segments.len() < 2 || segments[0] == "annal" {
            return Err(format!("bad action {action:?}"));
        }
        for seg in &segments {
            if seg.is_empty() || !seg.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-') {
                return Err(format!("bad action segment in {action:?}"));
            }
        }

        let actor = obj.get("actor").ok_or("missing actor")?.as_object().ok_or("actor is not an object")?;
        check_keys(actor, ACTOR_KEYS, "actor")?;
        let ty = string_at(actor.get("type").ok_or("actor.type missing")?, "actor.type", 256)?;
        if !ACTOR_TYPES.contains(&ty) {
            return Err(format!("bad actor type {ty:?}"));
        }
        string_at(actor.get("id").ok_or("actor.id missing")?, "actor.id", 256)?;
        if let Some(n) = actor.get("name") {
            string_at(n, "actor.name", 256)?;
        }
        if let Some(e) = actor.get("email") {
            let e = string_at(e, "actor.email", 320)?;
            if e.matches('@').count() != 1 {
                return Err(format!("bad email {e:?}"));
            }
        }
        match actor.get("on_behalf_of") {
            Some(o) => {
                let o = string_at(o, "actor.on_behalf_of", 256)?;
                if !(ty == "ai" || ty == "service") || !o.starts_with("usr_") {
                    return Err(format!("on_behalf_of {o:?} on a {ty} actor"));
                }
            }
            None if ty == "ai" => return Err("ai actor without on_behalf_of".into()),
            None => {}
        }

        if let Some(t) = obj.get("occurred_at") {
            let t = string_at(t, "occurred_at", 64)?;
            let ms = parse_ts(t).ok_or_else(|| format!("bad occurred_at {t:?}"))?;
            if ms < START_UNIX_MS {
                return Err(format!("occurred_at {t} before 2026"));
            }
        }
        for f in ["session_id", "key_ref", "idempotency_key"] {
            if let Some(v) = obj.get(f) {
                string_at(v, f, 256)?;
            }
        }
        if let Some(t) = obj.get("target") {
            let t = t.as_object().ok_or("target is not an object")?;
            check_keys(t, TARGET_KEYS, "target")?;
            string_at(t.get("type").ok_or("target.type missing")?, "target.type", 256)?;
            string_at(t.get("id").ok_or("target.id missing")?, "target.id", 256)?;
            if let Some(n) = t.get("name") {
                string_at(n, "target.name", 256)?;
            }
        }
        if let Some(o) = obj.get("outcome") {
            let o = string_at(o, "outcome", 16)?;
            if !OUTCOMES.contains(&o) {
                return Err(format!("bad outcome {o:?}"));
            }
        }
        if let Some(ip) = obj.get("ip") {
            let ip = string_at(ip, "ip", 64)?;
            let parsed: IpAddr = ip.parse().map_err(|_| format!("bad ip {ip:?}"))?;
            if parsed.to_string() != ip {
                return Err(format!("ip {ip:?} is not in canonical form"));
            }
        }
        if let Some(ua) = obj.get("user_agent") {
            string_at(ua, "user_agent", 1024)?;
        }
        for f in ["input_hash", "output_hash"] {
            if let Some(h) = obj.get(f) {
                check_hash(h, f)?;
            }
        }
        if ty == "ai" && !(obj.contains_key("input_hash") && obj.contains_key("output_hash")) {
            return Err("ai event without input/output hashes".into());
        }
        if ty == "api_key" && obj.get("key_ref") != actor.get("id") {
            return Err("api_key event whose key_ref is not the key".into());
        }
        if let Some(m) = obj.get("metadata") {
            if !m.is_object() {
                return Err("metadata is not an object".into());
            }
        }
        Ok(())
    }

    fn strings<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
        match v {
            Value::String(s) => out.push(s),
            Value::Array(a) => a.iter().for_each(|x| strings(x, out)),
            Value::Object(m) => m.values().for_each(|x| strings(x, out)),
            _ => {}
        }
    }

    fn fnv_hex(bytes: &[u8]) -> String {
        format!("0x{:016x}", fnv1a64(bytes))
    }

    #[test]
    fn splitmix64_reference_values() {
        let mut r = SplitMix64::new(0);
        assert_eq!(r.next_u64(), 0xe220_a839_7b1d_cdaf);
        assert_eq!(r.next_u64(), 0x6e78_9e6a_a1b9_65f4);
        assert_eq!(r.next_u64(), 0x06c4_5d18_8009_454f);
        let mut r = SplitMix64::new(DEFAULT_SEED);
        for n in [1u64, 2, 3, 7, 1000, u64::MAX] {
            for _ in 0..100 {
                assert!(r.below(n) < n);
            }
        }
    }

    #[test]
    fn fnv1a64_reference_values() {
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn timestamp_formatting() {
        assert_eq!(format_rfc3339_millis(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(format_rfc3339_millis(START_UNIX_MS), "2026-01-01T00:00:00.000Z");
        assert_eq!(format_rfc3339_millis(1_709_164_800_000), "2024-02-29T00:00:00.000Z");
        assert_eq!(format_rfc3339_millis(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(format_rfc3339_millis(1_772_619_072_345), "2026-03-04T10:11:12.345Z");
        assert_eq!(format_rfc3339_millis(-1), "1969-12-31T23:59:59.999Z");
        // Round trip through an independent days_from_civil, one sample a
        // day over 1900..2200, each at a different time of day.
        let mut ms = -2_208_988_800_000i64; // 1900-01-01
        while ms < 7_258_118_400_000 {
            let s = format_rfc3339_millis(ms);
            assert_eq!(parse_ts(&s), Some(ms), "{s}");
            ms += 86_400_000 + 3_723_001;
        }
        assert_eq!(parse_ts("2026-02-30T00:00:00.000Z"), None);
    }

    #[test]
    fn deterministic_for_a_seed() {
        let a = ndjson(&corpus(DEFAULT_SEED, 3_000));
        let b = ndjson(&corpus(DEFAULT_SEED, 3_000));
        assert_eq!(a, b);
        let c = ndjson(&corpus(DEFAULT_SEED + 1, 3_000));
        assert_ne!(a, c);
        let mut g = Generator::new(DEFAULT_SEED, DEFAULT_TENANTS);
        let d: Vec<(String, Value)> = (0..3_000).map(|_| g.next_event()).collect();
        assert_eq!(a, ndjson(&d));
        // A prefix of a longer corpus is the shorter corpus.
        assert!(ndjson(default_corpus()).starts_with(&a));
    }

    #[test]
    fn pinned_default_corpus() {
        let bytes = ndjson(default_corpus());
        assert_eq!(
            fnv_hex(bytes.as_bytes()),
            format!("0x{PINNED_CORPUS_FNV1A64:016x}"),
            "the default corpus changed ({} bytes); if that is intended, update \
             PINNED_CORPUS_FNV1A64",
            bytes.len()
        );
    }

    #[test]
    fn every_event_is_valid() {
        let mut last: BTreeMap<&str, i64> = BTreeMap::new();
        let mut prev_global = START_UNIX_MS;
        for (i, (tenant, ev)) in default_corpus().iter().enumerate() {
            if let Err(e) = check_event(ev) {
                panic!("event {i} of {tenant} is invalid: {e}\n{ev}");
            }
            let ts = ev["occurred_at"].as_str().expect("every event has occurred_at");
            let ms = parse_ts(ts).unwrap();
            let prev = last.insert(tenant, ms).unwrap_or(START_UNIX_MS);
            assert!(ms >= prev, "event {i}: time went backwards for {tenant}");
            assert!(ms >= prev_global, "event {i}: corpus not merged in time order");
            prev_global = ms;
        }
    }

    #[test]
    fn other_seeds_and_tenants_are_valid() {
        let tenants = ["ws_Tenant With Spaces!", "x", "ws_acme", "ws_acme"];
        let mut g = Generator::new(7, &tenants);
        let mut seen = BTreeSet::new();
        for _ in 0..4_000 {
            let (t, ev) = g.next_event();
            check_event(&ev).unwrap_or_else(|e| panic!("{e}: {ev}"));
            if let Some(email) = ev["actor"].get("email") {
                let email = email.as_str().unwrap();
                let domain = email.split('@').nth(1).unwrap();
                assert!(domain.bytes().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'.' || c == b'-'));
            }
            seen.insert(t);
        }
        assert_eq!(seen.len(), 3, "duplicate tenants are ignored");
    }

    #[test]
    fn corpus_covers_the_mix() {
        let c = default_corpus();
        assert_eq!(c.len(), DEFAULT_CORPUS_SIZE);
        assert!(c.len() >= 10_000);

        let mut tenants = BTreeMap::new();
        let mut actor_types = BTreeSet::new();
        let mut outcomes = BTreeMap::new();
        let mut actions = BTreeMap::new();
        let mut key_refs: BTreeMap<(&str, &str), usize> = BTreeMap::new();
        let (mut idem, mut v6, mut v4, mut behalf_service) = (0, 0, 0, 0);
        let mut sizes = Vec::new();
        for (t, ev) in c {
            *tenants.entry(t.as_str()).or_insert(0usize) += 1;
            actor_types.insert(ev["actor"]["type"].as_str().unwrap());
            *outcomes.entry(ev["outcome"].as_str().unwrap()).or_insert(0usize) += 1;
            *actions.entry(ev["action"].as_str().unwrap()).or_insert(0usize) += 1;
            if let Some(k) = ev.get("key_ref") {
                *key_refs.entry((t.as_str(), k.as_str().unwrap())).or_insert(0) += 1;
            }
            if ev.get("idempotency_key").is_some() {
                idem += 1;
            }
            match ev.get("ip").and_then(Value::as_str).map(|s| s.parse::<IpAddr>().unwrap()) {
                Some(IpAddr::V6(_)) => v6 += 1,
                Some(IpAddr::V4(_)) => v4 += 1,
                None => {}
            }
            if ev["actor"]["type"] == "service" && ev["actor"].get("on_behalf_of").is_some() {
                behalf_service += 1;
            }
            sizes.push(serde_json::to_string(ev).unwrap().len());
        }

        assert_eq!(tenants.len(), DEFAULT_TENANTS.len(), "{tenants:?}");
        for (t, n) in &tenants {
            assert!(*n >= 500, "tenant {t} has only {n} events");
        }
        assert_eq!(actor_types.len(), ACTOR_TYPES.len(), "{actor_types:?}");
        assert_eq!(outcomes.len(), OUTCOMES.len(), "{outcomes:?}");
        let failing = outcomes["failure"] + outcomes["denied"];
        assert!(failing * 100 / c.len() >= 2 && failing * 100 / c.len() <= 15, "{outcomes:?}");
        for a in [
            "auth.login",
            "auth.logout",
            "iam.role.grant",
            "iam.role.revoke",
            "iam.user.invite",
            "iam.user.revokeSessions",
            "recruitment.offer.send",
            "recruitment.candidate.advance",
            "billing.invoice.pay",
            "docs.document.share",
            "api.key.use",
            "settings.update",
        ] {
            assert!(actions.contains_key(a), "no {a} in the corpus");
        }
        // Zipf-ish: the most common action is far more common than the rarest.
        let max = actions.values().max().unwrap();
        let min = actions.values().min().unwrap();
        assert!(max / min >= 50, "actions are not skewed: {actions:?}");

        let idem_pct = idem * 100 / c.len();
        assert!((6..=14).contains(&idem_pct), "idempotency keys on {idem_pct}%");
        assert!(v6 * 100 / (v4 + v6) >= 5, "too few IPv6 addresses: {v6} of {}", v4 + v6);
        assert!(behalf_service > 0);
        // Rare key refs exist (for "rare filter" queries), and busy ones.
        assert!(key_refs.values().any(|&n| n <= 5), "{key_refs:?}");
        assert!(key_refs.values().any(|&n| n >= 100), "{key_refs:?}");

        sizes.sort_unstable();
        let median = sizes[sizes.len() / 2];
        let in_band = sizes.iter().filter(|&&s| (300..=1500).contains(&s)).count();
        assert!((300..=1500).contains(&median), "median size {median}");
        assert!(in_band * 100 / sizes.len() >= 90, "only {in_band} events in 300..=1500 bytes");
        assert!(*sizes.last().unwrap() < 4096);
    }

    #[test]
    fn sessions_belong_to_one_actor_and_start_with_login() {
        let mut sessions: BTreeMap<&str, (&str, &str)> = BTreeMap::new();
        let mut multi = 0;
        for (_, ev) in default_corpus() {
            let Some(s) = ev.get("session_id").and_then(Value::as_str) else {
                continue;
            };
            let actor = ev["actor"]["id"].as_str().unwrap();
            let action = ev["action"].as_str().unwrap();
            match sessions.get(s) {
                Some((a, _)) => {
                    assert_eq!(*a, actor, "session {s} shared by two actors");
                    multi += 1;
                }
                None => {
                    if ev["actor"]["type"] == "user" {
                        assert_eq!(action, "auth.login", "user session {s} starts with {action}");
                    }
                    sessions.insert(s, (actor, action));
                }
            }
        }
        assert!(sessions.len() >= 300);
        assert!(multi >= 2 * sessions.len(), "sessions are too short");
    }

    #[test]
    fn tenant_streams_are_independent() {
        let c = default_corpus();
        for t in DEFAULT_TENANTS {
            let mine: Vec<Value> = c.iter().filter(|(tt, _)| tt == t).map(|(_, ev)| ev.clone()).collect();
            assert_eq!(events_for_tenant(DEFAULT_SEED, t, mine.len()), mine, "{t}");
        }
        // A tenant's stream does not depend on which other tenants exist.
        let mut g = Generator::new(DEFAULT_SEED, &["ws_hooli"]);
        let alone: Vec<Value> = (0..200).map(|_| g.next_event().1).collect();
        assert_eq!(alone, events_for_tenant(DEFAULT_SEED, "ws_hooli", 200));
    }

    #[test]
    fn name_pools_are_disjoint() {
        for (f, _) in EXT_FIRST {
            assert!(USER_FIRST.iter().all(|(u, _)| u != f), "{f}");
        }
        for (l, _) in EXT_LAST {
            assert!(USER_LAST.iter().all(|(u, _)| u != l), "{l}");
        }
    }

    #[test]
    fn seeded_pii_is_complete_and_accurate() {
        let pii = seeded_pii(DEFAULT_SEED, DEFAULT_CORPUS_SIZE);
        assert!(pii.len() >= 200, "only {} PII values", pii.len());
        assert!(pii.windows(2).all(|w| w[0] < w[1]), "not sorted and deduplicated");
        let set: BTreeSet<&str> = pii.iter().map(String::as_str).collect();

        let c = default_corpus();
        let mut whole: BTreeSet<&str> = BTreeSet::new();
        let mut texts: BTreeSet<&str> = BTreeSet::new();
        for (_, ev) in c {
            let mut ss = Vec::new();
            strings(ev, &mut ss);
            for s in ss {
                whole.insert(s);
                if s.contains(' ') {
                    texts.insert(s);
                }
            }
        }

        // Accurate: each value was emitted, verbatim (no JSON escaping).
        let serialized = ndjson(c);
        for p in &pii {
            assert_eq!(serde_json::to_string(p).unwrap(), format!("\"{p}\""));
            let found = whole.contains(p.as_str()) || texts.iter().any(|t| t.contains(p.as_str()));
            assert!(found, "{p:?} is not in the corpus");
        }
        assert!(serialized.contains(pii[0].as_str()));

        // Complete: personal data found in the corpus is listed.
        let mut kinds = BTreeSet::new();
        for (_, ev) in c {
            if let Some(ip) = ev.get("ip").and_then(Value::as_str) {
                assert!(set.contains(ip), "ip {ip} not listed");
                kinds.insert("ip");
            }
            if let Some(e) = ev["actor"].get("email").and_then(Value::as_str) {
                assert!(set.contains(e), "email {e} not listed");
                kinds.insert("email");
            }
            let mut ss = Vec::new();
            strings(ev, &mut ss);
            for s in ss {
                for tok in s.split(|c: char| c.is_whitespace() || "<>(),;\"'".contains(c)) {
                    let tok = tok.trim_end_matches(['.', ':']);
                    if tok.contains('@') {
                        assert!(set.contains(tok), "email {tok:?} in {s:?} not listed");
                    }
                    if tok.parse::<IpAddr>().is_ok() {
                        assert!(set.contains(tok), "IP {tok:?} in {s:?} not listed");
                    }
                }
                for (first, _) in EXT_FIRST {
                    for (at, _) in s.match_indices(&format!("{first} ")) {
                        let rest = &s[at + first.len() + 1..];
                        let last: String = rest.chars().take_while(|c| c.is_alphabetic()).collect();
                        let full = format!("{first} {last}");
                        assert!(set.contains(full.as_str()), "name {full:?} in {s:?} not listed");
                        kinds.insert("name");
                    }
                }
            }
            // Free text: once the listed values are cut out, no phone
            // number (a long run of digits) and no email is left.
            if let Some(note) = ev.get("metadata").and_then(|m| m.get("note")).and_then(Value::as_str) {
                let mut rest = note.to_owned();
                let mut listed: Vec<&str> = set.iter().copied().filter(|p| note.contains(p)).collect();
                listed.sort_by_key(|p| std::cmp::Reverse(p.len()));
                for p in listed {
                    rest = rest.replace(p, "<pii>");
                }
                assert!(!rest.contains('@'), "{note:?}");
                let mut run = 0;
                for ch in rest.chars() {
                    if ch.is_ascii_digit() {
                        run += 1;
                        assert!(run <= 3, "unlisted number in {note:?}");
                    } else if !" -()+".contains(ch) {
                        run = 0;
                    }
                }
                if note.contains("+1 ") || note.contains("+44 ") || note.contains("+49 ") {
                    kinds.insert("phone");
                }
            }
        }
        assert_eq!(kinds.len(), 4, "{kinds:?}");
    }
}
