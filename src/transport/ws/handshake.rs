//! STUB
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandshakeError {
    #[error("x")]
    MethodNotAllowed,
    #[error("x")]
    NotWebSocket,
    #[error("x")]
    UnsupportedVersion(String),
    #[error("x")]
    MissingKey,
    #[error("x")]
    InvalidKey,
}
impl HandshakeError {
    pub fn status(&self) -> u16 {
        400
    }
    pub fn body(&self) -> String {
        String::new()
    }
}
pub struct HandshakeHeaders<'a> {
    pub method: &'a str,
    pub upgrade: Option<&'a [u8]>,
    pub connection: Option<&'a [u8]>,
    pub version: Option<&'a [u8]>,
    pub key: Option<&'a [u8]>,
}
pub fn validate(_h: &HandshakeHeaders<'_>) -> Result<String, HandshakeError> {
    todo!()
}
pub fn response_101(_accept: &str) -> Vec<u8> {
    todo!()
}
