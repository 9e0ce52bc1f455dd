//! STUB
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WsError {
    #[error("x")]
    InvalidUtf8,
}
impl WsError {
    pub fn close_code(self) -> u16 {
        1007
    }
}
