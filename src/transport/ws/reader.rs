//! STUB
use super::error::WsError;
pub enum WsMessage<'a> {
    Text(&'a [u8]),
    Binary(&'a [u8]),
    Ping(&'a [u8]),
    Pong(&'a [u8]),
    Close { code: Option<u16>, reason: &'a [u8] },
}
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    Continue,
    Stop,
}
#[derive(Default, Debug)]
pub struct MessageReader {
    _x: u8,
}
impl MessageReader {
    pub const fn new() -> Self {
        MessageReader { _x: 0 }
    }
    pub fn feed<F: FnMut(WsMessage<'_>) -> Flow>(
        &mut self,
        _input: &mut [u8],
        _max: usize,
        _on_msg: F,
    ) -> Result<(), WsError> {
        todo!()
    }
}
