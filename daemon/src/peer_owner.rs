//! Which local OS account owns the other end of a loopback TCP connection (Linux), the way
//! identd answers: the kernel lists every TCP socket with its owner's uid in `/proc/net/tcp`
//! and `/proc/net/tcp6`. The connecting socket is the row whose local address is the peer's
//! and whose remote address is ours.

use std::net::{IpAddr, SocketAddr};

/// The uid owning the socket at `peer` connected to `local`, or `None` when no such row is
/// found (not Linux, the connection is gone, or `/proc` is unreadable).
pub fn uid_of_peer(local: SocketAddr, peer: SocketAddr) -> Option<u32> {
    let table = match peer.ip() {
        IpAddr::V4(_) => "/proc/net/tcp",
        IpAddr::V6(_) => "/proc/net/tcp6",
    };
    let text = std::fs::read_to_string(table).ok()?;
    find_uid(&text, local, peer)
}

/// This process's effective uid (the owner of `/proc/self`), on Linux.
pub fn own_uid() -> Option<u32> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata("/proc/self").ok().map(|m| m.uid())
    }
    #[cfg(not(unix))]
    {
        None
    }
}

/// The uid of the row of `text` (a `/proc/net/tcp{,6}` table) whose local address is `peer`
/// and remote address `local`.
fn find_uid(text: &str, local: SocketAddr, peer: SocketAddr) -> Option<u32> {
    text.lines().skip(1).find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        // sl local rem st tx:rx tr:when retrnsmt uid …
        let (from, to, uid) = (fields.get(1)?, fields.get(2)?, fields.get(7)?);
        (parse_addr(from)? == peer && parse_addr(to)? == local).then(|| uid.parse().ok())?
    })
}

/// `0100007F:1F90` (IPv4, each 32-bit word in host byte order, as the kernel prints it) or the
/// 32-digit IPv6 form.
fn parse_addr(field: &str) -> Option<SocketAddr> {
    let (ip, port) = field.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    // The kernel prints each 32-bit word of the address as a native-endian number.
    let word = |hex: &str| u32::from_str_radix(hex, 16).ok().map(u32::to_ne_bytes);
    let ip = match ip.len() {
        8 => IpAddr::from(word(ip)?),
        32 => {
            let mut bytes = [0u8; 16];
            for (i, chunk) in bytes.chunks_mut(4).enumerate() {
                chunk.copy_from_slice(&word(&ip[i * 8..i * 8 + 8])?);
            }
            IpAddr::from(bytes)
        }
        _ => return None,
    };
    Some(SocketAddr::new(ip.to_canonical(), port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_matched_by_both_ends() {
        // what a little-endian kernel prints for 127.0.0.1:36677 ← 127.0.0.1:51000 (uid 65534)
        // and the listening socket (uid 0)
        let ours: SocketAddr = "127.0.0.1:36677".parse().unwrap();
        let peer: SocketAddr = "127.0.0.1:51000".parse().unwrap();
        let hex = |a: SocketAddr| {
            let IpAddr::V4(v4) = a.ip() else {
                unreachable!()
            };
            format!("{:08X}:{:04X}", u32::from_ne_bytes(v4.octets()), a.port())
        };
        let table = format!(
            "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n\
             0: {}:0000 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1\n\
             1: {} {} 01 00000000:00000000 00:00000000 00000000 65534        0 2 1\n\
             2: {} {} 01 00000000:00000000 00:00000000 00000000     0        0 3 1\n",
            &hex(ours)[..8],
            hex(peer),
            hex(ours),
            hex(ours),
            hex(peer),
        );
        assert_eq!(find_uid(&table, ours, peer), Some(65534));
        let other: SocketAddr = "127.0.0.1:51001".parse().unwrap();
        assert_eq!(find_uid(&table, ours, other), None);
        #[cfg(target_endian = "little")]
        assert_eq!(
            parse_addr("0100007F:8F45"),
            Some(SocketAddr::new([127, 0, 0, 1].into(), 0x8F45))
        );
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_real_loopback_connection_is_owned_by_this_process_user() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (_server_side, peer) = listener.accept().unwrap();
        assert_eq!(peer, client.local_addr().unwrap());
        assert_eq!(uid_of_peer(listener.local_addr().unwrap(), peer), own_uid());
        assert!(own_uid().is_some());
    }
}
