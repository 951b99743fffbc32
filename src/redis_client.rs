//! A small Redis client: RESP2 over TCP (TLS too: `redis_tls.rs`) or a
//! unix socket, pipelines only.
//! The storage and incoming backends send one pipeline per batch, so this
//! is all they need; connections are pooled and dropped on any error.

use crate::error::{backend, Error, Result};
use crate::redis_sentinel::{self, Sentinels};
use crate::redis_tls::{self, TlsOptions};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, PartialEq)]
pub enum Address {
    Tcp { host: String, port: u16 },
    Unix(String),
}

#[derive(Debug, Clone)]
pub struct RedisConfig {
    pub address: Address,
    pub username: Option<String>,
    pub password: Option<String>,
    pub db: i64,
    pub timeout: Option<Duration>,
    /// TLS over TCP (redis-py's `ssl` options).
    pub tls: Option<TlsOptions>,
    /// SO_KEEPALIVE on TCP connections (redis-py's `socket_keepalive`).
    pub keepalive: bool,
}

extern "C" {
    fn setsockopt(fd: std::ffi::c_int, level: std::ffi::c_int, name: std::ffi::c_int, value: *const std::ffi::c_void, len: u32) -> std::ffi::c_int;
}

/// Linux's SOL_SOCKET and SO_KEEPALIVE.
const SOL_SOCKET: std::ffi::c_int = 1;
const SO_KEEPALIVE: std::ffi::c_int = 9;

fn set_keepalive(stream: &TcpStream) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let on: std::ffi::c_int = 1;
    // SAFETY: a valid socket descriptor owned by `stream`, and a pointer to
    // an int of the length given, read during the call only.
    let rc = unsafe {
        setsockopt(stream.as_raw_fd(), SOL_SOCKET, SO_KEEPALIVE, (&on as *const std::ffi::c_int).cast(), std::mem::size_of::<std::ffi::c_int>() as u32)
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    Nil,
    Integer(i64),
    Bulk(Vec<u8>),
    Status(String),
    Array(Vec<Reply>),
    Error(String),
}

impl Reply {
    /// Bulk bytes, `None` for nil; anything else is a protocol surprise.
    pub fn into_bytes(self) -> Result<Option<Vec<u8>>> {
        match self {
            Reply::Nil => Ok(None),
            Reply::Bulk(b) => Ok(Some(b)),
            Reply::Status(s) => Ok(Some(s.into_bytes())),
            Reply::Error(e) => Err(Error::Backend(format!("redis: {e}"))),
            other => Err(Error::Backend(format!("redis: unexpected reply {other:?}"))),
        }
    }

    pub fn into_integer(self) -> Result<i64> {
        match self {
            Reply::Integer(i) => Ok(i),
            Reply::Error(e) => Err(Error::Backend(format!("redis: {e}"))),
            other => Err(Error::Backend(format!("redis: expected an integer, got {other:?}"))),
        }
    }

    pub fn into_array(self) -> Result<Vec<Reply>> {
        match self {
            Reply::Array(items) => Ok(items),
            Reply::Nil => Ok(Vec::new()),
            Reply::Error(e) => Err(Error::Backend(format!("redis: {e}"))),
            other => Err(Error::Backend(format!("redis: expected an array, got {other:?}"))),
        }
    }

    /// Fails on an error reply, keeps anything else.
    pub fn ok(self) -> Result<Reply> {
        match self {
            Reply::Error(e) => Err(Error::Backend(format!("redis: {e}"))),
            other => Ok(other),
        }
    }
}

type TlsStream = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

enum Stream {
    Tcp(TcpStream),
    Tls(Box<TlsStream>),
    Unix(UnixStream),
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read(buf),
            Stream::Tls(s) => s.read(buf),
            Stream::Unix(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.write(buf),
            Stream::Tls(s) => s.write(buf),
            Stream::Unix(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Stream::Tcp(s) => s.flush(),
            Stream::Tls(s) => s.flush(),
            Stream::Unix(s) => s.flush(),
        }
    }
}

impl Stream {
    fn set_nonblocking(&self, nonblocking: bool) -> std::io::Result<()> {
        match self {
            Stream::Tcp(s) => s.set_nonblocking(nonblocking),
            Stream::Tls(s) => s.sock.set_nonblocking(nonblocking),
            Stream::Unix(s) => s.set_nonblocking(nonblocking),
        }
    }
}

pub(crate) struct Connection {
    reader: BufReader<Stream>,
}

