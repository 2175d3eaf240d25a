//! The event a service appends, its validation, and its canonical stored form.
//!
//! [`Event`] is what callers hand in; [`BorrowedEvent`] is the same event
//! borrowing its strings from the JSON it was parsed from, which is what
//! the HTTP API and `annal ingest` read a body into. [`Event::validate`] checks every
//! documented limit and turns it into an [`EventRecord`]: the canonical form
//! that is encoded, hashed and stored. Two events with the same content (same
//! instant in another offset, same JSON with other key order) give the same
//! record and so the same leaf hash.
//!
//! Validation never echoes a value in its error, only the field's name: the
//! value may be personal data.

use std::borrow::Cow;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::canonical_json;
use crate::error::FieldError;
use crate::redact::{field, Applied, Redaction, Redactor};

/// Who performed an action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, bincode::Encode, bincode::Decode)]
#[serde(rename_all = "snake_case")]
pub enum ActorType {
    /// A human user.
    User,
    /// An AI agent, usually acting on behalf of a user.
    Ai,
    /// The platform itself (scheduled jobs, migrations, annal's own events).
    System,
    /// A caller identified only by an API key.
    ApiKey,
    /// Another service.
    Service,
}

impl ActorType {
    /// The JSON name (`user`, `ai`, `system`, `api_key`, `service`).
    pub fn as_str(self) -> &'static str {
        match self {
            ActorType::User => "user",
            ActorType::Ai => "ai",
            ActorType::System => "system",
            ActorType::ApiKey => "api_key",
            ActorType::Service => "service",
        }
    }
}

/// How an action ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, bincode::Encode, bincode::Decode)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// It did what was asked.
    Success,
    /// It was attempted and failed.
    Failure,
    /// It was refused (authorization, policy).
    Denied,
}

impl Outcome {
    /// The JSON name (`success`, `failure`, `denied`).
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
            Outcome::Denied => "denied",
        }
    }
}

/// The actor of an event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Actor {
    /// Kind of actor.
    #[serde(rename = "type")]
    pub kind: ActorType,
    /// Stable id of the actor.
    pub id: String,
    /// Display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// E-mail address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Id of the user an AI agent or service acts for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_behalf_of: Option<String>,
}

/// What an action was performed on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Target {
    /// Kind of object, e.g. `offer`, `user`, `invoice`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Id of the object.
    pub id: String,
    /// Display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// One state-changing action, as a service submits it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Event {
    /// Dotted action name, e.g. `recruitment.offer.send`.
    pub action: String,
    /// Who did it.
    #[serde(deserialize_with = "object")]
    pub actor: Actor,
    /// Client's clock, RFC 3339. Kept as data; never used for ordering or retention.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub occurred_at: Option<String>,
    /// Session the action belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    /// What it was done to.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "optional_object")]
    pub target: Option<Target>,
    /// How it ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<Outcome>,
    /// Client IP address (v4 or v6).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    /// Client user agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    /// Hash of the action's input (e.g. an AI agent's prompt), as the client computed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_hash: Option<String>,
    /// Hash of the action's output.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_hash: Option<String>,
    /// Reference id of the API key used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_ref: Option<String>,
    /// The state changed, any JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diff: Option<Value>,
    /// Free-form context, a JSON object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Map<String, Value>>,
    /// Client-chosen key: a second event with the same key (same tenant,
    /// within the idempotency window) returns the first one's receipt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
}

/// A [`BorrowedEvent`] borrowing every field of `$e`, an [`Event`] or a
/// [`BorrowedEvent`]: the two have the same fields, owned or borrowed.
macro_rules! borrow_fields {
    ($e:expr) => {{
        let e = $e;
        let a = &e.actor;
        BorrowedEvent {
            action: Cow::Borrowed(&e.action),
            actor: BorrowedActor {
                kind: a.kind,
                id: Cow::Borrowed(&a.id),
                name: b(&a.name),
                email: b(&a.email),
                on_behalf_of: b(&a.on_behalf_of),
            },
            occurred_at: b(&e.occurred_at),
            session_id: b(&e.session_id),
            target: e.target.as_ref().map(|t| BorrowedTarget {
                kind: Cow::Borrowed(&t.kind),
                id: Cow::Borrowed(&t.id),
                name: b(&t.name),
            }),
            outcome: e.outcome,
            ip: b(&e.ip),
            user_agent: b(&e.user_agent),
            input_hash: b(&e.input_hash),
            output_hash: b(&e.output_hash),
            key_ref: b(&e.key_ref),
            diff: b(&e.diff),
            metadata: b(&e.metadata),
            idempotency_key: b(&e.idempotency_key),
        }
    }};
}

impl Event {
    /// A minimal event: an action by an actor.
    pub fn new(action: impl Into<String>, actor_kind: ActorType, actor_id: impl Into<String>) -> Event {
        Event {
            action: action.into(),
            actor: Actor { kind: actor_kind, id: actor_id.into(), name: None, email: None, on_behalf_of: None },
            occurred_at: None,
            session_id: None,
            target: None,
            outcome: None,
            ip: None,
            user_agent: None,
            input_hash: None,
            output_hash: None,
            key_ref: None,
            diff: None,
            metadata: None,
            idempotency_key: None,
        }
    }

    /// Parses one event from JSON. Unknown fields, missing required fields and
    /// wrong types are errors naming the field (`actor.type`, `metadata`, …).
    ///
    /// The bytes are read straight into the event's fields, with no
    /// `serde_json::Value` tree in between (only `diff` and `metadata`, which
    /// hold any JSON, become one). The server and `annal ingest` parse with
    /// [`BorrowedEvent::from_json_slice`] instead, which takes the same JSON
    /// without copying its strings.
    pub fn from_json_slice(bytes: &[u8]) -> Result<Event, FieldError> {
        from_json(bytes)
    }

    /// Like [`Event::from_json_slice`] for an already parsed JSON value.
    pub fn from_json_value(value: Value) -> Result<Event, FieldError> {
        if !value.is_object() {
            return Err(FieldError::new("", "an event must be a JSON object"));
        }
        serde_path_to_error::deserialize(value).map_err(crate::error::path_error)
    }

    /// Checks every limit and produces the canonical stored form.
    pub fn validate(&self, limits: &Limits) -> Result<EventRecord, FieldError> {
        self.as_borrowed().validate(limits)
    }

