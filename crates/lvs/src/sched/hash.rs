//! The kernel hash functions IPVS schedulers use.

/// Which bucket hash sh and dh use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HashFlavor {
    /// Current kernels: `hash_32(x, 8)` = `(x * 0x61C88647) >> 24` (32-bit,
    /// include/linux/hash.h GOLDEN_RATIO_32, Linux >= 4.7).
    #[default]
    Hash32,
    /// Original ip_vs_sh.c / ip_vs_dh.c: `(x * 2654435761UL) & 255` on a
    /// 64-bit `unsigned long`; only the low byte of x matters.
    Legacy,
}

impl HashFlavor {
    /// Bucket (0..256) of a folded address.
    pub fn bucket(self, x: u32) -> usize {
        match self {
            HashFlavor::Hash32 => (x.wrapping_mul(0x61C8_8647) >> 24) as usize,
            HashFlavor::Legacy => ((x as u64).wrapping_mul(2_654_435_761) & 0xff) as usize,
        }
    }
}

/// One SipHash round (lib/siphash.c SIPHASH_PERMUTATION).
fn sipround(v: &mut [u64; 4]) {
    v[0] = v[0].wrapping_add(v[1]);
    v[1] = v[1].rotate_left(13) ^ v[0];
    v[0] = v[0].rotate_left(32);
    v[2] = v[2].wrapping_add(v[3]);
    v[3] = v[3].rotate_left(16) ^ v[2];
    v[0] = v[0].wrapping_add(v[3]);
    v[3] = v[3].rotate_left(21) ^ v[0];
    v[2] = v[2].wrapping_add(v[1]);
    v[1] = v[1].rotate_left(17) ^ v[2];
    v[2] = v[2].rotate_left(32);
}

/// SipHash-c-d of `data` under key (k0, k1), 64-bit output.
pub(crate) fn siphash(data: &[u8], k0: u64, k1: u64, c: usize, d: usize) -> u64 {
    let mut v = [
        0x736f_6d65_7073_6575 ^ k0,
        0x646f_7261_6e64_6f6d ^ k1,
        0x6c79_6765_6e65_7261 ^ k0,
        0x7465_6462_7974_6573 ^ k1,
    ];
    let mut chunks = data.chunks_exact(8);
    for ch in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(ch);
        let m = u64::from_le_bytes(w);
        v[3] ^= m;
        for _ in 0..c {
            sipround(&mut v);
        }
        v[0] ^= m;
    }
    let mut b = (data.len() as u64) << 56;
    for (i, byte) in chunks.remainder().iter().enumerate() {
        b |= (*byte as u64) << (8 * i);
    }
    v[3] ^= b;
    for _ in 0..c {
        sipround(&mut v);
    }
    v[0] ^= b;
    v[2] ^= 0xff;
    for _ in 0..d {
        sipround(&mut v);
    }
    v[0] ^ v[1] ^ v[2] ^ v[3]
}

/// Kernel `hsiphash(&v, 4, key)` on a 64-bit little-endian kernel: SipHash-1-3
/// with `unsigned long` key words, truncated to 32 bits (lib/siphash.c).
pub(crate) fn hsiphash_u32(v: u32, k0: u64, k1: u64) -> u32 {
    siphash(&v.to_le_bytes(), k0, k1, 1, 3) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn siphash24_reference_vectors() {
        // SipHash paper / reference implementation: key 00..0f, message 00..(n-1).
        let k0 = u64::from_le_bytes([0, 1, 2, 3, 4, 5, 6, 7]);
        let k1 = u64::from_le_bytes([8, 9, 10, 11, 12, 13, 14, 15]);
        assert_eq!(siphash(&[], k0, k1, 2, 4), 0x726f_db47_dd0e_0e31);
        let msg: Vec<u8> = (0..15).collect();
        assert_eq!(siphash(&msg, k0, k1, 2, 4), 0xa129_ca61_49be_45e5);
    }

    #[test]
    fn bucket_flavors() {
        assert_eq!(HashFlavor::Hash32.bucket(0), 0);
        assert_eq!(HashFlavor::Hash32.bucket(1), 0x61);
        // Legacy depends only on the low byte: 0x...01 * 0x9E3779B1 -> 0xB1.
        assert_eq!(HashFlavor::Legacy.bucket(1), 0xb1);
        assert_eq!(HashFlavor::Legacy.bucket(0xabcd_0001), 0xb1);
    }
}
