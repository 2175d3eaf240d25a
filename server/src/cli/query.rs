//! `annal query`: one tenant's rows in a window, filtered by indexed fields,
//! printed as newline-delimited JSON (one row per line, as `Record::write_json` writes it).
//!
//! Filters arrive in their textual form and are parsed by [`Query::set`], so
//! the engine alone decides what a valid window, target or outcome is and
//! words the error, naming the field. A page ([`Mode::Page`]) that does not
//! reach the end of the window ends with `next cursor: C` on stderr, and
//! `--cursor C` continues the walk exactly after its last row. [`Mode::All`]
//! streams every row of the window as it stood when the walk began, a
//! bounded chunk at a time, so its memory does not grow with the window.
//!
//! A reader that closes the pipe early (`annal query … | head`) ends the
//! command quietly with exit 0: it asked for no more rows, which is not an
//! error. No cursor is printed then, because the page's cursor would point
//! past rows the reader never saw.

use std::io::{self, BufWriter, Write};

use annal_engine::{Engine, Error, Order, Page, Query, Record};

use super::EXIT_OK;

/// How much of the answer to print.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// One page of at most `limit` rows, after `cursor` if given.
    Page {
        /// Rows per page; the engine accepts 1 to [`annal_engine::query::MAX_PAGE_SIZE`].
        limit: usize,
        /// Where the previous page ended.
        cursor: Option<String>,
        /// Print how the page was answered (`explain: {json}`) on stderr.
        explain: bool,
    },
    /// Every row of the window, streamed.
    All,
}

