//! The PostgreSQL engine (`[catalog] url = "postgres://..."`), through tokio-postgres.
//!
//! The catalog's interface is synchronous (callers hold it for one short statement, as with
//! SQLite), so this engine owns a small runtime of its own (one thread) that drives the
//! connection's socket; a call sends its request through the client and waits for the answer
//! on the caller's thread. The wait is a plain block (`futures::executor::block_on` on the
//! client's channel), which is allowed on any thread, a tokio worker's included, unlike
//! entering another runtime. One connection, behind a mutex, as with SQLite; when the server
//! drops it (restart, network), the next call connects again.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use bytes::BytesMut;
use tokio_postgres::types::{to_sql_checked, IsNull, ToSql, Type};
use tokio_postgres::{Client, Statement};

use super::db::{pg_placeholders, Conn, Dialect, Row, Value};
use super::{CatalogError, Result};

pub(super) struct Pg {
    url: String,
    /// With `sslmode=require` in the URL: TLS, the server's certificate checked.
    tls: Option<tokio_postgres_rustls::MakeRustlsConnect>,
    rt: Option<tokio::runtime::Runtime>,
    conn: Mutex<Option<PgClient>>,
}

pub(super) struct PgClient {
    client: Client,
    /// Prepared statements by their SQL (PostgreSQL's own text).
    statements: HashMap<String, Statement>,
}

/// The URL with its password replaced, for messages.
pub(crate) fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        Ok(u) => u.to_string(),
        Err(_) => "(an unreadable postgres URL)".to_owned(),
    }
}

/// The TLS side of a connection: the system's roots and `ca` (PEM); the certificate is checked
/// against them and the host name. Used when the URL says `sslmode=require`; without it the
/// connection is plain (a `prefer` that met a server's self-signed certificate would fail,
/// where PostgreSQL's own clients go on unencrypted).
fn tls(
    url: &str,
    ca: Option<&std::path::Path>,
) -> Result<tokio_postgres_rustls::MakeRustlsConnect> {
    let bad = |message: String| CatalogError::Connect {
        url: redact(url),
        message,
    };
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_native_certs::load_native_certs().certs {
        let _ = roots.add(cert);
    }
    if let Some(path) = ca {
        let pem = std::fs::read(path)
            .map_err(|e| bad(format!("catalog.tls_ca {}: {e}", path.display())))?;
        let mut n = 0;
        for cert in rustls_pemfile_certs(&pem) {
            roots
                .add(cert)
                .map_err(|e| bad(format!("catalog.tls_ca {}: {e}", path.display())))?;
            n += 1;
        }
        if n == 0 {
            return Err(bad(format!(
                "catalog.tls_ca {}: no PEM certificate in it",
                path.display()
            )));
        }
    }
    let config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| bad(e.to_string()))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(config))
}

/// The certificates of a PEM file.
fn rustls_pemfile_certs(pem: &[u8]) -> Vec<rustls::pki_types::CertificateDer<'static>> {
    use rustls::pki_types::pem::PemObject;
    rustls::pki_types::CertificateDer::pem_slice_iter(pem)
        .filter_map(std::result::Result::ok)
        .collect()
}

impl Pg {
    pub(super) fn connect(url: &str, ca: Option<&std::path::Path>) -> Result<Pg> {
        let wants_tls = url::Url::parse(url).is_ok_and(|u| {
            u.query_pairs()
                .any(|(k, v)| k == "sslmode" && v == "require")
        });
        let tls = if wants_tls { Some(tls(url, ca)?) } else { None };
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("vigil-catalog-pg")
            .enable_all()
            .build()
            .map_err(|e| CatalogError::Connect {
                url: redact(url),
                message: e.to_string(),
            })?;
        let pg = Pg {
            url: url.to_owned(),
            tls,
            rt: Some(rt),
            conn: Mutex::new(None),
        };
        // Connect now, so that a wrong URL or a server that isn't there is said at start.
        drop(pg.lock()?);
        Ok(pg)
    }

    fn new_client(&self) -> Result<PgClient> {
        let url = self.url.clone();
        let tls = self.tls.clone();
        let rt = self.rt.as_ref().expect("runtime lives until drop");
        let task = rt.spawn(async move {
            let client = match tls {
                Some(tls) => {
                    let (client, connection) = tokio_postgres::connect(&url, tls).await?;
                    tokio::spawn(drive(connection));
                    client
                }
                None => {
                    let (client, connection) =
                        tokio_postgres::connect(&url, tokio_postgres::NoTls).await?;
                    tokio::spawn(drive(connection));
                    client
                }
            };
            Ok::<_, tokio_postgres::Error>(client)
        });
        let client = futures::executor::block_on(task)
            .map_err(|e| CatalogError::Connect {
                url: redact(&self.url),
                message: e.to_string(),
            })?
            .map_err(|e| CatalogError::Connect {
                url: redact(&self.url),
                message: crate::util::with_causes(&e),
            })?;
        Ok(PgClient {
            client,
            statements: HashMap::new(),
        })
    }