impl Connection {
    /// A connection to `address` with `config`'s credentials, db, timeout.
    pub(crate) fn open(config: &RedisConfig, address: &Address, tls: Option<&Arc<rustls::ClientConfig>>) -> Result<Connection> {
        let stream = match address {
            Address::Tcp { host, port } => {
                let s = TcpStream::connect((host.as_str(), *port)).map_err(|e| backend(format!("redis {host}:{port}"), e))?;
                s.set_nodelay(true).map_err(|e| backend("redis", e))?;
                s.set_read_timeout(config.timeout).map_err(|e| backend("redis", e))?;
                s.set_write_timeout(config.timeout).map_err(|e| backend("redis", e))?;
                if config.keepalive {
                    set_keepalive(&s).map_err(|e| backend("redis keepalive", e))?;
                }
                match tls {
                    Some(tls) => {
                        let mut stream = rustls::StreamOwned::new(redis_tls::connection(tls, host)?, s);
                        // The handshake now, so that a refused certificate
                        // is this connection's error, not the first command's.
                        while stream.conn.is_handshaking() {
                            stream
                                .conn
                                .complete_io(&mut stream.sock)
                                .map_err(|e| backend(format!("redis TLS handshake with {host}:{port}"), e))?;
                        }
                        Stream::Tls(Box::new(stream))
                    }
                    None => Stream::Tcp(s),
                }
            }
            Address::Unix(path) => {
                let s = UnixStream::connect(path).map_err(|e| backend(format!("redis {path}"), e))?;
                s.set_read_timeout(config.timeout).map_err(|e| backend("redis", e))?;
                s.set_write_timeout(config.timeout).map_err(|e| backend("redis", e))?;
                Stream::Unix(s)
            }
        };
        let mut conn = Connection { reader: BufReader::with_capacity(1 << 16, stream) };
        let mut setup: Vec<Vec<Vec<u8>>> = Vec::new();
        if let Some(password) = &config.password {
            match &config.username {
                Some(user) => setup.push(command(&[b"AUTH", user.as_bytes(), password.as_bytes()])),
                None => setup.push(command(&[b"AUTH", password.as_bytes()])),
            }
        }
        if config.db != 0 {
            setup.push(command(&[b"SELECT", config.db.to_string().as_bytes()]));
        }
        for reply in conn.pipeline(&setup)? {
            reply.ok()?;
        }
        Ok(conn)
    }

    /// Whether an idle connection can still be used: the server has not
    /// closed it (restart, idle timeout) and sent nothing unasked. Checked
    /// before use instead of retrying after a failure, because a failed
    /// pipeline may have been executed and must not run twice.
    fn is_usable(&mut self) -> bool {
        if !self.reader.buffer().is_empty() {
            return false;
        }
        let stream = self.reader.get_mut();
        if stream.set_nonblocking(true).is_err() {
            return false;
        }
        let mut probe = [0u8; 1];
        let usable = matches!(stream.read(&mut probe), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock);
        usable && stream.set_nonblocking(false).is_ok()
    }

    pub(crate) fn pipeline(&mut self, commands: &[Vec<Vec<u8>>]) -> Result<Vec<Reply>> {
        let mut out = Vec::with_capacity(commands.iter().map(|c| 16 + c.iter().map(|a| a.len() + 16).sum::<usize>()).sum());
        for cmd in commands {
            out.extend_from_slice(format!("*{}\r\n", cmd.len()).as_bytes());
            for arg in cmd {
                out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
                out.extend_from_slice(arg);
                out.extend_from_slice(b"\r\n");
            }
        }
        let stream = self.reader.get_mut();
        stream.write_all(&out).and_then(|()| stream.flush()).map_err(|e| backend("redis write", e))?;
        commands.iter().map(|_| self.read_reply()).collect()
    }

    fn read_reply(&mut self) -> Result<Reply> {
        read_reply(&mut self.reader, 0)
    }
}

/// Replies larger than this are refused: a split or a sack's measures are
/// far smaller, so a larger length is corruption. Bulk data is read as it
/// arrives, so a length below the bound still allocates only what the
/// server actually sends.
const MAX_BULK: u64 = 512 << 20;
const MAX_ARRAY: u64 = 1 << 28;
/// Status, error and length lines: Redis' longest are error messages of a
/// few hundred bytes.
const MAX_LINE: u64 = 64 << 10;
/// The deepest reply the backends receive is a pipeline reply holding an
/// array of arrays (a SCAN page: cursor and keys; EXEC of such commands
/// adds one level), so 16 leaves room for any command we might add while
/// keeping the recursion a few kilobytes of stack: a server sending
/// `*1\r\n` forever gets an error, not a stack overflow.
const MAX_DEPTH: usize = 16;
/// What is reserved up front for an array or a bulk string, whatever
/// length it announces: the rest grows with what actually arrives.
const ARRAY_RESERVE: usize = 1024;
const BULK_RESERVE: usize = 4 << 20;