/// Options of one query run.
#[derive(Debug, Clone)]
pub struct QueryOptions {
    /// Tenant whose chain is read.
    pub tenant: String,
    /// Filters as (name [`Query::set`] takes, value as typed); all must match.
    pub filters: Vec<(&'static str, String)>,
    /// Walk direction.
    pub order: Order,
    /// One page or everything.
    pub mode: Mode,
}

/// Runs the query; returns the exit status. A bad filter, window, limit or
/// cursor is an [`Error::InvalidQuery`] or [`Error::InvalidCursor`] naming
/// what to fix; a tenant without a chain is an error naming the tenant.
pub fn run(engine: &Engine, opts: &QueryOptions, out: &mut dyn Write, err: &mut dyn Write) -> anyhow::Result<u8> {
    annal_engine::validate_tenant(&opts.tenant)?;
    let mut query = Query { order: opts.order, ..Query::default() };
    for (name, value) in &opts.filters {
        query.set(name, value)?;
    }
    let unknown = |e: Error| match e {
        Error::UnknownTenant => anyhow::anyhow!("unknown tenant {}: it has no chain in this store", opts.tenant),
        e => e.into(),
    };
    let mut out = BufWriter::with_capacity(64 * 1024, out);
    match &opts.mode {
        Mode::Page { limit, cursor, explain } => {
            let page = engine.query(&opts.tenant, &query, *limit, cursor.as_deref()).map_err(unknown)?;
            if quietly_closed(write_page(&mut out, &page))? {
                return Ok(EXIT_OK);
            }
            if *explain {
                writeln!(err, "explain: {}", page.explain.to_json())?;
            }
            if !page.complete {
                if let Some(c) = &page.cursor {
                    writeln!(err, "next cursor: {c}")?;
                }
            }
        }
        Mode::All => {
            let stream = engine.query_stream(&opts.tenant, &query).map_err(unknown)?;
            for r in stream {
                if quietly_closed(write_record(&mut out, &r?))? {
                    return Ok(EXIT_OK);
                }
            }
            if quietly_closed(out.flush())? {
                return Ok(EXIT_OK);
            }
        }
    }
    Ok(EXIT_OK)
}

fn write_page(out: &mut dyn Write, page: &Page) -> io::Result<()> {
    for r in &page.records {
        write_record(out, r)?;
    }
    // Flushed before anything goes to stderr, so a terminal shows the rows
    // before the cursor line that follows them.
    out.flush()
}

fn write_record(out: &mut dyn Write, r: &Record) -> io::Result<()> {
    let mut line = String::with_capacity(1024);
    r.write_json(&mut line);
    line.push('\n');
    out.write_all(line.as_bytes())
}

/// `Ok(true)` when the reader went away (the write failed with a broken
/// pipe); any other write error is returned.
fn quietly_closed(res: io::Result<()>) -> io::Result<bool> {
    match res {
        Ok(()) => Ok(false),
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(true),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use annal_engine::{ActorType, Event};

    fn engine_with(n: usize) -> (tempfile::TempDir, Engine) {
        let d = tempfile::tempdir().unwrap();
        let engine = Engine::open(d.path()).unwrap();
        let events: Vec<Event> = (0..n)
            .map(|i| Event::new(if i % 2 == 0 { "iam.role.grant" } else { "auth.login" }, ActorType::User, "u_1"))
            .collect();
        engine.append("t", &events).unwrap();
        (d, engine)
    }

    fn opts(filters: &[(&'static str, &str)], mode: Mode) -> QueryOptions {
        QueryOptions {
            tenant: "t".into(),
            filters: filters.iter().map(|(k, v)| (*k, v.to_string())).collect(),
            order: Order::Asc,
            mode,
        }
    }

    fn page(limit: usize, cursor: Option<String>) -> Mode {
        Mode::Page { limit, cursor, explain: false }
    }

    /// Accepts `budget` bytes, then fails like a pipe whose reader exited.
    struct ClosingPipe {
        budget: usize,
    }

    impl Write for ClosingPipe {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if self.budget == 0 {
                return Err(io::Error::from(io::ErrorKind::BrokenPipe));
            }
            let n = buf.len().min(self.budget);
            self.budget -= n;
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn pages_print_ndjson_and_the_cursor_only_while_rows_remain() {
        let (_d, engine) = engine_with(10);
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let code = run(&engine, &opts(&[("action_prefix", "iam")], page(3, None)), &mut out, &mut err).unwrap();
        assert_eq!(code, EXIT_OK);
        let seqs: Vec<u64> = String::from_utf8(out)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["seq"].as_u64().unwrap())
            .collect();
        assert_eq!(seqs, [1, 3, 5]);
        let err = String::from_utf8(err).unwrap();
        let cursor = err.strip_prefix("next cursor: ").unwrap().trim_end().to_string();

        let (mut out, mut err) = (Vec::new(), Vec::new());
        run(&engine, &opts(&[("action_prefix", "iam")], page(3, Some(cursor))), &mut out, &mut err).unwrap();
        assert_eq!(String::from_utf8(out).unwrap().lines().count(), 2, "seqs 7 and 9");
        assert!(err.is_empty(), "the last page prints no cursor: {}", String::from_utf8_lossy(&err));
    }

    #[test]
    fn bad_values_are_engine_errors_naming_the_field() {
        let (_d, engine) = engine_with(2);
        let field_of = |filters: &[(&'static str, &str)], mode: Mode| {
            let e = run(&engine, &opts(filters, mode), &mut Vec::new(), &mut Vec::new()).unwrap_err();
            match e.downcast_ref::<Error>() {
                Some(Error::InvalidQuery(fe)) => fe.field.clone(),
                other => panic!("{filters:?}: {other:?}"),
            }
        };
        assert_eq!(field_of(&[("from", "2026-02-01T00:00:00Z"), ("to", "2026-01-01T00:00:00Z")], page(10, None)), "to");
        assert_eq!(field_of(&[("outcome", "ok")], page(10, None)), "outcome");
        assert_eq!(field_of(&[("target", "no-colon")], page(10, None)), "target");
        assert_eq!(field_of(&[], page(0, None)), "limit");
        let e = run(&engine, &opts(&[], page(10, Some("00".into()))), &mut Vec::new(), &mut Vec::new()).unwrap_err();
        assert!(matches!(e.downcast_ref::<Error>(), Some(Error::InvalidCursor(_))), "{e:#}");
    }

    #[test]
    fn a_reader_closing_the_pipe_ends_the_stream_quietly() {
        let (_d, engine) = engine_with(3000);
        let mut pipe = ClosingPipe { budget: 1000 };
        let mut err = Vec::new();
        let code = run(&engine, &opts(&[], Mode::All), &mut pipe, &mut err).unwrap();
        assert_eq!(code, EXIT_OK);
        assert!(err.is_empty(), "{}", String::from_utf8_lossy(&err));
    }
}
