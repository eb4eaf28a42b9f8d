//! yoe's in-sandbox helper and the pieces the outer `yoe` shares with it: the policy wire
//! format, the syscall and Landlock right tables, the status channel, and kernel probes
//! for `yoe doctor`; and [`budget`], the counting allocator and stack guard that bound a
//! thread of yoe that runs untrusted Starlark. The only crate of the workspace with
//! `unsafe`, confined to `sys` and `budget`.

pub mod budget;
pub mod helper;
pub mod layers {
    //! The protection layers, one file each, applied by [`crate::helper`] in order.
    pub mod caps;
    pub mod landlock;
    pub mod rlimits;
    pub mod seccomp;
}
pub mod rights;
pub mod status;
pub mod sys;
pub mod syscalls;
pub mod wire;
