//! [`Sender`] and [`Receiver`], the ends of a [`Queue`](crate::Queue): each holds one
//! flavour, chosen by the queue's kind when it attaches — `mpmc.rs` (any
//! number of senders and receivers) or `spsc.rs` (one of each at a time) —
//! as crossbeam-channel's ends hold theirs.

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::ShmType;

use super::errors::{
    RecvError, RecvTimeoutError, SendError, SendTimeoutError, TaskDoneError, TryRecvError, TrySendError,
};
use super::slot_ring::{ReadInto, ReadValue, ReadWith, Typed, WriteWith};
use super::typed::{Flavor, Shared};
use super::{mpmc, spsc};
use crate::error::Error;
use crate::wait::{Deadline, WaitStrategy};

/// What the two ends of a queue have alike, written once for [`Sender`]
/// and [`Receiver`]: the end over its flavour, attaching, the wait strategy,
/// `try_clone` and `Clone` (which panics on a single-producer end), the
/// snapshot of the queue's length, and `Debug`. `$who` is "sender" or
/// "receiver", `$side` "sending" or "receiving", `$blocks` when the end
/// waits.
macro_rules! end_common {
    ($end:ident, $flavor:ident, $who:literal, $side:literal, $blocks:literal) => {
        #[doc = concat!("The flavour a [`", stringify!($end), "`] runs.")]
        enum $flavor<T: ShmType> {
            Mpmc(mpmc::$end<Typed<T>>),
            Spsc(spsc::$end<Typed<T>>),
        }

        #[doc = concat!("The ", $side, " end of a [`Queue`](crate::Queue). `Send`, not `Sync`: for")]
        /// another thread, clone it. On a
        /// [single-producer queue](crate::Queue::create_spsc) this is the
        #[doc = concat!("one ", $side, " end, which has no clone: `clone` panics there, and")]
        #[doc = concat!("[`try_clone`](", stringify!($end), "::try_clone) gives [`Error::Busy`].")]
        pub struct $end<T: ShmType> {
            flavor: $flavor<T>,
            _not_sync: PhantomData<std::cell::Cell<()>>,
        }

        impl<T: ShmType> $end<T> {
            pub(super) fn attach(shared: Arc<Shared<Typed<T>>>, strategy: WaitStrategy) -> Result<Self, Error> {
                // A forked child that cannot register says so here.
                shared.seg().try_registration()?;
                let flavor = match shared.flavor {
                    Flavor::Mpmc => $flavor::Mpmc(mpmc::$end::attach(shared, strategy)),
                    Flavor::Spsc => $flavor::Spsc(spsc::$end::attach(shared, strategy)?),
                };
                Ok($end { flavor, _not_sync: PhantomData })
            }

            fn shared(&self) -> &Arc<Shared<Typed<T>>> {
                match &self.flavor {
                    $flavor::Mpmc(e) => &e.shared,
                    $flavor::Spsc(e) => &e.shared,
                }
            }

            fn strategy(&self) -> WaitStrategy {
                match &self.flavor {
                    $flavor::Mpmc(e) => e.strategy,
                    $flavor::Spsc(e) => e.strategy,
                }
            }

            #[doc = concat!("Sets how this endpoint waits when the queue is ", $blocks, ".")]
            pub fn with_wait_strategy(mut self, strategy: WaitStrategy) -> Self {
                match &mut self.flavor {
                    $flavor::Mpmc(e) => e.strategy = strategy,
                    $flavor::Spsc(e) => e.strategy = strategy,
                }
                self
            }

            #[doc = concat!("Another ", $who, " on the same queue, with the same wait strategy.")]
            ///
            /// # Errors
            /// [`Error::Busy`] on a
            /// [single-producer queue](crate::Queue::create_spsc), whose
            #[doc = concat!($side, " end this endpoint holds.")]
            pub fn try_clone(&self) -> Result<Self, Error> {
                $end::attach(self.shared().clone(), self.strategy())
            }

            /// How many messages the queue holds at most.
            pub fn capacity(&self) -> usize {
                self.shared().capacity
            }

            /// Messages in the queue now (a snapshot; includes ones being
            /// written).
            pub fn len(&self) -> usize {
                self.shared().ring().len() as usize
            }

            /// Whether the queue looks empty now.
            pub fn is_empty(&self) -> bool {
                self.len() == 0
            }

            /// Whether the queue looks full now.
            pub fn is_full(&self) -> bool {
                self.len() >= self.capacity()
            }
        }

        #[doc = concat!("Another ", $who, " on a multi-producer queue, as")]
        #[doc = concat!("[`try_clone`](", stringify!($end), "::try_clone) makes it.")]
        ///
        /// # Panics
        /// On a [single-producer queue](crate::Queue::create_spsc), whose
        #[doc = concat!($side, " end this endpoint holds (use [`try_clone`](", stringify!($end), "::try_clone),")]
        /// which gives [`Error::Busy`]). A single-producer queue has exactly
        #[doc = concat!("one ", $who, ": a clone of it cannot exist.")]
        impl<T: ShmType> Clone for $end<T> {
            fn clone(&self) -> Self {
                match &self.flavor {
                    $flavor::Mpmc(e) => $end {
                        flavor: $flavor::Mpmc(mpmc::$end::attach(e.shared.clone(), e.strategy)),
                        _not_sync: PhantomData,
                    },
                    $flavor::Spsc(e) => panic!(
                        concat!("the ", $who, " of single-producer queue '{}' cannot be cloned (try_clone gives Busy)"),
                        e.shared.seg().name()
                    ),
                }
            }
        }

        impl<T: ShmType> fmt::Debug for $end<T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($end)).field("queue", &self.shared().seg().name()).finish_non_exhaustive()
            }
        }
    };
}

