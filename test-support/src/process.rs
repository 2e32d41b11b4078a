//! Real processes for the tests that break things: a PostgreSQL cluster of the test's own
//! that it can stop and start, and the `billing` binary that it can kill.

use std::{
    net::TcpListener,
    ops::RangeInclusive,
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::atomic::{AtomicU32, AtomicUsize, Ordering},
    time::{Duration, Instant},
};

/// A free TCP port on the loopback address, outside the kernel's range of ephemeral ports.
///
/// The port is free when chosen, and bound later by another process (a cluster, a server),
/// which a cluster the test stops does again when it starts. A port from the ephemeral range
/// may be taken meanwhile as the local end of some outgoing connection (or of a connection to
/// itself: a client retrying a refused loopback port can be given that very port as its own
/// and connect to itself). Ports outside the range are only ever bound on purpose.
pub fn free_port() -> u16 {
    /// Which of the candidates this process tries next; it starts from the process id, so
    /// that test binaries running at once start apart.
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let ephemeral = ephemeral_ports();
    let candidates: Vec<u16> = (10_000..=65_000)
        .filter(|port| !ephemeral.contains(port))
        .collect();
    let start = std::process::id().wrapping_mul(7919) as usize;
    (0..candidates.len())
        .map(|_| {
            let turn = NEXT.fetch_add(1, Ordering::Relaxed) as usize;
            candidates[start.wrapping_add(turn) % candidates.len()]
        })
        .find(|port| TcpListener::bind(("127.0.0.1", *port)).is_ok())
        .expect("a free port outside the ephemeral range")
}

/// The kernel's range of ephemeral ports (Linux's default where it cannot be read).
fn ephemeral_ports() -> RangeInclusive<u16> {
    let bounds: Vec<u16> = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|bound| bound.parse().ok())
        .collect();
    match bounds[..] {
        [low, high] => low..=high,
        _ => 32_768..=60_999,
    }
}

/// The `billing` binary cargo built beside the running test (in `target/<profile>/`, the
/// test itself being in `target/<profile>/deps/`).
pub fn billing_binary() -> PathBuf {
    let test = std::env::current_exe().expect("the test's own path");
    let profile = test
        .parent()
        .and_then(|deps| deps.parent())
        .expect("the test runs from target/<profile>/deps");
    profile.join("billing")
}

fn pg_script() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/pg.sh"))
}

/// A PostgreSQL cluster of the test's own, removed when the value is dropped.
pub struct Cluster {
    dir: PathBuf,
    port: u16,
}

impl Cluster {
    /// Initialises and starts a cluster with a `billing` database.
    pub fn start() -> Self {
        let dir =
            std::env::temp_dir().join(format!("billing-cluster-{}", uuid::Uuid::new_v4().simple()));
        let cluster = Self {
            dir,
            port: free_port(),
        };
        cluster.pg("start");
        cluster
    }

    /// Copies `primary` (pg_basebackup) and starts the copy as its streaming replica.
    pub fn replica_of(primary: &Cluster) -> Self {
        let dir =
            std::env::temp_dir().join(format!("billing-cluster-{}", uuid::Uuid::new_v4().simple()));
        let cluster = Self {
            dir,
            port: free_port(),
        };
        cluster.pg_with(
            "replica",
            &[("BILLING_PG_PRIMARY_PORT", primary.port.to_string())],
        );
        cluster
    }

    fn pg(&self, command: &str) {
        self.pg_with(command, &[]);
    }

