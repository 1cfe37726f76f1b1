//! IPVS TCP connection states, their timeouts and transition tables
//! (kernel net/netfilter/ipvs/ip_vs_proto_tcp.c: tcp_timeouts, tcp_states,
//! set_tcp_state). Only the default table, not the secure_tcp one.

use std::time::Duration;

/// IPVS TCP states (`IP_VS_TCP_S_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub enum TcpState {
    None,
    Established,
    SynSent,
    SynRecv,
    FinWait,
    TimeWait,
    Close,
    CloseWait,
    LastAck,
    Listen,
    SynAck,
}

/// Which way a packet goes through the director.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Client -> real server.
    Input,
    /// Real server -> client (seen by the director only in NAT).
    Output,
}

use TcpState::*;

/// Every state in the kernel's order (`IP_VS_TCP_S_NONE` = 0 .. `SYNACK` = 10).
const ALL: [TcpState; 11] = [
    None,
    Established,
    SynSent,
    SynRecv,
    FinWait,
    TimeWait,
    Close,
    CloseWait,
    LastAck,
    Listen,
    SynAck,
];

impl TcpState {
    /// The kernel's number (`IP_VS_TCP_S_*`), as the sync protocol sends it.
    pub fn number(self) -> u16 {
        ALL.iter().position(|s| *s == self).unwrap_or(0) as u16
    }

    /// The state of a kernel number; `None` past `IP_VS_TCP_S_LAST`.
    pub fn from_number(n: u16) -> Option<TcpState> {
        ALL.get(usize::from(n)).copied()
    }

    /// ipvsadm's name.
    pub fn name(self) -> &'static str {
        match self {
            None => "NONE",
            Established => "ESTABLISHED",
            SynSent => "SYN_SENT",
            SynRecv => "SYN_RECV",
            FinWait => "FIN_WAIT",
            TimeWait => "TIME_WAIT",
            Close => "CLOSE",
            CloseWait => "CLOSE_WAIT",
            LastAck => "LAST_ACK",
            Listen => "LISTEN",
            SynAck => "SYNACK",
        }
    }

    /// Default timeout of the state (ip_vs_proto_tcp.c tcp_timeouts).
    pub fn timeout(self) -> Duration {
        Duration::from_secs(match self {
            None => 2,
            Established => 900,
            SynSent => 120,
            SynRecv => 60,
            FinWait => 120,
            TimeWait => 120,
            Close => 10,
            CloseWait => 60,
            LastAck => 30,
            Listen => 120,
            SynAck => 120,
        })
    }

    fn col(self) -> usize {
        self as usize
    }
}

/// UDP connection timeout (ip_vs_proto_udp.c, IP_VS_UDP_S_NORMAL).
pub const UDP_TIMEOUT: Duration = Duration::from_secs(300);

const T: usize = 11;
type Row = [TcpState; T];

// Columns: sNO sES sSS sSR sFW sTW sCL sCW sLA sLI sSA; rows syn fin ack rst.
#[rustfmt::skip]
const INPUT: [Row; 4] = [
    [SynRecv, Established, Established, SynRecv, SynRecv, SynRecv, SynRecv, SynRecv, SynRecv, SynRecv, SynRecv],
    [Close, CloseWait, SynSent, TimeWait, TimeWait, TimeWait, Close, CloseWait, LastAck, Listen, TimeWait],
    [Close, Established, SynSent, Established, FinWait, TimeWait, Close, CloseWait, Close, Listen, Established],
    [Close, Close, Close, SynRecv, Close, Close, Close, Close, LastAck, Listen, SynRecv],
];
#[rustfmt::skip]
const OUTPUT: [Row; 4] = [
    [SynSent, Established, SynSent, SynRecv, SynSent, SynSent, SynSent, SynSent, SynSent, Listen, SynRecv],
    [TimeWait, FinWait, SynSent, TimeWait, FinWait, TimeWait, Close, TimeWait, LastAck, Listen, TimeWait],
    [Established, Established, SynSent, Established, FinWait, TimeWait, Close, CloseWait, LastAck, Established, Established],
    [Close, Close, SynSent, Close, Close, TimeWait, Close, Close, Close, Close, Close],
];
/// Used while the director has seen no output packet (DR, TUN: NOOUTPUT flag).
#[rustfmt::skip]
const INPUT_ONLY: [Row; 4] = [
    [SynRecv, Established, Established, SynRecv, SynRecv, SynRecv, SynRecv, SynRecv, SynRecv, SynRecv, SynRecv],
    [Close, FinWait, SynSent, TimeWait, FinWait, TimeWait, Close, CloseWait, LastAck, Listen, TimeWait],
    [Close, Established, SynSent, Established, FinWait, TimeWait, Close, CloseWait, Close, Listen, Established],
    [Close, Close, Close, SynRecv, Close, Close, Close, Close, LastAck, Listen, Close],
];

