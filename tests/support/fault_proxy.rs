//! A fault-injecting TCP proxy for tests: toxiproxy is not installable here, and
//! the faults that matter (latency, a stall, reset connections, refused
//! connections, a cut) need only a byte pump with a few switches.
//!
//! Put it between the worker and a service (`FaultProxy::start(service_addr)`,
//! then point the worker's URL at [`FaultProxy::addr`]); flip the faults while
//! the worker runs. Every switch takes effect at once on live connections.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// The faults in force; every pump watches them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Faults {
    /// Added before each chunk from the client is forwarded.
    latency_up: Duration,
    /// Added before each chunk from the upstream is forwarded.
    latency_down: Duration,
    /// Nothing is forwarded while set (bytes wait in the pumps and the kernel).
    stalled: bool,
    /// New connections are accepted and dropped at once.
    refusing: bool,
}

/// What the proxy has seen since it started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProxyStats {
    /// Connections accepted and forwarded.
    pub accepted: u64,
    /// Connections accepted and dropped because the proxy was refusing.
    pub refused: u64,
    /// Connections dropped by [`FaultProxy::reset_all`] (or a cut).
    pub reset: u64,
    /// Connections forwarding now.
    pub open: u64,
    /// Bytes from the client to the upstream.
    pub bytes_up: u64,
    /// Bytes from the upstream to the client.
    pub bytes_down: u64,
}

#[derive(Default)]
struct Counters {
    accepted: AtomicU64,
    refused: AtomicU64,
    reset: AtomicU64,
    open: AtomicU64,
    bytes_up: AtomicU64,
    bytes_down: AtomicU64,
}

struct Shared {
    upstream: SocketAddr,
    faults: watch::Sender<Faults>,
    /// Cancelled to reset every connection open now; replaced by a fresh one.
    generation: Mutex<CancellationToken>,
    counters: Counters,
}

/// A running proxy; dropping it stops accepting (live connections run on).
pub struct FaultProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
        self.shared.generation().cancel();
    }
}

impl FaultProxy {
    /// Listens on 127.0.0.1 (a free port) and forwards to `upstream`.
    pub async fn start(upstream: SocketAddr) -> FaultProxy {
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .await
            .expect("the proxy listens");
        let addr = listener.local_addr().expect("the proxy has an address");
        let shared = Arc::new(Shared {
            upstream,
            faults: watch::channel(Faults::default()).0,
            generation: Mutex::new(CancellationToken::new()),
            counters: Counters::default(),
        });
        let task = tokio::spawn(accept_loop(listener, shared.clone()));
        FaultProxy { addr, shared, task }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Delays every chunk, both ways, by `latency` (zero: none).
    pub fn set_latency(&self, latency: Duration) {
        self.shared.faults.send_modify(|f| {
            f.latency_up = latency;
            f.latency_down = latency;
        });
    }

    /// Delays only the answers: the upstream sees each request at once (and, if it
    /// bills, bills it) while the client waits `latency` longer for the reply.
    pub fn set_answer_latency(&self, latency: Duration) {
        self.shared.faults.send_modify(|f| f.latency_down = latency);
    }

    /// Stops forwarding, both ways, on every connection, until [`FaultProxy::release`].
    pub fn stall(&self) {
        self.shared.faults.send_modify(|f| f.stalled = true);
    }

    pub fn release(&self) {
        self.shared.faults.send_modify(|f| f.stalled = false);
    }

    /// Accepts new connections and drops them at once, while `refusing`.
    pub fn refuse(&self, refusing: bool) {
        self.shared.faults.send_modify(|f| f.refusing = refusing);
    }

    /// Drops every open connection abruptly (RST, not FIN); returns how many.
    pub fn reset_all(&self) -> u64 {
        let open = self.shared.counters.open.load(Ordering::SeqCst);
        let old = std::mem::take(&mut *self.shared.generation());
        old.cancel();
        open
    }

    /// A cut cable: every connection reset and new ones refused, until [`FaultProxy::restore`].
    pub fn cut(&self) -> u64 {
        self.refuse(true);
        self.reset_all()
    }

    /// Clears every fault.
    pub fn restore(&self) {
        self.shared.faults.send_replace(Faults::default());
    }

    pub fn stats(&self) -> ProxyStats {
        let c = &self.shared.counters;
        let get = |a: &AtomicU64| a.load(Ordering::SeqCst);
        ProxyStats {
            accepted: get(&c.accepted),
            refused: get(&c.refused),
            reset: get(&c.reset),
            open: get(&c.open),
            bytes_up: get(&c.bytes_up),
            bytes_down: get(&c.bytes_down),
        }
    }
}

impl Shared {
    fn generation(&self) -> std::sync::MutexGuard<'_, CancellationToken> {
        // A panic while holding this lock cannot leave the token half-written.
        self.generation.lock().unwrap_or_else(|p| p.into_inner())
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        let Ok((client, _)) = listener.accept().await else {
            continue;
        };
        if shared.faults.borrow().refusing {
            shared.counters.refused.fetch_add(1, Ordering::SeqCst);
            let _ = client.set_zero_linger();
            drop(client);
            continue;
        }
        let reset = shared.generation().clone();
        tokio::spawn(serve(client, reset, shared.clone()));
    }
}

