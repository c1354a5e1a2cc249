//! `--threads N`: the echo server on a thread-per-core runtime.
//!
//! Each server thread runs its own ring. Without `--hand-off`, each has its own
//! `SO_REUSEPORT` listener and serves what the kernel gives it. With `--hand-off`,
//! thread 0 alone listens, and hands the connections it accepts round-robin to the
//! threads (itself included) as descriptors, through their mailboxes. Either way a
//! thread stops when a `Stop` arrives in its mailbox: its accept is raced against
//! the mailbox, so the stop cannot lose a connection accepted at that moment.

use std::io;
use std::net::SocketAddr;
use std::sync::mpsc;
use std::time::Instant;

use linear_uring::buf::BufRing;
use linear_uring::net::{TcpListener, TcpStream};
use linear_uring::runtime::{Address, Runtime, Worker};
use linear_uring::{race, CancelOutcome, DropPolicy, JoinHandle, Raced, Ring};

use crate::{client, echo, echo_multishot, Args, Mode, MESSAGE_LEN, RING_BUFFERS};

/// What a server thread's mailbox carries.
pub(crate) enum Mail {
    /// A connection accepted by thread 0, to serve here.
    Serve(std::net::TcpStream),
    /// Every client is done: stop accepting, finish the connections, return.
    Stop,
}

/// Runs `args.threads` server threads and the clients on a thread of their own.
pub(crate) fn run(args: Args) -> Result<bool, Box<dyn std::error::Error>> {
    let ring = Ring::builder().drop_policy(DropPolicy::Panic);
    let mut builder = Runtime::builder().threads(args.threads).ring(ring.clone());
    if !args.hand_off {
        builder = builder.listen("127.0.0.1:0".parse()?);
    }
    let runtime = builder.build()?;
    // Where the clients connect: the shared port, or thread 0's listener once it is
    // bound. Then every server thread's mailbox address, to stop it.
    let (addr_tx, addr_rx) = mpsc::channel::<SocketAddr>();
    let (mailbox_tx, mailbox_rx) = mpsc::channel::<Address<Mail>>();
    if let Some(addr) = runtime.local_addr() {
        addr_tx.send(addr)?;
    }
    let start = Instant::now();
    let clients = std::thread::spawn(move || -> io::Result<usize> {
        let ring = ring.build().map_err(io::Error::from)?;
        let addr = addr_rx.recv().map_err(io::Error::other)?;
        ring.block_on(async {
            let handles: Vec<_> = (0..args.connections)
                .map(|id| ring.spawn(client(ring.clone(), addr, id, args.messages)))
                .collect();
            let mut failures = 0;
            for handle in handles {
                if let Err(err) = handle.await {
                    eprintln!("echo: {err}");
                    failures += 1;
                }
            }
            // Every client is done: stop each server thread, by a message to its ring.
            for address in mailbox_rx.iter().take(args.threads) {
                let sent = address.send(&ring, Mail::Stop).complete().await;
                sent.map_err(|undelivered| undelivered.into_parts().0)?;
            }
            Ok(failures)
        })
    });
    let served = runtime.run(|worker: Worker<Mail>| {
        let (addr_tx, mailbox_tx) = (addr_tx.clone(), mailbox_tx.clone());
        async move {
            mailbox_tx
                .send(worker.peer(worker.index()).clone())
                .map_err(io::Error::other)?;
            serve(worker, args, addr_tx).await
        }
    })?;
    let failures = clients
        .join()
        .map_err(|_| "the clients' thread panicked")??;
    let elapsed = start.elapsed();
    let mut per_thread = Vec::new();
    let (mut total, mut echoed, mut handed) = (0, 0, 0);
    for result in served {
        let counts = result?;
        per_thread.push(counts.served);
        total += counts.served;
        echoed += counts.echoed;
        handed += counts.handed;
    }
    println!(
        "echo ({:?}, {} threads{}): {} connections, {} messages of {MESSAGE_LEN} bytes each, \
         {total} served (per thread: {per_thread:?}; {handed} handed between threads), \
         {echoed} bytes echoed in {elapsed:.1?}, {failures} failures",
        args.mode,
        args.threads,
        if args.hand_off { ", hand-off" } else { "" },
        args.connections,
        args.messages,
    );
    Ok(failures == 0 && total == args.connections)
}

/// What one server thread did.
#[derive(Debug, Default)]
struct Counts {
    served: usize,
    echoed: u64,
    /// Connections this thread accepted and handed to another.
    handed: usize,
}