end_common!(Sender, SenderFlavor, "sender", "sending", "full");
end_common!(Receiver, ReceiverFlavor, "receiver", "receiving", "empty");

impl<T: ShmType> Sender<T> {
    /// The queue's shared state (for `wait_any` and the async forms).
    pub(super) fn shared_state(&self) -> &Arc<Shared<Typed<T>>> {
        self.shared()
    }
}

impl<T: ShmType> Sender<T> {
    /// Sends every value of `values` in order, waiting for room as needed.
    /// On a [single-producer queue](crate::Queue::create_spsc) the index update and
    /// the wake-up check are made once per batch (or per run that fits)
    /// instead of once per message.
    ///
    /// # Errors
    /// [`SendError::Disconnected`] with the number of values sent before
    /// every receiver was gone.
    pub fn send_batch(&self, values: &[T]) -> Result<(), SendError<usize>> {
        self.send_batch_until(values, Deadline::Never).map(drop)
    }

    /// Sends the longest prefix of `values` that fits now; returns how many
    /// were sent (0 if the queue is full).
    ///
    /// # Errors
    /// As [`Sender::send_batch`].
    pub fn try_send_batch(&self, values: &[T]) -> Result<usize, SendError<usize>> {
        self.send_batch_until(values, Deadline::Now)
    }

    /// [`Sender::send_batch`], waiting at most `timeout` for room in all;
    /// returns how many were sent (fewer than `values.len()` if the time
    /// ran out).
    ///
    /// # Errors
    /// As [`Sender::send_batch`].
    pub fn send_batch_timeout(&self, values: &[T], timeout: Duration) -> Result<usize, SendError<usize>> {
        self.send_batch_until(values, Deadline::after(timeout))
    }

    /// [`Sender::send_batch`], waiting until `deadline` at most for room;
    /// returns how many were sent (fewer than `values.len()` if the time
    /// ran out).
    ///
    /// # Errors
    /// As [`Sender::send_batch`].
    pub fn send_batch_deadline(&self, values: &[T], deadline: Instant) -> Result<usize, SendError<usize>> {
        self.send_batch_until(values, Deadline::At(deadline))
    }