    /// This event as a [`BorrowedEvent`] borrowing every field: how the append
    /// path reads an owned event.
    pub fn as_borrowed(&self) -> BorrowedEvent<'_> {
        borrow_fields!(self)
    }
}

/// An [`Event`] whose strings borrow from the JSON it was parsed from
/// where they can (a string with an escape is copied): what the server
/// parses a request body into, so that an append allocates no string per
/// field only to copy it into the stored form and free it. It takes exactly
/// the JSON [`Event`] takes, with the same errors; [`BorrowedEvent::into_owned`]
/// gives the [`Event`].
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, bound(deserialize = "'de: 'a"))]
pub struct BorrowedEvent<'a> {
    /// [`Event::action`].
    #[serde(deserialize_with = "text_field")]
    pub action: Cow<'a, str>,
    /// [`Event::actor`].
    #[serde(deserialize_with = "object")]
    pub actor: BorrowedActor<'a>,
    /// [`Event::occurred_at`].
    #[serde(default, deserialize_with = "optional_text_field")]
    pub occurred_at: Option<Cow<'a, str>>,
    /// [`Event::session_id`].
    #[serde(default, deserialize_with = "optional_text_field")]
    pub session_id: Option<Cow<'a, str>>,
    /// [`Event::target`].
    #[serde(default, deserialize_with = "optional_object")]
    pub target: Option<BorrowedTarget<'a>>,
    /// [`Event::outcome`].
    #[serde(default)]
    pub outcome: Option<Outcome>,
    /// [`Event::ip`].
    #[serde(default, deserialize_with = "optional_text_field")]
    pub ip: Option<Cow<'a, str>>,
    /// [`Event::user_agent`].
    #[serde(default, deserialize_with = "optional_text_field")]
    pub user_agent: Option<Cow<'a, str>>,
    /// [`Event::input_hash`].
    #[serde(default, deserialize_with = "optional_text_field")]
    pub input_hash: Option<Cow<'a, str>>,
    /// [`Event::output_hash`].
    #[serde(default, deserialize_with = "optional_text_field")]
    pub output_hash: Option<Cow<'a, str>>,
    /// [`Event::key_ref`].
    #[serde(default, deserialize_with = "optional_text_field")]
    pub key_ref: Option<Cow<'a, str>>,
    /// [`Event::diff`].
    #[serde(default)]
    pub diff: Option<Cow<'a, Value>>,
    /// [`Event::metadata`].
    #[serde(default)]
    pub metadata: Option<Cow<'a, Map<String, Value>>>,
    /// [`Event::idempotency_key`].
    #[serde(default, deserialize_with = "optional_text_field")]
    pub idempotency_key: Option<Cow<'a, str>>,
}

/// [`Actor`] borrowing its strings; see [`BorrowedEvent`].
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, bound(deserialize = "'de: 'a"))]
pub struct BorrowedActor<'a> {
    /// [`Actor::kind`].
    #[serde(rename = "type")]
    pub kind: ActorType,
    /// [`Actor::id`].
    #[serde(deserialize_with = "text_field")]
    pub id: Cow<'a, str>,
    /// [`Actor::name`].
    #[serde(default, deserialize_with = "optional_text_field")]
    pub name: Option<Cow<'a, str>>,
    /// [`Actor::email`].
    #[serde(default, deserialize_with = "optional_text_field")]
    pub email: Option<Cow<'a, str>>,
    /// [`Actor::on_behalf_of`].
    #[serde(default, deserialize_with = "optional_text_field")]
    pub on_behalf_of: Option<Cow<'a, str>>,
}

/// [`Target`] borrowing its strings; see [`BorrowedEvent`].
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, bound(deserialize = "'de: 'a"))]
pub struct BorrowedTarget<'a> {
    /// [`Target::kind`].
    #[serde(rename = "type", deserialize_with = "text_field")]
    pub kind: Cow<'a, str>,
    /// [`Target::id`].
    #[serde(deserialize_with = "text_field")]
    pub id: Cow<'a, str>,
    /// [`Target::name`].
    #[serde(default, deserialize_with = "optional_text_field")]
    pub name: Option<Cow<'a, str>>,
}

/// What an append takes: an owned [`Event`], or a [`BorrowedEvent`] borrowing
/// from the JSON it was parsed from.
pub trait AsBorrowedEvent {
    /// The event, every field borrowed.
    fn as_borrowed(&self) -> BorrowedEvent<'_>;
}

impl AsBorrowedEvent for Event {
    fn as_borrowed(&self) -> BorrowedEvent<'_> {
        Event::as_borrowed(self)
    }
}

impl AsBorrowedEvent for BorrowedEvent<'_> {
    fn as_borrowed(&self) -> BorrowedEvent<'_> {
        borrow_fields!(self)
    }
}

impl<'a> BorrowedEvent<'a> {
    /// Parses one event from JSON, as [`Event::from_json_slice`] does (the
    /// same JSON taken, the same errors), borrowing from `bytes`.
    pub fn from_json_slice(bytes: &'a [u8]) -> Result<BorrowedEvent<'a>, FieldError> {
        from_json(bytes)
    }

    /// The owned [`Event`].
    pub fn into_owned(self) -> Event {
        let own = |s: Option<Cow<'_, str>>| s.map(Cow::into_owned);
        let a = self.actor;
        Event {
            action: self.action.into_owned(),
            actor: Actor {
                kind: a.kind,
                id: a.id.into_owned(),
                name: own(a.name),
                email: own(a.email),
                on_behalf_of: own(a.on_behalf_of),
            },
            occurred_at: own(self.occurred_at),
            session_id: own(self.session_id),
            target: self.target.map(|t| Target { kind: t.kind.into_owned(), id: t.id.into_owned(), name: own(t.name) }),
            outcome: self.outcome,
            ip: own(self.ip),
            user_agent: own(self.user_agent),
            input_hash: own(self.input_hash),
            output_hash: own(self.output_hash),
            key_ref: own(self.key_ref),
            diff: self.diff.map(Cow::into_owned),
            metadata: self.metadata.map(Cow::into_owned),
            idempotency_key: own(self.idempotency_key),
        }
    }

    /// Checks every limit and produces the canonical stored form.
    pub fn validate(&self, limits: &Limits) -> Result<EventRecord, FieldError> {
        self.view(limits).map(|v| v.to_owned())
    }

    /// Checks every limit (the reserved `annal.` namespace included) and
    /// returns the canonical form borrowing this event's strings: the append
    /// path encodes straight from it without copying every field.
    pub(crate) fn view(&self, limits: &Limits) -> Result<EventRecordView<'_>, FieldError> {
        self.view_redacted(limits, None).map(|(v, _)| v)
    }

