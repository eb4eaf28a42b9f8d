//! Integration tests of yoe, one binary (faster to link than many).
mod battery_probes;
mod common;
mod sandbox_api;
mod sandbox_battery;
