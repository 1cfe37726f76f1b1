//! A small eBPF assembler: the director's XDP programs are written in Rust as
//! named instructions (`ldx(Size::W, R2, R6, 0)`, `jmp_imm(Jmp::Ne, R5, 0x45,
//! "pass")`, `call(Helper::MapLookupElem)`) with string labels for jump
//! targets, and [`Asm::finish`] encodes them into the 8-byte instructions
//! BPF_PROG_LOAD takes. No hex opcodes in the programs, no clang, no nightly
//! toolchain. The encoding follows the kernel's instruction set document
//! (Documentation/bpf/standardization/instruction-set.rst) and
//! include/uapi/linux/bpf.h; the tests pin it against the hand-encoded
//! classifier this module replaced.

use std::collections::HashMap;

/// A register: R0 return value, R1-R5 arguments (clobbered by calls), R6-R9
/// callee-saved, R10 the read-only frame pointer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reg(pub u8);

pub const R0: Reg = Reg(0);
pub const R1: Reg = Reg(1);
pub const R2: Reg = Reg(2);
pub const R3: Reg = Reg(3);
pub const R4: Reg = Reg(4);
pub const R5: Reg = Reg(5);
pub const R6: Reg = Reg(6);
pub const R7: Reg = Reg(7);
pub const R8: Reg = Reg(8);
pub const R9: Reg = Reg(9);
/// The frame pointer (stack grows down from it; 512 bytes).
pub const FP: Reg = Reg(10);

// Instruction classes.
const CLASS_LD: u8 = 0x00;
const CLASS_LDX: u8 = 0x01;
const CLASS_ST: u8 = 0x02;
const CLASS_STX: u8 = 0x03;
const CLASS_JMP: u8 = 0x05;
const CLASS_ALU64: u8 = 0x07;
// Modes of loads and stores.
const MODE_IMM: u8 = 0x00;
const MODE_MEM: u8 = 0x60;
const MODE_ATOMIC: u8 = 0xc0;
// Operand source of ALU and jump instructions.
const SRC_K: u8 = 0x00;
const SRC_X: u8 = 0x08;
// ALU operations.
const ALU_ADD: u8 = 0x00;
const ALU_AND: u8 = 0x50;
const ALU_XOR: u8 = 0xa0;
const ALU_MOV: u8 = 0xb0;
// Jump operations without a condition.
const JMP_JA: u8 = 0x00;
const JMP_CALL: u8 = 0x80;
const JMP_EXIT: u8 = 0x90;
/// `src` of a 64-bit immediate load whose immediate is a map descriptor.
const PSEUDO_MAP_FD: u8 = 1;
/// `imm` of an atomic instruction: add.
const ATOMIC_ADD: i32 = 0x00;

/// Width of a load or store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Size {
    /// 1 byte.
    B,
    /// 2 bytes.
    H,
    /// 4 bytes.
    W,
    /// 8 bytes.
    Dw,
}

impl Size {
    fn bits(self) -> u8 {
        match self {
            Size::W => 0x00,
            Size::H => 0x08,
            Size::B => 0x10,
            Size::Dw => 0x18,
        }
    }
}

/// Conditional jumps (64-bit compares).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Jmp {
    Eq,
    /// Unsigned >.
    Gt,
    /// Unsigned >=.
    Ge,
    /// `a & b != 0`.
    Set,
    Ne,
    /// Unsigned <.
    Lt,
}

impl Jmp {
    fn op(self) -> u8 {
        match self {
            Jmp::Eq => 0x10,
            Jmp::Gt => 0x20,
            Jmp::Ge => 0x30,
            Jmp::Set => 0x40,
            Jmp::Ne => 0x50,
            Jmp::Lt => 0xa0,
        }
    }
}

/// The kernel helpers the programs call (`enum bpf_func_id`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Helper {
    /// `void *bpf_map_lookup_elem(map, key)`.
    MapLookupElem = 1,
    /// `u32 bpf_get_prandom_u32(void)`.
    GetPrandomU32 = 7,
    /// `long bpf_redirect(ifindex, flags)`.
    Redirect = 23,
    /// `long bpf_redirect_map(map, key, flags)`.
    RedirectMap = 51,
}

/// XDP verdicts (`enum xdp_action`).
pub const XDP_DROP: i32 = 1;
pub const XDP_PASS: i32 = 2;
pub const XDP_TX: i32 = 3;

#[derive(Debug, Clone, Copy)]
struct Insn {
    code: u8,
    dst: u8,
    src: u8,
    off: i16,
    imm: i32,
}