    /// [`BorrowedEvent::view`], then the tenant's redaction policy applied (when
    /// given): values are checked as sent, and stored as redacted.
    pub(crate) fn view_redacted(
        &self,
        limits: &Limits,
        redactor: Option<&Redactor>,
    ) -> Result<(EventRecordView<'_>, Applied), FieldError> {
        validate_action(&self.action, "action", limits)?;
        if self.action.starts_with(RESERVED_ACTION_PREFIX) {
            return Err(FieldError::new(
                "action",
                format!("the `{RESERVED_ACTION_PREFIX}` namespace is reserved for events annal writes itself"),
            ));
        }
        self.view_unchecked_action(limits, redactor)
    }

    /// Everything [`BorrowedEvent::view_redacted`] does but the action checks
    /// (annal's own events, under the reserved namespace, come through here).
    pub(crate) fn view_unchecked_action(
        &self,
        limits: &Limits,
        redactor: Option<&Redactor>,
    ) -> Result<(EventRecordView<'_>, Applied), FieldError> {
        let a = &self.actor;
        ident(&a.id, "actor.id", limits.max_id_bytes)?;
        opt(&a.name, "actor.name", |v, f| text(v, f, limits.max_name_bytes))?;
        opt(&a.email, "actor.email", |v, f| email(v, f, limits.max_email_bytes))?;
        opt(&a.on_behalf_of, "actor.on_behalf_of", |v, f| ident(v, f, limits.max_id_bytes))?;
        let occurred_at = match &self.occurred_at {
            None => None,
            Some(s) => Some(parse_rfc3339_nanos(s).map_err(|m| FieldError::new("occurred_at", m))?),
        };
        opt(&self.session_id, "session_id", |v, f| ident(v, f, limits.max_id_bytes))?;
        if let Some(t) = &self.target {
            ident(&t.kind, "target.type", limits.max_id_bytes)?;
            ident(&t.id, "target.id", limits.max_id_bytes)?;
            opt(&t.name, "target.name", |v, f| text(v, f, limits.max_name_bytes))?;
        }
        let ip = match &self.ip {
            None => None,
            // Stored in the standard textual form, so `::FFFF:1` and `::ffff:1` are one value.
            // An IPv4 address parses only from that form (four decimal
            // octets, no leading zeros), so it is kept as sent, not written again.
            Some(s) => Some(match s.parse::<IpAddr>().map_err(|_| FieldError::new("ip", "not an IPv4 or IPv6 address"))? {
                IpAddr::V4(_) => Cow::Borrowed(s.as_ref()),
                IpAddr::V6(a) => Cow::Owned(a.to_string()),
            }),
        };
        opt(&self.user_agent, "user_agent", |v, f| text(v, f, limits.max_user_agent_bytes))?;
        opt(&self.input_hash, "input_hash", |v, f| token(v, f, limits.max_id_bytes))?;
        opt(&self.output_hash, "output_hash", |v, f| token(v, f, limits.max_id_bytes))?;
        opt(&self.key_ref, "key_ref", |v, f| ident(v, f, limits.max_id_bytes))?;
        opt(&self.idempotency_key, "idempotency_key", |v, f| ident(v, f, limits.max_id_bytes))?;
        let mut applied = Applied::default();
        let diff = match (&self.diff, redactor) {
            (None, _) => None,
            (Some(v), Some(r)) if r.touches_json() => r.json_value(v, &mut applied).map_err(|_| too_deep("diff"))?,
            (Some(v), _) => Some(canonical_json::to_canonical(v).map_err(|_| too_deep("diff"))?),
        };
        let metadata = match (&self.metadata, redactor) {
            (None, _) => None,
            (Some(m), Some(r)) if r.touches_json() => r.json_object(m, &mut applied).map_err(|_| too_deep("metadata"))?,
            (Some(m), _) => Some(canonical_json::object_to_canonical(m).map_err(|_| too_deep("metadata"))?),
        };
        let mut v = EventRecordView {
            action: &self.action,
            actor_type: a.kind,
            actor_id: Cow::Borrowed(&a.id),
            actor_name: b(&a.name),
            actor_email: b(&a.email),
            on_behalf_of: b(&a.on_behalf_of),
            occurred_at,
            session_id: b(&self.session_id),
            target: self.target.as_ref().map(|t| TargetRecordView {
                kind: Cow::Borrowed(&t.kind),
                id: Cow::Borrowed(&t.id),
                name: b(&t.name),
            }),
            outcome: self.outcome,
            ip,
            user_agent: b(&self.user_agent),
            input_hash: b(&self.input_hash),
            output_hash: b(&self.output_hash),
            key_ref: self.key_ref.as_deref(),
            diff,
            metadata,
            idempotency_key: self.idempotency_key.as_deref(),
            policy_version: 0,
            redactions: Vec::new(),
        };
        if let Some(r) = redactor {
            v.policy_version = r.version;
            redact_fields(&mut v, r, &mut applied);
            v.redactions = std::mem::take(&mut applied.redactions);
        }
        Ok((v, applied))
    }
}

/// An optional field, owned or borrowed, borrowed.
fn b<T: ?Sized + ToOwned, S: std::borrow::Borrow<T>>(s: &Option<S>) -> Option<Cow<'_, T>> {
    s.as_ref().map(|s| Cow::Borrowed(s.borrow()))
}

