//! The one SQL surface the catalog speaks, over either engine: SQLite (embedded, the default)
//! or PostgreSQL (shared by several nodes, docs/cluster.md).
//!
//! Every catalog query is written once, in the SQL both engines understand, with numbered
//! placeholders `?1`, `?2`, … (PostgreSQL's `$1`, `$2`, … are substituted here). Values cross
//! as [`Value`]: integers are 64-bit everywhere (PostgreSQL columns are `BIGINT`, booleans
//! are 0/1 integers as in SQLite), so a row reads the same from either engine. Where the two
//! dialects differ, the query asks [`Conn::dialect`] for the fragment (e.g. [`Dialect::group_concat`]).

use super::{CatalogError, Result};

/// Which SQL dialect a connection speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    /// `expr`'s values joined with commas (`group_concat` / `string_agg`).
    pub(super) fn group_concat(self, expr: &str, distinct: bool) -> String {
        let d = if distinct { "DISTINCT " } else { "" };
        match self {
            Dialect::Sqlite => format!("group_concat({d}{expr})"),
            Dialect::Postgres => format!("string_agg({d}CAST({expr} AS TEXT), ',')"),
        }
    }
}

/// A value going into or coming out of a query.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
}

/// What can be passed as a query argument.
pub trait Arg {
    fn value(&self) -> Value;
}

macro_rules! int_arg {
    ($($t:ty),*) => {$(
        impl Arg for $t {
            fn value(&self) -> Value {
                Value::Int(i64::from(*self))
            }
        }
    )*};
}
int_arg!(i64, i32, u32, u16, u8);

impl Arg for u64 {
    fn value(&self) -> Value {
        Value::Int(i64::try_from(*self).unwrap_or(i64::MAX))
    }
}
impl Arg for bool {
    fn value(&self) -> Value {
        Value::Int(i64::from(*self))
    }
}
impl Arg for f64 {
    fn value(&self) -> Value {
        Value::Real(*self)
    }
}
impl Arg for str {
    fn value(&self) -> Value {
        Value::Text(self.to_owned())
    }
}
impl Arg for String {
    fn value(&self) -> Value {
        Value::Text(self.clone())
    }
}
impl<T: Arg + ?Sized> Arg for &T {
    fn value(&self) -> Value {
        (**self).value()
    }
}
impl<T: Arg> Arg for Option<T> {
    fn value(&self) -> Value {
        self.as_ref().map_or(Value::Null, Arg::value)
    }
}

/// Query arguments: `args![a, b, c]`.
macro_rules! args {
    ($($e:expr),* $(,)?) => {
        &[$($crate::catalog::db::Arg::value(&$e)),*][..]
    };
}
pub(crate) use args;

/// One result row.
#[derive(Debug, Clone)]
pub struct Row(pub(super) Vec<Value>);

/// What a column can be read as.
pub trait FromValue: Sized {
    fn from_value(v: &Value) -> Option<Self>;
}

impl FromValue for i64 {
    fn from_value(v: &Value) -> Option<i64> {
        match v {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }
}
impl FromValue for f64 {
    fn from_value(v: &Value) -> Option<f64> {
        match v {
            Value::Real(f) => Some(*f),
            Value::Int(i) => Some(*i as f64),
            _ => None,
        }
    }
}
impl FromValue for bool {
    fn from_value(v: &Value) -> Option<bool> {
        i64::from_value(v).map(|i| i != 0)
    }
}
impl FromValue for String {
    fn from_value(v: &Value) -> Option<String> {
        match v {
            Value::Text(s) => Some(s.clone()),
            _ => None,
        }
    }
}
impl<T: FromValue> FromValue for Option<T> {
    fn from_value(v: &Value) -> Option<Option<T>> {
        match v {
            Value::Null => Some(None),
            v => T::from_value(v).map(Some),
        }
    }
}

impl Row {
    /// Column `i` as a `T`; a column of another type is an error, not a panic.
    pub fn get<T: FromValue>(&self, i: usize) -> Result<T> {
        let v = self.0.get(i).unwrap_or(&Value::Null);
        T::from_value(v).ok_or_else(|| {
            CatalogError::Row(format!(
                "column {i} holds {v:?}, not a {}",
                std::any::type_name::<T>()
            ))
        })
    }