    /// Sends `values` in order until `deadline`; how many were sent.
    fn send_batch_until(&self, values: &[T], deadline: Deadline) -> Result<usize, SendError<usize>> {
        if let SenderFlavor::Spsc(s) = &self.flavor {
            return s.send_batch_until(values, deadline);
        }
        for (i, &v) in values.iter().enumerate() {
            match self.send_until(v, deadline) {
                Ok(()) => {}
                Err(SendTimeoutError::Timeout(_)) => return Ok(i),
                Err(SendTimeoutError::Disconnected(_)) => return Err(SendError::Disconnected(i)),
            }
        }
        Ok(values.len())
    }

    /// Sends `value`, waiting while the queue is full.
    ///
    /// # Errors
    /// [`SendError::Disconnected`] with the value if every receiver is gone.
    pub fn send(&self, value: T) -> Result<(), SendError<T>> {
        self.send_until(value, Deadline::Never).map_err(|e| SendError::Disconnected(e.into_inner()))
    }

    /// Sends `value` if there is room now.
    ///
    /// `Full` means the queue holds `capacity` messages. On a
    /// multi-producer queue whose next slot is still being read by a live
    /// receiver (its message already counted out of [`len`](Sender::len)),
    /// this waits for that read to end: a few microseconds normally, at most
    /// 20 ms for a receiver stopped in the middle of it, after which it says
    /// `Full`, and says so at once while that same read stays unfinished.
    ///
    /// # Errors
    /// [`TrySendError::Full`] or [`TrySendError::Disconnected`], with the value.
    pub fn try_send(&self, value: T) -> Result<(), TrySendError<T>> {
        self.send_until(value, Deadline::Now).map_err(|e| match e {
            SendTimeoutError::Timeout(v) => TrySendError::Full(v),
            SendTimeoutError::Disconnected(v) => TrySendError::Disconnected(v),
        })
    }

    /// Sends `value`, waiting at most `timeout` for room.
    ///
    /// # Errors
    /// [`SendTimeoutError::Timeout`] or `Disconnected`, with the value.
    pub fn send_timeout(&self, value: T, timeout: Duration) -> Result<(), SendTimeoutError<T>> {
        self.send_until(value, Deadline::after(timeout))
    }

    /// Sends `value`, waiting until `deadline` at most for room.
    ///
    /// # Errors
    /// [`SendTimeoutError::Timeout`] or `Disconnected`, with the value.
    pub fn send_deadline(&self, value: T, deadline: Instant) -> Result<(), SendTimeoutError<T>> {
        self.send_until(value, Deadline::At(deadline))
    }

