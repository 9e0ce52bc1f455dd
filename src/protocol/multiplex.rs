//! websocket-multiplex in rooms mode (spec `multiplex.md` §2–§4): ringcast's built-in
//! pub/sub protocol.
//!
//! Owns: parsing `<type>,<topic>[,<payload>]` messages (also used by the channels
//! protocol), the per-connection set of open topics, and turning `sub`/`msg`/`uns` into
//! [`Action`]s in the service's topic space. Anything malformed or out of state is
//! silently ignored, as the spec requires (§1: "no error replies"). Does not own: room
//! membership across connections (that is `pubsub::topics`).

use super::Action;
use crate::ids::SpaceId;
use crate::pubsub::prepared::Framing;
use bytes::Bytes;

/// Rooms configuration shared by every connection of a service.
#[derive(Debug, Clone, Default)]
pub struct RoomsConfig {
    /// Allowed rooms; `None` = any topic (dynamic rooms).
    pub allow: Option<Vec<Bytes>>,
    /// Longer topics are treated as unknown (§2: "SHOULD cap topic length").
    pub max_topic_bytes: usize,
    /// Further `sub`s beyond this many open topics are ignored.
    pub max_topics: usize,
}

/// One parsed multiplex message; `payload` is everything after the second comma.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parsed<'a> {
    pub kind: &'a [u8],
    pub topic: Option<&'a [u8]>,
    pub payload: &'a [u8],
}

/// Split at the first two commas (§2, byte-exact rule).
pub fn parse(msg: &[u8]) -> Parsed<'_> {
    let Some(c1) = msg.iter().position(|&b| b == b',') else {
        return Parsed { kind: msg, topic: None, payload: b"" };
    };
    let rest = &msg[c1 + 1..];
    match rest.iter().position(|&b| b == b',') {
        Some(c2) => Parsed { kind: &msg[..c1], topic: Some(&rest[..c2]), payload: &rest[c2 + 1..] },
        None => Parsed { kind: &msg[..c1], topic: Some(rest), payload: b"" },
    }
}

/// Per-connection state: the topics this connection has open (§3 `open_topics`).
#[derive(Debug, Clone, Default)]
pub struct RoomsState {
    open: Vec<Bytes>,
}

impl RoomsState {
    pub const fn new() -> Self {
        RoomsState { open: Vec::new() }
    }

    /// Topics currently open, in subscription order.
    pub fn open_topics(&self) -> &[Bytes] {
        &self.open
    }

    /// Handle one text message of a member of `space`; pushes at most one action.
    ///
    /// Members receive a published `msg,T,P` as `msg,T,P`, P byte-identical (§4).
    pub fn on_message(&mut self, msg: &[u8], cfg: &RoomsConfig, space: SpaceId, out: &mut Vec<Action>) {
        let p = parse(msg);
        let Some(topic) = p.topic else { return };
        if topic.len() > cfg.max_topic_bytes {
            return;
        }
        match p.kind {
            b"sub" => self.sub(topic, cfg, space, out),
            b"msg" => {
                if let Some(t) = self.find(topic) {
                    let topic = self.open[t].clone();
                    let payload = Bytes::copy_from_slice(p.payload);
                    out.push(Action::Publish { space, label: topic.clone(), topic, payload, except_self: false });
                }
            }
            b"uns" => {
                if let Some(t) = self.find(topic) {
                    let topic = self.open.swap_remove(t);
                    out.push(Action::Unsubscribe { space, topic });
                }
            }
            _ => {}
        }
    }

    fn sub(&mut self, topic: &[u8], cfg: &RoomsConfig, space: SpaceId, out: &mut Vec<Action>) {
        let allowed = cfg.allow.as_ref().is_none_or(|rooms| rooms.iter().any(|r| r == topic));
        if !allowed || self.find(topic).is_some() || self.open.len() >= cfg.max_topics {
            return;
        }
        let topic = Bytes::copy_from_slice(topic);
        self.open.push(topic.clone());
        out.push(Action::Subscribe { space, topic, framing: Framing::Multiplex });
    }

