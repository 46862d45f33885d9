//! `esrecord`: records Endpoint Security messages into an esreplay trace.

fn main() -> anyhow::Result<()> {
    anyhow::bail!("esrecord: placeholder")
}