fn protocol(what: impl std::fmt::Display) -> Error {
    Error::Backend(format!("redis: {what}"))
}

/// One line without its CRLF; a line not ended by CRLF (a closed
/// connection, a bare LF, an endless line) is an error.
fn read_line(reader: &mut impl BufRead) -> Result<Vec<u8>> {
    let mut line = Vec::new();
    reader.take(MAX_LINE).read_until(b'\n', &mut line).map_err(|e| backend("redis read", e))?;
    if !line.ends_with(b"\r\n") {
        return Err(protocol("connection closed or malformed reply"));
    }
    line.truncate(line.len() - 2);
    Ok(line)
}

/// A length field: -1 is nil (`None`); any other negative length, or one
/// above `max`, is refused before anything is allocated.
fn length(rest: &[u8], max: u64) -> Result<Option<u64>> {
    let text = String::from_utf8_lossy(rest);
    match text.parse::<i64>() {
        Ok(-1) => Ok(None),
        Ok(len) if (0..=max as i64).contains(&len) => Ok(Some(len as u64)),
        _ => Err(protocol(format!("refusing a reply of length {text:?}"))),
    }
}

/// One RESP2 reply, nested arrays included, at most `MAX_DEPTH` deep.
fn read_reply(reader: &mut impl BufRead, depth: usize) -> Result<Reply> {
    let line = read_line(reader)?;
    let (kind, rest) = line.split_first().ok_or_else(|| protocol("empty reply line"))?;
    let text = || String::from_utf8_lossy(rest).into_owned();
    match kind {
        b'+' => Ok(Reply::Status(text())),
        b'-' => Ok(Reply::Error(text())),
        b':' => std::str::from_utf8(rest)
            .ok()
            .and_then(|s| s.parse().ok())
            .map(Reply::Integer)
            .ok_or_else(|| protocol(format!("bad integer {:?}", text()))),
        b'$' => {
            let Some(len) = length(rest, MAX_BULK)? else { return Ok(Reply::Nil) };
            let mut data = Vec::with_capacity((len as usize).min(BULK_RESERVE));
            let got = reader.take(len).read_to_end(&mut data).map_err(|e| backend("redis read", e))?;
            let mut end = [0u8; 2];
            reader.read_exact(&mut end).map_err(|e| backend("redis read", e))?;
            if got as u64 != len || &end != b"\r\n" {
                return Err(protocol("a bulk reply not ended by CRLF where its length says"));
            }
            Ok(Reply::Bulk(data))
        }
        b'*' => {
            let Some(len) = length(rest, MAX_ARRAY)? else { return Ok(Reply::Nil) };
            if depth >= MAX_DEPTH {
                return Err(protocol(format!("refusing a reply nested more than {MAX_DEPTH} deep")));
            }
            let mut items = Vec::with_capacity((len as usize).min(ARRAY_RESERVE));
            for _ in 0..len {
                items.push(read_reply(reader, depth + 1)?);
            }
            Ok(Reply::Array(items))
        }
        other => Err(protocol(format!("unknown reply type {:?}", *other as char))),
    }
}

/// Builds one command from its arguments.
pub fn command(args: &[&[u8]]) -> Vec<Vec<u8>> {
    args.iter().map(|a| a.to_vec()).collect()
}

pub struct RedisClient {
    config: RedisConfig,
    idle: Mutex<Vec<Connection>>,
    /// The TLS client configuration, read (certificate files) once.
    tls: OnceLock<std::result::Result<Arc<rustls::ClientConfig>, String>>,
    /// With Sentinel: the sentinels, and the master as last learned.
    sentinels: Option<Sentinels>,
    master: Mutex<Address>,
}

/// How long a pipeline waits for a Sentinel failover to end (a new master
/// elected and reachable) before failing.
const FAILOVER_WAIT: Duration = Duration::from_secs(30);
const FAILOVER_POLL: Duration = Duration::from_millis(200);

impl RedisClient {
    pub fn new(config: RedisConfig) -> RedisClient {
        RedisClient::with_sentinels(config, None)
    }