/// Applies `r` to every structured field of `v`, in [`FIELDS`](crate::redact::FIELDS) order.
fn redact_fields<'a>(v: &mut EventRecordView<'a>, r: &Redactor, applied: &mut Applied) {
    // Required fields cannot be dropped (policies are checked for it); keep
    // the function total anyway.
    let required = |x: Option<Cow<'a, str>>| x.unwrap_or(Cow::Borrowed("[redacted]"));
    let mut json = std::mem::take(&mut applied.redactions);
    let opt_field = |f: usize, x: &mut Option<Cow<'a, str>>, applied: &mut Applied| {
        if let Some(val) = x.take() {
            *x = r.field(f, val, applied);
        }
    };
    v.actor_id = required(r.field(field::ACTOR_ID, std::mem::take(&mut v.actor_id), applied));
    opt_field(field::ACTOR_NAME, &mut v.actor_name, applied);
    opt_field(field::ACTOR_EMAIL, &mut v.actor_email, applied);
    opt_field(field::ON_BEHALF_OF, &mut v.on_behalf_of, applied);
    opt_field(field::SESSION, &mut v.session_id, applied);
    if let Some(t) = &mut v.target {
        t.kind = required(r.field(field::TARGET_TYPE, std::mem::take(&mut t.kind), applied));
        t.id = required(r.field(field::TARGET_ID, std::mem::take(&mut t.id), applied));
        opt_field(field::TARGET_NAME, &mut t.name, applied);
    }
    opt_field(field::IP, &mut v.ip, applied);
    opt_field(field::USER_AGENT, &mut v.user_agent, applied);
    opt_field(field::INPUT_HASH, &mut v.input_hash, applied);
    opt_field(field::OUTPUT_HASH, &mut v.output_hash, applied);
    // Structured fields' redactions first, then those of diff and metadata.
    applied.redactions.append(&mut json);
}

/// Actions under this prefix are written only by annal itself.
pub const RESERVED_ACTION_PREFIX: &str = "annal.";

/// The largest `max_event_bytes` an engine takes: a stored record (the
/// event and its seq, time and hashes) is decoded only up to 1 MiB
/// (`format::record`), so an event allowed any larger could be stored and
/// then never read back.
pub const MAX_EVENT_BYTES_LIMIT: usize = (1 << 20) - (64 << 10);

/// Size limits applied to every event. The defaults are documented in
/// docs/FORMAT.md ("Limits"); every setter on the engine builder states them too.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Whole event, measured on its canonical encoding. Default 64 KiB.
    pub max_event_bytes: usize,
    /// `action`. Default 128.
    pub max_action_bytes: usize,
    /// Ids, types, hashes, keys (`actor.id`, `target.type`, `session_id`, …). Default 256.
    pub max_id_bytes: usize,
    /// Display names. Default 256.
    pub max_name_bytes: usize,
    /// `actor.email`. Default 320 (the longest legal address).
    pub max_email_bytes: usize,
    /// `user_agent`. Default 1024.
    pub max_user_agent_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_event_bytes: 64 * 1024,
            max_action_bytes: 128,
            max_id_bytes: 256,
            max_name_bytes: 256,
            max_email_bytes: 320,
            max_user_agent_bytes: 1024,
        }
    }
}

/// The target in stored form.
#[derive(Debug, Clone, PartialEq, Eq, bincode::Encode, bincode::Decode)]
pub struct TargetRecord {
    /// Kind of object.
    pub kind: String,
    /// Id of the object.
    pub id: String,
    /// Display name.
    pub name: Option<String>,
}

/// The canonical, stored form of an event. Its bincode encoding (field order
/// as declared here) is specified in docs/FORMAT.md and is what the leaf hash
/// covers: never reorder, remove or insert fields — add a new format version.
#[derive(Debug, Clone, PartialEq, Eq, bincode::Encode, bincode::Decode)]
pub struct EventRecord {
    /// Dotted action name.
    pub action: String,
    /// Kind of actor.
    pub actor_type: ActorType,
    /// Actor id.
    pub actor_id: String,
    /// Actor display name.
    pub actor_name: Option<String>,
    /// Actor e-mail.
    pub actor_email: Option<String>,
    /// Delegating user.
    pub on_behalf_of: Option<String>,
    /// Client time, nanoseconds since the Unix epoch (UTC).
    pub occurred_at: Option<i64>,
    /// Session id.
    pub session_id: Option<String>,
    /// Target.
    pub target: Option<TargetRecord>,
    /// Outcome.
    pub outcome: Option<Outcome>,
    /// IP address, standard textual form.
    pub ip: Option<String>,
    /// User agent.
    pub user_agent: Option<String>,
    /// Input hash.
    pub input_hash: Option<String>,
    /// Output hash.
    pub output_hash: Option<String>,
    /// API key reference.
    pub key_ref: Option<String>,
    /// Canonical JSON text of `diff`.
    pub diff: Option<String>,
    /// Canonical JSON text of `metadata` (an object).
    pub metadata: Option<String>,
    /// Idempotency key.
    pub idempotency_key: Option<String>,
    /// Version of the tenant's redaction policy the event was written under
    /// (0: written before annal redacted, event format 1).
    pub policy_version: u32,
    /// What redaction changed, in the order applied (event format 2).
    pub redactions: Vec<Redaction>,
}

/// [`EventRecord`] borrowing the submitted event's strings.
///
/// **Its fields and their order must match [`EventRecord`] exactly**: bincode
/// encodes `&str` and `String` identically, so both give the same bytes. The
/// unit test `view_and_owned_record_encode_identically` checks this on the
/// whole seeded corpus; the golden vectors check the bytes themselves.
#[derive(Debug, Clone, PartialEq, Eq, bincode::Encode)]
pub(crate) struct EventRecordView<'a> {
    pub action: &'a str,
    pub actor_type: ActorType,
    pub actor_id: Cow<'a, str>,
    pub actor_name: Option<Cow<'a, str>>,
    pub actor_email: Option<Cow<'a, str>>,
    pub on_behalf_of: Option<Cow<'a, str>>,
    pub occurred_at: Option<i64>,
    pub session_id: Option<Cow<'a, str>>,
    pub target: Option<TargetRecordView<'a>>,
    pub outcome: Option<Outcome>,
    pub ip: Option<Cow<'a, str>>,
    pub user_agent: Option<Cow<'a, str>>,
    pub input_hash: Option<Cow<'a, str>>,
    pub output_hash: Option<Cow<'a, str>>,
    pub key_ref: Option<&'a str>,
    pub diff: Option<String>,
    pub metadata: Option<String>,
    pub idempotency_key: Option<&'a str>,
    pub policy_version: u32,
    pub redactions: Vec<Redaction>,
}

/// [`TargetRecord`] borrowing the submitted event's strings.
#[derive(Debug, Clone, PartialEq, Eq, bincode::Encode)]
pub(crate) struct TargetRecordView<'a> {
    pub kind: Cow<'a, str>,
    pub id: Cow<'a, str>,
    pub name: Option<Cow<'a, str>>,
}

