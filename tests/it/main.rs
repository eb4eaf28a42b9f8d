//! Integration tests of yoe, one binary (faster to link than many).
mod common;
mod sandbox_api;
