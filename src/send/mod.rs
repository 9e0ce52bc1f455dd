//! Outbound data: per-connection send queues and the end-of-tick flush.
//!
//! Owns: [`queue::SendQueue`] (frames waiting for the kernel, under a byte budget) and
//! [`flush`] (one coalesced write per dirty connection per tick). Does not own: which
//! connections exist or what the frames contain.

pub mod flush;
pub mod queue;