    /// Sends a value written in place: `f` writes it into the queue's slot
    /// directly (no `T` is built and copied, which matters for large `T`),
    /// waiting while the queue is full. `f` sees the slot's previous bytes
    /// and must write every field it means to send; it runs once, after
    /// the slot is claimed, and the message is published when it returns. A
    /// closure that borrows what it writes is `Copy`, as this needs.
    ///
    /// ```
    /// # let name = format!("doc-send-with-{}", std::process::id());
    /// let q = shmkit::Queue::<[u8; 4096]>::create(&name, 4)?;
    /// let (tx, rx) = (q.sender()?, q.receiver()?);
    /// let page = vec![7u8; 4096];
    /// tx.send_with(|slot| slot.copy_from_slice(&page)).unwrap();
    /// assert_eq!(rx.recv_with(|slot| slot.iter().map(|&b| u32::from(b)).sum::<u32>()), Ok(7 * 4096));
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`SendError::Disconnected`] if every receiver is gone (`f` was not
    /// called).
    pub fn send_with<F: Fn(&mut T) + Copy>(&self, f: F) -> Result<(), SendError<()>> {
        self.send_with_until(f, Deadline::Never).map_err(|_| SendError::Disconnected(()))
    }

    /// [`Sender::send_with`] if there is room now.
    ///
    /// # Errors
    /// [`TrySendError::Full`] or [`TrySendError::Disconnected`] (`f` was not
    /// called).
    pub fn try_send_with<F: Fn(&mut T) + Copy>(&self, f: F) -> Result<(), TrySendError<()>> {
        self.send_with_until(f, Deadline::Now).map_err(|e| match e {
            SendTimeoutError::Timeout(()) => TrySendError::Full(()),
            SendTimeoutError::Disconnected(()) => TrySendError::Disconnected(()),
        })
    }

    /// [`Sender::send_with`], waiting at most `timeout` for room.
    ///
    /// # Errors
    /// [`SendTimeoutError::Timeout`] or `Disconnected` (`f` was not called).
    pub fn send_with_timeout<F: Fn(&mut T) + Copy>(&self, f: F, timeout: Duration) -> Result<(), SendTimeoutError<()>> {
        self.send_with_until(f, Deadline::after(timeout))
    }

    /// [`Sender::send_with`], waiting until `deadline` at most for room.
    ///
    /// # Errors
    /// [`SendTimeoutError::Timeout`] or `Disconnected` (`f` was not called).
    pub fn send_with_deadline<F: Fn(&mut T) + Copy>(
        &self,
        f: F,
        deadline: Instant,
    ) -> Result<(), SendTimeoutError<()>> {
        self.send_with_until(f, Deadline::At(deadline))
    }

    fn send_with_until<F: Fn(&mut T) + Copy>(&self, f: F, deadline: Deadline) -> Result<(), SendTimeoutError<()>> {
        let msg = WriteWith(f);
        let sent = match &self.flavor {
            SenderFlavor::Mpmc(s) => s.shared.counted(msg, |m| s.put(m, deadline)),
            SenderFlavor::Spsc(s) => s.shared.counted(msg, |m| s.put(m, deadline)),
        };
        sent.map_err(|e| match e {
            SendTimeoutError::Timeout(_) => SendTimeoutError::Timeout(()),
            SendTimeoutError::Disconnected(_) => SendTimeoutError::Disconnected(()),
        })
    }

    #[inline]
    fn send_until(&self, value: T, deadline: Deadline) -> Result<(), SendTimeoutError<T>> {
        match &self.flavor {
            SenderFlavor::Mpmc(s) => s.shared.counted(value, |v| s.put(v, deadline)),
            SenderFlavor::Spsc(s) => s.shared.counted(value, |v| s.put(v, deadline)),
        }
    }
}

impl<T: ShmType> Receiver<T> {
    /// The flavour, borrowed (for `wait_any`).
    pub(super) fn either(&self) -> super::ready::Either<'_, Typed<T>> {
        match &self.flavor {
            ReceiverFlavor::Mpmc(e) => super::ready::Either::Mpmc(e),
            ReceiverFlavor::Spsc(e) => super::ready::Either::Spsc(e),
        }
    }
}

impl<T: ShmType> Receiver<T> {
    /// Waits for a message, then moves the messages there (up to
    /// `buf.len()`) into `buf`; returns how many. On a
    /// [single-producer queue](crate::Queue::create_spsc) the index update and the
    /// wake-up check are made once for them all.
    ///
    /// # Errors
    /// [`RecvError`] if the queue is empty and every sender is gone.
    pub fn recv_batch(&self, buf: &mut [T]) -> Result<usize, RecvError> {
        self.recv_batch_until(buf, Deadline::Never).map_err(|_| RecvError)
    }

    /// Moves the messages there now (up to `buf.len()`) into `buf`;
    /// returns how many.
    ///
    /// # Errors
    /// As [`Receiver::try_recv`].
    pub fn try_recv_batch(&self, buf: &mut [T]) -> Result<usize, TryRecvError> {
        self.recv_batch_until(buf, Deadline::Now).map_err(|e| match e {
            RecvTimeoutError::Timeout => TryRecvError::Empty,
            RecvTimeoutError::Disconnected => TryRecvError::Disconnected,
        })
    }

    /// [`Receiver::recv_batch`], waiting at most `timeout` for a message.
    ///
    /// # Errors
    /// As [`Receiver::recv_timeout`].
    pub fn recv_batch_timeout(&self, buf: &mut [T], timeout: Duration) -> Result<usize, RecvTimeoutError> {
        self.recv_batch_until(buf, Deadline::after(timeout))
    }

    /// [`Receiver::recv_batch`], waiting until `deadline` at most for a
    /// message.
    ///
    /// # Errors
    /// As [`Receiver::recv_timeout`].
    pub fn recv_batch_deadline(&self, buf: &mut [T], deadline: Instant) -> Result<usize, RecvTimeoutError> {
        self.recv_batch_until(buf, Deadline::At(deadline))
    }