    /// Column `i` as a non-negative count.
    pub fn count(&self, i: usize) -> Result<u64> {
        Ok(self.get::<i64>(i)?.max(0) as u64)
    }
}

/// A connection (or a transaction on one) of either engine.
pub trait Conn {
    fn dialect(&self) -> Dialect;
    /// Runs statements separated by `;`, without arguments (migrations, BEGIN/COMMIT).
    fn batch(&mut self, sql: &str) -> Result<()>;
    /// Runs a statement; returns the rows it changed.
    fn execute(&mut self, sql: &str, args: &[Value]) -> Result<u64>;
    /// Runs a query; returns every row.
    fn query(&mut self, sql: &str, args: &[Value]) -> Result<Vec<Row>>;
}

impl dyn Conn + '_ {
    /// The first row, if any.
    pub fn query_opt(&mut self, sql: &str, args: &[Value]) -> Result<Option<Row>> {
        Ok(self.query(sql, args)?.into_iter().next())
    }

    /// The first row; none is an error.
    pub fn query_one(&mut self, sql: &str, args: &[Value]) -> Result<Row> {
        self.query_opt(sql, args)?
            .ok_or_else(|| CatalogError::Row(format!("no row from: {sql}")))
    }
}

// --- SQLite ---------------------------------------------------------------------------------

/// A SQLite connection (or a transaction: `rusqlite::Transaction` derefs to a connection).
pub(super) struct Lite<'a>(pub &'a rusqlite::Connection);

impl rusqlite::ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, ValueRef};
        Ok(ToSqlOutput::Borrowed(match self {
            Value::Null => ValueRef::Null,
            Value::Int(i) => ValueRef::Integer(*i),
            Value::Real(f) => ValueRef::Real(*f),
            Value::Text(s) => ValueRef::Text(s.as_bytes()),
        }))
    }
}

impl Conn for Lite<'_> {
    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    fn batch(&mut self, sql: &str) -> Result<()> {
        Ok(self.0.execute_batch(sql)?)
    }

    fn execute(&mut self, sql: &str, args: &[Value]) -> Result<u64> {
        let mut st = self.0.prepare_cached(sql)?;
        Ok(st.execute(rusqlite::params_from_iter(args))? as u64)
    }

    fn query(&mut self, sql: &str, args: &[Value]) -> Result<Vec<Row>> {
        use rusqlite::types::ValueRef;
        let mut st = self.0.prepare_cached(sql)?;
        let n = st.column_count();
        let mut rows = st.query(rusqlite::params_from_iter(args))?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            let mut vals = Vec::with_capacity(n);
            for i in 0..n {
                vals.push(match r.get_ref(i)? {
                    ValueRef::Null => Value::Null,
                    ValueRef::Integer(i) => Value::Int(i),
                    ValueRef::Real(f) => Value::Real(f),
                    ValueRef::Text(t) | ValueRef::Blob(t) => {
                        Value::Text(String::from_utf8_lossy(t).into_owned())
                    }
                });
            }
            out.push(Row(vals));
        }
        Ok(out)
    }
}

/// `?N` placeholders as PostgreSQL's `$N` (outside quoted strings and identifiers).
pub(super) fn pg_placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut quote: Option<char> = None;
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        match quote {
            Some(q) => {
                if c == q {
                    quote = None;
                }
                out.push(c);
            }
            None => match c {
                '\'' | '"' => {
                    quote = Some(c);
                    out.push(c);
                }
                '?' if chars.peek().is_some_and(char::is_ascii_digit) => out.push('$'),
                c => out.push(c),
            },
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_become_dollars_outside_quotes() {
        assert_eq!(
            pg_placeholders("SELECT '?1', \"a?2\" FROM t WHERE a = ?1 AND b = ?12 AND c ? d"),
            "SELECT '?1', \"a?2\" FROM t WHERE a = $1 AND b = $12 AND c ? d"
        );
    }

    #[test]
    fn rows_read_their_types_and_refuse_others() {
        let r = Row(vec![
            Value::Int(3),
            Value::Null,
            Value::Text("x".into()),
            Value::Real(1.5),
        ]);
        assert_eq!(r.get::<i64>(0).unwrap(), 3);
        assert!(r.get::<bool>(0).unwrap());
        assert_eq!(r.get::<Option<i64>>(1).unwrap(), None);
        assert_eq!(r.get::<String>(2).unwrap(), "x");
        assert_eq!(r.get::<f64>(3).unwrap(), 1.5);
        assert_eq!(r.get::<f64>(0).unwrap(), 3.0);
        assert!(r.get::<i64>(2).is_err());
        assert!(r.get::<String>(1).is_err());
        assert!(r.get::<i64>(9).is_err());
    }
}