    /// A client of the master `sentinels` name (`config.address` is the
    /// master they named when the driver started).
    pub fn with_sentinels(config: RedisConfig, sentinels: Option<Sentinels>) -> RedisClient {
        let master = Mutex::new(config.address.clone());
        RedisClient { config, idle: Mutex::new(Vec::new()), tls: OnceLock::new(), sentinels, master }
    }

    fn current_master(&self) -> Address {
        match self.master.lock() {
            Ok(master) => master.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Asks the sentinels again; idle connections (to the old master) are
    /// dropped when the master changed.
    fn follow_master(&self) -> Result<()> {
        let Some(sentinels) = &self.sentinels else { return Ok(()) };
        let master = sentinels.master(self.config.timeout)?;
        let mut current = self.master.lock().unwrap_or_else(|p| p.into_inner());
        if *current != master {
            *current = master;
            if let Ok(mut idle) = self.idle.lock() {
                idle.clear();
            }
        }
        Ok(())
    }

    fn checkout(&self) -> Result<Connection> {
        loop {
            let pooled = self.idle.lock().ok().and_then(|mut idle| idle.pop());
            match pooled {
                Some(mut conn) => {
                    if conn.is_usable() {
                        return Ok(conn);
                    }
                }
                None => return Connection::open(&self.config, &self.current_master(), self.tls()?),
            }
        }
    }

    fn tls(&self) -> Result<Option<&Arc<rustls::ClientConfig>>> {
        let Some(options) = &self.config.tls else { return Ok(None) };
        let configured = || {
            redis_tls::client_config(options).map_err(|e| match e {
                Error::Config(why) => why,
                other => other.to_string(),
            })
        };
        match self.tls.get_or_init(configured) {
            Ok(config) => Ok(Some(config)),
            Err(why) => Err(Error::Config(why.clone())),
        }
    }

    pub fn config(&self) -> &RedisConfig {
        &self.config
    }

    /// Sends every command in one write and reads every reply. Replies are
    /// returned as they came (error replies included); a transport error
    /// fails the whole pipeline and drops the connection.
    ///
    /// With Sentinel, a pipeline is sent again to the master the sentinels
    /// name, until `FAILOVER_WAIT`, only when nothing of it can have been
    /// written: the master could not be reached, or it answered that it is
    /// not the master (`not_the_master`: a replica refuses every write). A
    /// pipeline cut mid-way fails (it may have been applied): the next
    /// one goes to the master the sentinels then name.
    pub fn pipeline(&self, commands: &[Vec<Vec<u8>>]) -> Result<Vec<Reply>> {
        if commands.is_empty() {
            return Ok(Vec::new());
        }
        let deadline = Instant::now() + FAILOVER_WAIT;
        loop {
            let following = self.sentinels.is_some() && Instant::now() < deadline;
            let mut conn = match self.checkout() {
                Ok(conn) => conn,
                Err(_) if following => {
                    std::thread::sleep(FAILOVER_POLL);
                    let _ = self.follow_master();
                    continue;
                }
                Err(e) => return Err(e),
            };
            let replies = match conn.pipeline(commands) {
                Ok(replies) => replies,
                Err(e) => {
                    if self.sentinels.is_some() {
                        let _ = self.follow_master();
                    }
                    return Err(e);
                }
            };
            if following && replies.iter().any(redis_sentinel::not_the_master) {
                std::thread::sleep(FAILOVER_POLL);
                let _ = self.follow_master();
                continue;
            }
            if let Ok(mut idle) = self.idle.lock() {
                idle.push(conn);
            }
            return Ok(replies);
        }
    }

    pub fn query(&self, args: &[&[u8]]) -> Result<Reply> {
        let mut replies = self.pipeline(&[command(args)])?;
        replies.pop().ok_or_else(|| Error::Backend("redis: no reply".into()))?.ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;
    use std::time::Duration;

    extern "C" {
        fn getsockopt(fd: i32, level: i32, name: i32, value: *mut std::ffi::c_void, len: *mut u32) -> i32;
    }

    fn keepalive_of(conn: &Connection) -> i32 {
        use std::os::fd::AsRawFd;
        let Stream::Tcp(stream) = conn.reader.get_ref() else { panic!("not TCP") };
        let (mut value, mut len) = (0i32, 4u32);
        // SAFETY: a live socket, an int-sized out buffer.
        let rc = unsafe { getsockopt(stream.as_raw_fd(), SOL_SOCKET, SO_KEEPALIVE, (&mut value as *mut i32).cast(), &mut len) };
        assert_eq!(rc, 0);
        value
    }

    #[test]
    fn keepalive_is_set_when_asked() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let on = Connection::open(&config(port), &config(port).address, None).unwrap();
        assert_ne!(keepalive_of(&on), 0);
        let off_config = RedisConfig { keepalive: false, ..config(port) };
        let off = Connection::open(&off_config, &off_config.address, None).unwrap();
        assert_eq!(keepalive_of(&off), 0);
    }

    fn config(port: u16) -> RedisConfig {
        RedisConfig {
            address: Address::Tcp { host: "127.0.0.1".into(), port },
            username: None,
            password: None,
            db: 0,
            timeout: Some(Duration::from_secs(5)),
            tls: None,
            keepalive: true,
        }
    }

    fn parse(wire: &[u8]) -> Result<Reply> {
        read_reply(&mut &wire[..], 0)
    }

    #[test]
    fn replies_parse() {
        let wire = b"*3\r\n$3\r\nabc\r\n:-7\r\n*2\r\n$-1\r\n+OK\r\n";
        let expected = Reply::Array(vec![
            Reply::Bulk(b"abc".to_vec()),
            Reply::Integer(-7),
            Reply::Array(vec![Reply::Nil, Reply::Status("OK".into())]),
        ]);
        assert_eq!(parse(wire).unwrap(), expected);
        assert_eq!(parse(b"$0\r\n\r\n").unwrap(), Reply::Bulk(Vec::new()));
        assert_eq!(parse(b"*-1\r\n").unwrap(), Reply::Nil);
    }

    #[test]
    fn a_hostile_nesting_is_an_error_not_a_stack_overflow() {
        let wire = b"*1\r\n".repeat(100_000);
        assert!(matches!(parse(&wire), Err(Error::Backend(_))));
        let just_deep_enough = [b"*1\r\n".repeat(MAX_DEPTH), b":1\r\n".to_vec()].concat();
        assert!(parse(&just_deep_enough).is_ok());
    }

    #[test]
    fn every_crlf_is_checked() {
        for wire in [&b"$3\r\nabcXY"[..], b"$3\r\nabcd\r\n", b"$3\r\nab", b"+OK\n", b"+OK", b":1\r"] {
            assert!(matches!(parse(wire), Err(Error::Backend(_))), "{:?}", String::from_utf8_lossy(wire));
        }
        // The stream stays in step: what follows a good reply is the next.
        let mut wire = &b"$2\r\nab\r\n:5\r\n"[..];
        assert_eq!(read_reply(&mut wire, 0).unwrap(), Reply::Bulk(b"ab".to_vec()));
        assert_eq!(read_reply(&mut wire, 0).unwrap(), Reply::Integer(5));
    }

    #[test]
    fn absurd_lengths_are_refused_before_allocating() {
        for wire in [
            &b"*999999999999\r\n"[..],
            b"$999999999999\r\n",
            b"$99999999999999999999999\r\n",
            b"$-2\r\n",
            b"*-5\r\n",
            b"$abc\r\n",
        ] {
            assert!(matches!(parse(wire), Err(Error::Backend(_))), "{:?}", String::from_utf8_lossy(wire));
        }
        // A length within bounds allocates what arrives, not what it says.
        assert!(matches!(parse(b"$400000000\r\nshort"), Err(Error::Backend(_))));
        assert!(matches!(parse(b"*200000000\r\n:1\r\n"), Err(Error::Backend(_))));
        let endless = vec![b'+'; 2 * MAX_LINE as usize];
        assert!(matches!(parse(&endless), Err(Error::Backend(_))));
    }

    #[test]
    fn a_connection_the_server_closed_is_not_reused() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let mut open = Connection::open(&config(port), &config(port).address, None).unwrap();
        let (server_side, _) = listener.accept().unwrap();
        assert!(open.is_usable());
        drop(server_side);
        // The FIN arrives asynchronously.
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while open.is_usable() {
            assert!(std::time::Instant::now() < deadline, "a closed connection still looks usable");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    #[test]
    fn a_connection_with_unasked_data_is_not_reused() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let mut open = Connection::open(&config(port), &config(port).address, None).unwrap();
        let (mut server_side, _) = listener.accept().unwrap();
        server_side.write_all(b"+OK\r\n").unwrap();
        std::thread::sleep(Duration::from_millis(50));
        assert!(!open.is_usable());
    }
}