impl EventRecordView<'_> {
    /// The owned record.
    pub fn to_owned(&self) -> EventRecord {
        let own = |s: &Option<Cow<'_, str>>| s.as_deref().map(str::to_string);
        EventRecord {
            action: self.action.to_string(),
            actor_type: self.actor_type,
            actor_id: self.actor_id.to_string(),
            actor_name: own(&self.actor_name),
            actor_email: own(&self.actor_email),
            on_behalf_of: own(&self.on_behalf_of),
            occurred_at: self.occurred_at,
            session_id: own(&self.session_id),
            target: self.target.as_ref().map(|t| TargetRecord {
                kind: t.kind.to_string(),
                id: t.id.to_string(),
                name: own(&t.name),
            }),
            outcome: self.outcome,
            ip: own(&self.ip),
            user_agent: own(&self.user_agent),
            input_hash: own(&self.input_hash),
            output_hash: own(&self.output_hash),
            key_ref: self.key_ref.map(str::to_string),
            diff: self.diff.clone(),
            metadata: self.metadata.clone(),
            idempotency_key: self.idempotency_key.map(str::to_string),
            policy_version: self.policy_version,
            redactions: self.redactions.clone(),
        }
    }
}

impl EventRecord {
    /// The record borrowed as the view the append path encodes from.
    pub(crate) fn as_view(&self) -> EventRecordView<'_> {
        fn c(s: &Option<String>) -> Option<Cow<'_, str>> {
            s.as_deref().map(Cow::Borrowed)
        }
        EventRecordView {
            action: &self.action,
            actor_type: self.actor_type,
            actor_id: Cow::Borrowed(&self.actor_id),
            actor_name: c(&self.actor_name),
            actor_email: c(&self.actor_email),
            on_behalf_of: c(&self.on_behalf_of),
            occurred_at: self.occurred_at,
            session_id: c(&self.session_id),
            target: self.target.as_ref().map(|t| TargetRecordView {
                kind: Cow::Borrowed(&t.kind),
                id: Cow::Borrowed(&t.id),
                name: c(&t.name),
            }),
            outcome: self.outcome,
            ip: c(&self.ip),
            user_agent: c(&self.user_agent),
            input_hash: c(&self.input_hash),
            output_hash: c(&self.output_hash),
            key_ref: self.key_ref.as_deref(),
            diff: self.diff.clone(),
            metadata: self.metadata.clone(),
            idempotency_key: self.idempotency_key.as_deref(),
            policy_version: self.policy_version,
            redactions: self.redactions.clone(),
        }
    }

    /// The event as JSON, in the same shape [`Event`] accepts: reading a row
    /// back and appending it again gives the same leaf hash.
    pub fn to_json(&self) -> Value {
        let mut actor = Map::new();
        actor.insert("type".into(), Value::from(self.actor_type.as_str()));
        actor.insert("id".into(), Value::from(self.actor_id.as_str()));
        put_opt(&mut actor, "name", &self.actor_name);
        put_opt(&mut actor, "email", &self.actor_email);
        put_opt(&mut actor, "on_behalf_of", &self.on_behalf_of);
        let mut m = Map::new();
        m.insert("action".into(), Value::from(self.action.as_str()));
        m.insert("actor".into(), Value::Object(actor));
        if let Some(ns) = self.occurred_at {
            m.insert("occurred_at".into(), Value::from(format_rfc3339_nanos(ns)));
        }
        put_opt(&mut m, "session_id", &self.session_id);
        if let Some(t) = &self.target {
            let mut tm = Map::new();
            tm.insert("type".into(), Value::from(t.kind.as_str()));
            tm.insert("id".into(), Value::from(t.id.as_str()));
            put_opt(&mut tm, "name", &t.name);
            m.insert("target".into(), Value::Object(tm));
        }
        if let Some(o) = self.outcome {
            m.insert("outcome".into(), Value::from(o.as_str()));
        }
        put_opt(&mut m, "ip", &self.ip);
        put_opt(&mut m, "user_agent", &self.user_agent);
        put_opt(&mut m, "input_hash", &self.input_hash);
        put_opt(&mut m, "output_hash", &self.output_hash);
        put_opt(&mut m, "key_ref", &self.key_ref);
        // Stored text is canonical JSON written by annal; if a tampered store
        // holds something unparsable, show it as a string rather than fail a read.
        for (name, text) in [("diff", &self.diff), ("metadata", &self.metadata)] {
            if let Some(t) = text {
                m.insert(name.into(), serde_json::from_str(t).unwrap_or_else(|_| Value::from(t.as_str())));
            }
        }
        put_opt(&mut m, "idempotency_key", &self.idempotency_key);
        Value::Object(m)
    }
}

fn put_opt(m: &mut Map<String, Value>, key: &str, v: &Option<String>) {
    if let Some(v) = v {
        m.insert(key.into(), Value::from(v.as_str()));
    }
}

/// Parses RFC 3339 into nanoseconds since the Unix epoch (UTC).
pub fn parse_rfc3339_nanos(s: &str) -> Result<i64, String> {
    let t =
        OffsetDateTime::parse(s, &Rfc3339).map_err(|_| "not an RFC 3339 timestamp (e.g. 2026-03-04T10:11:12Z)".to_string())?;
    i64::try_from(t.unix_timestamp_nanos()).map_err(|_| "timestamp out of range (years 1677..2262)".to_string())
}

/// Formats nanoseconds since the Unix epoch as RFC 3339 UTC (`…Z`), with as
/// many fractional digits as needed.
pub fn format_rfc3339_nanos(ns: i64) -> String {
    let mut out = String::with_capacity(30);
    write_rfc3339_nanos(ns, &mut out);
    out
}