/// One server thread: accepts (or receives) connections until `Stop` arrives.
async fn serve(
    worker: Worker<Mail>,
    args: Args,
    addr_tx: mpsc::Sender<SocketAddr>,
) -> io::Result<Counts> {
    let ring = worker.ring().clone();
    let group = match args.mode {
        Mode::Multishot => Some(BufRing::new(&ring, RING_BUFFERS, MESSAGE_LEN)?),
        Mode::Single => None,
    };
    let mut server = Server {
        worker: &worker,
        group,
        args,
        handlers: Vec::new(),
        counts: Counts::default(),
        next: 0,
    };
    let listener = match worker.take_listener() {
        Some(listener) => Some(listener),
        None if worker.index() == 0 => {
            let listener = TcpListener::bind(&ring, "127.0.0.1:0")?;
            addr_tx
                .send(listener.local_addr()?)
                .map_err(io::Error::other)?;
            Some(listener)
        }
        None => None,
    };
    match &listener {
        Some(listener) => match args.mode {
            Mode::Single => server.accept_loop(listener).await?,
            Mode::Multishot => server.incoming_loop(listener).await?,
        },
        // A hand-off worker without a listener: serve what thread 0 sends.
        None => {
            while let Mail::Serve(stream) = worker.recv().await {
                server.serve_here(TcpStream::from_std(&ring, stream)?);
            }
        }
    }
    if let Some(listener) = listener {
        listener.close().await?;
    }
    for handler in std::mem::take(&mut server.handlers) {
        server.counts.echoed += handler.await?;
    }
    Ok(server.counts)
}

struct Server<'a> {
    worker: &'a Worker<Mail>,
    group: Option<BufRing>,
    args: Args,
    handlers: Vec<JoinHandle<io::Result<u64>>>,
    counts: Counts,
    /// The thread the next accepted connection goes to, with `--hand-off`.
    next: usize,
}

impl Server<'_> {
    /// Single-shot accepts raced against the mailbox.
    async fn accept_loop(&mut self, listener: &TcpListener) -> io::Result<()> {
        let mut accept = listener.accept().submit();
        loop {
            match race(accept, self.worker.recv()).await {
                Raced::First(accepted, _recv) => {
                    self.dispatch(accepted?.0).await?;
                    accept = listener.accept().submit();
                }
                Raced::Second(pending, Mail::Serve(stream)) => {
                    self.serve_here(TcpStream::from_std(self.worker.ring(), stream)?);
                    accept = pending;
                }
                Raced::Second(pending, Mail::Stop) => {
                    // A connection accepted just before the cancel is served.
                    if let CancelOutcome::Completed(accepted) = pending.cancel().await {
                        self.dispatch(accepted?.0).await?;
                    }
                    return Ok(());
                }
            }
        }
    }

    /// One multishot accept, raced by reference against the mailbox.
    async fn incoming_loop(&mut self, listener: &TcpListener) -> io::Result<()> {
        let mut incoming = listener.incoming().submit();
        loop {
            match race(&mut incoming, self.worker.recv()).await {
                Raced::First(Some(accepted), _recv) => self.dispatch(accepted?).await?,
                Raced::First(None, _) => break,
                Raced::Second(_, Mail::Serve(stream)) => {
                    self.serve_here(TcpStream::from_std(self.worker.ring(), stream)?)
                }
                Raced::Second(_, Mail::Stop) => break,
            }
        }
        let drained = incoming.cancel().await;
        for stream in drained.items {
            self.dispatch(stream).await?;
        }
        drained.end
    }

    /// Serves `stream` here, or with `--hand-off` on the next thread in turn.
    async fn dispatch(&mut self, stream: TcpStream) -> io::Result<()> {
        let to = self.next;
        self.next = (self.next + 1) % self.worker.threads();
        if !self.args.hand_off || to == self.worker.index() {
            self.serve_here(stream);
            return Ok(());
        }
        let sent = self
            .worker
            .peer(to)
            .send(self.worker.ring(), Mail::Serve(stream.into_std()?));
        match sent.complete().await {
            Ok(()) => self.counts.handed += 1,
            // That thread has stopped: the connection comes back, and is served here.
            Err(undelivered) => match undelivered.into_value() {
                Mail::Serve(stream) => {
                    self.serve_here(TcpStream::from_std(self.worker.ring(), stream)?)
                }
                Mail::Stop => unreachable!("only connections are handed between threads"),
            },
        }
        Ok(())
    }

    fn serve_here(&mut self, stream: TcpStream) {
        let ring = self.worker.ring();
        self.counts.served += 1;
        self.handlers.push(match &self.group {
            Some(group) => ring.spawn(echo_multishot(stream, group.clone())),
            None => ring.spawn(echo(stream)),
        });
    }
}