/// A program under construction: instructions, labels, and the jumps that
/// still wait for their label's position.
#[derive(Debug, Default)]
pub struct Asm {
    code: Vec<Insn>,
    labels: HashMap<&'static str, usize>,
    fixups: Vec<(usize, &'static str)>,
    errors: Vec<String>,
}

impl Asm {
    pub fn new() -> Asm {
        Asm::default()
    }

    fn push(&mut self, code: u8, dst: Reg, src: Reg, off: i16, imm: i32) -> &mut Asm {
        self.code.push(Insn {
            code,
            dst: dst.0,
            src: src.0,
            off,
            imm,
        });
        self
    }

    /// Mark the position of the next instruction as `name`.
    pub fn label(&mut self, name: &'static str) -> &mut Asm {
        if self.labels.insert(name, self.code.len()).is_some() {
            self.errors.push(format!("label {name} defined twice"));
        }
        self
    }

    /// `dst = src` (64-bit).
    pub fn mov64_reg(&mut self, dst: Reg, src: Reg) -> &mut Asm {
        self.push(CLASS_ALU64 | ALU_MOV | SRC_X, dst, src, 0, 0)
    }

    /// `dst = imm` (sign-extended to 64 bits).
    pub fn mov64_imm(&mut self, dst: Reg, imm: i32) -> &mut Asm {
        self.push(CLASS_ALU64 | ALU_MOV | SRC_K, dst, R0, 0, imm)
    }

    /// `dst += imm` (64-bit).
    pub fn add64_imm(&mut self, dst: Reg, imm: i32) -> &mut Asm {
        self.push(CLASS_ALU64 | ALU_ADD | SRC_K, dst, R0, 0, imm)
    }

    /// `dst &= imm` (64-bit).
    pub fn and64_imm(&mut self, dst: Reg, imm: i32) -> &mut Asm {
        self.push(CLASS_ALU64 | ALU_AND | SRC_K, dst, R0, 0, imm)
    }

    /// `dst ^= imm` (64-bit).
    pub fn xor64_imm(&mut self, dst: Reg, imm: i32) -> &mut Asm {
        self.push(CLASS_ALU64 | ALU_XOR | SRC_K, dst, R0, 0, imm)
    }

    /// `dst = *(size *)(src + off)`, zero-extended.
    pub fn ldx(&mut self, size: Size, dst: Reg, src: Reg, off: i16) -> &mut Asm {
        self.push(CLASS_LDX | MODE_MEM | size.bits(), dst, src, off, 0)
    }

    /// `*(size *)(base + off) = src`.
    pub fn stx(&mut self, size: Size, base: Reg, off: i16, src: Reg) -> &mut Asm {
        self.push(CLASS_STX | MODE_MEM | size.bits(), base, src, off, 0)
    }

    /// `*(size *)(base + off) = imm`.
    pub fn st_imm(&mut self, size: Size, base: Reg, off: i16, imm: i32) -> &mut Asm {
        self.push(CLASS_ST | MODE_MEM | size.bits(), base, R0, off, imm)
    }

    /// `lock *(u64 *)(base + off) += src`.
    pub fn atomic_add64(&mut self, base: Reg, off: i16, src: Reg) -> &mut Asm {
        self.push(
            CLASS_STX | MODE_ATOMIC | Size::Dw.bits(),
            base,
            src,
            off,
            ATOMIC_ADD,
        )
    }

    /// `dst = map` (the map's descriptor; the loader turns it into the map's
    /// address). Takes two instruction slots.
    pub fn ld_map_fd(&mut self, dst: Reg, map_fd: i32) -> &mut Asm {
        self.push(
            CLASS_LD | MODE_IMM | Size::Dw.bits(),
            dst,
            Reg(PSEUDO_MAP_FD),
            0,
            map_fd,
        );
        self.push(0, R0, R0, 0, 0)
    }

    /// Call a kernel helper (arguments in R1-R5, result in R0).
    pub fn call(&mut self, h: Helper) -> &mut Asm {
        self.push(CLASS_JMP | JMP_CALL, R0, R0, 0, h as i32)
    }

    /// Return R0.
    pub fn exit(&mut self) -> &mut Asm {
        self.push(CLASS_JMP | JMP_EXIT, R0, R0, 0, 0)
    }

    /// `return imm`.
    pub fn ret(&mut self, imm: i32) -> &mut Asm {
        self.mov64_imm(R0, imm).exit()
    }