/// Appends `ns` (since the Unix epoch) as RFC 3339 UTC to `out`: the text
/// the `time` crate's RFC 3339 formatter writes (a test compares the two
/// over every kind of instant), without its allocation and checks. Every
/// row of a page or an export holds one or two of these.
pub fn write_rfc3339_nanos(ns: i64, out: &mut String) {
    const NS: i64 = 1_000_000_000;
    let (secs, nanos) = (ns.div_euclid(NS), ns.rem_euclid(NS));
    let (days, sod) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // The civil date of a day count from 1970-01-01 (H. Hinnant's
    // algorithm, proleptic Gregorian calendar as RFC 3339 uses).
    let z = days + 719_468;
    let (era, doe) = (z.div_euclid(146_097), z.rem_euclid(146_097));
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    // i64 nanoseconds span the years 1677 to 2262: always four digits.
    let year = yoe + era * 400 + i64::from(month <= 2);
    /// Writes `v` as `digits` digits at `at`, then `sep`; returns the next position.
    fn put(text: &mut [u8; 32], at: usize, v: i64, digits: usize, sep: u8) -> usize {
        let mut v = v;
        for i in (at..at + digits).rev() {
            // v % 10 is a digit: the cast cannot truncate.
            text[i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
        text[at + digits] = sep;
        at + digits + 1
    }
    let mut text = [0u8; 32];
    let mut at = put(&mut text, 0, year, 4, b'-');
    at = put(&mut text, at, month, 2, b'-');
    at = put(&mut text, at, day, 2, b'T');
    at = put(&mut text, at, sod / 3600, 2, b':');
    at = put(&mut text, at, sod / 60 % 60, 2, b':');
    if nanos == 0 {
        at = put(&mut text, at, sod % 60, 2, b'Z');
    } else {
        at = put(&mut text, at, sod % 60, 2, b'.');
        // As many digits as needed: the nanoseconds without trailing zeros.
        let (mut frac, mut digits) = (nanos, 9);
        while frac % 10 == 0 {
            frac /= 10;
            digits -= 1;
        }
        at = put(&mut text, at, frac, digits, b'Z');
    }
    // Digits and separators are ASCII.
    out.push_str(std::str::from_utf8(&text[..at]).unwrap_or_default());
}

fn too_deep(field: &str) -> FieldError {
    FieldError::new(field, format!("nested deeper than {} levels", canonical_json::MAX_DEPTH))
}

fn opt<S: AsRef<str>>(
    v: &Option<S>,
    field: &str,
    check: impl Fn(&str, &str) -> Result<(), FieldError>,
) -> Result<(), FieldError> {
    match v {
        Some(v) => check(v.as_ref(), field),
        None => Ok(()),
    }
}

fn len_ok(v: &str, field: &str, max: usize) -> Result<(), FieldError> {
    if v.len() > max {
        return Err(FieldError::new(field, format!("longer than {max} bytes")));
    }
    Ok(())
}

/// Free text: no control characters.
fn text(v: &str, field: &str, max: usize) -> Result<(), FieldError> {
    len_ok(v, field, max)?;
    if has_control(v) {
        return Err(FieldError::new(field, "contains control characters"));
    }
    Ok(())
}

/// Whether `v` holds a Unicode control character (Cc: U+0000–U+001F,
/// U+007F–U+009F). Works on bytes: in UTF-8 those are the single bytes below
/// 0x20 and 0x7F, and `C2 80`–`C2 9F`. On the append hot path, so no char decoding.
fn has_control(v: &str) -> bool {
    let b = v.as_bytes();
    // A vectorised pass for C0 and DEL; the C1 look-ahead (not vectorised)
    // runs only when a 0xC2 lead byte exists at all, found by memchr. This is
    // on the append hot path, for every text field of every event.
    b.iter().fold(false, |acc, &c| acc | (c < 0x20) | (c == 0x7f))
        || (b.contains(&0xc2) && b.windows(2).any(|w| w[0] == 0xc2 && (0x80..=0x9f).contains(&w[1])))
}

/// Identifiers: non-empty text without surrounding white space.
pub(crate) fn ident(v: &str, field: &str, max: usize) -> Result<(), FieldError> {
    if v.is_empty() {
        return Err(FieldError::new(field, "must not be empty"));
    }
    text(v, field, max)?;
    if v.trim() != v {
        return Err(FieldError::new(field, "has leading or trailing white space"));
    }
    Ok(())
}

/// Hash-like tokens: printable ASCII, no spaces.
fn token(v: &str, field: &str, max: usize) -> Result<(), FieldError> {
    ident(v, field, max)?;
    if !v.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(FieldError::new(field, "must be printable ASCII without spaces"));
    }
    Ok(())
}

fn email(v: &str, field: &str, max: usize) -> Result<(), FieldError> {
    ident(v, field, max)?;
    match v.rsplit_once('@') {
        Some((local, domain)) if !local.is_empty() && !domain.is_empty() && !v.chars().any(char::is_whitespace) => Ok(()),
        _ => Err(FieldError::new(field, "not an e-mail address")),
    }
}

pub(crate) fn validate_action(v: &str, field: &str, limits: &Limits) -> Result<(), FieldError> {
    if v.is_empty() {
        return Err(FieldError::new(field, "must not be empty"));
    }
    len_ok(v, field, limits.max_action_bytes)?;
    for seg in v.split('.') {
        if seg.is_empty() {
            return Err(FieldError::new(field, "has an empty segment (dotted name like `auth.login`)"));
        }
        if !seg.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') {
            return Err(FieldError::new(field, "segments may hold only ASCII letters, digits, `_` and `-`"));
        }
    }
    Ok(())
}

/// Parses one event (owned or borrowing) from JSON: the fields' errors
/// name the field, a body that is not one JSON object says so.
fn from_json<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> Result<T, FieldError> {
    let malformed =
        |e: &serde_json::Error| FieldError::new("", format!("malformed JSON: {}", crate::error::describe_json_error(e)));
    // serde would also accept a struct written as a JSON array of its
    // fields in order; an event and its nested records are objects only.
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(match serde_json::from_slice::<serde::de::IgnoredAny>(bytes) {
            Ok(_) => FieldError::new("", "an event must be a JSON object"),
            Err(e) => malformed(&e),
        });
    }
    // Events are almost always valid: parse without tracking the path,
    // which costs on every field, and only to name the field of an
    // error parse again with it.
    if let Ok(event) = serde_json::from_slice::<T>(bytes) {
        return Ok(event);
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let event = serde_path_to_error::deserialize(&mut de).map_err(|e| match e.inner().classify() {
        serde_json::error::Category::Syntax | serde_json::error::Category::Eof => malformed(e.inner()),
        _ => crate::error::path_error(e),
    })?;
    de.end().map_err(|e| malformed(&e))?;
    Ok(event)
}

