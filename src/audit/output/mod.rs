//! Output formats of `yoe audit`.