    fn find(&self, topic: &[u8]) -> Option<usize> {
        self.open.iter().position(|t| t == topic)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> RoomsConfig {
        RoomsConfig { allow: None, max_topic_bytes: 256, max_topics: 8 }
    }

    const SPACE: SpaceId = SpaceId(7);

    fn run(state: &mut RoomsState, cfg: &RoomsConfig, msg: &str) -> Vec<Action> {
        let mut out = Vec::new();
        state.on_message(msg.as_bytes(), cfg, SPACE, &mut out);
        out
    }

    fn sub(topic: &str) -> Action {
        Action::Subscribe { space: SPACE, topic: b(topic), framing: Framing::Multiplex }
    }

    fn b(s: &str) -> Bytes {
        Bytes::copy_from_slice(s.as_bytes())
    }

    #[test]
    fn spec_2_split_at_first_two_commas() {
        assert_eq!(parse(b"msg,red,a,b,c"), Parsed { kind: b"msg", topic: Some(b"red"), payload: b"a,b,c" });
        assert_eq!(parse(b"msg,red"), Parsed { kind: b"msg", topic: Some(b"red"), payload: b"" });
        assert_eq!(parse(b"msg,red,"), Parsed { kind: b"msg", topic: Some(b"red"), payload: b"" });
        assert_eq!(parse(b"sub"), Parsed { kind: b"sub", topic: None, payload: b"" });
        assert_eq!(parse(b""), Parsed { kind: b"", topic: None, payload: b"" });
    }

    #[test]
    fn checklist_8_sub_produces_no_message() {
        let mut s = RoomsState::new();
        assert_eq!(run(&mut s, &cfg(), "sub,red"), vec![sub("red")]);
        assert_eq!(s.open_topics(), &[b("red")]);
    }

    #[test]
    fn checklist_9_msg_from_member_publishes_wire_verbatim() {
        let mut s = RoomsState::new();
        run(&mut s, &cfg(), "sub,red");
        let out = run(&mut s, &cfg(), "msg,red,hi,there");
        let payload = b("hi,there");
        let want = Action::Publish { space: SPACE, topic: b("red"), label: b("red"), payload, except_self: false };
        assert_eq!(out, vec![want]);
    }

    #[test]
    fn checklist_10_msg_from_non_member_is_dropped() {
        let mut s = RoomsState::new();
        run(&mut s, &cfg(), "sub,blue");
        assert!(run(&mut s, &cfg(), "msg,red,intruder").is_empty());
    }

    #[test]
    fn checklist_11_14_uns_removes_and_resub_works() {
        let mut s = RoomsState::new();
        run(&mut s, &cfg(), "sub,red");
        assert_eq!(run(&mut s, &cfg(), "uns,red"), vec![Action::Unsubscribe { space: SPACE, topic: b("red") }]);
        assert!(run(&mut s, &cfg(), "msg,red,2").is_empty());
        assert!(run(&mut s, &cfg(), "uns,red").is_empty());
        assert_eq!(run(&mut s, &cfg(), "sub,red"), vec![sub("red")]);
    }

    #[test]
    fn checklist_5_malformed_and_unknown_are_ignored() {
        let mut s = RoomsState::new();
        for m in ["foo,red", "SUB,red", "sub", "", ",red", "msg", "uns,zzz"] {
            assert!(run(&mut s, &cfg(), m).is_empty(), "{m:?}");
        }
    }

    #[test]
    fn checklist_6_duplicate_sub_is_ignored() {
        let mut s = RoomsState::new();
        run(&mut s, &cfg(), "sub,red");
        assert!(run(&mut s, &cfg(), "sub,red").is_empty());
        assert!(run(&mut s, &cfg(), "sub,red,junk").is_empty());
    }

    #[test]
    fn allowlist_and_limits_are_enforced() {
        let c = RoomsConfig { allow: Some(vec![b("red")]), max_topic_bytes: 4, max_topics: 1 };
        let mut s = RoomsState::new();
        assert!(run(&mut s, &c, "sub,blue").is_empty());
        assert!(run(&mut s, &c, "sub,redred").is_empty());
        assert_eq!(run(&mut s, &c, "sub,red").len(), 1);
        let open = RoomsConfig { allow: None, max_topic_bytes: 4, max_topics: 1 };
        assert!(run(&mut s, &open, "sub,x").is_empty(), "max_topics reached");
    }

    #[test]
    fn empty_topic_is_a_topic() {
        let mut s = RoomsState::new();
        assert_eq!(run(&mut s, &cfg(), "sub,").len(), 1);
        assert_eq!(run(&mut s, &cfg(), "msg,,x").len(), 1);
    }
}
