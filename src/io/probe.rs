//! STUB
use super::BackendKind;
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendChoice {
    Auto,
    Uring,
    Epoll,
}
impl std::str::FromStr for BackendChoice {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(Self::Auto),
            "uring" => Ok(Self::Uring),
            "epoll" => Ok(Self::Epoll),
            _ => Err("bad".into()),
        }
    }
}
pub struct Selection {
    pub kind: BackendKind,
    pub reason: String,
}
pub fn select(_r: BackendChoice) -> Result<Selection, String> {
    Ok(Selection { kind: BackendKind::Epoll, reason: "stub".into() })
}