    fn recv_batch_until(&self, buf: &mut [T], deadline: Deadline) -> Result<usize, RecvTimeoutError> {
        if buf.is_empty() {
            return Ok(0);
        }
        let r = match &self.flavor {
            ReceiverFlavor::Spsc(r) => return r.recv_batch_until(buf, deadline),
            ReceiverFlavor::Mpmc(r) => r,
        };
        buf[0] = r.recv_until(ReadValue, deadline)?;
        // The rest: what is published now, with no wait for a message in
        // flight (the batch has one already).
        Ok(1 + r.take_ready(&mut buf[1..]))
    }

    /// Receives a message, waiting while the queue is empty.
    ///
    /// # Errors
    /// [`RecvError`] if the queue is empty and every sender is gone.
    pub fn recv(&self) -> Result<T, RecvError> {
        self.recv_until(Deadline::Never).map_err(|_| RecvError)
    }

    /// Receives a message if one is there now. On an empty queue this is
    /// cheap: senders that were dropped give `Disconnected` at once, senders
    /// that died on one call in 1024 (that check is a syscall).
    ///
    /// `Empty` means nothing lies between head and tail. On a multi-producer
    /// queue whose head message is still being written by a live sender,
    /// this waits for it (messages are taken in order, never around it): a
    /// few microseconds normally, at most 20 ms for a sender stopped between
    /// claim and commit (SIGSTOP, a debugger), after which it says `Empty`,
    /// and says so at once while that same message stays unfinished.
    ///
    /// # Errors
    /// [`TryRecvError::Empty`], or `Disconnected` if every sender is gone.
    pub fn try_recv(&self) -> Result<T, TryRecvError> {
        self.recv_until(Deadline::Now).map_err(|e| match e {
            RecvTimeoutError::Timeout => TryRecvError::Empty,
            RecvTimeoutError::Disconnected => TryRecvError::Disconnected,
        })
    }