/// A JSON string, borrowed from the input when it holds no escape (serde
/// borrows a `Cow` only when it is the field's whole type, not inside an
/// `Option`, hence this visitor).
struct Text<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> serde::de::Visitor<'de> for Visit<'a> {
            type Value = Text<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: serde::de::Error>(self, v: &'de str) -> Result<Text<'a>, E> {
                Ok(Text(Cow::Borrowed(v)))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Text<'a>, E> {
                Ok(Text(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Text<'a>, E> {
                Ok(Text(Cow::Owned(v)))
            }
        }
        d.deserialize_str(Visit(std::marker::PhantomData))
    }
}

fn text_field<'de: 'a, 'a, D: serde::Deserializer<'de>>(d: D) -> Result<Cow<'a, str>, D::Error> {
    Text::deserialize(d).map(|t| t.0)
}

fn optional_text_field<'de: 'a, 'a, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Cow<'a, str>>, D::Error> {
    Option::<Text<'a>>::deserialize(d).map(|t| t.map(|t| t.0))
}

/// Deserializes a struct from a JSON object only: serde's derived code
/// would also take the struct's fields as an array, which no client means.
fn object<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<T, D::Error> {
    struct Only<T>(std::marker::PhantomData<T>);
    impl<'de, T: Deserialize<'de>> serde::de::Visitor<'de> for Only<T> {
        type Value = T;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a JSON object")
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
            T::deserialize(serde::de::value::MapAccessDeserializer::new(map))
        }
    }
    d.deserialize_map(Only(std::marker::PhantomData))
}

