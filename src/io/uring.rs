//! STUB
use super::{BackendOptions, Event, WriteStart};
use std::{
    io,
    os::fd::{OwnedFd, RawFd},
    time::Duration,
};
pub struct UringIo;
impl UringIo {
    pub fn new(_l: OwnedFd, _w: RawFd, _o: &BackendOptions) -> io::Result<UringIo> {
        todo!()
    }
    pub fn add_conn(&mut self, _t: u64, _fd: RawFd) -> io::Result<()> {
        todo!()
    }
    pub fn remove_conn(&mut self, _t: u64, _fd: RawFd) {
        todo!()
    }
    pub unsafe fn write(&mut self, _t: u64, _fd: RawFd, _iov: &[libc::iovec]) -> WriteStart {
        todo!()
    }
    pub fn wait(&mut self, _t: Option<Duration>) -> io::Result<()> {
        todo!()
    }
    pub fn next_event(&mut self) -> Option<Event<'_>> {
        todo!()
    }
}