    /// Receives a message, waiting at most `timeout`.
    ///
    /// # Errors
    /// [`RecvTimeoutError::Timeout`], or `Disconnected`.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<T, RecvTimeoutError> {
        self.recv_until(Deadline::after(timeout))
    }

    /// Receives a message, waiting until `deadline` at most.
    ///
    /// # Errors
    /// [`RecvTimeoutError::Timeout`], or `Disconnected`.
    pub fn recv_deadline(&self, deadline: Instant) -> Result<T, RecvTimeoutError> {
        self.recv_until(Deadline::At(deadline))
    }

    /// A blocking iterator over the messages: each `next` is a
    /// [`recv`](Receiver::recv), and the iteration ends when the queue is
    /// empty and every sender is gone.
    ///
    /// ```
    /// # let name = format!("doc-queue-iter-{}", std::process::id());
    /// let q = shmkit::Queue::<u32>::create(&name, 8)?;
    /// let (tx, rx) = (q.sender()?, q.receiver()?);
    /// tx.send_batch(&[1, 2, 3]).unwrap();
    /// drop(tx);
    /// assert_eq!(rx.iter().collect::<Vec<_>>(), [1, 2, 3]);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn iter(&self) -> Iter<'_, T> {
        Iter { rx: self }
    }

    /// An iterator over the messages there now: each `next` is a
    /// [`try_recv`](Receiver::try_recv), and the iteration ends when the
    /// queue is empty (or every sender is gone).
    pub fn try_iter(&self) -> TryIter<'_, T> {
        TryIter { rx: self }
    }

    /// Marks one received message as finished (joinable queues).
    ///
    /// # Errors
    /// [`TaskDoneError`] if more messages were marked done than were sent,
    /// or the queue is not joinable.
    pub fn task_done(&self) -> Result<(), TaskDoneError> {
        let sh = self.shared();
        if sh.joinable() && sh.finish_one() { Ok(()) } else { Err(TaskDoneError) }
    }

    #[inline]
    /// Receives the next message in place: calls `f` with a reference to
    /// the value in the queue's slot (no copy of a `T`, which matters for
    /// large `T`) and returns what it returns; the slot is freed when `f`
    /// returns. Waits while the queue is empty. A receiver killed inside
    /// `f` loses the message on a multi-producer queue (its slot is freed),
    /// and leaves it to its successor on a single-producer one, as `recv`.
    ///
    /// # Errors
    /// [`RecvError`] once the queue is empty and every sender is gone.
    pub fn recv_with<R, F: FnOnce(&T) -> R>(&self, f: F) -> Result<R, RecvError> {
        self.recv_with_until(f, Deadline::Never).map_err(|_| RecvError)
    }

    /// [`Receiver::recv_with`] if a message is there now.
    ///
    /// # Errors
    /// [`TryRecvError::Empty`] or [`TryRecvError::Disconnected`].
    pub fn try_recv_with<R, F: FnOnce(&T) -> R>(&self, f: F) -> Result<R, TryRecvError> {
        self.recv_with_until(f, Deadline::Now).map_err(|e| match e {
            RecvTimeoutError::Timeout => TryRecvError::Empty,
            RecvTimeoutError::Disconnected => TryRecvError::Disconnected,
        })
    }

    /// [`Receiver::recv_with`], waiting at most `timeout`.
    ///
    /// # Errors
    /// [`RecvTimeoutError::Timeout`] or `Disconnected`.
    pub fn recv_with_timeout<R, F: FnOnce(&T) -> R>(&self, f: F, timeout: Duration) -> Result<R, RecvTimeoutError> {
        self.recv_with_until(f, Deadline::after(timeout))
    }

    /// [`Receiver::recv_with`], waiting until `deadline` at most.
    ///
    /// # Errors
    /// [`RecvTimeoutError::Timeout`] or `Disconnected`.
    pub fn recv_with_deadline<R, F: FnOnce(&T) -> R>(&self, f: F, deadline: Instant) -> Result<R, RecvTimeoutError> {
        self.recv_with_until(f, Deadline::At(deadline))
    }

    fn recv_with_until<R, F: FnOnce(&T) -> R>(&self, f: F, deadline: Deadline) -> Result<R, RecvTimeoutError> {
        let got = match &self.flavor {
            ReceiverFlavor::Mpmc(r) => r.recv_until(ReadWith(Some(f)), deadline)?,
            ReceiverFlavor::Spsc(r) => r.recv_until(ReadWith(Some(f)), deadline)?,
        };
        // A received message was read exactly once, so `got` is `Some`; a
        // `None` (impossible) would mean nothing was received.
        got.ok_or(RecvTimeoutError::Timeout)
    }

    #[inline]
    fn recv_until(&self, deadline: Deadline) -> Result<T, RecvTimeoutError> {
        let mut out = std::mem::MaybeUninit::<T>::uninit();
        match &self.flavor {
            ReceiverFlavor::Mpmc(r) => r.recv_until(ReadInto(&mut out), deadline)?,
            ReceiverFlavor::Spsc(r) => r.recv_until(ReadInto(&mut out), deadline)?,
        }
        // SAFETY: a receive returns `Ok` only with what its reader's `read`
        // gave (`ReadInto` refuses nothing), so a `T` was copied into `out`.
        Ok(unsafe { out.assume_init() })
    }
}

impl<'a, T: ShmType> IntoIterator for &'a Receiver<T> {
    type Item = T;
    type IntoIter = Iter<'a, T>;

    fn into_iter(self) -> Iter<'a, T> {
        self.iter()
    }
}

super::receiver_iter!(
    /// A blocking iterator over a [`Receiver`]'s messages, made by
    /// [`Receiver::iter`]: ends when the queue is empty and every sender is
    /// gone.
    Iter<'a, T>(&'a Receiver<T>) -> T = recv
);

super::receiver_iter!(
    /// A non-blocking iterator over a [`Receiver`]'s messages, made by
    /// [`Receiver::try_iter`]: ends when the queue is empty.
    TryIter<'a, T>(&'a Receiver<T>) -> T = try_recv
);