/// [`object`] for an optional field, `null` meaning absent.
fn optional_object<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    struct Maybe<T>(std::marker::PhantomData<T>);
    impl<'de, T: Deserialize<'de>> serde::de::Visitor<'de> for Maybe<T> {
        type Value = Option<T>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a JSON object or null")
        }
        fn visit_none<E: serde::de::Error>(self) -> Result<Option<T>, E> {
            Ok(None)
        }
        fn visit_unit<E: serde::de::Error>(self) -> Result<Option<T>, E> {
            Ok(None)
        }
        fn visit_some<D2: serde::Deserializer<'de>>(self, d: D2) -> Result<Option<T>, D2::Error> {
            object(d).map(Some)
        }
    }
    d.deserialize_option(Maybe(std::marker::PhantomData))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field_of(json: &str) -> String {
        match Event::from_json_slice(json.as_bytes()).and_then(|e| e.validate(&Limits::default()).map(|_| e)) {
            Ok(_) => panic!("accepted: {json}"),
            Err(e) => e.field,
        }
    }

    const OK: &str = r#"{"action":"auth.login","actor":{"type":"user","id":"u1"}}"#;

    #[test]
    fn control_characters_are_found_byte_wise_as_char_is_control_would() {
        for c in ['\u{0}', '\u{1f}', '\u{7f}', '\u{80}', '\u{9f}', 'a', 'é', '\u{a0}', '\u{2028}', '€', '😀'] {
            let s = format!("ab{c}cd");
            assert_eq!(has_control(&s), c.is_control(), "{:?}", c);
        }
    }

    #[test]
    fn timestamps_are_written_as_the_time_crate_writes_rfc_3339() {
        let by_time = |ns: i64| OffsetDateTime::from_unix_timestamp_nanos(i128::from(ns)).unwrap().format(&Rfc3339).unwrap();
        let mut cases = vec![0, 1, -1, 999_999_999, 1_000_000_000, -1_000_000_000, 100, 120_000_000, i64::MIN, i64::MAX];
        // Leap days, century years, the ends of months and years, seconds without and with fractions.
        for day in ["1700-02-28", "1900-03-01", "2000-02-29", "2024-12-31", "2100-02-28", "2262-04-10"] {
            let at = OffsetDateTime::parse(&format!("{day}T23:59:59Z"), &Rfc3339).unwrap().unix_timestamp_nanos() as i64;
            cases.extend([at, at + 1, at + 999_999_999, at + 1_000_000_000, at - 86_400_000_000_000]);
        }
        // A seeded walk over the whole range.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            cases.push(x as i64);
            cases.push((x as i64) / 1_000 * 1_000);
        }
        for ns in cases {
            assert_eq!(format_rfc3339_nanos(ns), by_time(ns), "{ns}");
        }
    }

    #[test]
    fn minimal_event_is_accepted() {
        let e = Event::from_json_slice(OK.as_bytes()).unwrap();
        e.validate(&Limits::default()).unwrap();
    }

    #[test]
    fn errors_name_the_field() {
        let cases = [
            (r#"{"actor":{"type":"user","id":"u1"}}"#, "action"),
            (r#"{"action":"a","actor":{"type":"robot","id":"u1"}}"#, "actor.type"),
            (r#"{"action":"a","actor":{"type":"user","id":5}}"#, "actor.id"),
            (r#"{"action":"a","actor":{"type":"user","id":"u","x":1}}"#, "actor.x"),
            (r#"{"action":"a","actor":{"type":"user","id":"u"},"colour":"red"}"#, "colour"),
            ("[1,2]", ""),
            ("{\"action\":", ""),
            (r#"{"action":"a..b","actor":{"type":"user","id":"u"}}"#, "action"),
            (r#"{"action":"a b","actor":{"type":"user","id":"u"}}"#, "action"),
            (r#"{"action":"annal.retention.purged","actor":{"type":"user","id":"u"}}"#, "action"),
            (r#"{"action":"a","actor":{"type":"user","id":""}}"#, "actor.id"),
            (r#"{"action":"a","actor":{"type":"user","id":"u","email":"nope"}}"#, "actor.email"),
            (r#"{"action":"a","actor":{"type":"user","id":"u"},"ip":"300.1.1.1"}"#, "ip"),
            (r#"{"action":"a","actor":{"type":"user","id":"u"},"occurred_at":"yesterday"}"#, "occurred_at"),
            (r#"{"action":"a","actor":{"type":"user","id":"u"},"outcome":"maybe"}"#, "outcome"),
            (r#"{"action":"a","actor":{"type":"user","id":"u"},"metadata":[1]}"#, "metadata"),
            (r#"{"action":"a","actor":{"type":"user","id":"u"},"target":{"type":"offer"}}"#, "target.id"),
            (r#"{"action":"a","actor":{"type":"user","id":"u"},"user_agent":"a\u0000b"}"#, "user_agent"),
            (r#"{"action":"a","actor":{"type":"user","id":"u"},"input_hash":"sha 256"}"#, "input_hash"),
        ];
        for (json, field) in cases {
            assert_eq!(field_of(json), field, "{json}");
        }
        let long_action = format!(r#"{{"action":"{}","actor":{{"type":"user","id":"u"}}}}"#, "a".repeat(129));
        assert_eq!(field_of(&long_action), "action");
    }

    #[test]
    fn messages_do_not_echo_values() {
        let e = Event::from_json_slice(br#"{"action":"a","actor":{"type":"user","id":{"secret":"sam@acme.com"}}}"#).unwrap_err();
        assert_eq!(e.field, "actor.id");
        assert!(!e.message.contains("sam@acme.com"), "{e}");
        let e = Event::from_json_slice(br#"{"action":"a","actor":{"type":"sam@acme.com","id":"u"}}"#).unwrap_err();
        assert!(!e.message.contains("sam@acme.com"), "{e}");
    }

    #[test]
    fn same_content_same_record() {
        let a = br#"{"action":"a","actor":{"type":"user","id":"u"},"occurred_at":"2026-01-01T02:00:00+02:00","ip":"::FFFF:1","metadata":{"b":1,"a":[1.0,2]}}"#;
        let b = br#"{"metadata":{"a":[1,2],"b":1},"ip":"::ffff:1","occurred_at":"2026-01-01T00:00:00Z","actor":{"id":"u","type":"user"},"action":"a"}"#;
        let ra = Event::from_json_slice(a).unwrap().validate(&Limits::default()).unwrap();
        let rb = Event::from_json_slice(b).unwrap().validate(&Limits::default()).unwrap();
        assert_eq!(ra, rb);
    }

    #[test]
    fn record_json_round_trips() {
        let json = br#"{"action":"iam.role.grant","actor":{"type":"ai","id":"agent","on_behalf_of":"u1","name":"Bot","email":"b@x.io"},"occurred_at":"2026-01-01T00:00:00.123456789Z","session_id":"s","target":{"type":"user","id":"u2","name":"Jo"},"outcome":"denied","ip":"10.0.0.1","user_agent":"ua","input_hash":"sha256:00","output_hash":"sha256:11","key_ref":"key_1","diff":{"role":{"from":"a","to":"b"}},"metadata":{"n":1},"idempotency_key":"k"}"#;
        let rec = Event::from_json_slice(json).unwrap().validate(&Limits::default()).unwrap();
        let again = Event::from_json_value(rec.to_json()).unwrap().validate(&Limits::default()).unwrap();
        assert_eq!(rec, again);
    }

    /// [`BorrowedEvent`] and [`Event`] are two derives of one shape: on the
    /// corpus, on strings with escapes, on `null`s and on every bad input
    /// above they give the same event or the same error. An unescaped string
    /// is borrowed, one with an escape copied.
    #[test]
    fn borrowed_and_owned_events_parse_alike() {
        let mut inputs: Vec<String> =
            annal_testdata::corpus(annal_testdata::DEFAULT_SEED, 2000).into_iter().map(|(_, v)| v.to_string()).collect();
        inputs.extend(
            [
                OK,
                r#"{"action":"a","actor":{"type":"user","id":"u\"1","name":"Ren\u00e9e"},"user_agent":"a\tb"}"#,
                r#"{"action":"a","actor":{"type":"user","id":"u","email":null},"session_id":null,"target":null,"diff":null,"metadata":null,"outcome":null}"#,
                r#"{"action":"a","actor":{"type":"user","id":"u"},"target":{"type":"offer","id":"o","name":null}}"#,
                r#"{"action":"a","actor":{"type":"user","id":"u"},"target":[1,2]}"#,
                r#"{"action":"a","actor":["user","u"]}"#,
                r#"{"action":"a","actor":{"type":"user","id":"u"},"session_id":7}"#,
                r#"{"action":"a","actor":{"type":"user","id":"u"},"diff":[1,{"b":2}]}"#,
                r#"{"action":"a","actor":{"type":"user","id":"u"}} trailing"#,
                r#"{"action":"a","action":"b","actor":{"type":"user","id":"u"}}"#,
                "",
                "null",
            ]
            .map(String::from),
        );
        inputs.extend([
            r#"{"actor":{"type":"user","id":"u1"}}"#.to_string(),
            r#"{"action":"a","actor":{"type":"user","id":5}}"#.to_string(),
            r#"{"action":"a","actor":{"type":"user","id":"u","x":1}}"#.to_string(),
            "[1,2]".to_string(),
            "{\"action\":".to_string(),
        ]);
        for json in &inputs {
            let owned = Event::from_json_slice(json.as_bytes());
            let borrowed = BorrowedEvent::from_json_slice(json.as_bytes());
            assert_eq!(borrowed.clone().map(BorrowedEvent::into_owned), owned, "{json}");
            if let (Ok(o), Ok(b)) = (&owned, &borrowed) {
                assert_eq!(b.validate(&Limits::default()), o.validate(&Limits::default()), "{json}");
            }
        }
        let plain = BorrowedEvent::from_json_slice(OK.as_bytes()).unwrap();
        assert!(matches!(plain.action, Cow::Borrowed(_)) && matches!(plain.actor.id, Cow::Borrowed(_)));
        let escaped = br#"{"action":"a","actor":{"type":"user","id":"u\"1"},"session_id":"s\u0031"}"#;
        let escaped = BorrowedEvent::from_json_slice(escaped).unwrap();
        assert!(matches!(escaped.actor.id, Cow::Owned(ref s) if s == "u\"1"));
        assert!(matches!(escaped.session_id, Some(Cow::Owned(ref s)) if s == "s1"));
        assert!(matches!(escaped.action, Cow::Borrowed("a")));
    }

    /// The stored form of an IPv4 address is the text sent, which holds only
    /// because std parses IPv4 from its standard form alone: every address
    /// reads back as written, and no other spelling of it parses.
    #[test]
    fn ipv4_addresses_parse_only_from_their_standard_form() {
        let mut x: u32 = 0x9e37_79b9;
        for _ in 0..100_000 {
            x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            let text = std::net::Ipv4Addr::from(x).to_string();
            assert_eq!(text.parse::<IpAddr>().unwrap().to_string(), text);
        }
        for other in ["010.0.0.1", "1.2.3.04", " 1.2.3.4", "1.2.3.4 ", "1.2.3", "1.2.3.4.", "0x1.2.3.4", "+1.2.3.4", "1.2.3.256"]
        {
            assert!(other.parse::<std::net::Ipv4Addr>().is_err(), "{other}");
        }
    }
}