    fn pg_with(&self, command: &str, env: &[(&str, String)]) {
        let output = Command::new(pg_script())
            .arg(command)
            .env("BILLING_PG_DIR", &self.dir)
            .env("BILLING_PG_PORT", self.port.to_string())
            .envs(env.iter().map(|(name, value)| (*name, value.as_str())))
            .output()
            .expect("scripts/pg.sh runs");
        assert!(
            output.status.success(),
            "pg.sh {command}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// Starts the cluster again after `stop`.
    pub fn restart(&self) {
        self.pg("start");
    }

    /// Stops the cluster (fast shutdown: connections are cut).
    pub fn stop(&self) {
        self.pg("stop");
    }

    /// Stops the cluster at once, as a lost machine would (immediate shutdown).
    pub fn crash(&self) {
        self.pg("crash");
    }

    /// Makes the replica the primary, and waits until it takes writes.
    pub fn promote(&self) {
        self.pg("promote");
    }

    pub fn url(&self) -> String {
        format!("postgres://billing@127.0.0.1:{}/billing", self.port)
    }

    /// The port the cluster listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Migrates the cluster's database and loads the demo data into it; the id and secret
    /// of a new client `name` with both scopes, serving every customer.
    pub fn with_demo_data(&self, name: &str) -> (String, String) {
        use diesel::Connection;
        billing_impl::db::migrate(&self.url()).expect("migrate");
        let mut conn = diesel::PgConnection::establish(&self.url()).expect("connect");
        billing_impl::seed::demo(&mut conn).expect("demo data");
        let client = billing_impl::auth::clients::create(
            &mut conn,
            name,
            &["read".into(), "write".into()],
            &billing_impl::auth::clients::CustomerGrant::All,
            billing_impl::limits::Setting::Default,
            billing_impl::limits::Setting::Default,
        )
        .expect("client");
        (client.client_id, client.client_secret)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = Command::new(pg_script())
            .arg("stop")
            .env("BILLING_PG_DIR", &self.dir)
            .env("BILLING_PG_PORT", self.port.to_string())
            .output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The `billing` binary serving on a free port.
pub struct ServerProcess {
    child: Child,
    pub base: String,
}

impl ServerProcess {
    /// Starts `billing serve` over `database_url` with extra environment `env`, and waits
    /// until `/health` answers. Its admin listener is off unless `env` says otherwise.
    pub fn start(database_url: &str, env: &[(&str, &str)]) -> Self {
        Self::start_logging(database_url, env, Stdio::inherit())
    }

    /// `start`, with the server's log (its standard error) going to `log`.
    pub fn start_logging(database_url: &str, env: &[(&str, &str)], log: impl Into<Stdio>) -> Self {
        Self::start_command(&["serve"], database_url, env, log)
    }

    /// `billing` run with `args` (a command line that serves), as `start_logging` runs it.
    pub fn start_command(
        args: &[&str],
        database_url: &str,
        env: &[(&str, &str)],
        log: impl Into<Stdio>,
    ) -> Self {
        let port = free_port();
        let child = Command::new(billing_binary())
            .args(args)
            .env("DATABASE_URL", database_url)
            .env("BILLING_LISTEN", format!("127.0.0.1:{port}"))
            .env("BILLING_WORKERS", "2")
            .env("BILLING_ADMIN_LISTEN", "off")
            .env("RUST_LOG", "warn")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start billing");
        let server = Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
        };
        server.wait_until(Duration::from_secs(20), "/health", 200);
        server
    }

    /// Polls `path` until it answers `status`; panics after `limit`.
    pub fn wait_until(&self, limit: Duration, path: &str, status: u16) -> Duration {
        let started = Instant::now();
        let client = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()
            .expect("client");
        loop {
            let answered = client
                .get(format!("{}{path}", self.base))
                .send()
                .map(|r| r.status().as_u16());
            if answered.ok() == Some(status) {
                return started.elapsed();
            }
            assert!(
                started.elapsed() < limit,
                "{path} did not answer {status} within {limit:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends `signal` (a `kill` signal name) to the server.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.pid().to_string())
            .status();
        assert!(status.is_ok_and(|s| s.success()), "kill -{signal}");
    }

    /// Waits for the server to exit; its exit code, or `None` after `limit`.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<i32> {
        let started = Instant::now();
        while started.elapsed() < limit {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What a `billing` command printed, and how it exited.
#[derive(Debug)]
pub struct Finished {
    /// The exit code.
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Finished {
    /// The standard output's lines, each parsed as JSON; panics on a line that is not.
    pub fn json_lines(&self) -> Vec<serde_json::Value> {
        self.stdout
            .lines()
            .map(|line| {
                serde_json::from_str(line).unwrap_or_else(|_| panic!("a JSON line: {line}"))
            })
            .collect()
    }
}

/// Runs the `billing` binary with `args` over `database_url`, as an operator would, with
/// `stdin` as its standard input, to its end.
pub fn billing(database_url: &str, args: &[&str], stdin: &[u8]) -> Finished {
    use std::io::Write;
    let mut child = Command::new(billing_binary())
        .args(args)
        .env("DATABASE_URL", database_url)
        .env("RUST_LOG", "info")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start billing");
    let mut input = child.stdin.take().expect("stdin");
    // Written from a thread of its own, so that a full output pipe cannot stall it.
    let stdin = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(&stdin);
    });
    let output = child.wait_with_output().expect("billing runs");
    writer.join().expect("stdin written");
    Finished {
        code: output.status.code().expect("exited, not killed"),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// Runs the `billing` binary with `args` over `database_url`, standard input empty, to its
/// end, and measures the most memory it held: its peak resident set (`VmHWM`, the kernel's
/// own high-water mark, read every few milliseconds while it runs), in bytes.
pub fn billing_peak_memory(database_url: &str, args: &[&str]) -> (Finished, u64) {
    let child = Command::new(billing_binary())
        .args(args)
        .env("DATABASE_URL", database_url)
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start billing");
    let status = format!("/proc/{}/status", child.id());
    let finished = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watch = {
        let finished = finished.clone();
        std::thread::spawn(move || {
            let mut peak = 0;
            while !finished.load(Ordering::Relaxed) {
                let kilobytes = std::fs::read_to_string(&status)
                    .unwrap_or_default()
                    .lines()
                    .find_map(|line| line.strip_prefix("VmHWM:"))
                    .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok());
                peak = peak.max(kilobytes.unwrap_or(0));
                std::thread::sleep(Duration::from_millis(2));
            }
            peak * 1024
        })
    };
    let output = child.wait_with_output().expect("billing runs");
    finished.store(true, Ordering::Relaxed);
    let peak = watch.join().expect("the watch");
    let finished = Finished {
        code: output.status.code().expect("exited, not killed"),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    };
    (finished, peak)
}

/// Waits until `counter` (of requests a load has had answered, say) has grown by `more`,
/// however slow the machine; panics when it stalls for a minute.
pub fn wait_for_more(counter: &AtomicUsize, more: usize) {
    let target = counter.load(Ordering::Relaxed) + more;
    let started = Instant::now();
    while counter.load(Ordering::Relaxed) < target {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "stalled at {} of {target}",
            counter.load(Ordering::Relaxed)
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A blocking HTTP client for the tests that drive a server process.
pub fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .expect("client")
}

/// A token for the client `(id, secret)` from the server's token endpoint.
pub fn token(server: &ServerProcess, (id, secret): &(String, String)) -> String {
    let response = client()
        .post(format!(
            "{}/oauth/client_credential/accesstoken?grant_type=client_credentials",
            server.base
        ))
        .basic_auth(id, Some(secret))
        .send()
        .expect("token request");
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().expect("token JSON");
    body["access_token"]
        .as_str()
        .expect("access_token")
        .to_owned()
}

/// Debian's PgBouncer in transaction mode in front of a cluster's databases, with
/// `server_connections` connections to each at most; stopped when dropped. As root, it
/// runs as `postgres` (PgBouncer refuses root), as the clusters do.
pub struct PgBouncer {
    dir: PathBuf,
    port: u16,
    child: Option<Child>,
}

impl PgBouncer {
    /// Starts it in front of the cluster on `cluster_port`, and waits until it listens.
    pub fn start(cluster_port: u16, server_connections: u32) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "billing-pgbouncer-{}",
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&dir).expect("a folder for PgBouncer");
        let port = free_port();
        let config = format!(
            "[databases]\n\
             * = host=127.0.0.1 port={cluster_port} user=billing\n\
             [pgbouncer]\n\
             listen_addr = 127.0.0.1\n\
             listen_port = {port}\n\
             unix_socket_dir =\n\
             auth_type = any\n\
             pool_mode = transaction\n\
             default_pool_size = {server_connections}\n\
             max_client_conn = 500\n\
             server_reset_query =\n\
             server_login_retry = 1\n\
             logfile = {dir}/pgbouncer.log\n\
             pidfile = {dir}/pgbouncer.pid\n",
            dir = dir.display()
        );
        std::fs::write(dir.join("pgbouncer.ini"), config).expect("PgBouncer's configuration");
        if is_root() {
            let status = Command::new("chown")
                .args(["-R", "postgres"])
                .arg(&dir)
                .status();
            assert!(
                status.is_ok_and(|s| s.success()),
                "chown the PgBouncer folder"
            );
        }
        let mut bouncer = Self {
            dir,
            port,
            child: None,
        };
        bouncer.restart();
        bouncer
    }

    /// Its URL for the cluster's `billing` database.
    pub fn url(&self) -> String {
        self.url_of("billing")
    }

    /// Its URL for the cluster's database `database`.
    pub fn url_of(&self, database: &str) -> String {
        format!("postgres://billing@127.0.0.1:{}/{database}", self.port)
    }

    /// Starts it (again), and waits until it accepts connections.
    pub fn restart(&mut self) {
        let mut command = Command::new(pgbouncer_binary());
        if is_root() {
            command.args(["-u", "postgres"]);
        }
        let child = command
            .arg(self.dir.join("pgbouncer.ini"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start pgbouncer");
        self.child = Some(child);
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            // A bound for a test that would otherwise hang, not a speed.
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "PgBouncer did not listen: {}",
                std::fs::read_to_string(self.dir.join("pgbouncer.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills it (SIGKILL): every connection through it is cut.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for PgBouncer {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|output| output.stdout.starts_with(b"0\n"))
}

/// Debian's `pgbouncer` (in /usr/sbin, which an ordinary user's PATH may leave out).
fn pgbouncer_binary() -> PathBuf {
    ["/usr/sbin/pgbouncer", "/usr/bin/pgbouncer"]
        .iter()
        .map(PathBuf::from)
        .find(|path| path.exists())
        .unwrap_or_else(|| PathBuf::from("pgbouncer"))
}
