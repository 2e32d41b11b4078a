//! Faults between the server and PostgreSQL: a TCP proxy that, once armed, lets the next
//! `COMMIT` through to PostgreSQL and then cuts the connection before the server hears the
//! answer, so that the server cannot know whether its write took effect.

use std::{
    io::{Read, Write},
    net::{Shutdown, TcpListener, TcpStream},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    thread,
    time::Duration,
};

use crate::process::free_port;

/// A proxy to PostgreSQL on `127.0.0.1:<port>`; see the module's comment.
pub struct CommitBreaker {
    pub port: u16,
    armed: Arc<AtomicBool>,
    broke: Arc<AtomicBool>,
}

/// A simple-protocol query of `COMMIT`, as libpq sends diesel's: `Q`, its length, the text.
const COMMIT: &[u8] = b"Q\0\0\0\x0bCOMMIT\0";

impl CommitBreaker {
    /// A proxy listening on a free port, forwarding to PostgreSQL on `target_port`.
    pub fn start(target_port: u16) -> Self {
        let port = free_port();
        let listener = TcpListener::bind(("127.0.0.1", port)).expect("listen");
        let armed = Arc::new(AtomicBool::new(false));
        let broke = Arc::new(AtomicBool::new(false));
        let (armed_, broke_) = (armed.clone(), broke.clone());
        thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let Ok(server) = TcpStream::connect(("127.0.0.1", target_port)) else {
                    continue;
                };
                relay(client, server, armed_.clone(), broke_.clone());
            }
        });
        Self { port, armed, broke }
    }

    /// Breaks the next `COMMIT` that passes.
    pub fn arm(&self) {
        self.broke.store(false, Ordering::SeqCst);
        self.armed.store(true, Ordering::SeqCst);
    }

    /// Whether a `COMMIT` was broken since the proxy was armed.
    pub fn broke(&self) -> bool {
        self.broke.load(Ordering::SeqCst)
    }
}

/// Pumps bytes both ways between `client` and `server`, breaking a `COMMIT` when armed:
/// the `COMMIT` reaches PostgreSQL, and nothing from it reaches the client after that.
fn relay(client: TcpStream, server: TcpStream, armed: Arc<AtomicBool>, broke: Arc<AtomicBool>) {
    let cut = Arc::new(AtomicBool::new(false));
    let (mut client_in, mut server_out) = (
        client.try_clone().expect("clone"),
        server.try_clone().expect("clone"),
    );
    let (mut server_in, mut client_out) = (server, client);
    let cut_ = cut.clone();
    thread::spawn(move || {
        let mut buffer = [0u8; 64 * 1024];
        while let Ok(read) = client_in.read(&mut buffer) {
            let commits = buffer[..read].windows(COMMIT.len()).any(|w| w == COMMIT);
            let breaking = commits && armed.swap(false, Ordering::SeqCst);
            cut_.store(breaking, Ordering::SeqCst);
            if read == 0 || server_out.write_all(&buffer[..read]).is_err() {
                break;
            }
            if breaking {
                // PostgreSQL commits; the client never hears that it did.
                thread::sleep(Duration::from_millis(300));
                broke.store(true, Ordering::SeqCst);
                let _ = client_in.shutdown(Shutdown::Both);
                let _ = server_out.shutdown(Shutdown::Both);
                break;
            }
        }
    });
    thread::spawn(move || {
        let mut buffer = [0u8; 64 * 1024];
        while let Ok(read) = server_in.read(&mut buffer) {
            if read == 0
                || cut.load(Ordering::SeqCst)
                || client_out.write_all(&buffer[..read]).is_err()
            {
                break;
            }
        }
    });
}