    /// The connection, made again if the server dropped it.
    fn lock(&self) -> Result<MutexGuard<'_, Option<PgClient>>> {
        let mut g = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        if g.as_ref().is_none_or(|c| c.client.is_closed()) {
            *g = None;
            *g = Some(self.new_client()?);
        }
        Ok(g)
    }

    pub(super) fn with<T>(&self, f: impl FnOnce(&mut dyn Conn) -> Result<T>) -> Result<T> {
        let mut g = self.lock()?;
        let c = g.as_mut().expect("lock() connects");
        f(c)
    }

    /// Runs `f` in a transaction: committed if it returns `Ok`, rolled back otherwise.
    pub(super) fn tx<T>(&self, f: impl FnOnce(&mut dyn Conn) -> Result<T>) -> Result<T> {
        let mut g = self.lock()?;
        let c = g.as_mut().expect("lock() connects");
        c.batch("BEGIN")?;
        match f(c) {
            Ok(v) => {
                c.batch("COMMIT")?;
                Ok(v)
            }
            Err(e) => {
                // A rollback that fails leaves a broken connection: drop it, the next call
                // connects again.
                if c.batch("ROLLBACK").is_err() {
                    *g = None;
                }
                Err(e)
            }
        }
    }
}

/// Runs a connection's socket until it ends.
async fn drive<F: std::future::Future<Output = std::result::Result<(), tokio_postgres::Error>>>(
    connection: F,
) {
    if let Err(e) = connection.await {
        tracing::warn!("catalog: the PostgreSQL connection ended: {e}");
    }
}

impl Drop for Pg {
    fn drop(&mut self) {
        // Dropping a runtime blocks, which isn't allowed on a tokio worker; this doesn't.
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

impl PgClient {
    fn statement(&mut self, sql: &str) -> Result<Statement> {
        let sql = pg_placeholders(sql);
        if let Some(st) = self.statements.get(&sql) {
            return Ok(st.clone());
        }
        let st = futures::executor::block_on(self.client.prepare(&sql))?;
        self.statements.insert(sql, st.clone());
        Ok(st)
    }
}

impl Conn for PgClient {
    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    fn batch(&mut self, sql: &str) -> Result<()> {
        Ok(futures::executor::block_on(self.client.batch_execute(sql))?)
    }

    fn execute(&mut self, sql: &str, args: &[Value]) -> Result<u64> {
        let st = self.statement(sql)?;
        let params: Vec<&(dyn ToSql + Sync)> = args.iter().map(|a| a as _).collect();
        Ok(futures::executor::block_on(
            self.client.execute(&st, &params),
        )?)
    }

    fn query(&mut self, sql: &str, args: &[Value]) -> Result<Vec<Row>> {
        let st = self.statement(sql)?;
        let params: Vec<&(dyn ToSql + Sync)> = args.iter().map(|a| a as _).collect();
        let rows = futures::executor::block_on(self.client.query(&st, &params))?;
        rows.iter().map(read_row).collect()
    }
}

fn read_row(r: &tokio_postgres::Row) -> Result<Row> {
    let mut vals = Vec::with_capacity(r.len());
    for (i, col) in r.columns().iter().enumerate() {
        let ty = col.type_();
        let v = match *ty {
            Type::INT8 => r.try_get::<_, Option<i64>>(i)?.map(Value::Int),
            Type::INT4 => r
                .try_get::<_, Option<i32>>(i)?
                .map(|v| Value::Int(v.into())),
            Type::INT2 => r
                .try_get::<_, Option<i16>>(i)?
                .map(|v| Value::Int(v.into())),
            Type::BOOL => r
                .try_get::<_, Option<bool>>(i)?
                .map(|v| Value::Int(v.into())),
            Type::FLOAT8 => r.try_get::<_, Option<f64>>(i)?.map(Value::Real),
            Type::FLOAT4 => r
                .try_get::<_, Option<f32>>(i)?
                .map(|v| Value::Real(v.into())),
            Type::TEXT | Type::VARCHAR | Type::NAME | Type::BPCHAR => {
                r.try_get::<_, Option<String>>(i)?.map(Value::Text)
            }
            _ => {
                return Err(CatalogError::Row(format!(
                    "column {} has PostgreSQL type {ty}, which the catalog doesn't read",
                    col.name()
                )))
            }
        };
        vals.push(v.unwrap_or(Value::Null));
    }
    Ok(Row(vals))
}

type BoxError = Box<dyn std::error::Error + Sync + Send>;

impl ToSql for Value {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> std::result::Result<IsNull, BoxError> {
        match self {
            Value::Null => Ok(IsNull::Yes),
            Value::Int(i) => match *ty {
                Type::INT8 => i.to_sql(ty, out),
                Type::INT4 => i32::try_from(*i)?.to_sql(ty, out),
                Type::INT2 => i16::try_from(*i)?.to_sql(ty, out),
                Type::BOOL => (*i != 0).to_sql(ty, out),
                Type::FLOAT8 => (*i as f64).to_sql(ty, out),
                Type::TEXT | Type::VARCHAR => i.to_string().to_sql(ty, out),
                _ => Err(format!("an integer can't be sent as PostgreSQL type {ty}").into()),
            },
            Value::Real(f) => match *ty {
                Type::FLOAT8 => f.to_sql(ty, out),
                Type::FLOAT4 => (*f as f32).to_sql(ty, out),
                _ => Err(format!("a real can't be sent as PostgreSQL type {ty}").into()),
            },
            Value::Text(s) => s.as_str().to_sql(ty, out),
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}