/// Forwards one connection until both sides close, an error, or a reset.
async fn serve(client: TcpStream, reset: CancellationToken, shared: Arc<Shared>) {
    let Ok(upstream) = TcpStream::connect(shared.upstream).await else {
        let _ = client.set_zero_linger();
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = upstream.set_nodelay(true);
    let counters = &shared.counters;
    counters.accepted.fetch_add(1, Ordering::SeqCst);
    counters.open.fetch_add(1, Ordering::SeqCst);
    let (mut client_read, mut client_write) = client.into_split();
    let (mut upstream_read, mut upstream_write) = upstream.into_split();
    let was_reset = {
        let up = pump(
            &mut client_read,
            &mut upstream_write,
            &shared,
            Direction::Up,
        );
        let down = pump(
            &mut upstream_read,
            &mut client_write,
            &shared,
            Direction::Down,
        );
        tokio::select! {
            _ = reset.cancelled() => true,
            _ = async { tokio::join!(up, down) } => false,
        }
    };
    if was_reset {
        // SO_LINGER 0: closing sends an RST, as a dead peer or middlebox would.
        let _ = client_write.as_ref().set_zero_linger();
        let _ = upstream_write.as_ref().set_zero_linger();
        counters.reset.fetch_add(1, Ordering::SeqCst);
    }
    counters.open.fetch_sub(1, Ordering::SeqCst);
}

#[derive(Debug, Clone, Copy)]
enum Direction {
    /// Client to upstream.
    Up,
    /// Upstream to client.
    Down,
}

/// Copies one direction chunk by chunk, honouring latency and stalls; on EOF it
/// half-closes the other side, as a transparent proxy would.
async fn pump(
    from: &mut OwnedReadHalf,
    to: &mut OwnedWriteHalf,
    shared: &Shared,
    direction: Direction,
) {
    let bytes = match direction {
        Direction::Up => &shared.counters.bytes_up,
        Direction::Down => &shared.counters.bytes_down,
    };
    let mut faults = shared.faults.subscribe();
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let latency = match direction {
            Direction::Up => faults.borrow_and_update().latency_up,
            Direction::Down => faults.borrow_and_update().latency_down,
        };
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        if faults.wait_for(|f| !f.stalled).await.is_err() {
            break;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            break;
        }
        bytes.fetch_add(n as u64, Ordering::SeqCst);
    }
    let _ = to.shutdown().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An echo server: every connection gets back what it sends.
    async fn echo_server() -> SocketAddr {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let (mut r, mut w) = socket.split();
                    let _ = tokio::io::copy(&mut r, &mut w).await;
                });
            }
        });
        addr
    }

    async fn round_trip(stream: &mut TcpStream, message: &[u8]) -> std::io::Result<Vec<u8>> {
        stream.write_all(message).await?;
        let mut back = vec![0u8; message.len()];
        stream.read_exact(&mut back).await?;
        Ok(back)
    }

    #[tokio::test]
    async fn bytes_pass_both_ways_and_are_counted() {
        let proxy = FaultProxy::start(echo_server().await).await;
        let mut stream = TcpStream::connect(proxy.addr()).await.expect("connect");
        let back = round_trip(&mut stream, b"hello").await.expect("echo");
        assert_eq!(back, b"hello");
        let stats = proxy.stats();
        assert_eq!((stats.accepted, stats.open), (1, 1));
        assert_eq!((stats.bytes_up, stats.bytes_down), (5, 5));
    }

    #[tokio::test]
    async fn latency_delays_each_chunk_each_way() {
        let proxy = FaultProxy::start(echo_server().await).await;
        let mut stream = TcpStream::connect(proxy.addr()).await.expect("connect");
        proxy.set_latency(Duration::from_millis(150));
        let started = tokio::time::Instant::now();
        round_trip(&mut stream, b"x").await.expect("echo");
        assert!(started.elapsed() >= Duration::from_millis(300));
        proxy.restore();
        let started = tokio::time::Instant::now();
        round_trip(&mut stream, b"y").await.expect("echo");
        assert!(started.elapsed() < Duration::from_millis(150));
    }

    #[tokio::test]
    async fn answer_latency_delays_only_the_way_back() {
        let proxy = FaultProxy::start(echo_server().await).await;
        let mut stream = TcpStream::connect(proxy.addr()).await.expect("connect");
        proxy.set_answer_latency(Duration::from_millis(200));
        let started = tokio::time::Instant::now();
        round_trip(&mut stream, b"x").await.expect("echo");
        let elapsed = started.elapsed();
        assert!(elapsed >= Duration::from_millis(200) && elapsed < Duration::from_millis(400));
        assert_eq!(proxy.stats().bytes_up, 1);
    }

    #[tokio::test]
    async fn a_stall_holds_the_bytes_until_released() {
        let proxy = FaultProxy::start(echo_server().await).await;
        let mut stream = TcpStream::connect(proxy.addr()).await.expect("connect");
        proxy.stall();
        stream.write_all(b"held").await.expect("write");
        let mut back = [0u8; 4];
        let early =
            tokio::time::timeout(Duration::from_millis(300), stream.read_exact(&mut back)).await;
        assert!(early.is_err(), "bytes passed a stalled proxy");
        proxy.release();
        stream.read_exact(&mut back).await.expect("echo");
        assert_eq!(&back, b"held");
    }

    #[tokio::test]
    async fn a_reset_drops_open_connections_and_new_ones_still_work() {
        let proxy = FaultProxy::start(echo_server().await).await;
        let mut stream = TcpStream::connect(proxy.addr()).await.expect("connect");
        round_trip(&mut stream, b"a").await.expect("echo");
        assert_eq!(proxy.reset_all(), 1);
        let after = round_trip(&mut stream, b"b").await;
        assert!(after.is_err(), "a reset connection still echoed");
        let mut fresh = TcpStream::connect(proxy.addr()).await.expect("connect");
        assert_eq!(round_trip(&mut fresh, b"c").await.expect("echo"), b"c");
        assert_eq!(proxy.stats().reset, 1);
    }

    #[tokio::test]
    async fn a_cut_refuses_new_connections_until_restored() {
        let proxy = FaultProxy::start(echo_server().await).await;
        let mut open = TcpStream::connect(proxy.addr()).await.expect("connect");
        round_trip(&mut open, b"a").await.expect("echo");
        proxy.cut();
        assert!(round_trip(&mut open, b"b").await.is_err());
        let mut refused = TcpStream::connect(proxy.addr()).await.expect("accepted");
        assert!(round_trip(&mut refused, b"c").await.is_err());
        assert_eq!(proxy.stats().refused, 1);
        proxy.restore();
        let mut fresh = TcpStream::connect(proxy.addr()).await.expect("connect");
        assert_eq!(round_trip(&mut fresh, b"d").await.expect("echo"), b"d");
    }
}