    /// `goto target`.
    pub fn ja(&mut self, target: &'static str) -> &mut Asm {
        self.fixups.push((self.code.len(), target));
        self.push(CLASS_JMP | JMP_JA, R0, R0, 0, 0)
    }

    /// `if reg <op> imm goto target`.
    pub fn jmp_imm(&mut self, op: Jmp, reg: Reg, imm: i32, target: &'static str) -> &mut Asm {
        self.fixups.push((self.code.len(), target));
        self.push(CLASS_JMP | op.op() | SRC_K, reg, R0, 0, imm)
    }

    /// `if a <op> b goto target`.
    pub fn jmp_reg(&mut self, op: Jmp, a: Reg, b: Reg, target: &'static str) -> &mut Asm {
        self.fixups.push((self.code.len(), target));
        self.push(CLASS_JMP | op.op() | SRC_X, a, b, 0, 0)
    }

    /// Number of instruction slots so far.
    pub fn len(&self) -> usize {
        self.code.len()
    }

    pub fn is_empty(&self) -> bool {
        self.code.is_empty()
    }

    /// Resolve the labels (a jump's offset counts the slots after it) and
    /// encode: code, dst | src << 4, off, imm, in host byte order.
    pub fn finish(&self) -> Result<Vec<u8>, String> {
        if let Some(e) = self.errors.first() {
            return Err(e.clone());
        }
        let mut code = self.code.clone();
        for (at, name) in &self.fixups {
            let Some(&to) = self.labels.get(name) else {
                return Err(format!("jump to undefined label {name}"));
            };
            let off = to as i64 - (*at as i64 + 1);
            code[*at].off = i16::try_from(off).map_err(|_| format!("jump to {name} too far"))?;
        }
        let mut out = Vec::with_capacity(code.len() * 8);
        for i in code {
            out.push(i.code);
            out.push((i.src << 4) | (i.dst & 0x0f));
            out.extend_from_slice(&i.off.to_ne_bytes());
            out.extend_from_slice(&i.imm.to_ne_bytes());
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_resolve_forward_and_backward() {
        let mut a = Asm::new();
        a.label("top")
            .jmp_imm(Jmp::Eq, R1, 0, "end")
            .ld_map_fd(R1, 7)
            .ja("top")
            .label("end")
            .ret(XDP_PASS);
        let b = a.finish().unwrap();
        assert_eq!(b.len(), 6 * 8);
        // jeq r1, 0, +3 (over the two ld_imm64 slots and the ja)
        assert_eq!(&b[0..4], &[0x15, 0x01, 3, 0]);
        // ld_imm64 r1, map fd 7 (src = BPF_PSEUDO_MAP_FD)
        assert_eq!(&b[8..16], &[0x18, 0x11, 0, 0, 7, 0, 0, 0]);
        // ja -4 (back to slot 0)
        assert_eq!(&b[24..28], &[0x05, 0x00, 0xfc, 0xff]);
        // mov64 r0, 2; exit
        assert_eq!(&b[32..40], &[0xb7, 0x00, 0, 0, 2, 0, 0, 0]);
        assert_eq!(&b[40..44], &[0x95, 0, 0, 0]);
    }

    #[test]
    fn undefined_or_twice_defined_labels_are_errors() {
        let mut a = Asm::new();
        a.ja("nowhere");
        assert!(a.finish().unwrap_err().contains("nowhere"));
        let mut a = Asm::new();
        a.label("x").label("x");
        assert!(a.finish().unwrap_err().contains("twice"));
    }

    #[test]
    fn atomic_add_and_stores_encode_as_the_kernel_expects() {
        let mut a = Asm::new();
        a.atomic_add64(R9, 16, R5)
            .st_imm(Size::W, FP, -4, 0)
            .stx(Size::H, R8, 4, R5)
            .ldx(Size::B, R5, R8, 47)
            .jmp_reg(Jmp::Gt, R2, R3, "l")
            .label("l");
        let b = a.finish().unwrap();
        assert_eq!(&b[0..8], &[0xdb, 0x59, 16, 0, 0, 0, 0, 0]);
        assert_eq!(&b[8..16], &[0x62, 0x0a, 0xfc, 0xff, 0, 0, 0, 0]);
        assert_eq!(&b[16..20], &[0x6b, 0x58, 4, 0]);
        assert_eq!(&b[24..28], &[0x71, 0x85, 47, 0]);
        assert_eq!(&b[32..36], &[0x2d, 0x32, 0, 0]);
    }
}