/// Row index by flags: RST, then SYN, then FIN, then ACK (tcp_state_idx).
fn row(flags: u8) -> Option<usize> {
    if flags & 0x04 != 0 {
        Some(3)
    } else if flags & 0x02 != 0 {
        Some(0)
    } else if flags & 0x01 != 0 {
        Some(1)
    } else if flags & 0x10 != 0 {
        Some(2)
    } else {
        Option::None
    }
}

/// Next state for a packet with TCP `flags`. `no_output` is the connection's
/// NOOUTPUT flag: input packets then use the INPUT-ONLY table; an output packet
/// clears the flag (returned as the second value). No flag bit -> CLOSE, as
/// the kernel does.
pub fn next_state(state: TcpState, dir: Direction, flags: u8, no_output: bool) -> (TcpState, bool) {
    let (table, no_output) = match (dir, no_output) {
        (Direction::Output, _) => (&OUTPUT, false),
        (Direction::Input, true) => (&INPUT_ONLY, true),
        (Direction::Input, false) => (&INPUT, false),
    };
    let next = match row(flags) {
        Some(r) => table[r][state.col()],
        Option::None => Close,
    };
    (next, no_output)
}

#[cfg(test)]
mod tests {
    use super::*;
    const SYN: u8 = 0x02;
    const ACK: u8 = 0x10;
    const FIN: u8 = 0x01;
    const RST: u8 = 0x04;

    #[test]
    fn dr_handshake_input_only() {
        let (s, n) = next_state(None, Direction::Input, SYN, true);
        assert_eq!((s, n), (SynRecv, true));
        let (s, _) = next_state(s, Direction::Input, ACK, true);
        assert_eq!(s, Established);
        // Client FIN: input-only gives FIN_WAIT (the normal input table CLOSE_WAIT).
        assert_eq!(next_state(s, Direction::Input, FIN | ACK, true).0, FinWait);
        assert_eq!(
            next_state(s, Direction::Input, FIN | ACK, false).0,
            CloseWait
        );
        // RST on SYNACK: input-only -> CLOSE, input -> SYN_RECV.
        assert_eq!(next_state(SynAck, Direction::Input, RST, true).0, Close);
        assert_eq!(next_state(SynAck, Direction::Input, RST, false).0, SynRecv);
    }

    #[test]
    fn nat_output_clears_no_output() {
        let (s, n) = next_state(SynRecv, Direction::Output, SYN | ACK, true);
        assert_eq!((s, n), (SynRecv, false));
        assert_eq!(next_state(s, Direction::Input, ACK, n).0, Established);
        assert_eq!(
            next_state(Established, Direction::Output, FIN, false).0,
            FinWait
        );
        assert_eq!(next_state(None, Direction::Output, SYN, false).0, SynSent);
    }

    #[test]
    fn rst_wins_over_syn_and_no_flags_close() {
        assert_eq!(
            next_state(Established, Direction::Input, SYN | RST, true).0,
            Close
        );
        assert_eq!(next_state(Established, Direction::Input, 0, true).0, Close);
        // Bare ACK on a fresh entry closes it (the kernel's sNO column).
        assert_eq!(next_state(None, Direction::Input, ACK, true).0, Close);
    }

    #[test]
    fn timeouts_are_the_kernels() {
        assert_eq!(Established.timeout().as_secs(), 900);
        assert_eq!(SynSent.timeout().as_secs(), 120);
        assert_eq!(SynRecv.timeout().as_secs(), 60);
        assert_eq!(FinWait.timeout().as_secs(), 120);
        assert_eq!(TimeWait.timeout().as_secs(), 120);
        assert_eq!(Close.timeout().as_secs(), 10);
        assert_eq!(CloseWait.timeout().as_secs(), 60);
        assert_eq!(LastAck.timeout().as_secs(), 30);
        assert_eq!(Listen.timeout().as_secs(), 120);
        assert_eq!(SynAck.timeout().as_secs(), 120);
        assert_eq!(UDP_TIMEOUT.as_secs(), 300);
    }
}
